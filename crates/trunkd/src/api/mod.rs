//! The HTTP layer: routes, the Neutron v2.0 wire format, authentication. It knows nothing about
//! SQL; it turns requests into service calls and service results into JSON.

mod agent;
pub mod agent_auth;
mod audit;
pub mod auth;
pub mod body;
#[cfg(test)]
mod body_golden;
mod discovery;
pub mod error;
pub mod fuzz;
mod guest_config;
mod health;
pub mod idempotency;
pub mod keystone;
pub mod list;
pub mod metrics;
mod networks;
pub mod openapi;
mod ports;
pub mod process_metrics;
#[cfg(test)]
mod render_golden;
pub mod request_id;
mod subnets;
mod tags;
mod teardown;
mod trunks;
pub mod wire;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::routing::{get, put};
use axum::Router;

use crate::service::Service;
pub use auth::AuthMode;
use error::ApiError;

/// What every handler can reach, in one allocation: axum clones the state for each
/// middleware and extractor that asks for it, several times a request, and a clone of this is
/// one reference count rather than one per field (and a copy of the link prefix).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The fields of [`AppState`].
pub struct Shared {
    pub service: Arc<Service>,
    pub auth: AuthMode,
    pub max_body_bytes: usize,
    /// How long a client may take to send a request body (408 after).
    pub body_timeout: std::time::Duration,
    pub metrics: Arc<metrics::Metrics>,
    /// Host agents' credentials (empty: the agent API refuses every call).
    pub agents: Arc<agent_auth::AgentCredentials>,
    /// Links start with this (`network_link_prefix`, no trailing `/`); none: `http://` and the
    /// address the request's connection was accepted on.
    pub link_prefix: Option<String>,
    /// Most items one list answer holds (`pagination_max_limit`); none: no limit.
    pub max_page: Option<usize>,
    /// Dependencies and background tasks, for `/readyz`.
    pub readiness: crate::readiness::Readiness,
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/", get(discovery::versions))
        .route("/v2.0", get(discovery::resources))
        .route("/v2.0/", get(discovery::resources))
        .route("/v2.0/extensions", get(discovery::extensions))
        .route("/v2.0/extensions/{alias}", get(discovery::extension))
        .route("/v2.0/networks", get(networks::list).post(networks::create))
        .route(
            "/v2.0/networks/{id}",
            get(networks::show)
                .put(networks::update)
                .delete(networks::delete),
        )
        .route("/v2.0/subnets", get(subnets::list).post(subnets::create))
        .route(
            "/v2.0/subnets/{id}",
            get(subnets::show)
                .put(subnets::update)
                .delete(subnets::delete),
        )
        .route("/v2.0/ports", get(ports::list).post(ports::create))
        .route(
            "/v2.0/ports/{id}",
            get(ports::show).put(ports::update).delete(ports::delete),
        )
        .route("/v2.0/trunks", get(trunks::list).post(trunks::create))
        .route(
            "/v2.0/trunks/{id}",
            get(trunks::show).put(trunks::update).delete(trunks::delete),
        )
        .route("/v2.0/trunks/{id}/add_subports", put(trunks::add_subports))
        .route(
            "/v2.0/trunks/{id}/remove_subports",
            put(trunks::remove_subports),
        )
        .route("/v2.0/trunks/{id}/get_subports", get(trunks::get_subports))
        .route("/v2.0/trunks/{id}/guest_config", get(guest_config::show))
        .route("/v2.0/trunks/{id}/audit", get(audit::list))
        .route(
            "/v2.0/{collection}/{id}/tags",
            get(tags::list).put(tags::replace).delete(tags::clear),
        )
        .route(
            "/v2.0/{collection}/{id}/tags/{tag}",
            get(tags::check).put(tags::add).delete(tags::remove),
        )
        .route("/agent/v1/trunks", get(agent::trunks))
        .route("/agent/v1/trunks/{id}/verdict", put(agent::report_verdict))
        .route("/agent/v1/ports/status", put(agent::report_ports))
        .route(
            "/agent/v1/trunks/{id}/bind_subports",
            put(agent::bind_subports),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::serve))
        .route("/openapi.json", get(openapi::serve))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(no_such_resource)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::middleware,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .with_state(state);
    api.layer(axum::middleware::from_fn(request_id::middleware))
}

