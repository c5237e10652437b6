//! One JSON-RPC session with an OVSDB server: matches replies to requests by id, answers the
//! server's `echo` probes, and hands `update` notifications to the monitor that asked for them.
//! When the stream ends every waiting request fails with [`OvsdbError::Disconnected`]; the
//! [`super::client::Client`] then opens a new connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, Notify};

use super::framing::Splitter;
use super::remote::{ReadHalf, Remote, WriteHalf};
use super::OvsdbError;

/// Who waits for a reply.
enum Waiter {
    /// A caller, for the reply's result.
    Caller(oneshot::Sender<Result<Value, OvsdbError>>),
    /// A `monitor` request: the initial contents go to the monitor's channel from the reader
    /// itself, so they arrive before any update that follows them on the wire.
    Monitor {
        caller: oneshot::Sender<Result<Value, OvsdbError>>,
        route: mpsc::UnboundedSender<MonitorEvent>,
    },
}

impl Waiter {
    fn finish(self, outcome: Result<Value, OvsdbError>) {
        match self {
            Waiter::Caller(caller) => {
                let _ = caller.send(outcome);
            }
            Waiter::Monitor { caller, route } => {
                let outcome = outcome.map(|initial| {
                    let _ = route.send(MonitorEvent::Snapshot(initial));
                    Value::Null
                });
                let _ = caller.send(outcome);
            }
        }
    }
}

/// What a monitor's channel carries.
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorEvent {
    /// The monitored tables' whole contents, on every (re)connection: the reply to `monitor`.
    Snapshot(Value),
    /// A committed change (`table-updates` of an `update` notification).
    Update(Value),
}

/// Routes `update` notifications by monitor id.
pub type MonitorRoutes = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<MonitorEvent>>>>;

pub struct Connection {
    writer: tokio::sync::Mutex<WriteHalf>,
    waiting: Arc<Mutex<HashMap<u64, Waiter>>>,
    next_id: AtomicU64,
    closed: Arc<AtomicBool>,
    closed_notify: Arc<Notify>,
    reader: tokio::task::JoinHandle<()>,
}

