-- trunkd schema, version 1 (PostgreSQL; keep in step with migrations/sqlite).
-- Uniqueness rules of the trunk API live here as constraints, so that no two writers can both
-- win a race: a port belongs to at most one trunk in at most one role (trunk_members primary key)
-- and a segmentation is unique within a trunk (trunk_members_segmentation).

CREATE TABLE networks (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL,
    name             TEXT NOT NULL,
    description      TEXT NOT NULL,
    admin_state_up   BOOLEAN NOT NULL,
    status           TEXT NOT NULL,
    shared           BOOLEAN NOT NULL,
    mtu              BIGINT NOT NULL,
    network_type     TEXT NOT NULL,
    physical_network TEXT,
    segmentation_id  BIGINT,
    revision_number  BIGINT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE UNIQUE INDEX networks_segment
    ON networks (network_type, COALESCE(physical_network, ''), segmentation_id)
    WHERE segmentation_id IS NOT NULL;
CREATE INDEX networks_project ON networks (project_id);

CREATE TABLE ports (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL,
    network_id       TEXT NOT NULL REFERENCES networks (id),
    name             TEXT NOT NULL,
    description      TEXT NOT NULL,
    mac_address      TEXT NOT NULL,
    admin_state_up   BOOLEAN NOT NULL,
    status           TEXT NOT NULL,
    device_id        TEXT NOT NULL,
    device_owner     TEXT NOT NULL,
    fixed_ips        TEXT NOT NULL,
    host_id          TEXT NOT NULL,
    vif_type         TEXT NOT NULL,
    vnic_type        TEXT NOT NULL,
    profile          TEXT NOT NULL,
    revision_number  BIGINT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    CONSTRAINT ports_network_mac UNIQUE (network_id, mac_address)
);
CREATE INDEX ports_project ON ports (project_id);

CREATE TABLE trunks (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL,
    port_id          TEXT NOT NULL UNIQUE REFERENCES ports (id),
    name             TEXT NOT NULL,
    description      TEXT NOT NULL,
    admin_state_up   BOOLEAN NOT NULL,
    status           TEXT NOT NULL,
    revision_number  BIGINT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX trunks_project ON trunks (project_id);

-- Every port a trunk uses, parent or subport. The primary key is the one-trunk-one-role rule.
CREATE TABLE trunk_members (
    port_id           TEXT PRIMARY KEY REFERENCES ports (id),
    trunk_id          TEXT NOT NULL REFERENCES trunks (id) ON DELETE CASCADE,
    role              TEXT NOT NULL CHECK (role IN ('parent', 'subport')),
    segmentation_type TEXT,
    segmentation_id   BIGINT,
    position          BIGINT NOT NULL,
    CHECK ((role = 'parent') = (segmentation_type IS NULL))
);
CREATE UNIQUE INDEX trunk_members_segmentation
    ON trunk_members (trunk_id, segmentation_type, segmentation_id)
    WHERE role = 'subport';
CREATE INDEX trunk_members_trunk ON trunk_members (trunk_id, position);

CREATE TABLE tags (
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    tag           TEXT NOT NULL,
    PRIMARY KEY (resource_type, resource_id, tag)
);

-- Transactional outbox: one row per committed change, written in the change's own transaction.
CREATE TABLE outbox (
    id               BIGSERIAL PRIMARY KEY,
    resource_type    TEXT NOT NULL,
    resource_id      TEXT NOT NULL,
    event            TEXT NOT NULL,
    revision_number  BIGINT NOT NULL,
    payload          TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms  BIGINT NOT NULL DEFAULT 0,
    last_error       TEXT,
    delivered_at     TEXT
);
CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_at IS NULL;
