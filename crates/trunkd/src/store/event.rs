//! Outbox events as types. A change writes one [`Event`] with its transaction; drivers match it
//! exhaustively, so a new event does not compile until every driver has decided what to do
//! with it, and what a trunk event asks of a data plane ([`TrunkEventKind::is_wiring`]) is said
//! once, here.
//!
//! The database keeps what it kept before these types existed: an event name (`created`,
//! `subports_added`, ...) and a JSON payload, written byte for byte as before, so rows written
//! by older servers still parse and older servers still read ours. This module is that edge:
//! [`Event::name`], [`Event::payload_json`] and [`Event::decode`]. Each event's payload is a
//! `#[serde(tag = "event", content = "payload")]` variant; `updated` has two payloads (tag
//! changes name `id` and `tags`, other updates the resource's own fields), told apart by shape.
//!
//! Undelivered events of a resource are folded into its newest (service::outbox). What a fold
//! adds is part of the payloads below: `previous_host_ids` (hosts older events named) and, where
//! a payload has no `sub_ports` of its own, the ports older events named. A trunk change that
//! needs no wiring folded over one that does is delivered under the older event's name
//! ([`TrunkEvent::fold_under`]), with its own payload, as before.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{NetworkId, PortId, SubnetId, TrunkId};
use crate::model::TrunkStatus;

use super::ResourceKind;

/// An outbox event that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("unknown {resource} event {name:?}")]
    UnknownName {
        resource: &'static str,
        name: String,
    },
    #[error("{resource} event {name:?}: unreadable payload: {source}")]
    Payload {
        resource: &'static str,
        name: String,
        source: serde_json::Error,
    },
}

/// What happened to one resource.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Network(NetworkEvent),
    Subnet(SubnetEvent),
    Port(PortEvent),
    Trunk(TrunkEvent),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "payload", rename_all = "snake_case")]
pub enum NetworkEvent {
    Created(NetworkRef),
    Updated(NetworkUpdate),
    Deleted(NetworkRef),
}

/// A subnet's creation, update or deletion: what a driver that serves subnets (OVN's DHCP
/// options) reads the subnet's current state for. Tag changes write none, and neither do the
/// subnets a network's deletion takes with it: that network's own `deleted` event stands for
/// them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "payload", rename_all = "snake_case")]
pub enum SubnetEvent {
    Created(SubnetRef),
    Updated(SubnetRef),
    Deleted(SubnetRef),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "payload", rename_all = "snake_case")]
pub enum PortEvent {
    Created(PortRef),
    Updated(PortUpdate),
    Deleted(PortRef),
}

/// A trunk's event: its newest change, and, when that change needs no wiring but older
/// undelivered ones folded into it did, the name it is delivered under.
#[derive(Debug, Clone, PartialEq)]
pub struct TrunkEvent {
    pub change: TrunkChange,
    /// Always a wiring kind, set only over a change that is not one ([`Self::fold_under`]).
    folded_under: Option<TrunkEventKind>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "payload", rename_all = "snake_case")]
pub enum TrunkChange {
    Created(TrunkMembers),
    /// A rename, an admin state change, or tags.
    Updated(TrunkUpdate),
    /// `sub_ports` are those the trunk had, so their ports are released.
    Deleted(TrunkMembers),
    SubportsAdded(TrunkMembers),
    SubportsRemoved(TrunkMembers),
    /// The parent port was bound to a host, or moved to another.
    ParentBound(ParentBinding),
    ParentUnbound(ParentBinding),
    /// Reported by a driver or an agent; never folded (service::status).
    StatusChanged(StatusChange),
}

/// The names of trunk events: what drivers match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrunkEventKind {
    Created,
    Updated,
    Deleted,
    SubportsAdded,
    SubportsRemoved,
    ParentBound,
    ParentUnbound,
    StatusChanged,
}

impl TrunkEventKind {
    pub const ALL: [TrunkEventKind; 8] = [
        TrunkEventKind::Created,
        TrunkEventKind::Updated,
        TrunkEventKind::Deleted,
        TrunkEventKind::SubportsAdded,
        TrunkEventKind::SubportsRemoved,
        TrunkEventKind::ParentBound,
        TrunkEventKind::ParentUnbound,
        TrunkEventKind::StatusChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TrunkEventKind::Created => "created",
            TrunkEventKind::Updated => "updated",
            TrunkEventKind::Deleted => "deleted",
            TrunkEventKind::SubportsAdded => "subports_added",
            TrunkEventKind::SubportsRemoved => "subports_removed",
            TrunkEventKind::ParentBound => "parent_bound",
            TrunkEventKind::ParentUnbound => "parent_unbound",
            TrunkEventKind::StatusChanged => "status_changed",
        }
    }

    /// By its serde name, so that a new kind needs no entry here.
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
    }

    /// Whether the event changes which ports are the trunk's members, or where the trunk is:
    /// what a data plane must act on. A fold never lets a change that is not hide one that is.
    pub fn is_wiring(self) -> bool {
        match self {
            TrunkEventKind::Created
            | TrunkEventKind::Deleted
            | TrunkEventKind::SubportsAdded
            | TrunkEventKind::SubportsRemoved
            | TrunkEventKind::ParentBound
            | TrunkEventKind::ParentUnbound => true,
            TrunkEventKind::Updated | TrunkEventKind::StatusChanged => false,
        }
    }
}

