//! The agent API (`/agent/v1`), for host agents only: the trunks to wire on the caller's host,
//! status reports, subport bindings. Errors use Neutron's format like the rest of the API.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use crate::api::agent_auth::AgentCaller;
use crate::api::body::{Fields, JsonBody};
use crate::api::error::ApiError;
use crate::api::{path_id, AppState};
use crate::ids::TrunkId;
use crate::service::ErrorKind;

/// `GET /agent/v1/trunks`: every trunk whose parent is bound to the caller's host.
pub async fn trunks(
    State(state): State<AppState>,
    AgentCaller(ctx): AgentCaller,
) -> Result<Json<Value>, ApiError> {
    let trunks = state.service.agent_trunks(&ctx).await?;
    Ok(Json(json!({ "host": ctx.agent_host, "trunks": trunks })))
}

/// `PUT /agent/v1/trunks/{id}/status` with `{"status": "ACTIVE", "revision_number": N}`: the
/// revision is the one the agent acted on.
pub async fn report_status(
    State(state): State<AppState>,
    AgentCaller(ctx): AgentCaller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let id: TrunkId = path_id(&id, ErrorKind::TrunkNotFound, "Trunk")?;
    let Value::Object(map) = body else {
        return Err(ApiError::bad_request(
            "body",
            "The body must be an object with status and revision_number.",
        ));
    };
    let mut fields = Fields::new(map);
    let status = fields
        .take_string("status")?
        .ok_or_else(|| ApiError::bad_request("status", "status is required"))?;
    let revision = fields.take_int("revision_number")?.ok_or_else(|| {
        ApiError::bad_request(
            "revision_number",
            "revision_number (the revision acted on) is required",
        )
    })?;
    fields.finish()?;
    let revision = state
        .service
        .agent_report_status(&ctx, id, revision, &status)
        .await?;
    Ok(Json(
        json!({ "trunk": { "id": id, "status": status, "revision_number": revision } }),
    ))
}

/// `PUT /agent/v1/trunks/{id}/bind_subports`: binds the subports to the caller's host.
pub async fn bind_subports(
    State(state): State<AppState>,
    AgentCaller(ctx): AgentCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: TrunkId = path_id(&id, ErrorKind::TrunkNotFound, "Trunk")?;
    let changed = state.service.agent_bind_subports(&ctx, id).await?;
    Ok(Json(json!({ "trunk_id": id, "rebound_ports": changed })))
}
