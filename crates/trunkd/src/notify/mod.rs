//! Notifications from the server to host agents over RabbitMQ (AMQP 0-9-1, via `lapin`). They
//! carry ids and revisions only; the agent fetches the desired state over the agent API. They
//! are hints: an agent that misses one catches up at its next resync.
//!
//! Topology: one durable direct exchange; each agent binds a private queue with the routing
//! key of its host, so a notification reaches the agents of the hosts it names and no other.

pub mod connect;
pub mod publisher;
pub mod subscriber;

use serde::{Deserialize, Serialize};

pub use connect::{Broker, ConnectError};

use crate::ids::TrunkId;
use crate::store::event::TrunkEventKind;

/// The exchange every notification goes through.
pub const EXCHANGE: &str = "trunkd.agents";

/// Routing key of one host's notifications.
pub fn routing_key(host: &str) -> String {
    format!("host.{host}")
}

/// What changed, for the agent of one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub trunk_id: TrunkId,
    pub revision_number: i64,
    /// The outbox event behind it (`subports_added`, `parent_bound`, ...), by its name on
    /// the wire.
    pub event: TrunkEventKind,
}

/// Declares the exchange (idempotent): both sides do, so either may start first.
pub async fn declare_exchange(channel: &lapin::Channel) -> Result<(), lapin::Error> {
    channel
        .exchange_declare(
            EXCHANGE.into(),
            lapin::ExchangeKind::Direct,
            lapin::options::ExchangeDeclareOptions {
                durable: true,
                ..lapin::options::ExchangeDeclareOptions::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
}

/// `amqp://user:password@host` -> `amqp://user:***@host`, for logs.
pub fn redact(url: &str) -> String {
    crate::config::redact_password(url)
}
