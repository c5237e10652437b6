//! Long polls on a trunk (issue 19, item 3): `GET /v2.0/trunks/{id}?wait_for_revision=N`
//! answers once the trunk's revision reaches N, so a consumer waiting for ACTIVE (or for any
//! change) asks once and is answered at the change, instead of polling.
//!
//! Every commit of this server bumps a counter that waiters watch, so a change made here
//! wakes them at once; a change committed by another server on the same database is seen by
//! the waiter's own re-read, at least every [`REREAD`]. A waiter reads the counter before the
//! trunk, so a commit between the read and the wait still wakes it: none is lost. Each revision
//! is a state the trunk passed through; a waiter that asks for `revision + 1` after every
//! answer sees the states in order, and several commits that land before it asks again
//! answer with the latest (revisions say how many it skipped).
//!
//! Waits are bounded in time ([`MAX_WAIT`]) and in number ([`MAX_WAITERS`] per server): a
//! waiter beyond that is answered 503 rather than holding a connection the server cannot
//! serve.

use std::time::Duration;

use tokio::time::Instant;

use crate::ids::TrunkId;
use crate::model::Trunk;

use super::{Context, Service, ServiceError};

/// Longest wait a request may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// The wait when a request asks for a revision without saying how long.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// How often a waiter re-reads the trunk when nothing was committed here (another server's
/// commits wake no one on this one).
pub const REREAD: Duration = Duration::from_millis(250);
/// Waiters one server holds at once.
pub const MAX_WAITERS: usize = 1_024;

/// What a long poll waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitFor {
    /// Answer once the trunk's revision is at least this.
    pub revision: i64,
    /// Answer with the trunk as it is after this long, whatever its revision.
    pub timeout: Duration,
}

impl Service {
    /// The trunk once its revision reaches `wait.revision`, or as it is when `wait.timeout`
    /// runs out. A trunk the caller cannot see, or that is deleted meanwhile, is a 404.
    pub async fn wait_for_trunk(
        &self,
        ctx: &Context,
        id: TrunkId,
        wait: WaitFor,
    ) -> Result<Trunk, ServiceError> {
        let _slot =
            self.waiters
                .clone()
                .try_acquire_owned()
                .map_err(|_| ServiceError::Unavailable {
                    message: format!(
                        "This server already holds {MAX_WAITERS} waiting requests; ask again \
                     without wait_for_revision or later."
                    ),
                })?;
        let deadline = Instant::now() + wait.timeout.min(MAX_WAIT);
        let mut commits = self.commits.subscribe();
        loop {
            commits.borrow_and_update();
            let trunk = self.get_trunk(ctx, id).await?;
            let now = Instant::now();
            if trunk.std.revision_number >= wait.revision || now >= deadline {
                return Ok(trunk);
            }
            let nap = REREAD.min(deadline - now);
            // Woken by a commit here, or after `nap` to look for other servers' commits.
            let _ = tokio::time::timeout(nap, commits.changed()).await;
        }
    }
}
