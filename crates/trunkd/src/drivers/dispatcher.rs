//! Delivers committed outbox events to the drivers: at least once (an event is marked done only
//! after every driver accepted it; a restart resumes from the table), in order per resource (a
//! failed event holds back the later events of the same resource, never those of others), with
//! exponential backoff between attempts and a time limit on each delivery. Several resources
//! are delivered at once, so a driver hanging on one resource holds up no other.
//!
//! With several servers on one database, a server delivers a resource's events only while it
//! holds that resource's lease in the database, so one server at a time works on a resource; a
//! server that dies leaves a lease that expires, and another server takes over.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;

use crate::drivers::delivered::DeliveryFeed;
use crate::drivers::folding::{fold_pending, FoldedDelivery};
use crate::drivers::{DriverError, DriverSet, StatusReporter, TrunkDriver};
use crate::store::{Deliveries, FailedDelivery, PendingEvent, ResourceKey, Store, StoreError};

/// Events read per pass.
const BATCH: i64 = 500;
/// Most resources' outcomes recorded in one transaction: those whose deliveries have finished
/// when the dispatcher looks (so an idle dispatcher records each at once, a busy one many
/// together).
const RECORD_AT_ONCE: usize = 256;
/// Resources whose events are delivered at once. Each resource's events stay in order; a
/// driver that hangs on one resource holds up only that resource (until its time limit),
/// not the others.
const CONCURRENT_RESOURCES: usize = 16;
/// How long one driver may take on one event before the attempt counts as failed.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Poll interval when nobody wakes the dispatcher (other processes may have written events).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How long a resource's delivery lease lasts; renewed between events once a third of it has
/// run. Longer than one delivery may take, so a live server never loses its lease mid-delivery.
const LEASE_MS: i64 = 2 * DELIVERY_TIMEOUT.as_millis() as i64;
/// When a held lease is renewed before the next event: after a third of it, so a delivery
/// started just before renewal was due (at most one timeout) ends with a third to spare.
const RENEW_AFTER: Duration = Duration::from_millis(LEASE_MS as u64 / 3);
/// Default of how long delivered events are kept (for inspection) before they are deleted.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(300);
/// Pruning runs a few times per retention period, at least every minute.
const PRUNE_EVERY_MAX: Duration = Duration::from_secs(60);

/// Labels of the per-driver failure counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct DriverLabels {
    pub driver: &'static str,
}

/// Counters exposed on `/metrics`.
#[derive(Debug, Default, Clone)]
pub struct DispatchStats {
    pub delivered: prometheus_client::metrics::counter::Counter,
    pub failed: prometheus_client::metrics::counter::Counter,
    /// Failed attempts by the driver that failed: which data plane holds the backlog up.
    pub failed_by_driver: prometheus_client::metrics::family::Family<
        DriverLabels,
        prometheus_client::metrics::counter::Counter,
    >,
}

pub struct Dispatcher {
    /// This dispatcher's name on leases.
    owner: String,
    store: Arc<dyn Store>,
    drivers: DriverSet,
    reporter: Arc<dyn StatusReporter>,
    wake: Arc<Notify>,
    pub stats: DispatchStats,
    /// How long one driver may take on one event.
    delivery_timeout: Duration,
    /// Told of every delivered event, for API calls waiting for theirs.
    feed: DeliveryFeed,
    /// How long delivered events are kept.
    retention: Duration,
}

