//! What `/readyz` answers from: the state of each connection the server depends on, and of its
//! supervised background tasks ([`crate::supervisor`]). Ready means every dependency is up and
//! every task is running; otherwise `/readyz` is a 503 naming what is not.
//!
//! A dependency's state is cached, so `/readyz` never waits on a dependency that hangs. It is
//! set by whoever owns the connection: a request that finds Keystone unreachable marks it down
//! at once, and a background prober ([`keep_probing`], under the supervisor) checks it every few
//! seconds, with a time limit, so it also comes back up by itself. Each call or probe is an
//! [`Attempt`] numbered when it begins, and an outcome that arrives after a later-begun
//! attempt's has been recorded is dropped: a slow probe that began during an outage cannot
//! undo a later probe's finding that the dependency is back. A dependency may instead
//! have a `check`: a cheap function without I/O that reads the connection owner's own state
//! (an OVN session, northbound or southbound, knows whether it is connected). `/metrics`
//! shows each one as `trunkd_dependency_up{dependency}`, its connection state as
//! `trunkd_dependency_state{dependency, state}` (1 for the state it is in: `connecting` until
//! first checked, `connected`, `failed`) and how many times it came back after failing as
//! `trunkd_dependency_reconnects_total{dependency}`. A checked dependency's changes are seen
//! when it is read (each `/readyz` and `/metrics`), so a failure shorter than the time between
//! two reads is not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::supervisor::{Supervisor, TaskStatus};

/// How often an up dependency is probed.
pub const PROBE_EVERY: Duration = Duration::from_secs(5);
/// How often a down (or not yet checked) dependency is probed.
pub const PROBE_RETRY: Duration = Duration::from_secs(1);
/// Time limit on one probe: beyond it the dependency counts as down.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A dependency's last known state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Not checked yet (counts as not ready).
    Unknown,
    Up,
    /// Unreachable, with why (logged, not served: it may name internal addresses).
    Down(String),
}

impl State {
    pub fn is_up(&self) -> bool {
        matches!(self, State::Up)
    }

    /// The word `/readyz` shows.
    pub fn word(&self) -> &'static str {
        match self {
            State::Unknown => "unknown",
            State::Up => "up",
            State::Down(_) => "down",
        }
    }

    /// The connection's state as `trunkd_dependency_state` labels it.
    pub fn connection_state(&self) -> &'static str {
        match self {
            State::Unknown => "connecting",
            State::Up => "connected",
            State::Down(_) => "failed",
        }
    }
}

