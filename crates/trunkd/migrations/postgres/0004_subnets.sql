-- trunkd schema, version 4 (PostgreSQL; keep in step with migrations/sqlite): subnets (issue 18, item 1).
-- A subnet belongs to one network; deleting the network deletes its subnets (the service does
-- it in the same transaction). The list attributes (allocation pools, DNS name servers, host
-- routes) are JSON text: they are read and written whole with their subnet, never queried.
CREATE TABLE subnets (
    id                TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL,
    network_id        TEXT NOT NULL REFERENCES networks (id),
    name              TEXT NOT NULL,
    description       TEXT NOT NULL,
    ip_version        BIGINT NOT NULL CHECK (ip_version IN (4, 6)),
    cidr              TEXT NOT NULL,
    gateway_ip        TEXT,
    allocation_pools  TEXT NOT NULL,
    enable_dhcp       BOOLEAN NOT NULL,
    dns_nameservers   TEXT NOT NULL,
    host_routes       TEXT NOT NULL,
    ipv6_address_mode TEXT,
    ipv6_ra_mode      TEXT,
    revision_number   BIGINT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX subnets_project ON subnets (project_id);
CREATE INDEX subnets_network ON subnets (network_id);
