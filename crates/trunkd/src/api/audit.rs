//! `GET /v2.0/trunks/{id}/audit` (extension `trunk-audit`): a trunk's audit trail, oldest first,
//! a page at a time (`limit`, `marker`), filtered by time (`since`, `until`, RFC 3339) and by
//! `action`. The entries are the service's typed values, rendered as they are.

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::{path_id, AppState, BaseUrl};
use crate::ids::TrunkId;
use crate::service::audit::{Actor, AuditDetails, AuditEntry, AuditListing};
use crate::service::ErrorKind;
use crate::store::event::TrunkEventKind;

/// Page size when `limit` is not given.
const DEFAULT_LIMIT: usize = 100;

/// One entry on the wire.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditEntryWire<'a> {
    id: i64,
    #[schema(value_type = String, format = Uuid)]
    trunk_id: String,
    /// When the change committed (RFC 3339, UTC).
    at: &'a str,
    /// The trunk event's kind: created, updated, deleted, subports_added, subports_removed,
    /// parent_bound, parent_unbound, status_changed.
    action: &'static str,
    revision_before: i64,
    revision_after: i64,
    #[schema(value_type = Object)]
    actor: &'a Actor,
    #[schema(value_type = Object)]
    changes: &'a AuditDetails,
}

impl<'a> AuditEntryWire<'a> {
    fn of(entry: &'a AuditEntry) -> Self {
        Self {
            id: entry.id,
            trunk_id: entry.trunk_id.to_string(),
            at: &entry.at,
            action: entry.action.as_str(),
            revision_before: entry.revision_before,
            revision_after: entry.revision_after,
            actor: &entry.actor,
            changes: &entry.details,
        }
    }
}

/// The answer: entries and, when the page is full, the link to the next one.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditPage<'a> {
    audit: Vec<AuditEntryWire<'a>>,
    #[schema(value_type = Vec<Object>)]
    audit_links: Vec<Value>,
}

fn bad(name: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(name, format!("Invalid input for {name}. Reason: {reason}."))
}

fn time_ms(name: &str, value: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.timestamp_millis())
        .map_err(|_| bad(name, format!("'{value}' is not an RFC 3339 time")))
}

/// The listing a query asks for; unknown or repeated parameters are a 400 naming them.
pub fn listing_of(raw: Option<&str>, max_page: Option<usize>) -> Result<AuditListing, ApiError> {
    let most = max_page.unwrap_or(usize::MAX).max(1);
    let mut listing = AuditListing {
        limit: DEFAULT_LIMIT.min(most),
        ..AuditListing::default()
    };
    let mut seen = std::collections::HashSet::new();
    for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if !seen.insert(key.to_string()) {
            return Err(bad(&key, "give it once"));
        }
        match key.as_ref() {
            "limit" => {
                let limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|l| *l >= 1)
                    .ok_or_else(|| bad("limit", format!("'{value}' is not a positive integer")))?;
                listing.limit = limit.min(most);
            }
            "marker" => {
                listing.marker =
                    Some(value.parse::<i64>().map_err(|_| {
                        bad("marker", format!("'{value}' is not an audit entry id"))
                    })?);
            }
            "since" => listing.since_ms = Some(time_ms("since", &value)?),
            "until" => listing.until_ms = Some(time_ms("until", &value)?),
            "action" => {
                listing.action = Some(TrunkEventKind::parse(&value).ok_or_else(|| {
                    let names: Vec<&str> = TrunkEventKind::ALL.iter().map(|k| k.as_str()).collect();
                    bad(
                        "action",
                        format!("'{value}' is not one of {}", names.join(", ")),
                    )
                })?);
            }
            other => {
                return Err(bad(
                    other,
                    "the audit takes limit, marker, since, until and action",
                ))
            }
        }
    }
    Ok(listing)
}

/// The query of the next page: this one's, with `marker` moved to `last`.
fn next_query(raw: Option<&str>, last: i64) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if key != "marker" {
            query.append_pair(&key, &value);
        }
    }
    query.append_pair("marker", &last.to_string());
    query.finish()
}

#[utoipa::path(
    get,
    path = "/v2.0/trunks/{id}/audit",
    tag = "trunks",
    params(("id" = String, Path, description = "trunk id (UUID)"), ("limit" = Option<u32>, Query, description = "entries per page (default 100, at most pagination_max_limit)"), ("marker" = Option<i64>, Query, description = "id of the last entry of the previous page"), ("since" = Option<String>, Query, description = "entries at or after this RFC 3339 time"), ("until" = Option<String>, Query, description = "entries at or before this RFC 3339 time"), ("action" = Option<String>, Query, description = "only this action (created, updated, deleted, subports_added, subports_removed, parent_bound, parent_unbound, status_changed)")),
    responses((status = 200, description = "The trunk's changes, oldest first (extension trunk-audit)", body = crate::api::audit::AuditPage), (status = 400, description = "Bad parameter; the message names it", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible (a deleted trunk's trail: admins only)", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let id: TrunkId = path_id(&id, ErrorKind::TrunkNotFound, "Trunk")?;
    let listing = listing_of(raw.as_deref(), state.max_page)?;
    let entries = state.service.trunk_audit(&ctx, id, &listing).await?;
    let mut links = Vec::new();
    if let Some(last) = entries.last().filter(|_| entries.len() >= listing.limit) {
        links.push(json!({
            "rel": "next",
            "href": format!(
                "{base}/v2.0/trunks/{id}/audit?{}",
                next_query(raw.as_deref(), last.id)
            ),
        }));
    }
    Ok(Json(AuditPage {
        audit: entries.iter().map(AuditEntryWire::of).collect(),
        audit_links: links,
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_read_and_bad_ones_named() {
        let listing = listing_of(
            Some("limit=5&marker=9&action=subports_added&since=2026-01-01T00:00:00Z"),
            Some(1000),
        )
        .expect("listing");
        assert_eq!(listing.limit, 5);
        assert_eq!(listing.marker, Some(9));
        assert_eq!(listing.action, Some(TrunkEventKind::SubportsAdded));
        assert_eq!(listing.since_ms, Some(1_767_225_600_000));
        assert_eq!(listing_of(None, Some(10)).map(|l| l.limit).ok(), Some(10));
        for (query, name) in [
            ("limit=0", "limit"),
            ("marker=x", "marker"),
            ("since=yesterday", "since"),
            ("action=renamed", "action"),
            ("colour=red", "colour"),
            ("limit=1&limit=2", "limit"),
        ] {
            let error = listing_of(Some(query), None).expect_err(query);
            assert!(error.to_string().contains(name), "{query}: {error}");
        }
    }

    #[test]
    fn the_next_page_keeps_the_filters() {
        assert_eq!(
            next_query(Some("limit=2&marker=1&action=deleted"), 7),
            "limit=2&action=deleted&marker=7"
        );
    }
}
