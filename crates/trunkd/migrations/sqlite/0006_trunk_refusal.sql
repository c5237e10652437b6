-- trunkd schema, version 6: status from the data plane (issue 19, item 2).
-- trunks.refusal: a driver's reason for refusing the trunk, which makes it ERROR by the status
-- rule (src/model/health.rs) until the trunk changes or the driver wires it after all. NULL
-- when no driver refused it. Every other input of the rule (the ports' statuses, the parent's
-- binding) is read from the ports.
ALTER TABLE trunks ADD COLUMN refusal TEXT;
