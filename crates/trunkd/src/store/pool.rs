//! How full the database's connection pools are, and how often and how long taking a
//! connection had to wait or gave up waiting: `/metrics` shows it (`trunkd_db_pool_*`), so that
//! a pool too small for the load shows before requests time out, and so that time spent
//! queueing for the store can be told from time spent elsewhere.
//!
//! sqlx counts neither waits nor timeouts, so [`PoolCounters`] counts them where the store
//! takes a connection for a transaction (every user operation's, and the drivers' snapshots):
//! a take that finds no idle connection in a full pool waits; one that ends in sqlx's
//! `PoolTimedOut` timed out; a wait is timed from the take until it has its connection.
//! Statements run straight on a pool (the dispatcher's outbox bookkeeping, health probes) are
//! not counted.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};

/// One pool's occupancy and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    /// Which pool: `writes` or `reads` (SQLite), `shared` (PostgreSQL).
    pub pool: &'static str,
    pub in_use: u64,
    pub idle: u64,
    pub max: u64,
    /// Transactions (and one-statement reads) that took a connection.
    pub takes: u64,
    /// Takes that found no idle connection and the pool full (on PostgreSQL, or no free
    /// write slot).
    pub waits: u64,
    /// Time those waits lasted, in all (on PostgreSQL with the wait for a write slot).
    pub waited: std::time::Duration,
    /// Takes that gave up (the pool's acquire timeout).
    pub timeouts: u64,
}

/// The waits and timeouts of one pool.
#[derive(Debug, Default)]
pub struct PoolCounters {
    takes: AtomicU64,
    waits: AtomicU64,
    waited_micros: AtomicU64,
    timeouts: AtomicU64,
}

impl PoolCounters {
    /// Counts a take that will wait, `full` being whether the pool had nothing to give.
    pub fn note_take(&self, full: bool) {
        self.takes.fetch_add(1, Ordering::Relaxed);
        if full {
            self.waits.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Runs `wait`, a take's wait for its connection (or slot), adding the time it took.
    pub async fn timed<T>(&self, wait: impl Future<Output = T>) -> T {
        let began = std::time::Instant::now();
        let outcome = wait.await;
        let micros = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.waited_micros.fetch_add(micros, Ordering::Relaxed);
        outcome
    }

    /// A permit of `semaphore` (a pool's connections, or write slots): at once when one is
    /// free, else after a wait timed as this pool's; with whether it waited.
    pub async fn permit(
        &self,
        semaphore: &Arc<Semaphore>,
    ) -> Result<(OwnedSemaphorePermit, bool), AcquireError> {
        match semaphore.clone().try_acquire_owned() {
            Ok(permit) => Ok((permit, false)),
            Err(_) => Ok((self.timed(semaphore.clone().acquire_owned()).await?, true)),
        }
    }

    /// Counts a take that gave up waiting.
    pub fn note_timeout(&self) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs `take` on `pool` (a `begin` or an `acquire`), counting its wait or timeout.
    pub async fn take<DB: sqlx::Database, T>(
        &self,
        pool: &sqlx::Pool<DB>,
        take: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        self.take_after(false, pool, take).await
    }

    /// [`PoolCounters::take`] for a transaction that may have waited already (for a write
    /// slot, timed by the caller): such a take counts as one wait, whether or not the pool
    /// then made it wait too.
    pub async fn take_after<DB: sqlx::Database, T>(
        &self,
        waited: bool,
        pool: &sqlx::Pool<DB>,
        take: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        let full = is_full(pool);
        self.note_take(waited || full);
        // A take from a full pool is timed (with the BEGIN its future sends once it has a
        // connection, a round trip against the wait); one that found a connection is not.
        let outcome = if full {
            self.timed(take).await
        } else {
            take.await
        };
        if matches!(outcome, Err(sqlx::Error::PoolTimedOut)) {
            self.note_timeout();
        }
        outcome
    }

    /// The stats of a pool of `max` connections, `in_use` of them taken and `idle` open and
    /// free.
    pub fn stats(&self, pool: &'static str, in_use: u64, idle: u64, max: u64) -> PoolStats {
        PoolStats {
            pool,
            in_use,
            idle,
            max,
            takes: self.takes.load(Ordering::Relaxed),
            waits: self.waits.load(Ordering::Relaxed),
            waited: std::time::Duration::from_micros(self.waited_micros.load(Ordering::Relaxed)),
            timeouts: self.timeouts.load(Ordering::Relaxed),
        }
    }

    /// The stats of an sqlx pool.
    pub fn of_pool<DB: sqlx::Database>(
        &self,
        name: &'static str,
        pool: &sqlx::Pool<DB>,
    ) -> PoolStats {
        let idle = pool.num_idle() as u64;
        let open = u64::from(pool.size());
        self.stats(
            name,
            open.saturating_sub(idle),
            idle,
            u64::from(pool.options().get_max_connections()),
        )
    }
}

/// No idle connection, and no room for another.
fn is_full<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> bool {
    pool.num_idle() == 0 && pool.size() >= pool.options().get_max_connections()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_take_from_a_full_pool_is_a_wait_and_its_time_out_a_timeout() {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_millis(50))
            .connect("sqlite::memory:")
            .await
            .expect("in-memory database");
        let counters = PoolCounters::default();
        let held = counters
            .take(&pool, pool.acquire())
            .await
            .expect("the first connection");
        assert_eq!(counters.of_pool("test", &pool).in_use, 1);
        let refused = counters.take(&pool, pool.acquire()).await;
        assert!(matches!(refused, Err(sqlx::Error::PoolTimedOut)));
        drop(held);
        let stats = counters.of_pool("test", &pool);
        assert_eq!(
            (stats.takes, stats.waits, stats.timeouts, stats.max),
            (2, 1, 1, 1),
            "{stats:?}"
        );
        // The wait lasted the acquire timeout; the first take, from a pool with room, none.
        assert!(
            stats.waited >= Duration::from_millis(50) && stats.waited < Duration::from_secs(5),
            "{stats:?}"
        );
    }
}
