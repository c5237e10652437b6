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

pub async fn middleware(mut request: Request, next: Next) -> Response {
    let id = format!("req-{}", uuid::Uuid::new_v4());
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "served"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
