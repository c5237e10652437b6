//! `Idempotency-Key` on POST, PUT and DELETE under `/v2.0` (extension `idempotency-keys`): the
//! HTTP side of `service::idempotency`. A request with a key is fingerprinted (SHA-256 of its
//! caller's user and roles, method, path, query, `If-Match` and body, byte for byte) and looked
//! up in the caller's project:
//! - a live key with the same fingerprint answers with the stored status and body (header
//!   `Idempotent-Replayed: true`), waiting briefly if that request is still finishing;
//! - a live key with another fingerprint is a 422 `IdempotencyKeyReused`;
//! - otherwise the request runs with the key in its context, and its write claims the key in
//!   its own transaction; a 2xx answer is then recorded for retries.
//!
//! A request that fails (4xx, 5xx) wrote nothing and records nothing: its retry runs again.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::auth::{Caller, ClaimedCaller};
use super::error::ApiError;
use super::{body, AppState};
use crate::service::ErrorKind;
use crate::store::idempotency::{IdempotencyClaim, StoredAnswer};

/// The request header that carries the key.
pub const KEY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on an answer replayed from an earlier request with the same key.
pub const REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;
/// How long a retry waits for the answer of the request that holds its key.
const ANSWER_WAIT: Duration = Duration::from_secs(10);
const ANSWER_POLL: Duration = Duration::from_millis(25);

