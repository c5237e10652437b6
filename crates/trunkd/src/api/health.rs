//! Liveness and readiness probes. `/readyz` is what a load balancer asks before sending
//! traffic: ready means the database answers now, every other dependency (Keystone, the OVN
//! northbound database, the broker) was up when last seen, and every background task is
//! running ([`crate::readiness`]).

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::api::error::ApiError;
use crate::api::AppState;
use crate::readiness::State as DependencyState;
use crate::service::ServiceError;

/// How long `/readyz` waits for the database to answer `SELECT 1`. The other dependencies are
/// read from their cached states, so this bounds the whole answer.
const DATABASE_PING_TIMEOUT: Duration = Duration::from_secs(1);
/// The same while the database is known to be down: the pool keeps retrying its connection
/// until the limit, so a short one keeps a not-ready answer quick, and a database that is back
/// answers well within it.
const DATABASE_DOWN_PING_TIMEOUT: Duration = Duration::from_millis(250);

/// The process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "The process is up", body = crate::api::openapi::Object))
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers, the other dependencies are up and every background task runs.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready: `{\"status\": \"ready\", \"drivers\": [...]}`", body = crate::api::openapi::Object),
        (status = 503, description = "Not ready: a `NeutronError` of type `ServiceUnavailable` whose message names what is not ready, and beside it `status` (`not ready`), `drivers`, `dependencies` (each dependency that is not up: `down` or `unknown`) and `tasks` (each background task that is not running: `starting`, `restarting` or `stopped`)", body = crate::api::openapi::NeutronErrorResponse)
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    let drivers = state.service.drivers().names();
    if drivers.is_empty() {
        return Err(ApiError::Service(ServiceError::Unavailable {
            message: "no trunk driver loaded".into(),
        }));
    }
    let store = state.service.store();
    let database = state.readiness.dependencies.handle("database");
    let limit = match database.as_ref().map(|d| d.state()) {
        Some(DependencyState::Down(_)) => DATABASE_DOWN_PING_TIMEOUT,
        _ => DATABASE_PING_TIMEOUT,
    };
    let attempt = database.as_ref().map(|d| d.attempt());
    let ping = match tokio::time::timeout(limit, store.ping()).await {
        Ok(outcome) => outcome.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {limit:?}")),
    };
    if let Some(attempt) = attempt {
        attempt.observe(&ping);
    }
    let mut report = state.readiness.report();
    if database.is_none() {
        if let Err(reason) = ping {
            report
                .dependencies
                .insert(0, ("database", DependencyState::Down(reason)));
        }
    }
    if report.is_ready() {
        return Ok(Json(json!({ "status": "ready", "drivers": drivers })).into_response());
    }
    let dependencies: Map<String, Value> = report
        .dependencies
        .iter()
        .map(|(name, state)| (name.to_string(), json!(state.word())))
        .collect();
    let tasks: Map<String, Value> = report
        .tasks
        .iter()
        .map(|task| (task.name.clone(), json!(task.phase.as_str())))
        .collect();
    let body = json!({
        "NeutronError": {
            "type": "ServiceUnavailable",
            "message": format!("trunkd is not ready: {}.", report.summary()),
            "detail": "",
        },
        "status": "not ready",
        "drivers": drivers,
        "dependencies": dependencies,
        "tasks": tasks,
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
