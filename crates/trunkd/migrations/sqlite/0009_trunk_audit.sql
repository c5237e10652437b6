-- trunkd schema, version 9: the audit trail of trunks (issue 20, item 4).
-- One row per change to a trunk, written in the change's own transaction: its action (the
-- trunk event's kind), the revision before and after, who made it (actor: user, project, roles,
-- request ids, and the source: api, agent with its host, or driver) and what changed (details:
-- subports added or removed with their segmentation, status and host moves, attributes).
-- actor and details are JSON texts of typed values (src/service/audit.rs). Rows outlive their
-- trunk (no foreign key), with its project (project_id), so its owner can still read who
-- deleted it. Rows older than
-- audit_retention are pruned.
CREATE TABLE trunk_audit (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    trunk_id         TEXT NOT NULL,
    project_id       TEXT NOT NULL,
    at               TEXT NOT NULL,
    at_ms            BIGINT NOT NULL,
    action           TEXT NOT NULL,
    revision_before  BIGINT NOT NULL,
    revision_after   BIGINT NOT NULL,
    actor            TEXT NOT NULL,
    details          TEXT NOT NULL
);
CREATE INDEX trunk_audit_trunk ON trunk_audit (trunk_id, id);
CREATE INDEX trunk_audit_at ON trunk_audit (at_ms);