impl Connection {
    /// Connects and starts reading. Notifications for monitors go to `routes`.
    pub async fn open(remote: &Remote, routes: MonitorRoutes) -> Result<Arc<Self>, OvsdbError> {
        let (read, write) = remote
            .open()
            .await
            .map_err(|e| OvsdbError::Connect(format!("{remote}: {e}")))?;
        let waiting: Arc<Mutex<HashMap<u64, Waiter>>> = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));
        let closed_notify = Arc::new(Notify::new());
        // The reader answers echo requests through this channel, so it never blocks on the
        // writer lock a large transact may hold.
        let (replies_tx, mut replies_rx) = mpsc::unbounded_channel::<Value>();
        let reader = tokio::spawn(read_loop(
            read,
            waiting.clone(),
            routes,
            replies_tx,
            closed.clone(),
            closed_notify.clone(),
        ));
        let connection = Arc::new(Self {
            writer: tokio::sync::Mutex::new(write),
            waiting,
            next_id: AtomicU64::new(1),
            closed,
            closed_notify,
            reader,
        });
        let weak = Arc::downgrade(&connection);
        tokio::spawn(async move {
            while let Some(reply) = replies_rx.recv().await {
                let Some(connection) = weak.upgrade() else {
                    return;
                };
                if connection.send(&reply).await.is_err() {
                    return;
                }
            }
        });
        Ok(connection)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Resolves once the connection has ended.
    pub async fn closed(&self) {
        loop {
            let notified = self.closed_notify.notified();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// Ends the connection: the reader stops and waiting requests fail.
    pub fn close(&self) {
        self.reader.abort();
        mark_closed(&self.closed, &self.closed_notify, &self.waiting);
    }

    /// Sends a request and waits for its reply's `result` (no time limit: callers set one).
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, OvsdbError> {
        let (tx, rx) = oneshot::channel();
        self.request(method, params, Waiter::Caller(tx), rx).await
    }

    /// Starts monitor `id` (params as RFC 7047 4.1.5 has them after the database name): its
    /// initial contents and later updates go to `route`.
    pub async fn monitor(
        &self,
        db: &str,
        id: &str,
        requests: Value,
        route: mpsc::UnboundedSender<MonitorEvent>,
    ) -> Result<(), OvsdbError> {
        let (caller, rx) = oneshot::channel();
        let waiter = Waiter::Monitor { caller, route };
        self.request("monitor", json!([db, id, requests]), waiter, rx)
            .await
            .map(drop)
    }

    async fn request(
        &self,
        method: &str,
        params: Value,
        waiter: Waiter,
        reply: oneshot::Receiver<Result<Value, OvsdbError>>,
    ) -> Result<Value, OvsdbError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.waiting).insert(id, waiter);
        if self.is_closed() {
            lock(&self.waiting).remove(&id);
            return Err(OvsdbError::Disconnected);
        }
        let request = json!({ "method": method, "params": params, "id": id });
        if let Err(error) = self.send(&request).await {
            lock(&self.waiting).remove(&id);
            self.close();
            return Err(error);
        }
        reply.await.unwrap_or(Err(OvsdbError::Disconnected))
    }

    async fn send(&self, message: &Value) -> Result<(), OvsdbError> {
        let bytes = serde_json::to_vec(message).map_err(|e| OvsdbError::Protocol(e.to_string()))?;
        let mut writer = self.writer.lock().await;
        writer
            .write_all(&bytes)
            .await
            .map_err(|_| OvsdbError::Disconnected)?;
        writer.flush().await.map_err(|_| OvsdbError::Disconnected)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the maps inconsistent (single inserts
    // and removes), so a poisoned lock is still usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn mark_closed(closed: &AtomicBool, notify: &Notify, waiting: &Mutex<HashMap<u64, Waiter>>) {
    closed.store(true, Ordering::Release);
    notify.notify_waiters();
    for (_, waiter) in lock(waiting).drain() {
        waiter.finish(Err(OvsdbError::Disconnected));
    }
}

async fn read_loop(
    mut read: ReadHalf,
    waiting: Arc<Mutex<HashMap<u64, Waiter>>>,
    routes: MonitorRoutes,
    replies: mpsc::UnboundedSender<Value>,
    closed: Arc<AtomicBool>,
    closed_notify: Arc<Notify>,
) {
    let mut splitter = Splitter::new();
    let mut chunk = vec![0_u8; 64 * 1024];
    'reading: loop {
        let count = match read.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(count) => count,
        };
        splitter.feed(&chunk[..count]);
        loop {
            match splitter.next_message() {
                Ok(Some(message)) => dispatch(message, &waiting, &routes, &replies),
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%error, "OVSDB server sent an unreadable message; reconnecting");
                    break 'reading;
                }
            }
        }
    }
    mark_closed(&closed, &closed_notify, &waiting);
}

/// Acts on one message from the server.
fn dispatch(
    message: Value,
    waiting: &Mutex<HashMap<u64, Waiter>>,
    routes: &MonitorRoutes,
    replies: &mpsc::UnboundedSender<Value>,
) {
    match message.get("method").and_then(Value::as_str) {
        Some("echo") => {
            let reply = json!({
                "id": message.get("id").cloned().unwrap_or(Value::Null),
                "result": message.get("params").cloned().unwrap_or(json!([])),
                "error": null,
            });
            let _ = replies.send(reply);
        }
        Some("update") => {
            // params: [monitor-id, table-updates]
            let params = message.get("params").and_then(Value::as_array);
            if let Some([id, updates]) = params.map(Vec::as_slice) {
                let key = id
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| id.to_string());
                if let Some(route) = lock(routes).get(&key) {
                    let _ = route.send(MonitorEvent::Update(updates.clone()));
                }
            }
        }
        Some(other) => tracing::debug!(method = other, "ignoring OVSDB notification"),
        None => {
            let Some(id) = message.get("id").and_then(Value::as_u64) else {
                return;
            };
            let Some(waiter) = lock(waiting).remove(&id) else {
                return;
            };
            let outcome = match message.get("error") {
                Some(error) if !error.is_null() => Err(OvsdbError::Rpc(error.to_string())),
                _ => Ok(message.get("result").cloned().unwrap_or(Value::Null)),
            };
            waiter.finish(outcome);
        }
    }
}
