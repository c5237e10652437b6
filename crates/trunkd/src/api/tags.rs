//! `/v2.0/{networks|subnets|ports|trunks}/{id}/tags[/{tag}]`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use crate::api::auth::Caller;
use crate::api::body::{Fields, JsonBody};
use crate::api::error::ApiError;
use crate::api::{if_match, path_id, AppState};
use crate::service::tags::{TagChange, TagTarget};
use crate::service::{ErrorKind, ServiceError};

fn target(collection: &str, id: &str) -> Result<TagTarget, ApiError> {
    match collection {
        "networks" => Ok(TagTarget::Network(path_id(
            id,
            ErrorKind::NetworkNotFound,
            "Network",
        )?)),
        "subnets" => Ok(TagTarget::Subnet(path_id(
            id,
            ErrorKind::SubnetNotFound,
            "Subnet",
        )?)),
        "ports" => Ok(TagTarget::Port(path_id(
            id,
            ErrorKind::PortNotFound,
            "Port",
        )?)),
        "trunks" => Ok(TagTarget::Trunk(path_id(
            id,
            ErrorKind::TrunkNotFound,
            "Trunk",
        )?)),
        _ => Err(ApiError::NoSuchResource),
    }
}

#[utoipa::path(
    get,
    path = "/v2.0/{collection}/{id}/tags",
    tag = "tags",
    params(("collection" = String, Path, description = "networks, subnets, ports or trunks"), ("id" = String, Path, description = "resource id (UUID)")),
    responses((status = 200, description = "The tags", body = crate::api::openapi::Tags), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path((collection, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let tags = state
        .service
        .get_tags(&ctx, target(&collection, &id)?)
        .await?;
    Ok(Json(json!({ "tags": tags })))
}

#[utoipa::path(
    get,
    path = "/v2.0/{collection}/{id}/tags/{tag}",
    tag = "tags",
    params(("collection" = String, Path, description = "networks, subnets, ports or trunks"), ("id" = String, Path, description = "resource id (UUID)"), ("tag" = String, Path, description = "a tag")),
    responses((status = 204, description = "The resource has the tag"), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn check(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path((collection, id, tag)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let tags = state
        .service
        .get_tags(&ctx, target(&collection, &id)?)
        .await?;
    if tags.contains(&tag) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::Service(ServiceError::not_found(
            ErrorKind::TagNotFound,
            format!("Tag {tag} could not be found for resource {id}."),
        )))
    }
}

#[utoipa::path(
    put,
    path = "/v2.0/{collection}/{id}/tags",
    tag = "tags",
    request_body = crate::api::openapi::Tags,
    params(("collection" = String, Path, description = "networks, subnets, ports or trunks"), ("id" = String, Path, description = "resource id (UUID)"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N")),
    responses((status = 200, description = "The tags now", body = crate::api::openapi::Tags), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 413, description = "Body over the size limit", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn replace(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path((collection, id)): Path<(String, String)>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let target = target(&collection, &id)?;
    let Value::Object(map) = body else {
        return Err(ApiError::bad_request(
            "tags",
            "The request body must be a JSON object holding 'tags'.",
        ));
    };
    let mut fields = Fields::new(map);
    let tags = fields.take_string_list("tags")?.ok_or_else(|| {
        ApiError::Service(ServiceError::invalid_input(
            "tags",
            "this attribute is required",
        ))
    })?;
    fields.finish()?;
    let tags = state
        .service
        .change_tags(&ctx, target, TagChange::Replace(tags), if_match(&headers)?)
        .await?;
    Ok(Json(json!({ "tags": tags })))
}

#[utoipa::path(
    put,
    path = "/v2.0/{collection}/{id}/tags/{tag}",
    tag = "tags",
    params(("collection" = String, Path, description = "networks, subnets, ports or trunks"), ("id" = String, Path, description = "resource id (UUID)"), ("tag" = String, Path, description = "a tag"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N")),
    responses((status = 201, description = "Tag added"), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn add(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path((collection, id, tag)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    state
        .service
        .change_tags(
            &ctx,
            target(&collection, &id)?,
            TagChange::Add(tag),
            if_match(&headers)?,
        )
        .await?;
    Ok(StatusCode::CREATED)
}

#[utoipa::path(
    delete,
    path = "/v2.0/{collection}/{id}/tags/{tag}",
    tag = "tags",
    params(("collection" = String, Path, description = "networks, subnets, ports or trunks"), ("id" = String, Path, description = "resource id (UUID)"), ("tag" = String, Path, description = "a tag"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N")),
    responses((status = 204, description = "Tag removed"), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn remove(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path((collection, id, tag)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    state
        .service
        .change_tags(
            &ctx,
            target(&collection, &id)?,
            TagChange::Remove(tag),
            if_match(&headers)?,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/v2.0/{collection}/{id}/tags",
    tag = "tags",
    params(("collection" = String, Path, description = "networks, subnets, ports or trunks"), ("id" = String, Path, description = "resource id (UUID)"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N")),
    responses((status = 204, description = "All tags removed"), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn clear(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path((collection, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    state
        .service
        .change_tags(
            &ctx,
            target(&collection, &id)?,
            TagChange::Clear,
            if_match(&headers)?,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
