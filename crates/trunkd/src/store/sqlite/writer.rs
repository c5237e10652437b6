//! The embedded store's one writing connection, with group commit.
//!
//! A write transaction takes the connection (waiting its turn, first come first served) and
//! runs inside a savepoint of a transaction that may hold other requests' writes too (a
//! batch): when it finishes and other transactions are queued for the connection, it leaves the
//! batch open for them and waits for the batch to commit; the last of a queue (or the
//! [`MAX_BATCH`]th) commits it. So one COMMIT, and one write of each page many requests
//! touched (the last leaf of every index, the outbox's), serves a queue of requests, while a
//! request with nobody behind it commits at once. A request acknowledged is a request
//! committed: none answers before its batch's COMMIT returned.
//!
//! Each request's rules see the writes of the requests before it in its batch, exactly as if
//! those had committed first; a request that fails rolls back to its savepoint and leaves the
//! others alone. A COMMIT that fails fails every request of its batch (none was answered).
//! A batch left open by a request whose successor gave up waiting is committed by the
//! committer task, which queues for the connection like a request.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Mutex, Notify, OwnedMutexGuard};

use super::conn::SqliteConn;
use super::SqliteDialect;
use crate::store::pool::{PoolCounters, PoolStats};
use crate::store::sql::exec::{get, Stmt};
use crate::store::sql::Held;
use crate::store::StoreError;

/// How long a write transaction waits for its turn before it fails as unavailable: far longer
/// than any queue of writes takes, so reaching it means the writer is stuck.
const TURN_TIMEOUT: Duration = Duration::from_secs(30);

/// Most requests committed together: bounds how long the first of a batch waits for the last.
pub const MAX_BATCH: usize = 64;

/// Failed batches remembered for their waiters.
const FAILURES_KEPT: usize = 64;

pub(super) struct Writer {
    shared: Arc<Shared>,
    committer: tokio::task::JoinHandle<()>,
}

struct Shared {
    state: Arc<Mutex<State>>,
    /// COMMITs run (each ends a batch of one or more requests).
    commits: std::sync::atomic::AtomicU64,
    /// Transactions waiting for their turn now.
    queued: AtomicUsize,
    counters: PoolCounters,
    committed: watch::Sender<Committed>,
    /// Wakes the committer: a batch was left open for transactions that were queued.
    commit_wanted: Notify,
}

struct State {
    /// `None` once the store is closed.
    conn: Option<SqliteConn>,
    /// The open batch, if any.
    batch: Option<Batch>,
    /// The number of the last batch begun.
    last_number: u64,
}

#[derive(Debug, Clone, Copy)]
struct Batch {
    number: u64,
    /// Requests whose writes it holds (each released its savepoint).
    members: usize,
}

/// What has become of the batches.
#[derive(Debug, Default)]
struct Committed {
    /// Every batch up to this number has ended (committed, or failed as listed).
    through: u64,
    /// Batches whose COMMIT failed, with why.
    failed: BTreeMap<u64, String>,
}

/// A write transaction on the writer: a savepoint in the open batch. Rolls back to its
/// savepoint when dropped unfinished.
pub(super) struct WriteTx {
    guard: Option<OwnedMutexGuard<State>>,
    shared: Arc<Shared>,
}

/// The writer held, no transaction open (migrations run on a connection of their own
/// meanwhile).
pub(super) struct HeldWriter {
    _guard: OwnedMutexGuard<State>,
}

fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".into())
}