async fn no_such_resource() -> ApiError {
    ApiError::NoSuchResource
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}

/// `If-Match: revision_number=N` (other forms of If-Match are not revision checks).
pub fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::bad_request("If-Match", "The If-Match header is not text."))?;
    for part in text.split(',') {
        if let Some(number) = part.trim().strip_prefix("revision_number=") {
            return number.trim().parse().map(Some).map_err(|_| {
                ApiError::bad_request(
                    "If-Match",
                    format!("Invalid If-Match header: '{text}' does not name an integer revision_number."),
                )
            });
        }
    }
    Ok(None)
}

/// The local address a request's connection was accepted on (set by `http_server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalAddr(pub std::net::SocketAddr);

/// Whether a request's connection is plain HTTP or TLS (set by `http_server` on TLS ones), so
/// links built from the local address name the scheme the client used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    #[default]
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// The client's address of a request's connection (set by `http_server`), for the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// The start of every link the server hands out (`{base}/v2.0/...`): the configured
/// `network_link_prefix`, else `http://` (`https://` over TLS) and the address the client's connection reached (the
/// bind address, or with a wildcard bind the concrete one). Never the request's `Host` or
/// `X-Forwarded-*` headers: a client could make them point anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(pub String);

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(BaseUrl(base_url(
            state.link_prefix.as_deref(),
            parts.extensions.get::<LocalAddr>().copied(),
            parts
                .extensions
                .get::<Scheme>()
                .copied()
                .unwrap_or_default(),
        )))
    }
}

/// See [`BaseUrl`]. Without a prefix or a connection (a router driven in-process) the links
/// name the default bind address.
pub fn base_url(link_prefix: Option<&str>, local: Option<LocalAddr>, scheme: Scheme) -> String {
    match (link_prefix, local) {
        (Some(prefix), _) => prefix.to_string(),
        (None, Some(LocalAddr(address))) => format!("{}://{address}", scheme.as_str()),
        (None, None) => format!("http://{}", crate::config::DEFAULT_BIND),
    }
}

/// A resource id from the path; one that is not a UUID cannot exist, so it is a 404.
pub fn path_id<T: std::str::FromStr>(
    text: &str,
    not_found_kind: crate::service::ErrorKind,
    label: &str,
) -> Result<T, ApiError> {
    text.parse().map_err(|_| {
        ApiError::Service(crate::service::ServiceError::not_found(
            not_found_kind,
            format!("{label} {text} could not be found."),
        ))
    })
}

/// `fields=` on a show call, as the set of attributes to answer; `None`: all of them.
pub fn show_wanted(raw: Option<&str>) -> Option<std::collections::HashSet<String>> {
    let fields = show_fields(raw);
    (!fields.is_empty()).then(|| fields.into_iter().collect())
}

/// `fields=` on a show call.
pub fn show_fields(raw: Option<&str>) -> Vec<String> {
    form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .filter(|(key, _)| key == "fields")
        .flat_map(|(_, value)| {
            value
                .split(',')
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_reads_revision_numbers() {
        let mut headers = HeaderMap::new();
        assert_eq!(if_match(&headers).ok(), Some(None));
        headers.insert("if-match", "revision_number=4".parse().expect("header"));
        assert_eq!(if_match(&headers).ok(), Some(Some(4)));
        headers.insert("if-match", "revision_number=x".parse().expect("header"));
        assert!(if_match(&headers).is_err());
    }

    #[test]
    fn links_start_from_the_prefix_else_the_local_address() {
        let local = Some(LocalAddr(([10, 0, 0, 5], 9696).into()));
        assert_eq!(
            base_url(Some("https://net.example/network"), local, Scheme::Http),
            "https://net.example/network"
        );
        assert_eq!(base_url(None, local, Scheme::Http), "http://10.0.0.5:9696");
        assert_eq!(
            base_url(None, local, Scheme::Https),
            "https://10.0.0.5:9696"
        );
        let v6 = Some(LocalAddr("[::1]:9696".parse().expect("address")));
        assert_eq!(base_url(None, v6, Scheme::Http), "http://[::1]:9696");
    }
}
