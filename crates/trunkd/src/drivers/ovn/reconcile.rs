//! The reconciler: compares the whole northbound database with the store and repairs drift
//! (rows edited or deleted by hand, stale rows left behind), logging each repair. It runs when
//! the connection comes up (the first time and after every reconnection, which a monitor's
//! fresh snapshot signals) and then at a fixed interval.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::sync::{Engine, NB_DATABASE};
use crate::ovsdb::MonitorEvent;

/// Repairs logged one by one; beyond this, a count.
const LOGGED_REPAIRS: usize = 50;

pub async fn run(engine: Arc<Engine>, interval: Duration) {
    // A small monitor whose only job is to announce each new connection with a snapshot.
    let mut connections = engine
        .client
        .monitor(
            NB_DATABASE,
            json!({ "NB_Global": { "columns": ["nb_cfg"] } }),
        )
        .await;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate; the connection triggers the first pass
    loop {
        tokio::select! {
            event = connections.recv() => match event {
                Some(MonitorEvent::Snapshot(_)) => pass(&engine, "connected").await,
                Some(MonitorEvent::Update(_)) => {}
                None => return,
            },
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
