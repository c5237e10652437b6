//! Supervised background tasks. A bare `tokio::spawn` that panics ends silently: the
//! dispatcher or the OVN reconciler would stop and nothing would say so. Every long-running
//! background task of the server and the agent is started here instead, under a name, and:
//!
//! - has a state ([`Phase`]): starting, running, restarting after a failure, or stopped;
//! - is started again after a panic or an error return, after a pause that doubles from
//!   100 ms up to 30 s (and starts again from 100 ms once a run has lasted 30 s);
//! - is counted on `/metrics`: `trunkd_task_restarts_total{task}` and `trunkd_task_up{task}`.
//!
//! A task that returns `Ok` is not restarted: it is reported stopped, and readiness fails
//! while it is (these tasks are meant to run until shutdown). A task stopped on purpose (its
//! [`TaskHandle`] dropped, or [`Supervisor::shutdown`]) leaves the list.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

/// First pause before a restart; doubles on each failure in a row.
pub const RESTART_MIN: Duration = Duration::from_millis(100);
/// Longest pause before a restart; a run that lasted this long resets the pause.
pub const RESTART_MAX: Duration = Duration::from_secs(30);
/// How long [`Supervisor::shutdown`] waits for aborted tasks to end.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Spawned, not yet polled.
    Starting,
    Running,
    /// Failed (panicked or returned an error); waiting out its backoff.
    Restarting,
    /// Returned `Ok`: it will not run again.
    Stopped,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Running => "running",
            Phase::Restarting => "restarting",
            Phase::Stopped => "stopped",
        }
    }
}

/// What a task's run returns: `()` (it ended), or a `Result` (an `Err` is a failure).
pub trait Outcome: Send + 'static {
    fn failure(self) -> Option<String>;
}

impl Outcome for () {
    fn failure(self) -> Option<String> {
        None
    }
}

impl<E: std::fmt::Display + Send + 'static> Outcome for Result<(), E> {
    fn failure(self) -> Option<String> {
        self.err().map(|e| e.to_string())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    task: String,
}

/// One task's state, as readiness and tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStatus {
    pub name: String,
    pub phase: Phase,
    pub restarts: u64,
    /// Why it last failed.
    pub last_failure: Option<String>,
}

struct Record {
    name: &'static str,
    phase: Mutex<Phase>,
    last_failure: Mutex<Option<String>>,
    restarts: Counter,
    up: Gauge,
    abort: tokio::task::AbortHandle,
    ended: watch::Receiver<bool>,
}

impl Record {
    fn set(&self, phase: Phase) {
        *lock(&self.phase) = phase;
        self.up.set(i64::from(phase == Phase::Running));
    }

    fn status(&self) -> TaskStatus {
        TaskStatus {
            name: self.name.to_string(),
            phase: *lock(&self.phase),
            restarts: self.restarts.get(),
            last_failure: lock(&self.last_failure).clone(),
        }
    }
}

/// The values behind these locks are replaced whole: a poisoned lock still holds a valid one.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

struct Inner {
    tasks: Mutex<BTreeMap<u64, Arc<Record>>>,
    next_id: AtomicU64,
    restarts: Family<TaskLabels, Counter>,
    up: Family<TaskLabels, Gauge>,
    backoff: (Duration, Duration),
}

/// Starts and watches named background tasks; cheap to clone (clones share the tasks).
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

/// A supervised task; dropping it stops the task (and any restart of it).
pub struct TaskHandle {
    id: u64,
    abort: tokio::task::AbortHandle,
    inner: Arc<Inner>,
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        self.abort.abort();
        if let Some(record) = lock(&self.inner.tasks).remove(&self.id) {
            record.up.set(0);
        }
    }
}

/// Aborts the current run when the supervising loop is dropped (aborted).
struct AbortRun(tokio::task::AbortHandle);

impl Drop for AbortRun {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Marks the task ended (for shutdown) however its supervising loop ends.
struct Ended(watch::Sender<bool>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

/// The text of a panic's payload.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic".to_string()
    }
}

