//! Gives every request an id (`req-<uuid>`), returned as `X-Openstack-Request-Id`, carried in
//! the log span of the request so one call's log lines can be found together, and writes the
//! access line when the answer is made. A caller's own `X-Openstack-Request-Id` (oslo's global
//! request id, which Nova sends to tie its calls to one operation) is kept in the span as
//! `global_request_id`, as Neutron logs it, so it is on every line of the request too.
//!
//! The access line (`served`) names the client's address, the project and user, the status
//! and `duration_us`, an integer of microseconds; the health probes' lines are at DEBUG (a
//! load balancer asks every few seconds), every other at INFO.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The id of the request being served.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub const HEADER: &str = "x-openstack-request-id";

/// The id the middleware gave this request (empty outside it).
pub fn of(parts: &axum::http::request::Parts) -> String {
    parts
        .extensions
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

/// Who the request turned out to be from, filled in by authentication ([`Identified::set`])
/// for the access log line written after the answer.
#[derive(Debug, Clone, Default)]
pub struct Identified(std::sync::Arc<std::sync::OnceLock<(String, String)>>);

impl Identified {
    /// Records the caller's project and user (first call wins).
    pub fn set(&self, project: Option<&str>, user: Option<&str>) {
        let _ = self.0.set((
            project.unwrap_or("-").to_string(),
            user.unwrap_or("-").to_string(),
        ));
    }

    fn project_and_user(&self) -> (&str, &str) {
        self.0
            .get()
            .map_or(("-", "-"), |(p, u)| (p.as_str(), u.as_str()))
    }
}

/// The id the caller gave the whole operation (oslo's global request id): a
/// `X-OpenStack-Request-ID: req-<uuid>` request header; anything else is ignored.
pub fn global_of(parts: &axum::http::request::Parts) -> Option<String> {
    global_in(&parts.headers)
}

fn global_in(headers: &axum::http::HeaderMap) -> Option<String> {
    let text = headers.get(HEADER)?.to_str().ok()?;
    let uuid = text.strip_prefix("req-")?;
    uuid::Uuid::parse_str(uuid).ok()?;
    Some(text.to_string())
}

/// The routes of the liveness and readiness probes, logged at DEBUG.
const PROBES: [&str; 2] = ["/healthz", "/readyz"];

/// Whole microseconds, saturating (a request does not last 584,000 years).
fn micros(elapsed: std::time::Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

pub async fn middleware(mut request: Request, next: Next) -> Response {
    let id = format!("req-{}", uuid::Uuid::new_v4());
    request.extensions_mut().insert(RequestId(id.clone()));
    let identified = Identified::default();
    request.extensions_mut().insert(identified.clone());
    let client = request
        .extensions()
        .get::<super::PeerAddr>()
        .map_or_else(|| "-".to_string(), |peer| peer.0.to_string());
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let global = global_in(request.headers());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        global_request_id = global.as_deref(),
        %method,
        %path
    );
    let probe = PROBES.contains(&path.as_str());
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let duration_us = micros(started.elapsed());
    let (project, user) = identified.project_and_user();
    let status = response.status().as_u16();
    macro_rules! served {
        ($level:expr) => {
            tracing::event!(
                $level,
                status,
                duration_us,
                %client,
                project,
                user,
                "served"
            )
        };
    }
    span.in_scope(|| {
        if probe {
            served!(tracing::Level::DEBUG)
        } else {
            served!(tracing::Level::INFO)
        }
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
