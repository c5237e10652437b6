//! A connection to one OVSDB server that stays up: a background task connects, re-issues the
//! registered monitors, probes the server with `echo` and, when the connection drops,
//! reconnects with exponential backoff. Callers never see a half-open session: a call either
//! runs on a live connection or fails at once with a clear error, so the outbox retries it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::connection::{Connection, MonitorEvent, MonitorRoutes};
use super::remote::Remote;
use super::OvsdbError;
use crate::supervisor::{Supervisor, TaskHandle};

/// Timing of the session; the defaults suit a database on the same network.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// First pause before reconnecting; doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// How often an idle connection is probed with `echo`, and how long the answer may take.
    pub probe_every: Duration,
    /// Limit on one request (a transaction or a monitor's initial contents).
    pub request_timeout: Duration,
    /// How long a request waits for a connection before failing (short: the caller retries).
    pub connect_wait: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            probe_every: Duration::from_secs(5),
            request_timeout: Duration::from_secs(20),
            connect_wait: Duration::from_millis(500),
        }
    }
}

/// A monitor to (re)start on every connection.
struct MonitorSpec {
    id: String,
    db: String,
    requests: Value,
    route: mpsc::UnboundedSender<MonitorEvent>,
}

struct Shared {
    remote: Remote,
    timing: Timing,
    current: watch::Sender<Option<Arc<Connection>>>,
    routes: MonitorRoutes,
    /// Held while monitors are registered or a new connection is being published, so a
    /// monitor is started exactly once on each connection.
    monitors: tokio::sync::Mutex<Vec<MonitorSpec>>,
    next_monitor: AtomicU64,
}

pub struct Client {
    shared: Arc<Shared>,
    /// The connecting task; dropping it stops the task.
    _task: TaskHandle,
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(connection) = self.shared.current.borrow().as_ref() {
            connection.close();
        }
    }
}

impl Client {
    /// Starts connecting in the background; returns at once.
    pub fn start(remote: Remote, timing: Timing) -> Self {
        Self::start_supervised(remote, timing, &Supervisor::new(), "ovsdb-connection")
    }

    /// Like [`Self::start`], with the connecting task named `task` under `supervisor`.
    pub fn start_supervised(
        remote: Remote,
        timing: Timing,
        supervisor: &Supervisor,
        task: &'static str,
    ) -> Self {
        let (current, _) = watch::channel(None);
        let shared = Arc::new(Shared {
            remote,
            timing,
            current,
            routes: MonitorRoutes::default(),
            monitors: tokio::sync::Mutex::new(Vec::new()),
            next_monitor: AtomicU64::new(1),
        });
        let connecting = shared.clone();
        let task = supervisor.spawn(task, move || stay_connected(connecting.clone()));
        Self {
            shared,
            _task: task,
        }
    }

    pub fn remote(&self) -> &Remote {
        &self.shared.remote
    }

    /// Whether a live connection is up now (no I/O: for readiness).
    pub fn is_connected(&self) -> bool {
        self.shared
            .current
            .borrow()
            .as_ref()
            .is_some_and(|connection| !connection.is_closed())
    }

    /// The live connection, waiting up to `wait` for one.
    pub async fn connection(&self, wait: Duration) -> Result<Arc<Connection>, OvsdbError> {
        let mut current = self.shared.current.subscribe();
        let found = tokio::time::timeout(wait, async {
            loop {
                if let Some(connection) = current.borrow_and_update().as_ref() {
                    if !connection.is_closed() {
                        return Some(connection.clone());
                    }
                }
                if current.changed().await.is_err() {
                    return None;
                }
            }
        })
        .await;
        match found {
            Ok(Some(connection)) => Ok(connection),
            _ => Err(OvsdbError::NotConnected(self.shared.remote.to_string())),
        }
    }

