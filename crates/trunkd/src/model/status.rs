//! Statuses of trunks, ports and networks, and their wire text.
//!
//! A trunk's status is not set by anyone: it is derived from its parent's and subports' port
//! statuses and its drivers' verdicts by one rule (`model::health`), which replaces the
//! report-driven state machine of spec 3.2 (see the README, "Status"). BUILD is kept because
//! Neutron lists it and clients filter on it; the rule never gives it.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrunkStatus {
    /// The parent port is not ACTIVE.
    Down,
    /// Neutron's "wiring in progress"; never derived by trunkd.
    Build,
    /// The parent and every subport are ACTIVE.
    Active,
    /// The parent is ACTIVE and some subport is not.
    Degraded,
    /// A driver refused the trunk.
    Error,
}

impl TrunkStatus {
    pub const ALL: [TrunkStatus; 5] = [
        TrunkStatus::Down,
        TrunkStatus::Build,
        TrunkStatus::Active,
        TrunkStatus::Degraded,
        TrunkStatus::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TrunkStatus::Down => "DOWN",
            TrunkStatus::Build => "BUILD",
            TrunkStatus::Active => "ACTIVE",
            TrunkStatus::Degraded => "DEGRADED",
            TrunkStatus::Error => "ERROR",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether an API-side subport change is allowed in this status: a trunk in ERROR takes
    /// no new subports, but may lose some (the user repairing it, which clears the refusal).
    pub fn accepts_subport_change(self, removing: bool) -> bool {
        removing || self != TrunkStatus::Error
    }
}

impl fmt::Display for TrunkStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// On the wire (the agent API) as its text, `"ACTIVE"`; other text does not deserialize.
impl serde::Serialize for TrunkStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for TrunkStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        TrunkStatus::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown trunk status '{text}'")))
    }
}

/// Defines a status enum of plain states with their wire text, for ports and networks (which,
/// unlike trunks, have no state machine: the service sets them outright).
macro_rules! plain_status {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|s| s.as_str() == text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

plain_status! {
    /// A port's status: DOWN until a data plane reports it wired.
    PortStatus { Active => "ACTIVE", Down => "DOWN", Build => "BUILD", Error => "ERROR" }
}

plain_status! {
    /// A network's status (ACTIVE once created: trunkd has no network provisioning to wait for).
    NetworkStatus { Active => "ACTIVE", Down => "DOWN", Build => "BUILD", Error => "ERROR" }
}

#[cfg(test)]
mod tests {
    use super::TrunkStatus::*;
    use super::*;

    #[test]
    fn error_refuses_adds_but_not_removes() {
        assert!(!Error.accepts_subport_change(false));
        assert!(Error.accepts_subport_change(true));
        assert!(Active.accepts_subport_change(false));
        assert!(Down.accepts_subport_change(false));
    }

    #[test]
    fn status_text_round_trips() {
        for status in TrunkStatus::ALL {
            assert_eq!(TrunkStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(TrunkStatus::parse("active"), None);
    }

    #[test]
    fn status_serialises_as_its_text() {
        for status in TrunkStatus::ALL {
            let json = serde_json::to_value(status).expect("serialises");
            assert_eq!(json, serde_json::json!(status.as_str()));
            let back: TrunkStatus = serde_json::from_value(json).expect("deserialises");
            assert_eq!(back, status);
        }
        assert!(serde_json::from_value::<TrunkStatus>(serde_json::json!("active")).is_err());
    }

    #[test]
    fn port_and_network_statuses_round_trip_as_their_wire_text() {
        for status in PortStatus::ALL {
            assert_eq!(PortStatus::parse(status.as_str()), Some(*status));
            assert_eq!(
                serde_json::to_value(status).expect("serialise"),
                serde_json::json!(status.as_str())
            );
        }
        for status in NetworkStatus::ALL {
            assert_eq!(NetworkStatus::parse(status.as_str()), Some(*status));
        }
        assert_eq!(PortStatus::parse("active"), None);
        assert_eq!(NetworkStatus::parse("DEGRADED"), None);
    }
}