impl std::fmt::Display for TrunkEventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Payload of network events but tag changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkRef {
    pub id: NetworkId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NetworkUpdate {
    Tags(TagsChanged<NetworkId>),
    Attributes(NetworkRef),
}

/// Payload of subnet events: the subnet, and its network, which a deleted subnet's driver can
/// no longer read from the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubnetRef {
    pub id: SubnetId,
    pub network_id: NetworkId,
}

/// Payload of port creations and deletions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortRef {
    pub id: PortId,
    /// Hosts of older events folded into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_host_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PortUpdate {
    Tags(TagsChanged<PortId>),
    Attributes(PortUpdated),
}

/// Payload of port updates but tag changes: where the port is bound now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortUpdated {
    pub id: PortId,
    pub host_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_host_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TrunkUpdate {
    Tags(TagsChanged<TrunkId>),
    Attributes(TrunkMembers),
}

/// A trunk and the ports the event concerns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrunkMembers {
    pub trunk_id: TrunkId,
    /// The parent port.
    pub port_id: PortId,
    /// The subports the change names (with those of older events folded into it).
    pub sub_ports: Vec<PortId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_host_ids: Vec<String>,
}

/// Where a trunk's parent port is bound, and was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParentBinding {
    pub trunk_id: TrunkId,
    pub port_id: PortId,
    /// Empty when unbound.
    pub host_id: String,
    pub previous_host_id: String,
    /// Subports older events folded into this one named.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_ports: Vec<PortId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_host_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    pub trunk_id: TrunkId,
    #[serde(with = "status_text")]
    pub from: TrunkStatus,
    #[serde(with = "status_text")]
    pub to: TrunkStatus,
}

/// Payload of a tag change, on any resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagsChanged<Id> {
    pub id: Id,
    pub tags: Vec<String>,
    /// On trunks: subports older events folded into this one named.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_ports: Vec<PortId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_host_ids: Vec<String>,
}

impl<Id> TagsChanged<Id> {
    pub fn new(id: Id, tags: Vec<String>) -> Self {
        Self {
            id,
            tags,
            sub_ports: Vec::new(),
            previous_host_ids: Vec::new(),
        }
    }
}

impl TrunkMembers {
    pub fn new(trunk_id: TrunkId, port_id: PortId, sub_ports: Vec<PortId>) -> Self {
        Self {
            trunk_id,
            port_id,
            sub_ports,
            previous_host_ids: Vec::new(),
        }
    }
}

impl ParentBinding {
    pub fn new(trunk_id: TrunkId, port_id: PortId, host_id: String, previous: String) -> Self {
        Self {
            trunk_id,
            port_id,
            host_id,
            previous_host_id: previous,
            sub_ports: Vec::new(),
            previous_host_ids: Vec::new(),
        }
    }
}

impl PortRef {
    pub fn new(id: PortId) -> Self {
        Self {
            id,
            previous_host_ids: Vec::new(),
        }
    }
}

impl PortUpdated {
    pub fn new(id: PortId, host_id: String) -> Self {
        Self {
            id,
            host_id,
            previous_host_ids: Vec::new(),
        }
    }
}

/// `TrunkStatus` as the payload spells it: `ACTIVE`, `DOWN`, ...
mod status_text {
    use super::*;

