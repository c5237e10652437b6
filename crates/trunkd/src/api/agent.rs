//! The agent API (`/agent/v1`), for host agents only: the trunks to wire on the caller's host,
//! port state reports, verdicts on trunks, subport bindings. Errors use Neutron's format like
//! the rest of the API.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use crate::api::agent_auth::AgentCaller;
use crate::api::body::{invalid, Fields, JsonBody};
use crate::api::error::ApiError;
use crate::api::{path_id, AppState};
use crate::drivers::port_state::DataPlaneState;
use crate::ids::{PortId, TrunkId};
use crate::model::PortStatus;
use crate::service::{AgentPortState, AgentPortStates, AgentVerdict, AgentVerdictKind, ErrorKind};

/// `GET /agent/v1/trunks`: every trunk whose parent is bound to the caller's host.
pub async fn trunks(
    State(state): State<AppState>,
    AgentCaller(ctx): AgentCaller,
) -> Result<Json<Value>, ApiError> {
    let trunks = state.service.agent_trunks(&ctx).await?;
    Ok(Json(json!({ "host": ctx.agent_host, "trunks": trunks })))
}

/// The most port states one report may carry: a trunk's parent and every subport it may have,
/// with room to spare.
const MAX_PORT_STATES: usize = 10_000;

/// `PUT /agent/v1/trunks/{id}/verdict` with `{"verdict": "wired", "revision_number": N}` or
/// `{"verdict": "refused", "reason": "...", "revision_number": N}`: the revision is the one
/// the agent judged.
pub async fn report_verdict(
    State(state): State<AppState>,
    AgentCaller(ctx): AgentCaller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let id: TrunkId = path_id(&id, ErrorKind::TrunkNotFound, "Trunk")?;
    let Value::Object(map) = body else {
        return Err(invalid(
            "body",
            "The body must be an object with verdict and revision_number.",
        ));
    };
    let mut fields = Fields::new(map);
    let verdict = fields
        .take_string("verdict")?
        .ok_or_else(|| invalid("verdict", "verdict is required"))?;
    let reason = fields.take_string("reason")?;
    let revision_number = fields.take_int("revision_number")?.ok_or_else(|| {
        invalid(
            "revision_number",
            "revision_number (the revision judged) is required",
        )
    })?;
    fields.finish()?;
    let verdict = match (verdict.as_str(), reason) {
        ("wired", None) => AgentVerdictKind::Wired,
        ("wired", Some(_)) => return Err(invalid("reason", "a wired verdict takes no reason")),
        ("refused", Some(reason)) if !reason.trim().is_empty() => {
            AgentVerdictKind::Refused { reason }
        }
        ("refused", _) => {
            return Err(invalid(
                "reason",
                "a refused verdict needs a reason for the user",
            ))
        }
        (other, _) => {
            return Err(invalid(
                "verdict",
                format!("'{other}' is not one of wired, refused"),
            ))
        }
    };
    let report = AgentVerdict {
        revision_number,
        verdict,
    };
    let revision = state.service.agent_report_verdict(&ctx, id, report).await?;
    Ok(Json(
        json!({ "trunk": { "id": id, "revision_number": revision } }),
    ))
}

/// `PUT /agent/v1/ports/status` with `{"ports": [{"port_id": ID, "status": "ACTIVE"}]}`: the
/// ports the agent wired (ACTIVE) or unwired (DOWN), all bound to its host.
pub async fn report_ports(
    State(state): State<AppState>,
    AgentCaller(ctx): AgentCaller,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let Value::Object(map) = body else {
        return Err(invalid(
            "body",
            "The body must be an object with a ports list.",
        ));
    };
    let mut fields = Fields::new(map);
    let entries = fields
        .take_list("ports")?
        .ok_or_else(|| invalid("ports", "ports is required"))?;
    fields.finish()?;
    if entries.len() > MAX_PORT_STATES {
        return Err(invalid(
            "ports",
            format!("at most {MAX_PORT_STATES} ports per report"),
        ));
    }
    let mut ports = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let field = |name: &str| format!("ports[{index}].{name}");
        let Value::Object(map) = entry else {
            return Err(invalid(
                &format!("ports[{index}]"),
                "each entry is an object with port_id and status",
            ));
        };
        let mut item = Fields::new(map);
        let port_id = item
            .take_string("port_id")?
            .ok_or_else(|| invalid(&field("port_id"), "port_id is required"))?;
        let status = item
            .take_string("status")?
            .ok_or_else(|| invalid(&field("status"), "status is required"))?;
        item.finish()?;
        let port_id: PortId = port_id
            .parse()
            .map_err(|_| invalid(&field("port_id"), format!("'{port_id}' is not a port id")))?;
        let status = match PortStatus::parse(&status) {
            Some(PortStatus::Active) => DataPlaneState::Up,
            Some(PortStatus::Down) => DataPlaneState::Down,
            _ => {
                return Err(invalid(
                    &field("status"),
                    format!("'{status}' is not one of ACTIVE, DOWN"),
                ))
            }
        };
        ports.push(AgentPortState { port_id, status });
    }
    let changed = state
        .service
        .agent_report_ports(&ctx, &AgentPortStates { ports })
        .await?;
    Ok(Json(json!({ "changed_ports": changed })))
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
