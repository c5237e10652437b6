//! Idempotency keys in the store (issue 20, item 3): a write claims its key in the transaction
//! that does the work, and the answer it gave is kept beside the key for retries to replay.

/// A key a write claims: who may reuse it (`scope`), the key, and what request it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// The caller's project (its user when it has none): keys of other projects never meet.
    pub scope: String,
    pub key: String,
    /// SHA-256 (hex) of the method, path, query and body of the request.
    pub fingerprint: String,
    pub request_id: String,
}

/// The answer a claimed request gave, replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// A claimed key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    pub request_id: String,
    /// When the claiming transaction ran (Unix milliseconds).
    pub created_at_ms: i64,
    /// `None` between the commit and the answer's recording (or forever, if the server stopped
    /// in between).
    pub answer: Option<StoredAnswer>,
}
