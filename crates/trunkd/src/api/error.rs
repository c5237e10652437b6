//! The api layer's error enum and the one place where any error becomes an HTTP response with
//! a `NeutronError` body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::service::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// No or unusable credentials; `challenge` is the `WWW-Authenticate` value.
    #[error("{message}")]
    Unauthorized { message: String, challenge: String },
    /// No route matches the path.
    #[error("the resource could not be found")]
    NoSuchResource,
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("request body not received within {0:?}")]
    RequestTimeout(std::time::Duration),
    /// An `Idempotency-Key` already used for another request.
    #[error("Idempotency-Key '{0}' was used for another request")]
    IdempotencyKeyReused(String),
    /// The request that holds an `Idempotency-Key` committed but its answer was not recorded.
    #[error("the answer of the request with Idempotency-Key '{key}' is not recorded")]
    IdempotentAnswerMissing { key: String, request_id: String },
}

impl ApiError {
    pub fn unauthorized(message: impl Into<String>, challenge: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            message: message.into(),
            challenge: challenge.into(),
        }
    }

    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Service(ServiceError::bad_request(field, message))
    }
}

fn body(status: StatusCode, kind: &str, message: &str) -> Response {
    let payload = serde_json::json!({
        "NeutronError": { "type": kind, "message": message, "detail": "" }
    });
    let mut response = (status, axum::Json(payload)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Marks a response with the error kind it carries, for middleware that acts on one kind
/// (`idempotency`) without reading the body.
fn with_kind(mut response: Response, kind: crate::service::ErrorKind) -> Response {
    response.extensions_mut().insert(kind);
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Service(error) => match error {
                ServiceError::BadRequest { message, .. } => {
                    body(StatusCode::BAD_REQUEST, "HTTPBadRequest", &message)
                }
                ServiceError::NotFound { kind, message } => {
                    with_kind(body(StatusCode::NOT_FOUND, kind.as_str(), &message), kind)
                }
                ServiceError::Conflict { kind, message } => {
                    with_kind(body(StatusCode::CONFLICT, kind.as_str(), &message), kind)
                }
                ServiceError::Forbidden { message } => {
                    body(StatusCode::FORBIDDEN, "PolicyNotAuthorized", &message)
                }
                ServiceError::PreconditionFailed { message } => body(
                    StatusCode::PRECONDITION_FAILED,
                    "RevisionNumberConstraintFailed",
                    &message,
                ),
                ServiceError::Unavailable { message } => {
                    tracing::warn!(%message, "backend unavailable");
                    body(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "ServiceUnavailable",
                        "A backend trunkd needs is unavailable. Try again later.",
                    )
                }
                ServiceError::Retry(message) | ServiceError::Internal { message } => {
                    tracing::error!(%message, "internal error");
                    body(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "HTTPInternalServerError",
                        "Request Failed: internal server error while processing your request.",
                    )
                }
            },
            ApiError::Unauthorized { message, challenge } => {
                let mut response = body(StatusCode::UNAUTHORIZED, "HTTPUnauthorized", &message);
                let challenge = HeaderValue::from_str(&challenge)
                    .unwrap_or_else(|_| HeaderValue::from_static("Keystone"));
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, challenge);
                response
            }
            ApiError::NoSuchResource => body(
                StatusCode::NOT_FOUND,
                "HTTPNotFound",
                "The resource could not be found.",
            ),
            ApiError::MethodNotAllowed(method) => body(
                StatusCode::METHOD_NOT_ALLOWED,
                "HTTPMethodNotAllowed",
                &format!("The method {method} is not allowed for this resource."),
            ),
            ApiError::PayloadTooLarge(limit) => body(
                StatusCode::PAYLOAD_TOO_LARGE,
                "HTTPRequestEntityTooLarge",
                &format!("Request body is larger than the limit of {limit} bytes."),
            ),
            ApiError::IdempotencyKeyReused(key) => body(
                StatusCode::UNPROCESSABLE_ENTITY,
                "IdempotencyKeyReused",
                &format!(
                    "Idempotency-Key '{key}' was used in the last idempotency_retention for a \
                     different request (method, path, query or body). Use a new key for a new \
                     request."
                ),
            ),
            ApiError::IdempotentAnswerMissing { key, request_id } => body(
                StatusCode::CONFLICT,
                "IdempotentAnswerMissing",
                &format!(
                    "The request {request_id} with Idempotency-Key '{key}' was done, but its \
                     answer was not recorded (it is still finishing, or its server stopped). \
                     Read the resource to see the outcome."
                ),
            ),
            ApiError::RequestTimeout(limit) => body(
                StatusCode::REQUEST_TIMEOUT,
                "HTTPRequestTimeout",
                &format!(
                    "The request body did not arrive within {} seconds.",
                    limit.as_secs()
                ),
            ),
        }
    }
}