/// Every value of `trunkd_dependency_state`'s `state` label.
const CONNECTION_STATES: [&str; 3] = ["connecting", "connected", "failed"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DependencyLabels {
    dependency: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    dependency: String,
    state: &'static str,
}

/// The dependencies' metric families, shared by the registry and every handle.
#[derive(Clone, Default)]
struct DependencyMetrics {
    up: Family<DependencyLabels, Gauge>,
    state: Family<StateLabels, Gauge>,
    reconnects: Family<DependencyLabels, Counter>,
    /// Dependencies that have been up at least once: only those can come *back*.
    ever_up: Arc<Mutex<BTreeSet<String>>>,
}

impl DependencyMetrics {
    /// Shows `now` as `name`'s state; a dependency that had been up, then failed, and is up
    /// again counts a reconnect. (A first connection that took a few checks to come up is
    /// no reconnect: nothing had been lost.)
    fn record(&self, name: &str, previous: Option<&State>, now: &State) {
        let had_been_up = {
            let mut ever_up = lock(&self.ever_up);
            let had_been_up = ever_up.contains(name);
            if now.is_up() && !had_been_up {
                ever_up.insert(name.to_string());
            }
            had_been_up
        };
        let dependency = DependencyLabels {
            dependency: name.to_string(),
        };
        self.up
            .get_or_create(&dependency)
            .set(i64::from(now.is_up()));
        for state in CONNECTION_STATES {
            let labels = StateLabels {
                dependency: name.to_string(),
                state,
            };
            let current = i64::from(state == now.connection_state());
            self.state.get_or_create(&labels).set(current);
        }
        let reconnects = self.reconnects.get_or_create(&dependency);
        if had_been_up && matches!((previous, now), (Some(State::Down(_)), State::Up)) {
            reconnects.inc();
        }
    }
}

type Check = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

enum Source {
    /// Set through a [`Dependency`] handle.
    Cached(Dependency),
    /// Read from the connection's owner when asked.
    Check(Check),
}

/// The values behind these locks are replaced whole: a poisoned lock still holds a valid one.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The registry of dependencies; cheap to clone (clones share it).
#[derive(Clone, Default)]
pub struct Dependencies {
    entries: Arc<Mutex<BTreeMap<&'static str, Source>>>,
    /// The checked dependencies' states when last read, to see them change.
    checked: Arc<Mutex<BTreeMap<&'static str, State>>>,
    metrics: DependencyMetrics,
}

/// The handle its owner sets one dependency's state through.
#[derive(Clone)]
pub struct Dependency {
    name: &'static str,
    state: Arc<Mutex<Observed>>,
    /// Attempts begun so far: each [`Attempt`] is numbered from it.
    begun: Arc<AtomicU64>,
    metrics: DependencyMetrics,
}

/// A dependency's state and the number of the attempt that found it.
struct Observed {
    state: State,
    by_attempt: u64,
}

/// One call or probe of a dependency, begun before its outcome is known. Its outcome is
/// recorded only if no attempt begun after it has been recorded already: a probe that started
/// while the database was down and timed out after a later probe found it back must not mark
/// it down again (and count a second reconnect).
#[must_use = "an attempt records nothing until it is observed"]
pub struct Attempt {
    dependency: Dependency,
    number: u64,
}

impl Attempt {
    /// Records `state`, unless a later attempt's outcome is recorded already.
    pub fn set(self, state: State) {
        let dependency = &self.dependency;
        let previous = {
            let mut observed = lock(&dependency.state);
            if observed.by_attempt > self.number {
                tracing::debug!(
                    dependency = dependency.name,
                    ?state,
                    "outcome of an attempt overtaken by a later one is ignored"
                );
                return;
            }
            observed.by_attempt = self.number;
            let previous = std::mem::replace(&mut observed.state, state.clone());
            // Under the lock, so the gauges end on the state recorded last.
            dependency
                .metrics
                .record(dependency.name, Some(&previous), &state);
            previous
        };
        match (&previous, &state) {
            (State::Up, State::Up) | (State::Down(_), State::Down(_)) => {}
            (_, State::Up) => tracing::info!(dependency = dependency.name, "dependency is up"),
            (_, State::Down(reason)) => {
                tracing::warn!(dependency = dependency.name, %reason, "dependency is down")
            }
            (_, State::Unknown) => {}
        }
    }

    /// Records a call's or a probe's outcome.
    pub fn observe<E: std::fmt::Display>(self, outcome: &Result<(), E>) {
        match outcome {
            Ok(()) => self.set(State::Up),
            Err(error) => self.set(State::Down(error.to_string())),
        }
    }
}

impl Dependency {
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn state(&self) -> State {
        lock(&self.state).state.clone()
    }

    /// Begins a call or probe whose outcome will be observed through the returned attempt.
    pub fn attempt(&self) -> Attempt {
        Attempt {
            dependency: self.clone(),
            number: self.begun.fetch_add(1, Ordering::SeqCst) + 1,
        }
    }

    /// Records a state known now (an attempt begun and ended at once).
    pub fn set(&self, state: State) {
        self.attempt().set(state);
    }

    pub fn set_up(&self) {
        self.set(State::Up);
    }

    pub fn set_down(&self, reason: impl Into<String>) {
        self.set(State::Down(reason.into()));
    }
}

impl Dependencies {
    /// A dependency whose state its owner sets; `Unknown` until then.
    pub fn register(&self, name: &'static str) -> Dependency {
        let state = Arc::new(Mutex::new(Observed {
            state: State::Unknown,
            by_attempt: 0,
        }));
        self.metrics.record(name, None, &State::Unknown);
        let dependency = Dependency {
            name,
            state,
            begun: Arc::new(AtomicU64::new(0)),
            metrics: self.metrics.clone(),
        };
        lock(&self.entries).insert(name, Source::Cached(dependency.clone()));
        dependency
    }

    /// The handle of a dependency registered with [`Self::register`].
    pub fn handle(&self, name: &str) -> Option<Dependency> {
        match lock(&self.entries).get(name) {
            Some(Source::Cached(dependency)) => Some(dependency.clone()),
            _ => None,
        }
    }

    /// A dependency read through `check`, which must be cheap and must not block.
    pub fn register_check(
        &self,
        name: &'static str,
        check: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) {
        lock(&self.entries).insert(name, Source::Check(Arc::new(check)));
        self.refresh();
    }

    /// Every dependency's state now (checks are run), by name; updates the gauges.
    pub fn states(&self) -> Vec<(&'static str, State)> {
        let entries = lock(&self.entries);
        let mut checked = lock(&self.checked);
        entries
            .iter()
            .map(|(name, source)| {
                let state = match source {
                    Source::Cached(dependency) => {
                        let state = dependency.state();
                        self.metrics.record(name, Some(&state), &state);
                        state
                    }
                    Source::Check(check) => {
                        let state = match check() {
                            Ok(()) => State::Up,
                            Err(reason) => State::Down(reason),
                        };
                        let previous = checked.insert(name, state.clone());
                        self.metrics.record(name, previous.as_ref(), &state);
                        state
                    }
                };
                (*name, state)
            })
            .collect()
    }

    /// Brings the gauges of checked dependencies up to date (before `/metrics` is encoded).
    pub fn refresh(&self) {
        let _ = self.states();
    }

    /// Adds `trunkd_dependency_up`, `trunkd_dependency_state` and
    /// `trunkd_dependency_reconnects_total` to `registry`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "dependency_up",
            "Whether a connection the server depends on is up (1) or down or not yet checked (0)",
            self.metrics.up.clone(),
        );
        registry.register(
            "dependency_state",
            "A connection's state: 1 for the one it is in (connecting until first checked, \
             connected, failed), 0 for the others",
            self.metrics.state.clone(),
        );
        registry.register(
            "dependency_reconnects",
            "Times a connection came back after it had failed",
            self.metrics.reconnects.clone(),
        );
    }
}