    pub fn serialize<S: Serializer>(status: &TrunkStatus, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(status.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TrunkStatus, D::Error> {
        let text = String::deserialize(d)?;
        TrunkStatus::parse(&text).ok_or_else(|| D::Error::custom(format!("unknown status {text}")))
    }
}

/// What a payload names, for folding and for drivers. Defaults: nothing.
trait Names {
    /// The resource's own id, as the outbox row names it.
    fn resource_id(&self) -> String;
    /// A trunk's parent port, when the payload knows it.
    fn parent(&self) -> Option<PortId> {
        None
    }
    fn sub_ports(&self) -> &[PortId] {
        &[]
    }
    fn sub_ports_mut(&mut self) -> Option<&mut Vec<PortId>> {
        None
    }
    /// Hosts the change itself names (possibly empty strings).
    fn hosts(&self) -> Vec<&str> {
        Vec::new()
    }
    fn previous_host_ids(&self) -> &[String] {
        &[]
    }
    fn previous_host_ids_mut(&mut self) -> Option<&mut Vec<String>> {
        None
    }
}

impl Names for NetworkRef {
    fn resource_id(&self) -> String {
        self.id.to_string()
    }
}

impl Names for SubnetRef {
    fn resource_id(&self) -> String {
        self.id.to_string()
    }
}

impl Names for PortRef {
    fn resource_id(&self) -> String {
        self.id.to_string()
    }
    fn previous_host_ids(&self) -> &[String] {
        &self.previous_host_ids
    }
    fn previous_host_ids_mut(&mut self) -> Option<&mut Vec<String>> {
        Some(&mut self.previous_host_ids)
    }
}

impl Names for PortUpdated {
    fn resource_id(&self) -> String {
        self.id.to_string()
    }
    fn hosts(&self) -> Vec<&str> {
        vec![&self.host_id]
    }
    fn previous_host_ids(&self) -> &[String] {
        &self.previous_host_ids
    }
    fn previous_host_ids_mut(&mut self) -> Option<&mut Vec<String>> {
        Some(&mut self.previous_host_ids)
    }
}

impl<Id: ToString> Names for TagsChanged<Id> {
    fn resource_id(&self) -> String {
        self.id.to_string()
    }
    fn sub_ports(&self) -> &[PortId] {
        &self.sub_ports
    }
    fn sub_ports_mut(&mut self) -> Option<&mut Vec<PortId>> {
        Some(&mut self.sub_ports)
    }
    fn previous_host_ids(&self) -> &[String] {
        &self.previous_host_ids
    }
    fn previous_host_ids_mut(&mut self) -> Option<&mut Vec<String>> {
        Some(&mut self.previous_host_ids)
    }
}

impl Names for TrunkMembers {
    fn resource_id(&self) -> String {
        self.trunk_id.to_string()
    }
    fn parent(&self) -> Option<PortId> {
        Some(self.port_id)
    }
    fn sub_ports(&self) -> &[PortId] {
        &self.sub_ports
    }
    fn sub_ports_mut(&mut self) -> Option<&mut Vec<PortId>> {
        Some(&mut self.sub_ports)
    }
    fn previous_host_ids(&self) -> &[String] {
        &self.previous_host_ids
    }
    fn previous_host_ids_mut(&mut self) -> Option<&mut Vec<String>> {
        Some(&mut self.previous_host_ids)
    }
}

impl Names for ParentBinding {
    fn resource_id(&self) -> String {
        self.trunk_id.to_string()
    }
    fn parent(&self) -> Option<PortId> {
        Some(self.port_id)
    }
    fn sub_ports(&self) -> &[PortId] {
        &self.sub_ports
    }
    fn sub_ports_mut(&mut self) -> Option<&mut Vec<PortId>> {
        Some(&mut self.sub_ports)
    }
    fn hosts(&self) -> Vec<&str> {
        vec![&self.host_id, &self.previous_host_id]
    }
    fn previous_host_ids(&self) -> &[String] {
        &self.previous_host_ids
    }
    fn previous_host_ids_mut(&mut self) -> Option<&mut Vec<String>> {
        Some(&mut self.previous_host_ids)
    }
}

impl Names for StatusChange {
    fn resource_id(&self) -> String {
        self.trunk_id.to_string()
    }
}

impl TrunkChange {
    pub fn kind(&self) -> TrunkEventKind {
        match self {
            TrunkChange::Created(_) => TrunkEventKind::Created,
            TrunkChange::Updated(_) => TrunkEventKind::Updated,
            TrunkChange::Deleted(_) => TrunkEventKind::Deleted,
            TrunkChange::SubportsAdded(_) => TrunkEventKind::SubportsAdded,
            TrunkChange::SubportsRemoved(_) => TrunkEventKind::SubportsRemoved,
            TrunkChange::ParentBound(_) => TrunkEventKind::ParentBound,
            TrunkChange::ParentUnbound(_) => TrunkEventKind::ParentUnbound,
            TrunkChange::StatusChanged(_) => TrunkEventKind::StatusChanged,
        }
    }

    fn names(&self) -> &dyn Names {
        match self {
            TrunkChange::Created(p)
            | TrunkChange::Deleted(p)
            | TrunkChange::SubportsAdded(p)
            | TrunkChange::SubportsRemoved(p)
            | TrunkChange::Updated(TrunkUpdate::Attributes(p)) => p,
            TrunkChange::Updated(TrunkUpdate::Tags(p)) => p,
            TrunkChange::ParentBound(p) | TrunkChange::ParentUnbound(p) => p,
            TrunkChange::StatusChanged(p) => p,
        }
    }

    fn names_mut(&mut self) -> &mut dyn Names {
        match self {
            TrunkChange::Created(p)
            | TrunkChange::Deleted(p)
            | TrunkChange::SubportsAdded(p)
            | TrunkChange::SubportsRemoved(p)
            | TrunkChange::Updated(TrunkUpdate::Attributes(p)) => p,
            TrunkChange::Updated(TrunkUpdate::Tags(p)) => p,
            TrunkChange::ParentBound(p) | TrunkChange::ParentUnbound(p) => p,
            TrunkChange::StatusChanged(p) => p,
        }
    }
}

impl From<TrunkChange> for TrunkEvent {
    fn from(change: TrunkChange) -> Self {
        Self {
            change,
            folded_under: None,
        }
    }
}

impl TrunkEvent {
    /// What the event is delivered as: the change's own kind, or the wiring it was folded
    /// under.
    pub fn kind(&self) -> TrunkEventKind {
        self.folded_under.unwrap_or_else(|| self.change.kind())
    }

    /// Delivers this change as `older`, a wiring event folded into it, unless it is wiring
    /// itself: a rename must not hide a create from a data plane.
    pub fn fold_under(&mut self, older: TrunkEventKind) {
        if older.is_wiring() && !self.change.kind().is_wiring() {
            self.folded_under = Some(older);
        }
    }

    /// The parent port, when the event names it (tag changes do not).
    pub fn parent(&self) -> Option<PortId> {
        self.change.names().parent()
    }

    /// Subports the event names, with those of older events folded into it.
    pub fn sub_ports(&self) -> &[PortId] {
        self.change.names().sub_ports()
    }

    /// Where the parent is bound, and was before (empty strings for unbound).
    pub fn hosts(&self) -> Vec<&str> {
        self.change.names().hosts()
    }

    /// Hosts of older events folded into this one.
    pub fn previous_host_ids(&self) -> &[String] {
        self.change.names().previous_host_ids()
    }
}

impl From<NetworkEvent> for Event {
    fn from(event: NetworkEvent) -> Self {
        Event::Network(event)
    }
}

impl From<SubnetEvent> for Event {
    fn from(event: SubnetEvent) -> Self {
        Event::Subnet(event)
    }
}

impl From<PortEvent> for Event {
    fn from(event: PortEvent) -> Self {
        Event::Port(event)
    }
}

impl From<TrunkChange> for Event {
    fn from(change: TrunkChange) -> Self {
        Event::Trunk(change.into())
    }
}

impl From<TrunkEvent> for Event {
    fn from(event: TrunkEvent) -> Self {
        Event::Trunk(event)
    }
}

impl Event {
    pub fn resource(&self) -> ResourceKind {
        match self {
            Event::Network(_) => ResourceKind::Network,
            Event::Subnet(_) => ResourceKind::Subnet,
            Event::Port(_) => ResourceKind::Port,
            Event::Trunk(_) => ResourceKind::Trunk,
        }
    }

    /// The name the outbox row carries.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Network(NetworkEvent::Created(_))
            | Event::Subnet(SubnetEvent::Created(_))
            | Event::Port(PortEvent::Created(_)) => "created",
            Event::Network(NetworkEvent::Updated(_))
            | Event::Subnet(SubnetEvent::Updated(_))
            | Event::Port(PortEvent::Updated(_)) => "updated",
            Event::Network(NetworkEvent::Deleted(_))
            | Event::Subnet(SubnetEvent::Deleted(_))
            | Event::Port(PortEvent::Deleted(_)) => "deleted",
            Event::Trunk(trunk) => trunk.kind().as_str(),
        }
    }

