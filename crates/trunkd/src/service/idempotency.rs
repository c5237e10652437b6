//! Idempotent retries (issue 20, item 3; extension `idempotency-keys`). A client that sends
//! `Idempotency-Key` with a POST, PUT or DELETE may send the same request again (after a
//! time-out, say) and get the first answer without the work being done twice.
//!
//! The key is claimed in the write's own transaction ([`Service::write`] calls [`claim`]), so
//! a crash cannot leave the work committed without its key or the key without the work; a
//! request that changes nothing (a 4xx) claims nothing, and its retry runs again. The answer is
//! recorded just after the commit, once the api layer has rendered it; a retry that arrives in
//! between waits for it. Two servers on one PostgreSQL meet at the key's primary key: the
//! second claim finds the first and its transaction, with the work, rolls back.
//! This module holds the service's side; the HTTP side (fingerprints, waiting, replaying) is
//! `api::idempotency`.

use std::time::Duration;

use crate::store::idempotency::{IdempotencyClaim, IdempotencyRecord, StoredAnswer};
use crate::store::StoreTx;

use super::{ErrorKind, Service, ServiceError};

/// Default of [`super::ServiceSettings::idempotency_retention`]: a day.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The oldest claim time still live under `retention`.
fn live_since(retention: Duration) -> i64 {
    super::millis_before_now(retention)
}

/// Claims `claim`'s key in the write transaction `tx`. A live claim of the same key by another
/// request is a 409 `IdempotencyKeyInUse`, which rolls this write back; the api layer then
/// answers with that request's answer.
pub(crate) async fn claim(
    tx: &mut dyn StoreTx,
    claim: &IdempotencyClaim,
    retention: Duration,
) -> Result<(), ServiceError> {
    if tx
        .claim_idempotency_key(claim, now_ms(), live_since(retention))
        .await?
    {
        Ok(())
    } else {
        Err(ServiceError::conflict(
            ErrorKind::IdempotencyKeyInUse,
            format!(
                "Idempotency-Key '{}' was claimed by another request meanwhile.",
                claim.key
            ),
        ))
    }
}

impl Service {
    /// The live claim of `key` in `scope`, if any (claims older than the retention are gone).
    pub async fn idempotency_record(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, ServiceError> {
        let mut tx = self.read().await?;
        let since = live_since(self.settings.idempotency_retention);
        Ok(tx
            .idempotency_record(scope, key)
            .await?
            .filter(|record| record.created_at_ms >= since))
    }

    /// Records the answer of the request that claimed `claim`, for its retries to replay.
    pub async fn record_idempotent_answer(
        &self,
        claim: &IdempotencyClaim,
        answer: &StoredAnswer,
    ) -> Result<(), ServiceError> {
        self.write_internal(|tx| {
            Box::pin(async {
                let tx = tx;
                tx.record_idempotent_answer(claim, answer).await?;
                Ok::<_, ServiceError>(())
            })
        })
        .await
    }

    /// Deletes the claims older than the retention; returns how many.
    pub async fn prune_idempotency_keys(&self) -> Result<u64, ServiceError> {
        let before = live_since(self.settings.idempotency_retention);
        Ok(self.store.prune_idempotency_keys(before).await?)
    }
}