    /// One request on the live connection, within the request time limit.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, OvsdbError> {
        let connection = self.connection(self.shared.timing.connect_wait).await?;
        let limit = self.shared.timing.request_timeout;
        match tokio::time::timeout(limit, connection.call(method, params)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                // A server that does not answer in time is treated as gone.
                connection.close();
                Err(OvsdbError::Timeout(format!("{method} took over {limit:?}")))
            }
        }
    }

    pub async fn echo(&self) -> Result<(), OvsdbError> {
        self.call("echo", json!(["trunkd"])).await.map(drop)
    }

    pub async fn list_dbs(&self) -> Result<Vec<String>, OvsdbError> {
        let result = self.call("list_dbs", json!([])).await?;
        serde_json::from_value(result).map_err(|e| OvsdbError::Protocol(e.to_string()))
    }

    /// Runs `operations` as one transaction on `db` (RFC 7047 4.1.3) and returns the result
    /// of each. Any failed operation, or a failed commit, is an error naming it.
    pub async fn transact(
        &self,
        db: &str,
        operations: Vec<Value>,
    ) -> Result<Vec<Value>, OvsdbError> {
        let count = operations.len();
        let mut params = Vec::with_capacity(count + 1);
        params.push(json!(db));
        params.extend(operations);
        let result = self.call("transact", Value::Array(params)).await?;
        let Value::Array(results) = result else {
            return Err(OvsdbError::Protocol(format!("transact returned {result}")));
        };
        if let Some((index, failed)) = results
            .iter()
            .enumerate()
            .find(|(_, r)| r.get("error").is_some_and(|e| !e.is_null()))
        {
            let text = |key: &str| {
                failed
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            return Err(OvsdbError::Transaction {
                operation: (index < count).then_some(index),
                error: text("error"),
                details: text("details"),
            });
        }
        Ok(results)
    }

    /// Monitors `requests` (table name to monitor request, RFC 7047 4.1.5) on `db`: the
    /// channel gets the whole contents on every connection, then each committed change.
    pub async fn monitor(
        &self,
        db: &str,
        requests: Value,
    ) -> mpsc::UnboundedReceiver<MonitorEvent> {
        let (route, events) = mpsc::unbounded_channel();
        let id = format!(
            "trunkd-{}",
            self.shared.next_monitor.fetch_add(1, Ordering::Relaxed)
        );
        let spec = MonitorSpec {
            id: id.clone(),
            db: db.to_string(),
            requests,
            route: route.clone(),
        };
        let mut monitors = self.shared.monitors.lock().await;
        super::connection::lock(&self.shared.routes).insert(id, route);
        let live = self.shared.current.borrow().clone();
        if let Some(connection) = live {
            if let Err(error) = start_monitor(&connection, &spec, self.shared.timing).await {
                tracing::warn!(%error, "could not start an OVSDB monitor; reconnecting");
                connection.close();
            }
        }
        monitors.push(spec);
        events
    }
}

async fn start_monitor(
    connection: &Connection,
    spec: &MonitorSpec,
    timing: Timing,
) -> Result<(), OvsdbError> {
    let started = connection.monitor(
        &spec.db,
        &spec.id,
        spec.requests.clone(),
        spec.route.clone(),
    );
    tokio::time::timeout(timing.request_timeout, started)
        .await
        .map_err(|_| OvsdbError::Timeout("monitor".into()))?
}

/// The background task: connect, serve, notice the end, back off, repeat.
async fn stay_connected(shared: Arc<Shared>) {
    // Restarted after a panic: the connection the failed run published is not watched any
    // more, so it is replaced.
    if let Some(stale) = shared.current.send_replace(None) {
        stale.close();
    }
    let timing = shared.timing;
    let mut pause = timing.reconnect_min;
    let mut reported_down = false;
    loop {
        match Connection::open(&shared.remote, shared.routes.clone()).await {
            Ok(connection) => {
                let monitors = shared.monitors.lock().await;
                let mut started = Ok(());
                for spec in monitors.iter() {
                    started = start_monitor(&connection, spec, timing).await;
                    if started.is_err() {
                        break;
                    }
                }
                match started {
                    Ok(()) => {
                        shared.current.send_replace(Some(connection.clone()));
                        drop(monitors);
                        tracing::info!(remote = %shared.remote, "connected to OVSDB server");
                        reported_down = false;
                        pause = timing.reconnect_min;
                        keep_alive(&connection, timing).await;
                        shared.current.send_replace(None);
                        tracing::warn!(remote = %shared.remote, "lost the OVSDB connection; reconnecting");
                    }
                    Err(error) => {
                        drop(monitors);
                        connection.close();
                        tracing::warn!(remote = %shared.remote, %error, "OVSDB server refused a monitor");
                    }
                }
            }
            Err(error) if !reported_down => {
                tracing::warn!(%error, "cannot reach the OVSDB server; retrying with backoff");
                reported_down = true;
            }
            Err(error) => tracing::debug!(%error, "OVSDB server still unreachable"),
        }
        let jitter = rand::random::<f64>() * 0.2 + 0.9;
        tokio::time::sleep(pause.mul_f64(jitter)).await;
        pause = (pause * 2).min(timing.reconnect_max);
    }
}

/// Returns when the connection ends or stops answering probes.
async fn keep_alive(connection: &Connection, timing: Timing) {
    loop {
        tokio::select! {
            _ = connection.closed() => return,
            _ = tokio::time::sleep(timing.probe_every) => {
                let probe = connection.call("echo", json!(["trunkd-probe"]));
                if !matches!(tokio::time::timeout(timing.probe_every, probe).await, Ok(Ok(_))) {
                    tracing::warn!("OVSDB server did not answer a probe");
                    connection.close();
                    return;
                }
            }
        }
    }
}