    /// Whether the event creates its resource, which has no older events then.
    pub fn is_creation(&self) -> bool {
        match self {
            Event::Network(NetworkEvent::Created(_))
            | Event::Subnet(SubnetEvent::Created(_))
            | Event::Port(PortEvent::Created(_)) => true,
            Event::Network(NetworkEvent::Updated(_) | NetworkEvent::Deleted(_))
            | Event::Subnet(SubnetEvent::Updated(_) | SubnetEvent::Deleted(_))
            | Event::Port(PortEvent::Updated(_) | PortEvent::Deleted(_)) => false,
            Event::Trunk(trunk) => trunk.change.kind() == TrunkEventKind::Created,
        }
    }

    /// Whether the dispatcher hands this event over on its own rather than with the resource's
    /// older undelivered events folded into it: a creation has nothing older, and a trunk's
    /// status change is recorded while a driver delivers an older event of the trunk, which
    /// folding would hand to that driver again. A later event folds both in.
    pub fn stands_alone(&self) -> bool {
        self.is_creation()
            || matches!(self, Event::Trunk(trunk) if trunk.change.kind() == TrunkEventKind::StatusChanged)
    }

    /// The trunk event, if this is one.
    pub fn as_trunk(&self) -> Option<&TrunkEvent> {
        match self {
            Event::Trunk(trunk) => Some(trunk),
            Event::Network(_) | Event::Subnet(_) | Event::Port(_) => None,
        }
    }

