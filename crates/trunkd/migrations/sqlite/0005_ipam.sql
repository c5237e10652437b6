-- trunkd schema, version 5: IP address management (issue 18, item 2).
-- ip_allocations: which port holds which address of a subnet. The primary key (subnet,
-- address) is what makes allocation race-free: a second holder of an address is refused by
-- the database, whichever server asks. A port's allocations are written before its row (the
-- row is written once, with its addresses), so port_id is no foreign key; deleting a port
-- deletes them.
-- ip_free_ranges: the addresses of a subnet's allocation pools nobody holds, as ranges
-- (first, last) both included, so the lowest free address is one index probe away.
-- Addresses in both tables' keys are 32 hex digits of the address's 128-bit value (IPv4 in
-- the low 32 bits): text whose byte order is numeric order, for IPv4 and IPv6 alike.
-- subnets.ipam_seeded: whether the subnet's free ranges were written; subnets created under
-- version 4 were not, and the store writes theirs from their pools when it migrates.
CREATE TABLE ip_allocations (
    subnet_id   TEXT NOT NULL REFERENCES subnets (id),
    address_key TEXT NOT NULL,
    ip_address  TEXT NOT NULL,
    port_id     TEXT NOT NULL,
    network_id  TEXT NOT NULL,
    PRIMARY KEY (subnet_id, address_key)
);
CREATE INDEX ip_allocations_port ON ip_allocations (port_id);
CREATE TABLE ip_free_ranges (
    subnet_id TEXT NOT NULL REFERENCES subnets (id),
    first_key TEXT NOT NULL,
    last_key  TEXT NOT NULL,
    PRIMARY KEY (subnet_id, first_key)
);
CREATE UNIQUE INDEX ip_free_ranges_last ON ip_free_ranges (subnet_id, last_key);
ALTER TABLE subnets ADD COLUMN ipam_seeded BOOLEAN NOT NULL DEFAULT FALSE;
