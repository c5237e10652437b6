//! Liveness and readiness probes.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::api::error::ApiError;
use crate::api::AppState;
use crate::service::ServiceError;

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

/// The store answers and drivers are loaded.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses((status = 200, description = "Database reachable, drivers loaded", body = crate::api::openapi::Object), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let drivers = state.service.drivers().names();
    if drivers.is_empty() {
        return Err(ApiError::Service(ServiceError::Unavailable {
            message: "no trunk driver loaded".into(),
        }));
    }
    state
        .service
        .store()
        .ping()
        .await
        .map_err(ServiceError::from)?;
    Ok(Json(json!({ "status": "ready", "drivers": drivers })))
}