    fn names(&self) -> &dyn Names {
        match self {
            Event::Network(NetworkEvent::Created(p) | NetworkEvent::Deleted(p))
            | Event::Network(NetworkEvent::Updated(NetworkUpdate::Attributes(p))) => p,
            Event::Network(NetworkEvent::Updated(NetworkUpdate::Tags(p))) => p,
            Event::Subnet(
                SubnetEvent::Created(p) | SubnetEvent::Updated(p) | SubnetEvent::Deleted(p),
            ) => p,
            Event::Port(PortEvent::Created(p) | PortEvent::Deleted(p)) => p,
            Event::Port(PortEvent::Updated(PortUpdate::Attributes(p))) => p,
            Event::Port(PortEvent::Updated(PortUpdate::Tags(p))) => p,
            Event::Trunk(trunk) => trunk.change.names(),
        }
    }

    fn names_mut(&mut self) -> &mut dyn Names {
        match self {
            Event::Network(NetworkEvent::Created(p) | NetworkEvent::Deleted(p))
            | Event::Network(NetworkEvent::Updated(NetworkUpdate::Attributes(p))) => p,
            Event::Network(NetworkEvent::Updated(NetworkUpdate::Tags(p))) => p,
            Event::Subnet(
                SubnetEvent::Created(p) | SubnetEvent::Updated(p) | SubnetEvent::Deleted(p),
            ) => p,
            Event::Port(PortEvent::Created(p) | PortEvent::Deleted(p)) => p,
            Event::Port(PortEvent::Updated(PortUpdate::Attributes(p))) => p,
            Event::Port(PortEvent::Updated(PortUpdate::Tags(p))) => p,
            Event::Trunk(trunk) => trunk.change.names_mut(),
        }
    }

    /// The id of the resource, as the outbox row names it.
    pub fn resource_id(&self) -> String {
        self.names().resource_id()
    }

    /// Subports the event names: a trunk's, and those of older events folded into it.
    pub fn sub_ports(&self) -> &[PortId] {
        self.names().sub_ports()
    }

    /// Makes the event name `ports` as its subports (a fold's union). Only trunk events name
    /// subports, and only trunk events are folded over trunk events.
    pub fn set_sub_ports(&mut self, ports: Vec<PortId>) {
        if let Some(own) = self.names_mut().sub_ports_mut() {
            *own = ports;
        }
    }

    /// Hosts the change itself names: where a port or a trunk's parent is bound, and was.
    /// Empty strings for unbound.
    pub fn hosts(&self) -> Vec<&str> {
        self.names().hosts()
    }

    /// Hosts older events folded into this one named.
    pub fn previous_host_ids(&self) -> &[String] {
        self.names().previous_host_ids()
    }

    /// Sets the hosts of older events. Every event that may be folded over hosts (ports and
    /// trunks, but their creation and status reports, which are never folded) keeps them.
    pub fn set_previous_host_ids(&mut self, hosts: Vec<String>) {
        if let Some(own) = self.names_mut().previous_host_ids_mut() {
            *own = hosts;
        }
    }

    /// The payload as the outbox row stores it.
    pub fn payload_json(&self) -> Result<String, serde_json::Error> {
        let tagged = match self {
            Event::Network(event) => serde_json::to_value(event),
            Event::Subnet(event) => serde_json::to_value(event),
            Event::Port(event) => serde_json::to_value(event),
            Event::Trunk(event) => serde_json::to_value(&event.change),
        }?;
        match tagged {
            serde_json::Value::Object(mut fields) => fields
                .remove("payload")
                .map(|payload| payload.to_string())
                .ok_or_else(|| serde_json::Error::custom("an event without a payload")),
            _ => Err(serde_json::Error::custom("an event that is not an object")),
        }
    }