/// What readiness is made of: the dependencies and the supervised tasks.
#[derive(Clone, Default)]
pub struct Readiness {
    pub tasks: Supervisor,
    pub dependencies: Dependencies,
}

/// Why the server is not ready; empty when it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Dependencies not up, with their state.
    pub dependencies: Vec<(&'static str, State)>,
    /// Tasks not running.
    pub tasks: Vec<TaskStatus>,
}

impl Report {
    pub fn is_ready(&self) -> bool {
        self.dependencies.is_empty() && self.tasks.is_empty()
    }

    /// One line naming what is not ready, e.g.
    /// `dependency keystone is down; task dispatcher is restarting`.
    pub fn summary(&self) -> String {
        let dependencies = self
            .dependencies
            .iter()
            .map(|(name, state)| format!("dependency {name} is {}", state.word()));
        let tasks = self
            .tasks
            .iter()
            .map(|task| format!("task {} is {}", task.name, task.phase.as_str()));
        dependencies.chain(tasks).collect::<Vec<_>>().join("; ")
    }
}

impl Readiness {
    pub fn report(&self) -> Report {
        Report {
            dependencies: self
                .dependencies
                .states()
                .into_iter()
                .filter(|(_, state)| !state.is_up())
                .collect(),
            tasks: self.tasks.not_running(),
        }
    }

    /// Supervises a prober that keeps `dependency` current with `probe` (see [`keep_probing`]).
    pub fn probe<F, Fut>(
        &self,
        task: &'static str,
        dependency: Dependency,
        probe: F,
    ) -> crate::supervisor::TaskHandle
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let probe = Arc::new(probe);
        self.tasks.spawn(task, move || {
            let (dependency, probe) = (dependency.clone(), probe.clone());
            async move { keep_probing(&dependency, move || probe(), PROBE_TIMEOUT).await }
        })
    }
}

