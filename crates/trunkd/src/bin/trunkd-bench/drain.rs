//! The outbox drain: how fast the server hands committed changes to its drivers. Trunks are
//! created in bulk calls (each one transaction, so events are committed faster than one call
//! per change could), then the events still pending when the last call is answered are
//! followed until none is left; the deliveries counted in that time, when nothing else runs,
//! give the dispatcher's rate.

use std::time::{Duration, Instant};

use crate::api::Api;
use crate::workloads::Scale;
use crate::BenchError;

/// Trunks per bulk call.
const BULK: usize = 500;
/// How often the server's outbox counters are read while it drains.
const POLL: Duration = Duration::from_millis(10);

/// What one drain measured.
#[derive(Debug, Clone)]
pub struct Drained {
    /// Events delivered from the first bulk call until the outbox was empty.
    pub events: f64,
    /// From the first bulk call until the outbox was empty.
    pub whole: Duration,
    /// Events still pending when the last bulk call was answered.
    pub pending_after_writes: f64,
    /// Events delivered from then until the outbox was empty, and how long that took.
    pub delivered_after_writes: f64,
    pub after_writes: Duration,
}

impl Drained {
    /// One line for the bench's output.
    pub fn line(&self) -> String {
        format!(
            "outbox drain (noop driver): {} events delivered in {:.2} s from the first bulk create \
             ({:.0} events/s); {} pending when the writes ended, delivered in {:.2} s \
             ({:.0} events/s with nothing else running)",
            self.events,
            self.whole.as_secs_f64(),
            per_second(self.events, self.whole),
            self.pending_after_writes,
            self.after_writes.as_secs_f64(),
            per_second(self.delivered_after_writes, self.after_writes),
        )
    }
}

fn per_second(count: f64, took: Duration) -> f64 {
    if took.is_zero() {
        0.0
    } else {
        count / took.as_secs_f64()
    }
}

/// Creates `scale.drain_trunks` trunks in bulk calls of `BULK` from one client, then waits
/// (at most `limit`) for their events to be delivered.
pub async fn drain(api: &Api, scale: &Scale, limit: Duration) -> Result<Drained, BenchError> {
    let network = api.create_network("bench-drain").await?;
    let parents = api.create_ports(&network, scale.drain_trunks).await?;
    // The ports' own events are not part of the measurement.
    api.wait_for_outbox(limit).await?;
    let before = api.outbox_counts().await?;
    let started = Instant::now();
    for chunk in parents.chunks(BULK) {
        api.create_trunks(chunk).await?;
    }
    let at_end = api.outbox_counts().await?;
    let writes_ended = Instant::now();
    // Each created trunk is one event. The server counts a delivery just after committing
    // it, so an empty outbox can be seen a moment before the last ones are counted.
    let expected = parents.len() as f64;
    loop {
        let now = api.outbox_counts().await?;
        if now.pending == 0.0 && now.delivered - before.delivered >= expected {
            let emptied = Instant::now();
            return Ok(Drained {
                events: now.delivered - before.delivered,
                whole: emptied - started,
                pending_after_writes: at_end.pending,
                delivered_after_writes: now.delivered - at_end.delivered,
                after_writes: emptied - writes_ended,
            });
        }
        if writes_ended.elapsed() > limit {
            return Err(BenchError::Unexpected(format!(
                "{} outbox events still pending after {limit:?}",
                now.pending
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}
