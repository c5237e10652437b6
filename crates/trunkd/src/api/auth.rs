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

/// The value of an identity header, trimmed; none when absent or empty. Given more than once it
/// is a 400 naming it: which of two identities a proxy or client meant is not for the server to
/// guess, and one of them may have been slipped in.
pub(crate) fn single_header(headers: &HeaderMap, name: &str) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        let label = display_name(name);
        return Err(ApiError::bad_request(
            label.as_str(),
            format!("Invalid input for {label}. Reason: the header is given more than once."),
        ));
    }
    Ok(first
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty()))
}

/// `x-project-id` -> `X-Project-Id`, as the header is usually written.
fn display_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Identity from noauth headers, or `None` when no identity header is present. An identity
/// header given twice, or `X-Project-Id` and `X-Tenant-Id` naming two projects, is a 400.
pub fn credentials_from_headers(headers: &HeaderMap) -> Result<Option<Credentials>, ApiError> {
    let project = single_header(headers, "x-project-id")?;
    let tenant = single_header(headers, "x-tenant-id")?;
    if let (Some(project), Some(tenant)) = (&project, &tenant) {
        if project != tenant {
            return Err(ApiError::bad_request(
                "X-Tenant-Id",
                "Invalid input for X-Tenant-Id. Reason: it names another project than X-Project-Id.",
            ));
        }
    }
    let project = project.or(tenant);
    let user = single_header(headers, "x-user-id")?;
    let roles = single_header(headers, "x-roles")?;
    if project.is_none() && user.is_none() && roles.is_none() {
        return Ok(None);
    }
    let roles: Vec<String> = roles
        .unwrap_or_default()
        .split(',')
        .map(|r| r.trim().to_ascii_lowercase())
        .filter(|r| !r.is_empty())
        .collect();
    Ok(Some(Credentials::new(user, project, roles)))
}

/// The caller behind a Keystone token: 401 (with Keystone's URL in the challenge) for a missing
/// or invalid token, 503 when Keystone cannot be asked.
pub(crate) async fn keystone_caller(
    keystone: &KeystoneAuth,
    headers: &HeaderMap,
) -> Result<Credentials, ApiError> {
    let challenge = format!("Keystone uri=\"{}\"", keystone.url());
    let Some(token) = single_header(headers, "x-auth-token")? else {
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

/// A caller already authenticated by middleware (`idempotency`), with what it added to the
/// context; [`Caller`] takes it rather than authenticating again.
#[derive(Clone)]
pub struct ClaimedCaller(pub Context);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(ClaimedCaller(ctx)) = parts.extensions.get::<ClaimedCaller>() {
            return Ok(Caller(ctx.clone()));
        }
        let request_id = request_id::of(parts);
        let credentials = match &state.auth {
            AuthMode::Keystone(keystone) => keystone_caller(keystone, &parts.headers).await?,
            AuthMode::NoAuth { default_admin } => match credentials_from_headers(&parts.headers)? {
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
        if let Some(identified) = parts.extensions.get::<request_id::Identified>() {
            identified.set(
                credentials.project_id.as_deref(),
                credentials.user_id.as_deref(),
            );
        }
        let policy = state.service.policy();
        let mut ctx = Context::new(credentials, policy, request_id);
        ctx.global_request_id = request_id::global_of(parts);
        Ok(Caller(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_make_credentials() {
        let mut headers = HeaderMap::new();
        assert!(matches!(credentials_from_headers(&headers), Ok(None)));
        headers.insert("x-project-id", "p1".parse().expect("header"));
        headers.insert("x-roles", "Member, reader,".parse().expect("header"));
        let credentials = credentials_from_headers(&headers)
            .ok()
            .flatten()
            .expect("identity");
        assert_eq!(credentials.project_id.as_deref(), Some("p1"));
        assert_eq!(credentials.roles, vec!["member", "reader"]);
    }

    #[test]
    fn an_identity_header_given_twice_is_refused_by_name() {
        for name in ["x-project-id", "x-tenant-id", "x-user-id", "x-roles"] {
            let mut headers = HeaderMap::new();
            headers.append(name, "a".parse().expect("header"));
            headers.append(name, "b".parse().expect("header"));
            let error = credentials_from_headers(&headers).expect_err("two values");
            assert!(error.to_string().contains(&display_name(name)), "{error}");
        }
        let mut headers = HeaderMap::new();
        headers.insert("x-project-id", "a".parse().expect("header"));
        headers.insert("x-tenant-id", "b".parse().expect("header"));
        assert!(credentials_from_headers(&headers).is_err());
        headers.insert("x-tenant-id", "a".parse().expect("header"));
        assert!(credentials_from_headers(&headers).is_ok());
    }
}
