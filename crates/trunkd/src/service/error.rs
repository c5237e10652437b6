//! The service layer's one error enum. The api layer turns it into an HTTP response in exactly
//! one place (`api::error`).

use crate::store::{Constraint, StoreError};

/// The Neutron exception name a 404 or 409 carries as its `type`, so clients that match on
/// Neutron's names keep working. A closed set: a kind is named by its variant, never by a
/// string, and its text is [`ErrorKind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    DuplicateSubPort,
    ExtensionNotFound,
    GatewayConflictWithAllocationPools,
    IdempotencyKeyInUse,
    InvalidStatusTransition,
    IpAddressAlreadyAllocated,
    IpAddressGenerationFailure,
    MacAddressGenerationFailure,
    MacAddressInUse,
    NetworkInUse,
    NetworkNotFound,
    NoNetworkAvailable,
    NoVlanIdAvailable,
    OverQuota,
    OverlappingAllocationPools,
    ParentPortInUse,
    PortBound,
    PortInUse,
    PortInUseAsSubPort,
    PortInUseAsTrunkParent,
    PortNotFound,
    SegmentationIdInUse,
    StaleRevision,
    SubPortMtuGreaterThanTrunkPortMtu,
    SubPortNotFound,
    SubPortNotVlan,
    SubnetInUse,
    SubnetNotFound,
    TagNotFound,
    TrunkDisabled,
    TrunkDriverRefused,
    TrunkInErrorState,
    TrunkInUse,
    TrunkNotFound,
    TrunkPortInUse,
    TunnelIdInUse,
    VlanIdInUse,
}