/// Probes `dependency` for ever: every [`PROBE_EVERY`] while it is up, every [`PROBE_RETRY`]
/// while it is not; a probe that takes longer than `limit` counts as down.
pub async fn keep_probing<F, Fut>(dependency: &Dependency, probe: F, limit: Duration)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    loop {
        let attempt = dependency.attempt();
        let outcome = match tokio::time::timeout(limit, probe()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no answer within {limit:?}")),
        };
        attempt.observe(&outcome);
        let pause = if outcome.is_ok() {
            PROBE_EVERY
        } else {
            PROBE_RETRY
        };
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dependency_is_unknown_until_set_and_shows_on_the_gauge() {
        let dependencies = Dependencies::default();
        let keystone = dependencies.register("keystone");
        let readiness = Readiness {
            tasks: Supervisor::new(),
            dependencies: dependencies.clone(),
        };
        assert_eq!(
            readiness.report().dependencies,
            vec![("keystone", State::Unknown)]
        );
        keystone.set_up();
        assert!(readiness.report().is_ready());
        keystone.set_down("connection refused");
        let report = readiness.report();
        assert_eq!(report.summary(), "dependency keystone is down");
        let mut registry = Registry::with_prefix("trunkd");
        dependencies.register_metrics(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        assert!(
            text.contains("trunkd_dependency_up{dependency=\"keystone\"} 0"),
            "{text}"
        );
        for (state, value) in [("connecting", 0), ("connected", 0), ("failed", 1)] {
            let line = format!(
                "trunkd_dependency_state{{dependency=\"keystone\",state=\"{state}\"}} {value}"
            );
            assert!(text.contains(&line), "no `{line}` in {text}");
        }
        // Up, down, up: one reconnect (the first connection is not one).
        keystone.set_up();
        keystone.set_down("connection reset");
        keystone.set_down("connection refused");
        keystone.set_up();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        assert!(
            text.contains("trunkd_dependency_reconnects_total{dependency=\"keystone\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("trunkd_dependency_state{dependency=\"keystone\",state=\"connected\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn an_outcome_overtaken_by_a_later_attempt_is_ignored() {
        let dependencies = Dependencies::default();
        let database = dependencies.register("database");
        let mut registry = Registry::default();
        dependencies.register_metrics(&mut registry);
        database.set_up();
        database.set_down("connection refused");
        // A probe begins while the database is down; /readyz begins after it and finds the
        // database back before the probe gives up.
        let slow_probe = database.attempt();
        let readyz = database.attempt();
        readyz.observe(&Ok::<(), String>(()));
        slow_probe.observe(&Err("no answer within 2s"));
        assert_eq!(database.state(), State::Up);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        assert!(
            text.contains("dependency_reconnects_total{dependency=\"database\"} 1"),
            "{text}"
        );
        // An attempt begun after every recorded one still counts, whatever it finds.
        database.attempt().observe(&Err("connection reset"));
        assert_eq!(database.state(), State::Down("connection reset".into()));
    }

    #[test]
    fn a_checked_dependency_is_read_when_asked() {
        let dependencies = Dependencies::default();
        let connected = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = connected.clone();
        dependencies.register_check("ovn", move || {
            if seen.load(std::sync::atomic::Ordering::SeqCst) {
                Ok(())
            } else {
                Err("not connected".into())
            }
        });
        assert_eq!(
            dependencies.states(),
            vec![("ovn", State::Down("not connected".into()))]
        );
        connected.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(dependencies.states(), vec![("ovn", State::Up)]);
        let mut registry = Registry::default();
        dependencies.register_metrics(&mut registry);
        let reconnects = || {
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
            text
        };
        // Down until its first connection: that is no reconnect.
        let text = reconnects();
        assert!(
            text.contains("dependency_reconnects_total{dependency=\"ovn\"} 0"),
            "{text}"
        );
        // A checked dependency's comeback counts.
        connected.store(false, std::sync::atomic::Ordering::SeqCst);
        dependencies.states();
        connected.store(true, std::sync::atomic::Ordering::SeqCst);
        dependencies.states();
        let text = reconnects();
        assert!(
            text.contains("dependency_reconnects_total{dependency=\"ovn\"} 1"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_probe_that_hangs_counts_as_down() {
        let dependencies = Dependencies::default();
        let database = dependencies.register("database");
        let prober = {
            let database = database.clone();
            tokio::spawn(async move {
                keep_probing(
                    &database,
                    std::future::pending::<Result<(), String>>,
                    Duration::from_millis(20),
                )
                .await
            })
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while database.state() == State::Unknown {
            assert!(tokio::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        prober.abort();
        assert_eq!(
            database.state(),
            State::Down("no answer within 20ms".into())
        );
    }
}