/// Backoff before attempt `attempts + 1`: 100 ms doubling, capped at one minute.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exponent = attempts.clamp(0, 10) as u32;
    (100_i64 << exponent).min(60_000)
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        drivers: DriverSet,
        reporter: Arc<dyn StatusReporter>,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            owner: format!("dispatcher-{}", uuid::Uuid::new_v4()),
            store,
            drivers,
            reporter,
            wake,
            stats: DispatchStats::default(),
            delivery_timeout: DELIVERY_TIMEOUT,
            feed: DeliveryFeed::new(),
            retention: DEFAULT_RETENTION,
        }
    }

    /// Keeps delivered events for `retention` (zero: they go at the next prune).
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// How often pruning runs: a quarter of the retention, between a second and a minute.
    fn prune_every(&self) -> Duration {
        (self.retention / 4).clamp(Duration::from_secs(1), PRUNE_EVERY_MAX)
    }

    /// Publishes every delivered event to `feed`.
    pub fn with_feed(mut self, feed: DeliveryFeed) -> Self {
        self.feed = feed;
        self
    }

    /// Sets how long one driver may take on one event (at most the default, so the lease
    /// always outlasts a delivery).
    pub fn with_delivery_timeout(mut self, limit: Duration) -> Self {
        self.delivery_timeout = limit.min(DELIVERY_TIMEOUT);
        self
    }

    /// Runs until the task is dropped.
    pub async fn run(self) {
        self.serve().await
    }

    /// Runs until the task is dropped; borrowed, so a supervisor can start it again after a
    /// panic with the same counters and lease owner.
    pub async fn serve(&self) {
        let mut last_prune = tokio::time::Instant::now();
        loop {
            if last_prune.elapsed() >= self.prune_every() {
                last_prune = tokio::time::Instant::now();
                self.prune().await;
            }
            match self.pass().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "outbox dispatcher could not read events"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
            }
        }
    }

    /// Deletes delivered events older than the retention period.
    pub async fn prune(&self) {
        let retention =
            chrono::TimeDelta::from_std(self.retention).unwrap_or(chrono::TimeDelta::MAX);
        let cutoff = crate::model::timestamp(chrono::Utc::now() - retention);
        match self.store.prune_delivered_events(&cutoff).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "pruned delivered outbox events"),
            Err(error) => tracing::warn!(%error, "could not prune delivered outbox events"),
        }
    }

    /// One pass over pending events: leases the resources whose oldest event is due (one
    /// transaction), reads their events afresh under the lease (so events another server
    /// finished are not sent again), folds each resource's into as few deliveries as its events
    /// allow (`folding`), delivers them in order, several resources at once, and records the
    /// outcomes of those done so far together, giving their leases back. Resources not yet due
    /// get their rows folded into one meanwhile. Returns whether it delivered anything (so the
    /// caller loops at once while there is work).
    pub async fn pass(&self) -> Result<bool, StoreError> {
        let events = self.store.pending_events(BATCH).await?;
        let now = chrono::Utc::now().timestamp_millis();
        // Each resource once, in the order of its oldest pending event: due, or waiting.
        let mut rows_of: HashMap<ResourceKey, Vec<PendingEvent>> = HashMap::new();
        let mut due: Vec<ResourceKey> = Vec::new();
        for event in events {
            let key = ResourceKey::new(event.resource(), event.resource_id.clone());
            let rows = rows_of.entry(key.clone()).or_default();
            if rows.is_empty() && event.next_attempt_ms <= now {
                due.push(key);
            }
            rows.push(event);
        }
        for key in &due {
            rows_of.remove(key);
        }
        self.compact_waiting(rows_of).await;
        let held = self.store.take_leases(&due, &self.owner, LEASE_MS).await?;
        if held.is_empty() {
            return Ok(false); // nothing due, or other servers deliver it all
        }
        let leased_at = std::time::Instant::now();
        let mut by_resource: HashMap<ResourceKey, Vec<PendingEvent>> = HashMap::new();
        for event in self.store.pending_events_of_each(&held).await? {
            by_resource
                .entry(ResourceKey::new(
                    event.resource(),
                    event.resource_id.clone(),
                ))
                .or_default()
                .push(event);
        }
        let work: Vec<(ResourceKey, Vec<FoldedDelivery>)> = held
            .into_iter()
            .map(|key| {
                let events = by_resource.remove(&key).unwrap_or_default();
                (key, fold_pending(events))
            })
            .collect();
        let mut outcomes = futures_util::stream::iter(work)
            .map(|(key, deliveries)| self.deliver_resource(key, deliveries, leased_at))
            .buffer_unordered(CONCURRENT_RESOURCES)
            .ready_chunks(RECORD_AT_ONCE);
        let mut delivered_any = false;
        let mut first_error = None;
        while let Some(finished) = outcomes.next().await {
            let mut deliveries = Deliveries::default();
            for outcome in finished {
                delivered_any |= !outcome.delivered.is_empty();
                deliveries.absorb(outcome);
            }
            // Events delivered but not recorded are delivered again later (at least once);
            // their leases run out by themselves.
            match self.store.record_deliveries(&self.owner, &deliveries).await {
                Ok(marked) => {
                    self.stats.delivered.inc_by(marked);
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(delivered_any),
        }
    }

    /// Folds the rows of resources waiting for a retry into one each (those this pass read),
    /// so a resource whose data plane is down keeps one row however often it changes. Under
    /// the resources' leases, as deliveries are: no other server records outcomes for their
    /// rows meanwhile. Rows another server delivered or folded since they were read are left
    /// alone (the fold only names again what they named).
    async fn compact_waiting(&self, rows_of: HashMap<ResourceKey, Vec<PendingEvent>>) {
        let mut waiting: HashMap<ResourceKey, Vec<PendingEvent>> = rows_of
            .into_iter()
            .filter(|(_, rows)| rows.len() > 1)
            .collect();
        if waiting.is_empty() {
            return;
        }
        let keys: Vec<ResourceKey> = waiting.keys().cloned().collect();
        let held = match self.store.take_leases(&keys, &self.owner, LEASE_MS).await {
            Ok(held) => held,
            Err(error) => {
                tracing::warn!(%error, "could not lease resources awaiting a retry to fold their outbox rows");
                return;
            }
        };
        let mut deliveries = Deliveries::default();
        for key in held {
            if let Some(rows) = waiting.remove(&key) {
                deliveries.compacted.extend(
                    fold_pending(rows)
                        .iter()
                        .filter_map(FoldedDelivery::compaction),
                );
            }
            deliveries.released.push(key);
        }
        if let Err(error) = self.store.record_deliveries(&self.owner, &deliveries).await {
            // Harmless: the rows stay as they are and are folded when delivered; the leases
            // run out by themselves.
            tracing::warn!(%error, "could not fold the outbox rows of resources awaiting a retry");
        }
    }

    /// Delivers one leased resource's folded events in order, stopping at the first failure
    /// (whose rows are written back as one); returns what happened, its lease given back.
    async fn deliver_resource(
        &self,
        key: ResourceKey,
        deliveries: Vec<FoldedDelivery>,
        mut leased_at: std::time::Instant,
    ) -> Deliveries {
        let now = chrono::Utc::now().timestamp_millis();
        let mut outcome = Deliveries::default();
        for delivery in deliveries {
            if delivery.next_attempt_ms() > now {
                break;
            }
            // Renewed once a third of the lease has run, not before every event (each renewal
            // is a write).
            if leased_at.elapsed() >= RENEW_AFTER {
                match self
                    .store
                    .take_leases(std::slice::from_ref(&key), &self.owner, LEASE_MS)
                    .await
                {
                    Ok(held) if !held.is_empty() => leased_at = std::time::Instant::now(),
                    _ => break,
                }
            }
            let event = &delivery.event;
            match self.deliver(event).await {
                Ok(()) => {
                    self.feed.publish(event);
                    outcome.delivered.extend(&delivery.rows);
                }
                Err(error) => {
                    let retry_in = backoff_ms(event.attempts);
                    tracing::warn!(
                        event_id = event.id,
                        folded_rows = delivery.rows.len(),
                        resource = event.resource().as_str(),
                        resource_id = %event.resource_id,
                        attempt = event.attempts + 1,
                        retry_in_ms = retry_in,
                        %error,
                        "driver failed to handle event; will retry"
                    );
                    outcome.compacted.extend(delivery.compaction());
                    outcome.failed.push(FailedDelivery {
                        id: event.id,
                        attempts: event.attempts + 1,
                        error: error.to_string(),
                        retry_in_ms: retry_in,
                    });
                    self.stats.failed.inc();
                    break;
                }
            }
        }
        outcome.released.push(key);
        outcome
    }

    /// Hands one event to every driver in turn, and counts a failure against the driver that
    /// failed.
    async fn deliver(&self, event: &PendingEvent) -> Result<(), DriverError> {
        for driver in self.drivers.drivers() {
            self.deliver_to(driver, event).await.inspect_err(|_| {
                self.stats
                    .failed_by_driver
                    .get_or_create(&DriverLabels {
                        driver: driver.name(),
                    })
                    .inc();
            })?;
        }
        Ok(())
    }

    /// Hands one event to one driver. Each delivery runs as its own task, so a driver that
    /// panics or hangs fails this attempt instead of taking the dispatcher down.
    async fn deliver_to(
        &self,
        driver: &Arc<dyn TrunkDriver>,
        event: &PendingEvent,
    ) -> Result<(), DriverError> {
        let name = driver.name();
        let (driver, reporter, owned) = (driver.clone(), self.reporter.clone(), event.clone());
        let mut attempt =
            tokio::spawn(async move { driver.deliver(&owned, reporter.as_ref()).await });
        match tokio::time::timeout(self.delivery_timeout, &mut attempt).await {
            Ok(Ok(result)) => result,
            Ok(Err(join_error)) => Err(DriverError::Failed(format!(
                "driver {name} crashed: {join_error}"
            ))),
            Err(_) => {
                attempt.abort();
                Err(DriverError::Failed(format!(
                    "driver {name} timed out after {:?}",
                    self.delivery_timeout
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(0), 100);
        assert_eq!(backoff_ms(1), 200);
        assert_eq!(backoff_ms(3), 800);
        assert_eq!(backoff_ms(10), 60_000);
        assert_eq!(backoff_ms(1000), 60_000);
    }
}
