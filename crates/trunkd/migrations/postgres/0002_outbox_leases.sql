-- Which server is delivering a resource's outbox events, until when. One server at a time per
-- resource keeps deliveries in order; an expired lease (a server died) is taken over.
CREATE TABLE outbox_leases (
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    owner         TEXT NOT NULL,
    expires_ms    BIGINT NOT NULL,
    PRIMARY KEY (resource_type, resource_id)
);
CREATE INDEX outbox_pending_resource ON outbox (resource_type, resource_id, id)
    WHERE delivered_at IS NULL;
