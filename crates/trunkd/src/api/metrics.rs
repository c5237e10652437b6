//! Prometheus metrics: request counts and latency per operation, outbox lag and the oldest
//! pending event's age, driver deliveries and failures, background tasks' restarts, the
//! dependencies' connection states, the database pools, the build and the process (under the
//! usual `process_*` names, without the `trunkd_` prefix). Served as text on `/metrics`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::api::process_metrics::ProcessCollector;
use crate::api::AppState;
use crate::drivers::dispatcher::DispatchStats;
use crate::readiness::{Dependencies, Readiness};
use crate::service::status::TransitionCounter;
use crate::service::WriteStats;
use crate::store::pool::PoolStats;
use crate::store::Store;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_buckets() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    ])
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    /// `release` or `debug`.
    profile: String,
}

/// The store's pools as last read, encoded at each scrape (sqlx keeps the numbers; these are
/// copies, so they are a collector's rather than registered gauges and counters).
#[derive(Debug, Default, Clone)]
struct PoolCollector(Arc<Mutex<Vec<PoolStats>>>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolStateLabels {
    pool: &'static str,
    state: &'static str,
}

/// Reads one counter of a pool's stats.
type PoolCount = fn(&PoolStats) -> u64;

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let pools = self.0.lock().map(|p| p.clone()).unwrap_or_default();
        let as_gauge = |n: u64| ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX));
        let mut family = encoder.encode_descriptor(
            "db_pool_connections",
            "Database connections by pool, in use or idle",
            None,
            MetricType::Gauge,
        )?;
        for stats in &pools {
            for (state, value) in [("in_use", stats.in_use), ("idle", stats.idle)] {
                let labels = PoolStateLabels {
                    pool: stats.pool,
                    state,
                };
                as_gauge(value).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "db_pool_max_connections",
            "Most connections a database pool opens",
            None,
            MetricType::Gauge,
        )?;
        for stats in &pools {
            let labels = PoolLabels { pool: stats.pool };
            as_gauge(stats.max).encode(family.encode_family(&labels)?)?;
        }
        let counters: [(&str, &str, PoolCount); 3] = [
            (
                "db_pool_takes",
                "Transactions (and one-statement reads) that took a connection from their pool",
                |s| s.takes,
            ),
            (
                "db_pool_waits",
                "Transactions that found every connection of their pool (on PostgreSQL, or every \
                 write slot) taken and waited",
                |s| s.waits,
            ),
            (
                "db_pool_timeouts",
                "Transactions that gave up waiting for a connection (the pool's acquire timeout)",
                |s| s.timeouts,
            ),
        ];
        for (name, help, value) in counters {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for stats in &pools {
                let labels = PoolLabels { pool: stats.pool };
                ConstCounter::new(value(stats)).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "db_pool_wait_seconds",
            "Time takes spent waiting for a connection of their pool, in all (on PostgreSQL \
             with the wait for a write slot); divided by the waits, the mean wait",
            None,
            MetricType::Counter,
        )?;
        for stats in &pools {
            let labels = PoolLabels { pool: stats.pool };
            ConstCounter::new(stats.waited.as_secs_f64()).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

pub struct Metrics {
    /// The root, holding the `process_*` metrics; the rest are in its `trunkd` sub-registry.
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    outbox_pending: Gauge,
    outbox_retrying: Gauge,
    outbox_bytes: Gauge,
    outbox_oldest_age: Gauge,
    pools: PoolCollector,
    /// Dependencies whose checked states are read before each encoding.
    dependencies: Option<Dependencies>,
}

impl Metrics {
    pub fn new(
        dispatch: &DispatchStats,
        transitions: &TransitionCounter,
        writes: &WriteStats,
    ) -> Self {
        let mut root = Registry::default();
        root.register_collector(Box::new(ProcessCollector));
        let registry = root.sub_registry_with_prefix("trunkd");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: LatencyFamily = Family::new_with_constructor(latency_buckets);
        let outbox_pending = Gauge::default();
        let outbox_retrying = Gauge::default();
        let outbox_bytes = Gauge::default();
        let outbox_oldest_age = Gauge::default();
        let pools = PoolCollector::default();
        registry.register(
            "build",
            "This build of trunkd: its version and profile, as labels",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
                profile: if cfg!(debug_assertions) {
                    "debug"
                } else {
                    "release"
                }
                .to_string(),
            }),
        );
        registry.register_collector(Box::new(pools.clone()));
        registry.register("http_requests", "HTTP requests served", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to serve HTTP requests",
            latency.clone(),
        );
        registry.register(
            "outbox_pending_events",
            "Committed changes not yet delivered to every driver",
            outbox_pending.clone(),
        );
        registry.register(
            "outbox_retrying_events",
            "Undelivered events that a driver failed on, waiting for their retry (with backoff)",
            outbox_retrying.clone(),
        );
        registry.register(
            "outbox_pending_bytes",
            "Size of the undelivered events' payloads (a resource waiting for a retry keeps one: they are folded)",
            outbox_bytes.clone(),
        );
        registry.register(
            "outbox_oldest_pending_age_seconds",
            "Seconds since the oldest undelivered event was committed; 0 when none waits",
            outbox_oldest_age.clone(),
        );
        registry.register(
            "driver_deliveries",
            "Outbox events delivered to the drivers",
            dispatch.delivered.clone(),
        );
        registry.register(
            "driver_failures",
            "Failed attempts to deliver an outbox event (each is retried)",
            dispatch.failed.clone(),
        );
        registry.register(
            "driver_failures_by_driver",
            "Failed deliveries by the driver that failed: the driver the backlog waits for",
            dispatch.failed_by_driver.clone(),
        );
        registry.register(
            "write_transaction_runs",
            "Runs of write transactions: every request's first, and each run again after a conflict",
            writes.runs.clone(),
        );
        registry.register(
            "write_transaction_conflicts",
            "Write transaction runs that ended in a conflict (a serialization failure) and were run again or given up",
            writes.conflicts.clone(),
        );
        registry.register(
            "write_transactions_exhausted",
            "Write requests that ran out of attempts after conflicts (answered 503)",
            writes.exhausted.clone(),
        );
        registry.register(
            "trunk_status_transitions",
            "Trunk status changes made by port-state reports and verdicts, by edge",
            transitions.clone(),
        );
        Self {
            registry: root,
            requests,
            latency,
            outbox_pending,
            outbox_retrying,
            outbox_bytes,
            outbox_oldest_age,
            pools,
            dependencies: None,
        }
    }

    /// Adds the supervised tasks' and the dependencies' metrics (`trunkd_task_restarts_total`,
    /// `trunkd_task_up`, `trunkd_dependency_*`).
    pub fn with_readiness(mut self, readiness: &Readiness) -> Self {
        let registry = self.registry.sub_registry_with_prefix("trunkd");
        readiness.tasks.register_metrics(registry);
        readiness.dependencies.register_metrics(registry);
        self.dependencies = Some(readiness.dependencies.clone());
        self
    }

    /// The metrics in OpenMetrics text, with the outbox gauges and the pools read from
    /// `store` now.
    pub async fn render(&self, store: &dyn Store) -> Result<String, std::fmt::Error> {
        if let Ok(mut pools) = self.pools.0.lock() {
            *pools = store.pools();
        }
        match store.outbox_backlog().await {
            Ok(backlog) => {
                self.outbox_pending.set(backlog.pending);
                self.outbox_retrying.set(backlog.retrying);
                self.outbox_bytes.set(backlog.bytes);
                self.outbox_oldest_age.set(backlog.oldest_age_seconds);
            }
            Err(error) => tracing::warn!(%error, "could not count pending outbox events"),
        }
        if let Some(dependencies) = &self.dependencies {
            dependencies.refresh();
        }
        self.encode()
    }

    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Route-level middleware: counts and times each request by its route template.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics
        .latency
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// `GET /metrics`.
pub async fn serve(State(state): State<AppState>) -> Response {
    match state.metrics.render(state.service.store().as_ref()).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