/// Counts a transaction as queued while it waits for its turn (and not once it gave up).
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Queued(count)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Writer {
    /// Starts the committer task: call within the runtime.
    pub(super) fn new(conn: SqliteConn) -> Writer {
        let shared = Arc::new(Shared {
            state: Arc::new(Mutex::new(State {
                conn: Some(conn),
                batch: None,
                last_number: 0,
            })),
            commits: std::sync::atomic::AtomicU64::new(0),
            queued: AtomicUsize::new(0),
            counters: PoolCounters::default(),
            committed: watch::Sender::new(Committed::default()),
            commit_wanted: Notify::new(),
        });
        let committer = tokio::spawn(commit_when_wanted(shared.clone()));
        Writer { shared, committer }
    }

    pub(super) async fn begin(&self) -> Result<WriteTx, StoreError> {
        let mut guard = self.shared.take().await?;
        let state = &mut *guard;
        let conn = state.conn.as_mut().ok_or_else(closed)?;
        if state.batch.is_none() {
            conn.batch("BEGIN IMMEDIATE")?;
            state.last_number += 1;
            state.batch = Some(Batch {
                number: state.last_number,
                members: 0,
            });
        }
        if let Err(error) = conn.batch("SAVEPOINT request") {
            self.shared.end_batch_if_empty(state);
            return Err(error);
        }
        Ok(WriteTx {
            guard: Some(guard),
            shared: self.shared.clone(),
        })
    }

    pub(super) async fn hold(&self) -> Result<HeldWriter, StoreError> {
        let guard = self.shared.take().await?;
        if guard.conn.is_none() {
            return Err(closed());
        }
        Ok(HeldWriter { _guard: guard })
    }

    /// Commits what is open, moves the write-ahead log into the database file and closes the
    /// connection.
    pub(super) async fn checkpoint_and_close(&self) -> Result<(), StoreError> {
        let mut guard = self.shared.take().await?;
        if guard.batch.is_some() {
            self.shared.commit(&mut guard)?;
        }
        let Some(mut conn) = guard.conn.take() else {
            return Ok(());
        };
        let (busy, log_pages, moved_pages): (i64, i64, i64) =
            Stmt::new("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_optional(&mut conn, &|row| {
                    Ok((get(row, 0)?, get(row, 1)?, get(row, 2)?))
                })
                .await?
                .unwrap_or((0, 0, 0));
        if busy != 0 {
            return Err(StoreError::Unavailable(format!(
                "another connection kept the write-ahead log busy ({moved_pages} of \
                 {log_pages} pages moved)"
            )));
        }
        tracing::debug!(pages = moved_pages, "checkpointed the write-ahead log");
        Ok(())
    }

    /// COMMITs run so far.
    #[cfg(test)]
    fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// Its stats as a pool's of one connection.
    pub(super) fn stats(&self, name: &'static str) -> PoolStats {
        let in_use = u64::from(self.shared.state.try_lock().is_err());
        self.shared.counters.stats(name, in_use, 1 - in_use, 1)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.committer.abort();
    }
}

/// The committer task: commits a batch left open once its turn comes (behind the transactions
/// that were queued when the batch was left open).
async fn commit_when_wanted(shared: Arc<Shared>) {
    loop {
        shared.commit_wanted.notified().await;
        let mut guard = shared.state.clone().lock_owned().await;
        if guard.batch.is_some_and(|batch| batch.members > 0) {
            if let Err(error) = shared.commit(&mut guard) {
                tracing::warn!(%error, "a batch of writes failed to commit");
            }
        }
    }
}

impl Shared {
    /// Waits for the connection, counting the wait (and a timeout) as a pool's.
    async fn take(&self) -> Result<OwnedMutexGuard<State>, StoreError> {
        if let Ok(guard) = self.state.clone().try_lock_owned() {
            self.counters.note_take(false);
            return Ok(guard);
        }
        self.counters.note_take(true);
        let _queued = Queued::new(&self.queued);
        let turn = tokio::time::timeout(TURN_TIMEOUT, self.state.clone().lock_owned());
        match self.counters.timed(turn).await {
            Ok(guard) => Ok(guard),
            Err(_) => {
                self.counters.note_timeout();
                Err(StoreError::Unavailable(format!(
                    "no turn to write within {TURN_TIMEOUT:?}"
                )))
            }
        }
    }

    /// Commits the open batch and tells its requests.
    fn commit(&self, state: &mut State) -> Result<(), StoreError> {
        let Some(batch) = state.batch.take() else {
            return Ok(());
        };
        self.commits.fetch_add(1, Ordering::Relaxed);
        let outcome = match state.conn.as_mut() {
            Some(conn) => {
                let outcome = conn.batch("COMMIT");
                if outcome.is_err() && conn.in_transaction() {
                    let _ = conn.batch("ROLLBACK");
                }
                outcome
            }
            None => Err(closed()),
        };
        self.publish(
            batch.number,
            outcome.as_ref().err().map(ToString::to_string),
        );
        outcome
    }

    /// Waits until batch `number` has ended; an error if it failed to commit.
    async fn wait_for(
        &self,
        mut committed: watch::Receiver<Committed>,
        number: u64,
    ) -> Result<(), StoreError> {
        let ended = committed
            .wait_for(|committed| committed.through >= number)
            .await
            .map_err(|_| closed())?;
        match ended.failed.get(&number) {
            Some(failure) => Err(StoreError::Unavailable(format!(
                "the batch of writes did not commit: {failure}"
            ))),
            None => Ok(()),
        }
    }

