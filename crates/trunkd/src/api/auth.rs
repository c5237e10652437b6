//! Authentication. `noauth` takes the caller's identity from `X-Project-Id`, `X-User-Id` and
//! `X-Roles` headers (what keystonemiddleware would have set); with no identity headers the call
//! is refused with 401 unless the server runs with `--noauth-default-admin`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::api::error::ApiError;
use crate::api::keystone::{KeystoneAuth, TokenError};
use crate::api::request_id;
use crate::api::AppState;
use crate::policy::Credentials;
use crate::service::Context;

/// How callers are authenticated.
#[derive(Clone)]
pub enum AuthMode {
    /// Trust identity headers; `default_admin` makes header-less calls an admin of project
    /// `admin`.
    NoAuth { default_admin: bool },
    /// Validate `X-Auth-Token` with Keystone.
    Keystone(std::sync::Arc<KeystoneAuth>),
}

/// Project of header-less calls under `--noauth-default-admin`.
pub const DEFAULT_ADMIN_PROJECT: &str = "admin";

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Identity from noauth headers, or `None` when no identity header is present.
pub fn credentials_from_headers(headers: &HeaderMap) -> Option<Credentials> {
    let project = header(headers, "x-project-id").or_else(|| header(headers, "x-tenant-id"));
    let user = header(headers, "x-user-id");
    let roles = header(headers, "x-roles");
    if project.is_none() && user.is_none() && roles.is_none() {
        return None;
    }
    let roles: Vec<String> = roles
        .unwrap_or_default()
        .split(',')
        .map(|r| r.trim().to_ascii_lowercase())
        .filter(|r| !r.is_empty())
        .collect();
    Some(Credentials::new(user, project, roles))
}

/// The caller behind a Keystone token: 401 (with Keystone's URL in the challenge) for a missing
/// or invalid token, 503 when Keystone cannot be asked.
pub(crate) async fn keystone_caller(
    keystone: &KeystoneAuth,
    headers: &HeaderMap,
) -> Result<Credentials, ApiError> {
    let challenge = format!("Keystone uri=\"{}\"", keystone.url());
    let Some(token) = header(headers, "x-auth-token") else {
        return Err(ApiError::unauthorized(
            "Authentication required: send a Keystone token in X-Auth-Token.",
            challenge,
        ));
    };
    match keystone.validate(&token).await {
        Ok(credentials) => Ok(credentials),
        Err(TokenError::Invalid(message)) => Err(ApiError::unauthorized(message, challenge)),
        Err(TokenError::Unavailable(message)) => Err(ApiError::Service(
            crate::service::ServiceError::Unavailable { message },
        )),
    }
}

/// The authenticated caller of a request.
pub struct Caller(pub Context);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let request_id = request_id::of(parts);
        let credentials = match &state.auth {
            AuthMode::Keystone(keystone) => keystone_caller(keystone, &parts.headers).await?,
            AuthMode::NoAuth { default_admin } => match credentials_from_headers(&parts.headers) {
                Some(credentials) => credentials,
                None if *default_admin => Credentials::new(
                    Some("admin".to_string()),
                    Some(DEFAULT_ADMIN_PROJECT.to_string()),
                    ["admin", "member", "reader"],
                ),
                None => return Err(ApiError::unauthorized(
                    "Authentication required: send X-Project-Id, X-User-Id and X-Roles headers.",
                    "noauth",
                )),
            },
        };
        let policy = state.service.policy();
        Ok(Caller(Context::new(credentials, policy, request_id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_make_credentials() {
        let mut headers = HeaderMap::new();
        assert!(credentials_from_headers(&headers).is_none());
        headers.insert("x-project-id", "p1".parse().expect("header"));
        headers.insert("x-roles", "Member, reader,".parse().expect("header"));
        let credentials = credentials_from_headers(&headers).expect("identity");
        assert_eq!(credentials.project_id.as_deref(), Some("p1"));
        assert_eq!(credentials.roles, vec!["member", "reader"]);
    }
}