    /// Reads an outbox row's event: its resource kind, name and payload.
    pub fn decode(resource: ResourceKind, name: &str, payload: &str) -> Result<Event, EventError> {
        let unreadable = |source| EventError::Payload {
            resource: resource.as_str(),
            name: name.to_string(),
            source,
        };
        let unknown = || EventError::UnknownName {
            resource: resource.as_str(),
            name: name.to_string(),
        };
        let payload: serde_json::Value = serde_json::from_str(payload).map_err(unreadable)?;
        match resource {
            ResourceKind::Network | ResourceKind::Subnet | ResourceKind::Port
                if !["created", "updated", "deleted"].contains(&name) =>
            {
                Err(unknown())
            }
            ResourceKind::Network => serde_json::from_value(tagged(name, payload))
                .map(Event::Network)
                .map_err(unreadable),
            ResourceKind::Subnet => serde_json::from_value(tagged(name, payload))
                .map(Event::Subnet)
                .map_err(unreadable),
            ResourceKind::Port => serde_json::from_value(tagged(name, payload))
                .map(Event::Port)
                .map_err(unreadable),
            ResourceKind::Trunk => {
                let kind = TrunkEventKind::parse(name).ok_or_else(unknown)?;
                match serde_json::from_value::<TrunkChange>(tagged(name, payload.clone())) {
                    Ok(change) => Ok(Event::Trunk(change.into())),
                    // An update folded under an older wiring event keeps the update's payload.
                    Err(error) if kind.is_wiring() => serde_json::from_value(payload)
                        .map(|update| {
                            Event::Trunk(TrunkEvent {
                                change: TrunkChange::Updated(update),
                                folded_under: Some(kind),
                            })
                        })
                        .map_err(|_| unreadable(error)),
                    Err(error) => Err(unreadable(error)),
                }
            }
        }
    }
}

