//! Copies committed pages from the write-ahead log into the database file off the commit path.
//!
//! SQLite's automatic checkpoint runs inside the COMMIT that takes the log past its threshold
//! (1,000 pages): that COMMIT, and the batch of requests waiting on it, pays for copying the
//! pages and for two fsyncs, on the async worker thread the committing request runs on. The
//! writer turns it off (`wal_autocheckpoint = 0`) and this thread checkpoints instead, on a
//! connection of its own, whenever the log holds pages: PASSIVE, so it never waits for the
//! writer or a reader and neither waits for it. Once every page is copied and no reader needs
//! the log, the writer starts it again from the beginning, so it stays bounded.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::store::StoreError;

/// How often the log is looked at while commits arrive.
const BUSY_EVERY: Duration = Duration::from_millis(50);
/// How often an idle log is looked at.
const IDLE_EVERY: Duration = Duration::from_secs(1);

/// The checkpointing thread; stopped when dropped.
pub struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a connection of its own to `path` and starts the thread.
    pub fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let unavailable = |e: rusqlite::Error| {
            StoreError::Unavailable(format!("{}: checkpointer: {e}", path.display()))
        };
        let db = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(unavailable)?;
        db.execute_batch("PRAGMA synchronous = NORMAL;")
            .map_err(unavailable)?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("trunkd-checkpoint".into())
            .spawn(move || run(&db, &stopping))
            .map_err(|e| StoreError::Unavailable(format!("checkpointer thread: {e}")))?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it (at most one checkpoint's time).
    pub fn stop(&mut self) {
        let (stopped, wake) = &*self.stop;
        if let Ok(mut stopped) = stopped.lock() {
            *stopped = true;
        }
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One PASSIVE checkpoint on `db`; returns the frames the log held.
fn checkpoint_passive(db: &Connection) -> rusqlite::Result<i64> {
    db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
}

/// Checkpoints until told to stop: often while the log grows, seldom while it is idle. A
/// failure is logged once until checkpoints work again (the log then grows until they do).
fn run(db: &Connection, stop: &(Mutex<bool>, Condvar)) {
    let (stopped, wake) = stop;
    let mut failing = false;
    let mut every = BUSY_EVERY;
    loop {
        let Ok(guard) = stopped.lock() else { return };
        let Ok((guard, _)) = wake.wait_timeout_while(guard, every, |stopped| !*stopped) else {
            return;
        };
        if *guard {
            return;
        }
        drop(guard);
        match checkpoint_passive(db) {
            Ok(log_frames) => {
                if failing {
                    tracing::info!("checkpoints of the SQLite log work again");
                    failing = false;
                }
                every = if log_frames > 0 {
                    BUSY_EVERY
                } else {
                    IDLE_EVERY
                };
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(%error, "could not checkpoint the SQLite log; it grows until this works");
                    failing = true;
                }
                every = IDLE_EVERY;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With automatic checkpoints off, the database file grows only when this thread copies
    /// the log into it.
    #[test]
    fn committed_pages_reach_the_database_file_without_automatic_checkpoints() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.db");
        let writer = Connection::open(&path).expect("open");
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; \
                 CREATE TABLE t (x TEXT);",
            )
            .expect("schema");
        let file_size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let before = file_size();
        for _ in 0..200 {
            writer
                .execute("INSERT INTO t VALUES (hex(randomblob(200)))", [])
                .expect("insert");
        }
        std::thread::sleep(BUSY_EVERY * 4);
        assert_eq!(file_size(), before, "nothing checkpoints the log yet");
        let mut checkpointer = Checkpointer::start(&path).expect("start");
        let deadline = std::time::Instant::now() + IDLE_EVERY * 5;
        while file_size() <= before && std::time::Instant::now() < deadline {
            std::thread::sleep(BUSY_EVERY);
        }
        assert!(
            file_size() > before,
            "the log's pages were copied into the file"
        );
        checkpointer.stop();
    }
}
