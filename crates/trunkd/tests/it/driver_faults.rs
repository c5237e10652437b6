//! Driver faults: a driver that fails, hangs or panics on some trunks' events holds up
//! no other trunk, loses no event (each is retried with backoff, and the retries show in
//! `/metrics`), and its verdict on each trunk lands exactly once.

use crate::support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use support::harness;
use support::kit::settle;
use trunkd::api::metrics::Metrics;
use trunkd::drivers::{DriverError, Settlement, StatusReporter, TrunkDriver, Verdict};
use trunkd::ids::TrunkId;
use trunkd::model::{SegmentationType, TrunkStatus};
use trunkd::store::event::{TrunkEvent, TrunkEventKind};
use trunkd::store::{PendingEvent, Store};

const REFUSAL: &str = "the faulty driver refuses every trunk";

/// How a trunk's first deliveries go wrong.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Returns an error on this many attempts.
    Fail(usize),
    /// Never answers on this many attempts (the dispatcher's time limit ends them).
    Hang(usize),
    /// Panics on this many attempts.
    Panic(usize),
}

/// Refuses every trunk it is handed (a verdict every driver may give after commit), after
/// misbehaving as its script says.
#[derive(Default)]
struct FaultyDriver {
    faults: Mutex<HashMap<String, Fault>>,
    attempts: Mutex<HashMap<String, usize>>,
    /// Set while a hanging delivery is in flight; cleared when the dispatcher drops it.
    hanging: Arc<AtomicBool>,
}

/// Clears the flag when the hanging delivery is dropped (by the dispatcher's time limit).
struct ClearOnDrop(Arc<AtomicBool>);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

#[async_trait]
impl TrunkDriver for FaultyDriver {
    fn name(&self) -> &'static str {
        "faulty"
    }
    /// The test answers with the committed state and watches status move on its own.
    fn settlement(&self) -> Settlement {
        Settlement::Reported
    }
    fn segmentation_types(&self) -> &'static [SegmentationType] {
        &[SegmentationType::Vlan]
    }
    fn can_manage_bound_port(&self) -> bool {
        true
    }
    fn vif_type(&self) -> &'static str {
        "ovs"
    }
    async fn deliver(
        &self,
        event: &PendingEvent,
        status: &dyn StatusReporter,
    ) -> Result<(), DriverError> {
        if event.event.as_trunk().map(TrunkEvent::kind) != Some(TrunkEventKind::Created) {
            return Ok(());
        }
        let attempt = {
            let mut attempts = self.attempts.lock().expect("lock");
            let count = attempts.entry(event.resource_id.clone()).or_default();
            *count += 1;
            *count
        };
        let fault = self
            .faults
            .lock()
            .expect("lock")
            .get(&event.resource_id)
            .copied();
        match fault {
            Some(Fault::Fail(times)) if attempt <= times => {
                return Err(DriverError::Failed("data plane unreachable".into()));
            }
            Some(Fault::Hang(times)) if attempt <= times => {
                self.hanging.store(true, Ordering::SeqCst);
                let _clear = ClearOnDrop(self.hanging.clone());
                std::future::pending::<()>().await;
            }
            Some(Fault::Panic(times)) if attempt <= times => {
                panic!("the faulty driver panics on {}", event.resource_id);
            }
            _ => {}
        }
        let trunk: TrunkId = event
            .resource_id
            .parse()
            .map_err(|_| DriverError::Failed("bad trunk id".into()))?;
        status
            .report_verdict(
                trunk,
                event.revision_number,
                Verdict::Refused(REFUSAL.into()),
            )
            .await?;
        Ok(())
    }
}

async fn status_of(store: &dyn Store, trunk: TrunkId) -> TrunkStatus {
    let mut tx = store.begin_read().await.expect("read");
    tx.get_trunk(trunk)
        .await
        .expect("get")
        .expect("trunk")
        .status
}

/// The value of the unlabelled metric `name` in OpenMetrics `text`.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .trim()
        .parse()
        .expect("a number")
}

/// Every `trunk_status_transitions` sample in `text` as (from, to).
fn transitions(text: &str) -> Vec<(TrunkStatus, TrunkStatus)> {
    text.lines()
        .filter(|line| line.starts_with("trunkd_trunk_status_transitions_total{"))
        .map(|line| {
            let label = |key: &str| {
                let start = line.find(&format!("{key}=\"")).expect("label") + key.len() + 2;
                let end = start + line[start..].find('"').expect("end of label");
                TrunkStatus::parse(&line[start..end]).expect("a status")
            };
            (label("from"), label("to"))
        })
        .collect()
}

