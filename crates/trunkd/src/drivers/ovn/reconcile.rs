//! Background work of the driver. [`follow_ports`] keeps the port-name index current from an
//! OVSDB monitor, whose fresh snapshot also announces each new connection, and reports the
//! ports' up/down states from the same monitor (and, with a southbound database, their
//! requested chassis to [`super::chassis`]). [`run`], the
//! reconciler, compares the whole northbound database with the store and repairs drift (rows
//! edited or deleted by hand, stale rows left behind), logging each repair: when a connection
//! comes up (the first time and after every reconnection) and then at a fixed interval.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Notify;

use super::chassis::{self, ChassisCheck};
use super::port_up::PortUp;
use super::rows::PORT_TABLE;
use super::sync::{Engine, NB_DATABASE};
use crate::drivers::port_state::PortStateFeed;
use crate::ovsdb::MonitorEvent;

/// Repairs logged one by one; beyond this, a count.
const LOGGED_REPAIRS: usize = 50;

/// Follows the port table's `name` and `up` columns: applies names to the index, sends the
/// ports' up/down states to `port_states` (see `port_up`), and wakes `connected` on every
/// snapshot. With `chassis_check`, also the `options` column, whose requested chassis it
/// checks.
pub async fn follow_ports(
    engine: Arc<Engine>,
    connected: Arc<Notify>,
    port_states: PortStateFeed,
    chassis_check: Option<ChassisCheck>,
) {
    let columns = match chassis_check {
        Some(_) => json!(["name", "up", "options"]),
        None => json!(["name", "up"]),
    };
    let mut events = engine
        .client
        .monitor(NB_DATABASE, json!({ PORT_TABLE: { "columns": columns } }))
        .await;
    let check = |rows: &serde_json::Value, reset: bool| {
        if let Some(check) = &chassis_check {
            chassis::warn(&check.ports(rows, reset));
        }
    };
    let up = PortUp::default();
    while let Some(event) = events.recv().await {
        match event {
            MonitorEvent::Snapshot(rows) => {
                engine.names.reset(&rows);
                port_states.send(up.snapshot(&rows));
                check(&rows, true);
                connected.notify_one();
            }
            MonitorEvent::Update(rows) => {
                engine.names.update(&rows);
                port_states.send(up.update(&rows));
                check(&rows, false);
            }
        }
    }
}

pub async fn run(engine: Arc<Engine>, interval: Duration, connected: Arc<Notify>) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate; the connection triggers the first pass
    loop {
        tokio::select! {
            _ = connected.notified() => pass(&engine, "connected").await,
            _ = ticks.tick() => pass(&engine, "periodic").await,
        }
    }
}

async fn pass(engine: &Engine, trigger: &'static str) {
    match engine.reconcile().await {
        Ok(changes) if changes.is_empty() => {
            tracing::debug!(trigger, "OVN northbound database agrees with the store");
        }
        Ok(changes) => {
            for change in changes.iter().take(LOGGED_REPAIRS) {
                tracing::warn!(trigger, repair = %change, "OVN reconciler repaired drift");
            }
            tracing::warn!(
                trigger,
                repairs = changes.len(),
                "OVN reconciler brought the northbound database back in line with the store"
            );
        }
        Err(error) => tracing::warn!(trigger, %error, "OVN reconciliation failed; will retry"),
    }
}