/// The key a request carries, if any: 1 to 255 visible ASCII characters, given once.
fn key_of(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(&KEY_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let refuse = |reason: &str| {
        ApiError::bad_request(
            "Idempotency-Key",
            format!("Invalid Idempotency-Key header: {reason}."),
        )
    };
    if values.next().is_some() {
        return Err(refuse("given more than once"));
    }
    let text = value
        .to_str()
        .map_err(|_| refuse("not visible ASCII text"))?;
    if text.is_empty() || text.len() > MAX_KEY_LEN {
        return Err(refuse(&format!("must be 1 to {MAX_KEY_LEN} characters")));
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(refuse("only visible ASCII characters, no spaces"));
    }
    Ok(Some(text.to_string()))
}

/// SHA-256 (hex) of what makes a request this request: who sends it (user and roles: an
/// answer rendered under one caller's policy is never replayed to another), method, path and
/// query, `If-Match`, body.
fn fingerprint(
    identity: &str,
    method: &Method,
    uri: &axum::http::Uri,
    if_match: &str,
    body: &[u8],
) -> String {
    let mut hash = Sha256::new();
    for part in [
        identity.as_bytes(),
        method.as_str().as_bytes(),
        uri.path_and_query().map_or("", |p| p.as_str()).as_bytes(),
        if_match.as_bytes(),
    ] {
        hash.update(part);
        hash.update(b"\n");
    }
    hash.update(body);
    hex::encode(hash.finalize())
}

/// The caller as the fingerprint knows it: user and sorted roles.
fn identity_of(credentials: &crate::policy::Credentials) -> String {
    let mut roles = credentials.roles.clone();
    roles.sort();
    format!(
        "{}|{}",
        credentials.user_id.as_deref().unwrap_or(""),
        roles.join(",")
    )
}

pub async fn middleware(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match idempotent(state, request, next).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn idempotent(state: AppState, request: Request, next: Next) -> Result<Response, ApiError> {
    let writes = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::DELETE
    );
    if !writes || !request.uri().path().starts_with("/v2.0/") {
        return Ok(next.run(request).await);
    }
    let Some(key) = key_of(request.headers())? else {
        return Ok(next.run(request).await);
    };
    let (mut parts, body) = request.into_parts();
    let Caller(mut ctx) = Caller::from_request_parts(&mut parts, &state).await?;
    let bytes = body::read_body(Request::from_parts(parts.clone(), body), &state).await?;
    let credentials = &ctx.credentials;
    let scope =
        match (&credentials.project_id, &credentials.user_id) {
            (Some(project), _) => format!("project:{project}"),
            (None, Some(user)) => format!("user:{user}"),
            (None, None) => return Err(ApiError::bad_request(
                "Idempotency-Key",
                "Invalid Idempotency-Key header: a caller with neither project nor user cannot \
                 hold keys.",
            )),
        };
    let if_match = parts
        .headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let claim = IdempotencyClaim {
        scope,
        key,
        fingerprint: fingerprint(
            &identity_of(credentials),
            &parts.method,
            &parts.uri,
            if_match,
            &bytes,
        ),
        request_id: ctx.request_id.clone(),
    };
    if let Some(replayed) = earlier_answer(&state, &claim).await? {
        return Ok(replayed);
    }
    ctx.idempotency = Some(claim.clone());
    parts.extensions.insert(ClaimedCaller(ctx));
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if response.extensions().get::<ErrorKind>() == Some(&ErrorKind::IdempotencyKeyInUse) {
        // Another request (maybe on another server) claimed the key while this one ran; this
        // one's work rolled back, and that one's answer is the answer.
        return Ok(earlier_answer(&state, &claim).await?.unwrap_or(response));
    }
    if !response.status().is_success() {
        return Ok(response);
    }
    let (head, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.map_err(|e| {
        crate::service::ServiceError::Internal {
            message: format!("answer body unreadable: {e}"),
        }
    })?;
    let answer = StoredAnswer {
        status: head.status.as_u16(),
        content_type: head
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };
    if let Err(error) = state
        .service
        .record_idempotent_answer(&claim, &answer)
        .await
    {
        // The work is committed with its key; a retry finds no answer and is told so.
        tracing::warn!(key = %claim.key, %error, "could not record the answer of an idempotent request");
    }
    Ok(Response::from_parts(head, Body::from(bytes)))
}

/// The answer of the live request that holds `claim`'s key, if there is one; waits up to
/// [`ANSWER_WAIT`] for a request that committed and is still recording its answer.
async fn earlier_answer(
    state: &AppState,
    claim: &IdempotencyClaim,
) -> Result<Option<Response>, ApiError> {
    let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
    loop {
        let Some(record) = state
            .service
            .idempotency_record(&claim.scope, &claim.key)
            .await?
        else {
            return Ok(None);
        };
        if record.fingerprint != claim.fingerprint {
            return Err(ApiError::IdempotencyKeyReused(claim.key.clone()));
        }
        if let Some(answer) = record.answer {
            return Ok(Some(replay(answer)));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::IdempotentAnswerMissing {
                key: claim.key.clone(),
                request_id: record.request_id,
            });
        }
        tokio::time::sleep(ANSWER_POLL).await;
    }
}

fn replay(answer: StoredAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = (status, answer.body).into_response();
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    if let Ok(value) = HeaderValue::from_str(&answer.content_type) {
        if !answer.content_type.is_empty() {
            headers.insert(header::CONTENT_TYPE, value);
        }
    }
    headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(KEY_HEADER, value.parse().expect("header"));
        }
        map
    }

    #[test]
    fn keys_are_checked() {
        assert!(matches!(key_of(&headers(&[])), Ok(None)));
        assert_eq!(
            key_of(&headers(&["a-1_b.c"])).ok().flatten().as_deref(),
            Some("a-1_b.c")
        );
        for bad in [&["a", "b"][..], &[""], &["has space"], &[&"x".repeat(256)]] {
            let error = key_of(&headers(bad)).expect_err("refused");
            assert!(error.to_string().contains("Idempotency-Key"), "{error}");
        }
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let uri: axum::http::Uri = "/v2.0/trunks".parse().expect("uri");
        let other: axum::http::Uri = "/v2.0/trunks?x=1".parse().expect("uri");
        let base = fingerprint("u|member", &Method::POST, &uri, "", b"{}");
        assert_eq!(
            base,
            fingerprint("u|member", &Method::POST, &uri, "", b"{}")
        );
        assert_ne!(base, fingerprint("u|member", &Method::PUT, &uri, "", b"{}"));
        assert_ne!(
            base,
            fingerprint("u|member", &Method::POST, &other, "", b"{}")
        );
        assert_ne!(
            base,
            fingerprint("u|member", &Method::POST, &uri, "", b"{ }")
        );
        assert_ne!(
            base,
            fingerprint("v|member", &Method::POST, &uri, "", b"{}")
        );
        assert_ne!(base, fingerprint("u|admin", &Method::POST, &uri, "", b"{}"));
        assert_ne!(
            base,
            fingerprint("u|member", &Method::POST, &uri, "revision_number=1", b"{}")
        );
    }
}
