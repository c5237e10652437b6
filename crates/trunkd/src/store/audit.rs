//! The audit trail of trunks in the store (issue 20, item 4): rows written in the transaction
//! of the change they describe, read back a page at a time. The service gives the actor and the
//! details as JSON texts of its typed values (`service::audit`); the store only keeps them.

use crate::ids::{ProjectId, TrunkId};

/// One change to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditRow {
    pub trunk_id: TrunkId,
    /// The trunk's project, kept for reading the trail once the trunk is gone.
    pub project_id: ProjectId,
    /// RFC 3339, as the change's `updated_at`.
    pub at: String,
    pub at_ms: i64,
    pub action: String,
    pub revision_before: i64,
    pub revision_after: i64,
    pub actor_json: String,
    pub details_json: String,
}

/// A recorded change, with its place in the trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub row: NewAuditRow,
}

/// Which rows of one trunk's trail to read, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub trunk_id: TrunkId,
    /// Rows after this id (the last of the previous page).
    pub after_id: Option<i64>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub action: Option<String>,
    pub limit: i64,
}
