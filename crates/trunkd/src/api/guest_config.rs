//! `GET /v2.0/trunks/{id}/guest_config` (extension `trunk-guest-config`): what a guest needs to
//! bring the trunk's VLAN sub-interfaces up, as OpenStack `network_data.json` (the default) or
//! as a netplan document (`?format=netplan`). The service builds one typed value; this module
//! only reads the query and picks the rendering.

mod netplan;
pub mod network_data;

use axum::extract::{Path, RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::{path_id, AppState};
use crate::ids::TrunkId;
use crate::service::{ErrorKind, ServiceError};

/// The formats `format=` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Format {
    NetworkData,
    Netplan,
}

impl Format {
    const ALL: [Format; 2] = [Format::NetworkData, Format::Netplan];

    fn as_str(self) -> &'static str {
        match self {
            Format::NetworkData => "network_data",
            Format::Netplan => "netplan",
        }
    }
}

/// The `format` of the query (default `network_data`); any other parameter, or a repeated or
/// unknown format, is a 400 naming it.
pub fn format_of(raw: Option<&str>) -> Result<Format, ApiError> {
    let mut format = None;
    for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if key != "format" {
            return Err(ApiError::bad_request(
                key.to_string(),
                format!("Invalid input for {key}. Reason: guest_config takes only 'format'."),
            ));
        }
        let known = Format::ALL.into_iter().find(|f| f.as_str() == value);
        match (known, format) {
            (Some(found), None) => format = Some(found),
            (_, Some(_)) => {
                return Err(ApiError::bad_request(
                    "format",
                    "Invalid input for format. Reason: give it once.",
                ))
            }
            (None, None) => {
                return Err(ApiError::bad_request(
                    "format",
                    format!(
                        "Invalid input for format. Reason: '{value}' is not one of \
                         network_data, netplan."
                    ),
                ))
            }
        }
    }
    Ok(format.unwrap_or(Format::NetworkData))
}

#[utoipa::path(
    get,
    path = "/v2.0/trunks/{id}/guest_config",
    tag = "trunks",
    params(("id" = String, Path, description = "trunk id (UUID)"), ("format" = inline(Option<crate::api::guest_config::Format>), Query, description = "extension trunk-guest-config: network_data (default; OpenStack metadata network_data.json, application/json) or netplan (a netplan version 2 document, application/yaml)")),
    responses((status = 200, description = "The parent as link trunk0 and each subport as VLAN trunk0.<vlan_id>, with MACs, MTUs and the fixed IPs; with format=netplan the same as a netplan document", content((crate::api::guest_config::network_data::NetworkData = "application/json"), (crate::api::openapi::Object = "application/yaml"))), (status = 400, description = "Bad format", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "A subport is not a VLAN (SubPortNotVlan names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn show(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let id: TrunkId = path_id(&id, ErrorKind::TrunkNotFound, "Trunk")?;
    let format = format_of(raw.as_deref())?;
    let config = state.service.trunk_guest_config(&ctx, id).await?;
    Ok(match format {
        Format::NetworkData => Json(network_data::NetworkData::of(&config)).into_response(),
        Format::Netplan => {
            let text = netplan::Document::of(&config).to_yaml().map_err(|e| {
                ApiError::Service(ServiceError::Internal {
                    message: format!("netplan document of trunk {id}: {e}"),
                })
            })?;
            ([(CONTENT_TYPE, "application/yaml")], text).into_response()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_defaults_to_network_data_and_names_bad_input() {
        assert_eq!(format_of(None).ok(), Some(Format::NetworkData));
        assert_eq!(format_of(Some("")).ok(), Some(Format::NetworkData));
        assert_eq!(
            format_of(Some("format=netplan")).ok(),
            Some(Format::Netplan)
        );
        assert_eq!(
            format_of(Some("format=network_data")).ok(),
            Some(Format::NetworkData)
        );
        for bad in [
            "format=yaml",
            "format=",
            "format=netplan&format=netplan",
            "fmt=netplan",
        ] {
            let Err(ApiError::Service(ServiceError::BadRequest { field, .. })) =
                format_of(Some(bad))
            else {
                panic!("{bad} is not a 400");
            };
            let expected = if bad.starts_with("fmt") {
                "fmt"
            } else {
                "format"
            };
            assert_eq!(field.as_deref(), Some(expected), "{bad}");
        }
    }
}
