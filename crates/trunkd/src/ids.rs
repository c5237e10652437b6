//! Typed identifiers, so a port id can never be passed where a trunk id is expected.
//!
//! Resource ids are UUIDs rendered in their hyphenated form, as Neutron does; project ids come
//! from the identity layer (Keystone uses 32 hex digits without hyphens) and stay opaque strings.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// Id of a network.
    NetworkId
);
uuid_id!(
    /// Id of a port.
    PortId
);
uuid_id!(
    /// Id of a subnet.
    SubnetId
);
uuid_id!(
    /// Id of a trunk.
    TrunkId
);

/// Id of a project (tenant) as the identity layer gives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectId(String);

impl ProjectId {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = TrunkId::new();
        let parsed: TrunkId = id.to_string().parse().expect("own text parses");
        assert_eq!(id, parsed);
        assert_eq!(id.to_string().len(), 36);
    }

    #[test]
    fn non_uuid_text_is_rejected() {
        assert!("not-a-uuid".parse::<PortId>().is_err());
        assert!("".parse::<NetworkId>().is_err());
    }
}