    /// Ends batch `number`, failed with `failure` if any.
    fn publish(&self, number: u64, failure: Option<String>) {
        self.committed.send_modify(|committed| {
            committed.through = committed.through.max(number);
            if let Some(failure) = failure {
                committed.failed.insert(number, failure);
                while committed.failed.len() > FAILURES_KEPT {
                    committed.failed.pop_first();
                }
            }
        });
    }

    /// Rolls back a batch no request has written to (its first request failed).
    fn end_batch_if_empty(&self, state: &mut State) {
        if let Some(batch) = state.batch.filter(|batch| batch.members == 0) {
            state.batch = None;
            if let Some(conn) = state.conn.as_mut() {
                if conn.in_transaction() {
                    let _ = conn.batch("ROLLBACK");
                }
            }
            self.publish(batch.number, None);
        }
    }

    /// Undoes one request's writes; if that cannot be done, the whole batch is rolled back and
    /// fails.
    fn roll_back_request(&self, state: &mut State) {
        let Some(conn) = state.conn.as_mut() else {
            return;
        };
        match conn.batch("ROLLBACK TO request; RELEASE request") {
            Ok(()) => self.end_batch_if_empty(state),
            Err(error) => {
                tracing::warn!(%error, "could not roll a write back to its savepoint");
                if conn.in_transaction() {
                    let _ = conn.batch("ROLLBACK");
                }
                if let Some(batch) = state.batch.take() {
                    self.publish(batch.number, Some(format!("rolled back: {error}")));
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Held<SqliteDialect> for WriteTx {
    fn conn(&mut self) -> &mut SqliteConn {
        match self.guard.as_mut().and_then(|state| state.conn.as_mut()) {
            Some(conn) => conn,
            None => unreachable!("a write transaction holds the open writer until it ends"),
        }
    }

    /// Rolls back to its savepoint; when the batch holds earlier requests' writes (which this
    /// one read), waits for that batch like a member, so a refusal resting on them is answered
    /// only once they are committed.
    async fn abandon(mut self: Box<Self>) -> Result<(), StoreError> {
        let Some(mut guard) = self.guard.take() else {
            return Ok(());
        };
        let shared = self.shared.clone();
        shared.roll_back_request(&mut guard);
        let Some(batch) = guard.batch.filter(|batch| batch.members > 0) else {
            return Ok(());
        };
        if shared.queued.load(Ordering::SeqCst) == 0 {
            return shared.commit(&mut guard);
        }
        let committed = shared.committed.subscribe();
        drop(guard);
        shared.commit_wanted.notify_one();
        shared.wait_for(committed, batch.number).await
    }

    async fn finish(mut self: Box<Self>) -> Result<(), StoreError> {
        let Some(mut guard) = self.guard.take() else {
            return Err(closed());
        };
        let shared = self.shared.clone();
        let state = &mut *guard;
        let released = match state.conn.as_mut() {
            Some(conn) => conn.batch("RELEASE request"),
            None => Err(closed()),
        };
        if let Err(error) = released {
            shared.roll_back_request(state);
            return Err(error);
        }
        let Some(batch) = state.batch.as_mut() else {
            return Err(StoreError::Internal(
                "a write ended outside its batch".into(),
            ));
        };
        batch.members += 1;
        let (number, members) = (batch.number, batch.members);
        if members >= MAX_BATCH || shared.queued.load(Ordering::SeqCst) == 0 {
            return shared.commit(state);
        }
        // Others are queued: they join this batch, and the last of them commits it.
        let committed = shared.committed.subscribe();
        drop(guard);
        shared.commit_wanted.notify_one();
        shared.wait_for(committed, number).await
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            self.shared.roll_back_request(&mut guard);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn writer(dir: &tempfile::TempDir) -> Writer {
        let mut conn = SqliteConn::open_writer(&dir.path().join("w.db")).expect("open");
        conn.batch("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .expect("table");
        Writer::new(conn)
    }

    async fn insert(tx: &mut WriteTx, id: i64) -> Result<u64, StoreError> {
        Stmt::new("INSERT INTO t (id) VALUES ($1)")
            .bind(id)
            .execute(tx.conn())
            .await
    }

    async fn stored(writer: &Writer) -> Vec<i64> {
        let mut held = writer.begin().await.expect("begin");
        let ids = Stmt::new("SELECT id FROM t ORDER BY id")
            .scalars(held.conn())
            .await
            .expect("ids");
        drop(held);
        ids
    }

    /// Requests queued behind one that holds the writer share its batch: fewer COMMITs than
    /// requests, and each request's writes stand or fall alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_writes_commit_together_and_a_failed_one_leaves_the_others() {
        let dir = tempfile::tempdir().expect("dir");
        let writer = Arc::new(writer(&dir).await);
        let mut tasks = tokio::task::JoinSet::new();
        for id in 1..=40_i64 {
            let writer = writer.clone();
            tasks.spawn(async move {
                let mut tx = writer.begin().await?;
                insert(&mut tx, id).await?;
                // Holding the writer a moment makes the others queue behind it.
                tokio::time::sleep(Duration::from_millis(2)).await;
                if id % 4 == 0 {
                    // Fails after writing: its row must not survive, nor harm the batch.
                    insert(&mut tx, id).await?;
                }
                Box::new(tx).finish().await.map(|()| id)
            });
        }
        let mut committed = Vec::new();
        let mut failed = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined.expect("task") {
                Ok(id) => committed.push(id),
                Err(StoreError::Unique(_)) => failed.push(()),
                Err(other) => panic!("unexpected {other}"),
            }
        }
        committed.sort_unstable();
        let expected: Vec<i64> = (1..=40).filter(|id| id % 4 != 0).collect();
        assert_eq!(committed, expected);
        assert_eq!(failed.len(), 10);
        assert_eq!(stored(&writer).await, expected);
        let commits = writer.commits();
        assert!(
            commits < expected.len() as u64,
            "{commits} COMMITs for {} requests: none batched",
            expected.len()
        );
    }

    /// A request answered is a request committed: another connection sees its row.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_finished_write_is_visible_to_a_reader_at_once() {
        let dir = tempfile::tempdir().expect("dir");
        let writer = Arc::new(writer(&dir).await);
        let mut tasks = tokio::task::JoinSet::new();
        for id in 1..=16_i64 {
            let (writer, path) = (writer.clone(), dir.path().join("w.db"));
            tasks.spawn(async move {
                let mut tx = writer.begin().await.expect("begin");
                insert(&mut tx, id).await.expect("insert");
                Box::new(tx).finish().await.expect("commit");
                let mut reader = SqliteConn::open_reader(&path).expect("reader");
                let seen: i64 = Stmt::new("SELECT COUNT(*) FROM t WHERE id = $1")
                    .bind(id)
                    .scalar(&mut reader)
                    .await
                    .expect("count");
                assert_eq!(seen, 1, "row {id} not visible after its commit");
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined.expect("task");
        }
    }

    /// A refusal that read an earlier request's uncommitted write (in its batch) is answered
    /// only once that write is committed. On one thread, so that nothing else (the committer
    /// task) commits the batch between the refusal's answer and the look at the database.
    #[tokio::test]
    async fn a_refusal_waits_for_the_writes_it_read() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("w.db");
        let writer = Arc::new(writer(&dir).await);
        let mut first = writer.begin().await.expect("begin");
        insert(&mut first, 1).await.expect("insert");
        let second = {
            let writer = writer.clone();
            tokio::spawn(async move {
                let mut tx = writer.begin().await.expect("begin");
                let seen: i64 = Stmt::new("SELECT COUNT(*) FROM t WHERE id = 1")
                    .scalar(tx.conn())
                    .await
                    .expect("count");
                assert_eq!(
                    seen, 1,
                    "the batch's earlier write is visible to its writes"
                );
                Box::new(tx).abandon().await.expect("roll back");
                // Answered: the write it read must be committed now, before this task yields.
                let mut reader = SqliteConn::open_reader(&path).expect("reader");
                Stmt::new("SELECT COUNT(*) FROM t WHERE id = 1")
                    .scalar::<_, i64>(&mut reader)
                    .await
                    .expect("count")
            })
        };
        // The second is queued: the first leaves the batch open for it.
        while writer.shared.queued.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let finishing = tokio::spawn(Box::new(first).finish());
        let committed = second.await.expect("second");
        assert_eq!(
            committed, 1,
            "answered before the write it read was committed"
        );
        finishing.await.expect("first").expect("commit");
    }

    /// A transaction dropped before it finished (an error, a client gone) leaves nothing.
    #[tokio::test]
    async fn a_dropped_write_is_rolled_back() {
        let dir = tempfile::tempdir().expect("dir");
        let writer = writer(&dir).await;
        let mut tx = writer.begin().await.expect("begin");
        insert(&mut tx, 7).await.expect("insert");
        drop(tx);
        let mut tx = writer.begin().await.expect("begin");
        insert(&mut tx, 8).await.expect("insert");
        Box::new(tx).finish().await.expect("commit");
        assert_eq!(stored(&writer).await, vec![8]);
    }
}
