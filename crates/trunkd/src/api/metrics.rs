//! Prometheus metrics: request counts and latency per operation, outbox lag, driver deliveries
//! and failures, background tasks' restarts and the dependencies' states. Served as text on
//! `/metrics`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::api::AppState;
use crate::drivers::dispatcher::DispatchStats;
use crate::readiness::{Dependencies, Readiness};
use crate::service::status::TransitionCounter;
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

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    outbox_pending: Gauge,
    outbox_retrying: Gauge,
    outbox_bytes: Gauge,
    /// Dependencies whose checked states are read before each encoding.
    dependencies: Option<Dependencies>,
}

impl Metrics {
    pub fn new(dispatch: &DispatchStats, transitions: &TransitionCounter) -> Self {
        let mut registry = Registry::with_prefix("trunkd");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: LatencyFamily = Family::new_with_constructor(latency_buckets);
        let outbox_pending = Gauge::default();
        let outbox_retrying = Gauge::default();
        let outbox_bytes = Gauge::default();
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
            "Size of the undelivered events' payloads (one event per resource: they are folded)",
            outbox_bytes.clone(),
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
            "trunk_status_transitions",
            "Trunk status changes made by port-state reports and verdicts, by edge",
            transitions.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            outbox_pending,
            outbox_retrying,
            outbox_bytes,
            dependencies: None,
        }
    }

    /// Adds the supervised tasks' and the dependencies' metrics (`trunkd_task_restarts_total`,
    /// `trunkd_task_up`, `trunkd_dependency_up`).
    pub fn with_readiness(mut self, readiness: &Readiness) -> Self {
        readiness.tasks.register_metrics(&mut self.registry);
        readiness.dependencies.register_metrics(&mut self.registry);
        self.dependencies = Some(readiness.dependencies.clone());
        self
    }

    /// The metrics in OpenMetrics text, with the outbox gauges read from `store` now.
    pub async fn render(&self, store: &dyn Store) -> Result<String, std::fmt::Error> {
        match store.outbox_backlog().await {
            Ok(backlog) => {
                self.outbox_pending.set(backlog.pending);
                self.outbox_retrying.set(backlog.retrying);
                self.outbox_bytes.set(backlog.bytes);
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
