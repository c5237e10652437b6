//! The trunk status state machine (spec 3.2).
//!
//! [`TrunkStatus::can_move_to`] guards status *reports*: a driver's (through `StatusReporter`)
//! and a host agent's both go through `Service::transition_trunk`, which refuses any edge not
//! listed here with 409 `InvalidStatusTransition`.
//!
//! API writes do not ask it; they set the status in their own transaction. A trunk create,
//! an add or remove of subports, and binding or moving the parent set DOWN, or, when the
//! drivers settle in the transaction (`noop`), the status those drivers give (see
//! `service::settle`; binding keeps the status as it was when they do not). So with `noop`,
//! removing a subport takes an ERROR trunk straight to ACTIVE, an edge no report may take.
//! Unbinding the parent always sets DOWN.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrunkStatus {
    /// Created, changed by the API, or parent unbound: waiting for a driver.
    Down,
    /// A driver is wiring the trunk.
    Build,
    /// All wired.
    Active,
    /// Some subports failed.
    Degraded,
    /// Wiring failed; the user must remove subports or delete the trunk.
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

    /// Whether a driver's or agent's report may move a trunk from `self` to `next` (API writes
    /// do not ask; see the module documentation).
    ///
    /// Staying in the same status is not a transition (callers treat it as a no-op).
    /// Any other status may move to `DOWN`; leaving `DOWN` goes through `BUILD` (or straight to
    /// a result when a driver wires synchronously); a report takes `ERROR` only to `DOWN` or
    /// `BUILD`.
    pub fn can_move_to(self, next: TrunkStatus) -> bool {
        use TrunkStatus::*;
        match (self, next) {
            (a, b) if a == b => false,
            (_, Down) => true,
            (Down, Build | Active | Degraded | Error) => true,
            (Build, Active | Degraded | Error) => true,
            (Active | Degraded, Build | Active | Degraded | Error) => true,
            (Error, Build) => true,
            _ => false,
        }
    }

    /// Whether an API-side subport change is allowed in this status: a trunk in ERROR takes
    /// no new subports, but may lose some (the user repairing it). The status the change
    /// leaves is the service's to say (DOWN, or what drivers that settle in the transaction
    /// report).
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
    fn legal_edges_follow_the_spec() {
        // (from, to, allowed), written out rather than derived from the code under test.
        let table = [
            (Down, Build, true),
            (Down, Active, true),
            (Build, Active, true),
            (Build, Degraded, true),
            (Build, Error, true),
            (Build, Down, true),
            (Active, Down, true),
            (Active, Build, true),
            (Degraded, Active, true),
            (Error, Down, true),
            (Error, Build, true),
            (Error, Active, false),
            (Error, Degraded, false),
            (Down, Down, false),
            (Active, Active, false),
        ];
        for (from, to, allowed) in table {
            assert_eq!(from.can_move_to(to), allowed, "{from} -> {to}");
        }
    }

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
