-- trunkd schema, version 6: status from the data plane (issue 19, item 2).
-- trunks.refusal: a driver's reason for refusing the trunk, which makes it ERROR by the status
-- rule (src/model/health.rs) until subports are removed, the parent moves, or the driver wires
-- it after all. NULL when no driver refused it.
-- trunk_members.port_status: a copy of the member port's status, so that reading a trunk with
-- its subports' statuses is one range of this table rather than one ports lookup per subport
-- (which made per-call adds on a 4,094-subport trunk 1.7 times slower). The store writes it
-- with every write of a port's status (store/sql/tx.rs: set_port_status, update_port, and
-- when a member joins); tests/it/common/invariants.rs checks that the two agree.
ALTER TABLE trunks ADD COLUMN refusal TEXT;
ALTER TABLE trunk_members ADD COLUMN port_status TEXT NOT NULL DEFAULT 'DOWN';
UPDATE trunk_members SET port_status = COALESCE(
    (SELECT p.status FROM ports p WHERE p.id = trunk_members.port_id), 'DOWN');
