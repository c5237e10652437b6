-- trunkd schema, version 7: VLAN IDs freed by a removal rest before they are handed out again
-- (issue 20, item 1). When a subport with a VLAN segmentation leaves a trunk, its ID is recorded
-- here with the time it was freed; server-side allocation (`"segmentation_id": "auto"`) skips
-- IDs freed less than `vlan_reuse_cooldown` seconds ago, so a guest still configured for the old
-- subport cannot receive the new one's traffic. An explicit ID is honoured whatever this table
-- says. One row per (trunk, ID): a second removal of the same ID moves its time forward. The
-- rows go with their trunk; rows older than the cooldown are deleted as allocations read them.
CREATE TABLE vlan_cooldowns (
    trunk_id         TEXT NOT NULL REFERENCES trunks (id) ON DELETE CASCADE,
    segmentation_id  BIGINT NOT NULL,
    freed_at_ms      BIGINT NOT NULL,
    PRIMARY KEY (trunk_id, segmentation_id)
);