impl ErrorKind {
    /// Every kind, for tests.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::DuplicateSubPort,
        ErrorKind::ExtensionNotFound,
        ErrorKind::GatewayConflictWithAllocationPools,
        ErrorKind::IdempotencyKeyInUse,
        ErrorKind::InvalidStatusTransition,
        ErrorKind::IpAddressAlreadyAllocated,
        ErrorKind::IpAddressGenerationFailure,
        ErrorKind::MacAddressGenerationFailure,
        ErrorKind::MacAddressInUse,
        ErrorKind::NetworkInUse,
        ErrorKind::NetworkNotFound,
        ErrorKind::NoNetworkAvailable,
        ErrorKind::NoVlanIdAvailable,
        ErrorKind::OverQuota,
        ErrorKind::OverlappingAllocationPools,
        ErrorKind::ParentPortInUse,
        ErrorKind::PortBound,
        ErrorKind::PortInUse,
        ErrorKind::PortInUseAsSubPort,
        ErrorKind::PortInUseAsTrunkParent,
        ErrorKind::PortNotFound,
        ErrorKind::SegmentationIdInUse,
        ErrorKind::StaleRevision,
        ErrorKind::SubPortMtuGreaterThanTrunkPortMtu,
        ErrorKind::SubPortNotFound,
        ErrorKind::SubPortNotVlan,
        ErrorKind::SubnetInUse,
        ErrorKind::SubnetNotFound,
        ErrorKind::TagNotFound,
        ErrorKind::TrunkDisabled,
        ErrorKind::TrunkDriverRefused,
        ErrorKind::TrunkInErrorState,
        ErrorKind::TrunkInUse,
        ErrorKind::TrunkNotFound,
        ErrorKind::TrunkPortInUse,
        ErrorKind::TunnelIdInUse,
        ErrorKind::VlanIdInUse,
    ];

    /// The name on the wire: the variant's name, as Neutron spells the exception.
    pub const fn as_str(self) -> &'static str {
        use ErrorKind::*;
        match self {
            DuplicateSubPort => "DuplicateSubPort",
            ExtensionNotFound => "ExtensionNotFound",
            GatewayConflictWithAllocationPools => "GatewayConflictWithAllocationPools",
            IdempotencyKeyInUse => "IdempotencyKeyInUse",
            InvalidStatusTransition => "InvalidStatusTransition",
            IpAddressAlreadyAllocated => "IpAddressAlreadyAllocated",
            IpAddressGenerationFailure => "IpAddressGenerationFailure",
            MacAddressGenerationFailure => "MacAddressGenerationFailure",
            MacAddressInUse => "MacAddressInUse",
            NetworkInUse => "NetworkInUse",
            NetworkNotFound => "NetworkNotFound",
            NoNetworkAvailable => "NoNetworkAvailable",
            NoVlanIdAvailable => "NoVlanIdAvailable",
            OverQuota => "OverQuota",
            OverlappingAllocationPools => "OverlappingAllocationPools",
            ParentPortInUse => "ParentPortInUse",
            PortBound => "PortBound",
            PortInUse => "PortInUse",
            PortInUseAsSubPort => "PortInUseAsSubPort",
            PortInUseAsTrunkParent => "PortInUseAsTrunkParent",
            PortNotFound => "PortNotFound",
            SegmentationIdInUse => "SegmentationIdInUse",
            StaleRevision => "StaleRevision",
            SubPortMtuGreaterThanTrunkPortMtu => "SubPortMtuGreaterThanTrunkPortMtu",
            SubPortNotFound => "SubPortNotFound",
            SubPortNotVlan => "SubPortNotVlan",
            SubnetInUse => "SubnetInUse",
            SubnetNotFound => "SubnetNotFound",
            TagNotFound => "TagNotFound",
            TrunkDisabled => "TrunkDisabled",
            TrunkDriverRefused => "TrunkDriverRefused",
            TrunkInErrorState => "TrunkInErrorState",
            TrunkInUse => "TrunkInUse",
            TrunkNotFound => "TrunkNotFound",
            TrunkPortInUse => "TrunkPortInUse",
            TunnelIdInUse => "TunnelIdInUse",
            VlanIdInUse => "VlanIdInUse",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    NotFound { kind: ErrorKind, message: String },
    /// `kind` is the Neutron exception name, e.g. `DuplicateSubPort`.
    #[error("{message}")]
    Conflict { kind: ErrorKind, message: String },
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

    pub fn conflict(kind: ErrorKind, message: impl Into<String>) -> Self {
        ServiceError::Conflict {
            kind,
            message: message.into(),
        }
    }

    pub fn not_found(kind: ErrorKind, message: impl Into<String>) -> Self {
        ServiceError::NotFound {
            kind,
            message: message.into(),
        }
    }

    pub fn policy_denied(action: crate::policy::Action) -> Self {
        ServiceError::Forbidden {
            message: format!("(rule:{}) is disallowed by policy", action.name()),
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
                ErrorKind::TrunkPortInUse,
                "A port in the request is already used by a trunk.",
            ),
            StoreError::Unique(Constraint::TrunkSegmentation) => ServiceError::conflict(
                ErrorKind::DuplicateSubPort,
                "A segmentation in the request is already used in the trunk.",
            ),
            StoreError::Unique(Constraint::NetworkSegment) => ServiceError::conflict(
                ErrorKind::SegmentationIdInUse,
                "The requested segmentation is already in use.",
            ),
            StoreError::Unique(Constraint::PortMac) => ServiceError::conflict(
                ErrorKind::MacAddressInUse,
                "The MAC address is already in use on this network.",
            ),
            StoreError::Unique(Constraint::IpAllocation) => ServiceError::conflict(
                ErrorKind::IpAddressAlreadyAllocated,
                "An IP address in the request is already allocated.",
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

#[cfg(test)]
mod tests {
    use super::ErrorKind;

    #[test]
    fn kinds_are_spelt_as_their_variants() {
        for kind in ErrorKind::ALL {
            assert_eq!(format!("{kind:?}"), kind.as_str());
            assert_eq!(kind.to_string(), kind.as_str());
        }
        let mut names: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::ALL.len());
    }
}
