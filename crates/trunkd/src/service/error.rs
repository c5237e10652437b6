//! The service layer's one error enum. The api layer turns it into an HTTP response in exactly
//! one place (`api::error`).

use crate::store::{Constraint, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// Bad input; `field` names the attribute at fault.
    #[error("{message}")]
    BadRequest {
        field: Option<String>,
        message: String,
    },
    /// `kind` is the Neutron exception name, e.g. `TrunkNotFound`.
    #[error("{message}")]
    NotFound { kind: &'static str, message: String },
    /// `kind` is the Neutron exception name, e.g. `DuplicateSubPort`.
    #[error("{message}")]
    Conflict { kind: &'static str, message: String },
    /// Policy denied an action on a resource the caller can see.
    #[error("{message}")]
    Forbidden { message: String },
    /// `If-Match` named another revision than the stored one.
    #[error("{message}")]
    PreconditionFailed { message: String },
    /// A backend the operation needs is down.
    #[error("{message}")]
    Unavailable { message: String },
    /// A concurrent transaction got in the way; the write loop runs the operation again.
    #[error("transaction conflict: {0}")]
    Retry(String),
    /// A fault of ours. The message is logged, never shown to the caller.
    #[error("{message}")]
    Internal { message: String },
}

impl ServiceError {
    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        ServiceError::BadRequest {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// Neutron's wording for an attribute that failed validation.
    pub fn invalid_input(field: &str, reason: impl std::fmt::Display) -> Self {
        Self::bad_request(
            field,
            format!("Invalid input for {field}. Reason: {reason}."),
        )
    }

    pub fn conflict(kind: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Conflict {
            kind,
            message: message.into(),
        }
    }

    pub fn not_found(kind: &'static str, message: impl Into<String>) -> Self {
        ServiceError::NotFound {
            kind,
            message: message.into(),
        }
    }

    pub fn policy_denied(action: &str) -> Self {
        ServiceError::Forbidden {
            message: format!("(rule:{action}) is disallowed by policy"),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Contention(reason) => ServiceError::Retry(reason),
            StoreError::Unavailable(reason) => ServiceError::Unavailable {
                message: format!("The database is unavailable: {reason}"),
            },
            StoreError::Unique(Constraint::TrunkMemberPort) => ServiceError::conflict(
                "TrunkPortInUse",
                "A port in the request is already used by a trunk.",
            ),
            StoreError::Unique(Constraint::TrunkSegmentation) => ServiceError::conflict(
                "DuplicateSubPort",
                "A segmentation in the request is already used in the trunk.",
            ),
            StoreError::Unique(Constraint::NetworkSegment) => ServiceError::conflict(
                "SegmentationIdInUse",
                "The requested segmentation is already in use.",
            ),
            StoreError::Unique(Constraint::PortMac) => ServiceError::conflict(
                "MacAddressInUse",
                "The MAC address is already in use on this network.",
            ),
            StoreError::MarkerNotFound(marker) => {
                ServiceError::bad_request("marker", format!("Marker {marker} could not be found."))
            }
            other => ServiceError::Internal {
                message: other.to_string(),
            },
        }
    }
}