impl Supervisor {
    pub fn new() -> Self {
        Self::with_backoff(RESTART_MIN, RESTART_MAX)
    }

    /// A supervisor whose restart pauses go from `min` to `max` (tests use short ones).
    pub fn with_backoff(min: Duration, max: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                tasks: Mutex::new(BTreeMap::new()),
                next_id: AtomicU64::new(1),
                restarts: Family::default(),
                up: Family::default(),
                backoff: (min, max.max(min)),
            }),
        }
    }

    /// Adds `trunkd_task_restarts_total` and `trunkd_task_up` to `registry`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "task_restarts",
            "Restarts of a background task after it panicked or failed",
            self.inner.restarts.clone(),
        );
        registry.register(
            "task_up",
            "Whether a background task is running (1) or starting, restarting or stopped (0)",
            self.inner.up.clone(),
        );
    }

    /// Runs `start()`'s future as the task `name`, and again (a fresh future from `start`)
    /// whenever one panics or returns an error.
    pub fn spawn<F, Fut>(&self, name: &'static str, mut start: F) -> TaskHandle
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Outcome,
    {
        let labels = TaskLabels {
            task: name.to_string(),
        };
        let restarts = self.inner.restarts.get_or_create(&labels).clone();
        let up = self.inner.up.get_or_create(&labels).clone();
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (ended_tx, ended) = watch::channel(false);
        let (record_tx, record_rx) = tokio::sync::oneshot::channel::<Arc<Record>>();
        let (min, max) = self.inner.backoff;
        let task = tokio::spawn(async move {
            let _ended = Ended(ended_tx);
            let Ok(record) = record_rx.await else {
                return;
            };
            let mut pause = min;
            loop {
                record.set(Phase::Running);
                let started = tokio::time::Instant::now();
                let run = tokio::spawn(start());
                let guard = AbortRun(run.abort_handle());
                let failure = match run.await {
                    Ok(outcome) => outcome.failure(),
                    Err(error) if error.is_panic() => {
                        Some(format!("panicked: {}", panic_message(error.into_panic())))
                    }
                    Err(error) => Some(error.to_string()),
                };
                drop(guard);
                let Some(failure) = failure else {
                    tracing::warn!(task = name, "background task ended; it is not restarted");
                    record.set(Phase::Stopped);
                    return;
                };
                if started.elapsed() >= max {
                    pause = min;
                }
                record.set(Phase::Restarting);
                record.restarts.inc();
                tracing::error!(
                    task = name,
                    %failure,
                    restart_in_ms = pause.as_millis() as u64,
                    "background task failed; restarting it"
                );
                *lock(&record.last_failure) = Some(failure);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(max);
            }
        });
        let abort = task.abort_handle();
        let record = Arc::new(Record {
            name,
            phase: Mutex::new(Phase::Starting),
            last_failure: Mutex::new(None),
            restarts,
            up,
            abort: abort.clone(),
            ended,
        });
        record.up.set(0);
        lock(&self.inner.tasks).insert(id, record.clone());
        let _ = record_tx.send(record);
        TaskHandle {
            id,
            abort,
            inner: self.inner.clone(),
        }
    }

    /// Every task's state, in the order they were started.
    pub fn tasks(&self) -> Vec<TaskStatus> {
        lock(&self.inner.tasks)
            .values()
            .map(|record| record.status())
            .collect()
    }

    /// Tasks that are not running, with their phase.
    pub fn not_running(&self) -> Vec<TaskStatus> {
        self.tasks()
            .into_iter()
            .filter(|task| task.phase != Phase::Running)
            .collect()
    }

    /// Stops every task (as a drop of its handle would) and waits, a few seconds at most, for
    /// them to end.
    pub async fn shutdown(&self) {
        let records: Vec<Arc<Record>> = std::mem::take(&mut *lock(&self.inner.tasks))
            .into_values()
            .collect();
        for record in &records {
            record.abort.abort();
        }
        let all_ended = async {
            for record in &records {
                let mut ended = record.ended.clone();
                let _ = ended.wait_for(|ended| *ended).await;
                record.up.set(0);
            }
        };
        if tokio::time::timeout(SHUTDOWN_WAIT, all_ended)
            .await
            .is_err()
        {
            tracing::warn!("background tasks still running after {SHUTDOWN_WAIT:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn metrics(supervisor: &Supervisor) -> String {
        let mut registry = Registry::with_prefix("trunkd");
        supervisor.register_metrics(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        text
    }

    #[tokio::test]
    async fn a_task_that_panics_twice_is_restarted_and_counted() {
        let supervisor =
            Supervisor::with_backoff(Duration::from_millis(10), Duration::from_secs(1));
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let _task = supervisor.spawn("flaky", move || {
            let run = counted.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if run <= 2 {
                    panic!("run {run} fails");
                }
                std::future::pending::<()>().await;
            }
        });
        wait_for("the third run", || runs.load(Ordering::SeqCst) == 3).await;
        wait_for("running", || supervisor.not_running().is_empty()).await;
        let status = &supervisor.tasks()[0];
        assert_eq!(status.name, "flaky");
        assert_eq!(status.phase, Phase::Running);
        assert_eq!(status.restarts, 2);
        assert_eq!(
            status.last_failure.as_deref(),
            Some("panicked: run 2 fails")
        );
        let text = metrics(&supervisor);
        assert!(
            text.contains("trunkd_task_restarts_total{task=\"flaky\"} 2"),
            "{text}"
        );
        assert!(text.contains("trunkd_task_up{task=\"flaky\"} 1"), "{text}");
        // It stays up: no further run.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_error_return_restarts_with_growing_pauses() {
        let supervisor =
            Supervisor::with_backoff(Duration::from_millis(20), Duration::from_millis(80));
        let starts = Arc::new(Mutex::new(Vec::new()));
        let seen = starts.clone();
        let _task = supervisor.spawn("failing", move || {
            lock(&seen).push(tokio::time::Instant::now());
            async { Err::<(), _>("no luck") }
        });
        wait_for("five runs", || lock(&starts).len() >= 5).await;
        let starts = lock(&starts).clone();
        let pauses: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
        // 20, 40, 80, 80 ms (timers may fire late, never early).
        for (pause, least) in pauses.iter().zip([20, 40, 80, 80]) {
            assert!(*pause >= Duration::from_millis(least), "pauses {pauses:?}");
        }
        let status = &supervisor.tasks()[0];
        assert!(status.restarts >= 4);
        assert_eq!(status.last_failure.as_deref(), Some("no luck"));
        assert_ne!(status.phase, Phase::Stopped);
    }

    #[tokio::test]
    async fn a_task_that_returns_is_stopped_and_not_running() {
        let supervisor = Supervisor::new();
        let _task = supervisor.spawn("done", || async {});
        wait_for("stopped", || supervisor.tasks()[0].phase == Phase::Stopped).await;
        assert_eq!(supervisor.not_running().len(), 1);
        assert_eq!(supervisor.tasks()[0].restarts, 0);
    }

    #[tokio::test]
    async fn dropping_the_handle_or_shutdown_stops_the_task() {
        let supervisor = Supervisor::new();
        let alive = Arc::new(AtomicUsize::new(0));
        struct Alive(Arc<AtomicUsize>);
        impl Drop for Alive {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let spawn = |name| {
            let alive = alive.clone();
            supervisor.spawn(name, move || {
                alive.fetch_add(1, Ordering::SeqCst);
                let guard = Alive(alive.clone());
                async move {
                    let _guard = guard;
                    std::future::pending::<()>().await;
                }
            })
        };
        let first = spawn("first");
        let _second = spawn("second");
        wait_for("both run", || alive.load(Ordering::SeqCst) == 2).await;
        drop(first);
        wait_for("the first ended", || alive.load(Ordering::SeqCst) == 1).await;
        assert_eq!(supervisor.tasks().len(), 1);
        supervisor.shutdown().await;
        wait_for("all ended", || alive.load(Ordering::SeqCst) == 0).await;
        assert!(supervisor.tasks().is_empty());
    }
}