#[tokio::test]
async fn failing_hanging_and_panicking_deliveries_hold_up_no_other_trunk_and_lose_nothing() {
    let driver = Arc::new(FaultyDriver::default());
    let h = harness(vec![driver.clone()]).await;
    let net = h.network().await;
    let parents = h.ports(net, 8).await;
    // The hanging trunk first: its event is the oldest, so a dispatcher that delivered one
    // resource at a time would hold every later trunk behind it.
    let hangs = h.trunk(parents[0], vec![]).await;
    let fails = h.trunk(parents[1], vec![]).await;
    let panics = h.trunk(parents[2], vec![]).await;
    let mut healthy = Vec::new();
    for parent in &parents[3..] {
        healthy.push(h.trunk(*parent, vec![]).await);
    }
    {
        let mut faults = driver.faults.lock().expect("lock");
        faults.insert(hangs.to_string(), Fault::Hang(1));
        faults.insert(fails.to_string(), Fault::Fail(2));
        faults.insert(panics.to_string(), Fault::Panic(2));
    }

    let dispatcher = h.dispatcher().with_delivery_timeout(Duration::from_secs(5));
    let metrics = Metrics::new(
        &dispatcher.stats,
        h.service.status_transitions(),
        h.service.write_stats(),
    );
    let running = tokio::spawn(dispatcher.run());

    // The healthy trunks get the driver's verdict while the hanging delivery is still in
    // flight.
    let (store, healthy_ones) = (h.store.as_ref(), &healthy);
    settle(
        Duration::from_secs(4),
        "healthy trunks to be judged",
        || async move {
            let mut judged = 0;
            for trunk in healthy_ones {
                if status_of(store, *trunk).await == TrunkStatus::Error {
                    judged += 1;
                }
            }
            match judged == healthy_ones.len() {
                true => Ok(()),
                false => Err(format!("{judged} of {} judged", healthy_ones.len())),
            }
        },
    )
    .await;
    assert!(
        driver.hanging.load(Ordering::SeqCst),
        "the healthy trunks waited for the hanging delivery to time out"
    );
    assert_eq!(status_of(h.store.as_ref(), hangs).await, TrunkStatus::Down);

    // Meanwhile the failed events wait for their retry, and /metrics says so.
    let metrics = &metrics;
    settle(
        Duration::from_secs(2),
        "an event shown waiting for a retry",
        || async move {
            let text = metrics.render(store).await.expect("metrics");
            match sample(&text, "trunkd_outbox_retrying_events") >= 1.0 {
                true => Ok(()),
                false => Err(text),
            }
        },
    )
    .await;

    // Every event is delivered in the end: after the time limit, and after the backoffs.
    settle(
        Duration::from_secs(15),
        "every event delivered",
        || async move {
            match store.pending_event_count().await.expect("count") {
                0 => Ok(()),
                pending => Err(format!("{pending} events pending")),
            }
        },
    )
    .await;
    running.abort();
    for trunk in [hangs, fails, panics].iter().chain(&healthy) {
        let now = h.service.get_trunk(&h.ctx(), *trunk).await.expect("trunk");
        assert_eq!(now.status, TrunkStatus::Error);
        assert_eq!(
            now.status_reason().map(|r| r.message),
            Some(REFUSAL.to_string()),
            "the refusal's reason is shown"
        );
    }

    let text = metrics.render(h.store.as_ref()).await.expect("metrics");
    // 1 hang + 2 failures + 2 panics, each a failed attempt that was retried.
    assert_eq!(sample(&text, "trunkd_driver_failures_total"), 5.0);
    assert_eq!(
        sample(
            &text,
            "trunkd_driver_failures_by_driver_total{driver=\"faulty\"}"
        ),
        5.0,
        "each failure is counted against the driver that failed"
    );
    assert_eq!(sample(&text, "trunkd_outbox_retrying_events"), 0.0);
    assert_eq!(sample(&text, "trunkd_outbox_pending_events"), 0.0);
    // Each trunk went from DOWN (its parent port not up) to ERROR once, retries or not.
    assert_eq!(
        transitions(&text),
        vec![(TrunkStatus::Down, TrunkStatus::Error)],
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "trunkd_trunk_status_transitions_total{from=\"DOWN\",to=\"ERROR\"}"
        ),
        8.0
    );
    let attempts = driver.attempts.lock().expect("lock").clone();
    assert_eq!(attempts.get(&hangs.to_string()), Some(&2));
    assert_eq!(attempts.get(&fails.to_string()), Some(&3));
    assert_eq!(attempts.get(&panics.to_string()), Some(&3));
}