/// The adjacently tagged form the event enums derive.
fn tagged(name: &str, payload: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "event": name, "payload": payload })
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: &str = "6f1b3c1e-2d3a-4f5b-8c9d-0e1f2a3b4c5d";
    const S: &str = "4e5f6a7b-8c9d-4e0f-9a1b-3c4d5e6f7a8b";
    const P: &str = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d";
    const T: &str = "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e";
    const A: &str = "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f";
    const B: &str = "3d4e5f6a-7b8c-4d9e-8f1a-2b3c4d5e6f7a";

    /// Payloads as servers before these types wrote them: `serde_json::json!` in the service
    /// with keys in this order, fold additions last.
    fn todays_rows() -> Vec<(ResourceKind, &'static str, String)> {
        let rows = [
            (ResourceKind::Network, "created", r#"{"id":"N"}"#),
            (ResourceKind::Network, "updated", r#"{"id":"N"}"#),
            (
                ResourceKind::Network,
                "updated",
                r#"{"id":"N","tags":["a","b"]}"#,
            ),
            (ResourceKind::Network, "deleted", r#"{"id":"N"}"#),
            (
                ResourceKind::Subnet,
                "created",
                r#"{"id":"S","network_id":"N"}"#,
            ),
            (
                ResourceKind::Subnet,
                "updated",
                r#"{"id":"S","network_id":"N"}"#,
            ),
            (
                ResourceKind::Subnet,
                "deleted",
                r#"{"id":"S","network_id":"N"}"#,
            ),
            (ResourceKind::Port, "created", r#"{"id":"P"}"#),
            (ResourceKind::Port, "updated", r#"{"id":"P","host_id":""}"#),
            (
                ResourceKind::Port,
                "updated",
                r#"{"id":"P","host_id":"h2","previous_host_ids":["h1"]}"#,
            ),
            (ResourceKind::Port, "updated", r#"{"id":"P","tags":[]}"#),
            (
                ResourceKind::Port,
                "updated",
                r#"{"id":"P","tags":["a"],"previous_host_ids":["h1"]}"#,
            ),
            (ResourceKind::Port, "deleted", r#"{"id":"P"}"#),
            (
                ResourceKind::Port,
                "deleted",
                r#"{"id":"P","previous_host_ids":["h1","h2"]}"#,
            ),
            (
                ResourceKind::Trunk,
                "created",
                r#"{"trunk_id":"T","port_id":"P","sub_ports":["A"]}"#,
            ),
            (
                ResourceKind::Trunk,
                "updated",
                r#"{"trunk_id":"T","port_id":"P","sub_ports":[]}"#,
            ),
            (ResourceKind::Trunk, "updated", r#"{"id":"T","tags":["x"]}"#),
            (
                ResourceKind::Trunk,
                "deleted",
                r#"{"trunk_id":"T","port_id":"P","sub_ports":["A","B"]}"#,
            ),
            (
                ResourceKind::Trunk,
                "subports_added",
                r#"{"trunk_id":"T","port_id":"P","sub_ports":["B","A"]}"#,
            ),
            (
                ResourceKind::Trunk,
                "subports_removed",
                r#"{"trunk_id":"T","port_id":"P","sub_ports":["A"],"previous_host_ids":["h1"]}"#,
            ),
            (
                ResourceKind::Trunk,
                "parent_bound",
                r#"{"trunk_id":"T","port_id":"P","host_id":"h2","previous_host_id":"h1"}"#,
            ),
            (
                ResourceKind::Trunk,
                "parent_bound",
                r#"{"trunk_id":"T","port_id":"P","host_id":"h2","previous_host_id":"h1","sub_ports":["A"],"previous_host_ids":["h0"]}"#,
            ),
            (
                ResourceKind::Trunk,
                "parent_unbound",
                r#"{"trunk_id":"T","port_id":"P","host_id":"","previous_host_id":"h2"}"#,
            ),
            // A rename folded over a binding: the rename's payload under the binding's name.
            (
                ResourceKind::Trunk,
                "parent_bound",
                r#"{"trunk_id":"T","port_id":"P","sub_ports":["A"],"previous_host_ids":["h2","h1"]}"#,
            ),
            // Tags folded over a create.
            (
                ResourceKind::Trunk,
                "created",
                r#"{"id":"T","tags":["x"],"sub_ports":["A"]}"#,
            ),
            (
                ResourceKind::Trunk,
                "parent_unbound",
                r#"{"id":"T","tags":[],"previous_host_ids":["h1"]}"#,
            ),
            (
                ResourceKind::Trunk,
                "status_changed",
                r#"{"trunk_id":"T","from":"DOWN","to":"ACTIVE"}"#,
            ),
        ];
        rows.into_iter()
            .map(|(kind, name, payload)| {
                let payload = payload
                    .replace("\"N\"", &format!("\"{N}\""))
                    .replace("\"S\"", &format!("\"{S}\""))
                    .replace("\"P\"", &format!("\"{P}\""))
                    .replace("\"T\"", &format!("\"{T}\""))
                    .replace("\"A\"", &format!("\"{A}\""))
                    .replace("\"B\"", &format!("\"{B}\""));
                // As they wrote it: a `serde_json::Value` built in this key order, serialised.
                let written = serde_json::from_str::<serde_json::Value>(&payload)
                    .expect("fixture")
                    .to_string();
                (kind, name, written)
            })
            .collect()
    }

    #[test]
    fn todays_rows_parse_and_are_written_back_byte_for_byte() {
        for (kind, name, payload) in todays_rows() {
            let event = Event::decode(kind, name, &payload)
                .unwrap_or_else(|e| panic!("{name} {payload}: {e}"));
            assert_eq!(event.resource(), kind, "{payload}");
            assert_eq!(event.name(), name, "{payload}");
            assert_eq!(
                event.payload_json().expect("encode"),
                payload,
                "{name} is written as it was read"
            );
        }
    }

    #[test]
    fn folded_rows_keep_what_drivers_need() {
        let port = |id: &str| id.parse::<PortId>().expect("port id");
        let decode = |name, payload: &str| {
            let payload = payload
                .replace("\"P\"", &format!("\"{P}\""))
                .replace("\"T\"", &format!("\"{T}\""))
                .replace("\"A\"", &format!("\"{A}\""));
            match Event::decode(ResourceKind::Trunk, name, &payload).expect("decode") {
                Event::Trunk(trunk) => trunk,
                other => panic!("not a trunk event: {other:?}"),
            }
        };
        let renamed = decode(
            "parent_bound",
            r#"{"trunk_id":"T","port_id":"P","sub_ports":["A"],"previous_host_ids":["h2"]}"#,
        );
        assert_eq!(renamed.kind(), TrunkEventKind::ParentBound);
        assert_eq!(renamed.change.kind(), TrunkEventKind::Updated);
        assert_eq!(renamed.parent(), Some(port(P)));
        assert_eq!(renamed.sub_ports(), [port(A)]);
        assert_eq!(renamed.previous_host_ids(), ["h2"]);
        assert!(renamed.hosts().is_empty());

        let tagged = decode("created", r#"{"id":"T","tags":["x"],"sub_ports":["A"]}"#);
        assert_eq!(tagged.kind(), TrunkEventKind::Created);
        assert_eq!(tagged.parent(), None, "tags do not name the parent");
        assert_eq!(tagged.sub_ports(), [port(A)]);

        let bound = decode(
            "parent_bound",
            r#"{"trunk_id":"T","port_id":"P","host_id":"h2","previous_host_id":"h1"}"#,
        );
        assert_eq!(bound.kind(), TrunkEventKind::ParentBound);
        assert_eq!(bound.hosts(), ["h2", "h1"]);
        assert!(bound.sub_ports().is_empty());
    }

    #[test]
    fn unreadable_rows_are_errors() {
        let trunk = format!(r#"{{"trunk_id":"{T}","port_id":"{P}","sub_ports":[]}}"#);
        let cases = [
            (ResourceKind::Trunk, "renamed", trunk.clone()),
            (
                ResourceKind::Network,
                "subports_added",
                format!(r#"{{"id":"{N}"}}"#),
            ),
            (
                ResourceKind::Trunk,
                "created",
                r#"{"trunk_id":"nope"}"#.to_string(),
            ),
            (ResourceKind::Trunk, "created", "{not json".to_string()),
            (ResourceKind::Trunk, "created", "null".to_string()),
            (
                ResourceKind::Trunk,
                "status_changed",
                format!(r#"{{"trunk_id":"{T}","from":"DOWN","to":"ASLEEP"}}"#),
            ),
            // An update's payload is accepted under a wiring name only.
            (ResourceKind::Trunk, "status_changed", trunk),
            (ResourceKind::Port, "updated", format!(r#"{{"id":"{P}"}}"#)),
            (
                ResourceKind::Subnet,
                "subports_added",
                format!(r#"{{"id":"{S}","network_id":"{N}"}}"#),
            ),
            // A subnet's event names its network: a deleted subnet's driver needs it.
            (
                ResourceKind::Subnet,
                "deleted",
                format!(r#"{{"id":"{S}"}}"#),
            ),
        ];
        for (kind, name, payload) in cases {
            assert!(
                Event::decode(kind, name, &payload).is_err(),
                "{name} {payload} must not parse"
            );
        }
    }

    #[test]
    fn kinds_are_named_as_serde_tags_them() {
        for kind in TrunkEventKind::ALL {
            assert_eq!(TrunkEventKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).expect("kind"),
                serde_json::Value::String(kind.as_str().into())
            );
        }
        assert_eq!(TrunkEventKind::parse("renamed"), None);
        // The variants' serde tags are the kinds' names.
        let t: TrunkId = T.parse().expect("id");
        let p: PortId = P.parse().expect("id");
        let members = TrunkMembers::new(t, p, Vec::new());
        let binding = ParentBinding::new(t, p, String::new(), String::new());
        let changes = [
            TrunkChange::Created(members.clone()),
            TrunkChange::Updated(TrunkUpdate::Attributes(members.clone())),
            TrunkChange::Updated(TrunkUpdate::Tags(TagsChanged::new(t, Vec::new()))),
            TrunkChange::Deleted(members.clone()),
            TrunkChange::SubportsAdded(members.clone()),
            TrunkChange::SubportsRemoved(members),
            TrunkChange::ParentBound(binding.clone()),
            TrunkChange::ParentUnbound(binding),
            TrunkChange::StatusChanged(StatusChange {
                trunk_id: t,
                from: TrunkStatus::Down,
                to: TrunkStatus::Build,
            }),
        ];
        for change in changes {
            let tagged = serde_json::to_value(&change).expect("encode");
            assert_eq!(tagged["event"], change.kind().as_str());
            let event = Event::from(change);
            assert_eq!(event.resource_id(), T);
            let again = Event::decode(
                ResourceKind::Trunk,
                event.name(),
                &event.payload_json().expect("encode"),
            )
            .expect("decode");
            assert_eq!(again, event);
        }
    }

    #[test]
    fn only_an_update_is_folded_under_wiring() {
        let t: TrunkId = T.parse().expect("id");
        let p: PortId = P.parse().expect("id");
        let mut created = TrunkEvent::from(TrunkChange::Created(TrunkMembers::new(t, p, vec![])));
        created.fold_under(TrunkEventKind::ParentBound);
        assert_eq!(
            created.kind(),
            TrunkEventKind::Created,
            "wiring keeps its own name"
        );
        let mut renamed = TrunkEvent::from(TrunkChange::Updated(TrunkUpdate::Attributes(
            TrunkMembers::new(t, p, vec![]),
        )));
        renamed.fold_under(TrunkEventKind::StatusChanged);
        assert_eq!(
            renamed.kind(),
            TrunkEventKind::Updated,
            "not under a non-wiring kind"
        );
        renamed.fold_under(TrunkEventKind::SubportsRemoved);
        assert_eq!(renamed.kind(), TrunkEventKind::SubportsRemoved);
    }
}
