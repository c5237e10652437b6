//! Gives every request an id (`req-<uuid>`), returned as `X-Openstack-Request-Id`, carried in
//! the log span of the request so one call's log lines can be found together.

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
    let text = parts.headers.get(HEADER)?.to_str().ok()?;
    let uuid = text.strip_prefix("req-")?;
    uuid::Uuid::parse_str(uuid).ok()?;
    Some(text.to_string())
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
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let (project, user) = identified.project_and_user();
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            %client,
            project,
            user,
            "served"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
