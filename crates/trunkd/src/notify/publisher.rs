//! Publishes notifications with publisher confirms: `publish` returns only once the broker has
//! taken responsibility for the message, so the outbox marks an event done only then. The
//! connection is opened on first use and dropped on any failure, to be opened again by the next
//! attempt (the outbox retries with backoff while the broker is away). Every publication, and
//! a periodic [`Publisher::probe`], sets the broker's readiness state when one is attached.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Connection};
use tokio::sync::Mutex;

use super::{routing_key, Broker, ConnectError, Notification, EXCHANGE};
use crate::readiness::{Dependency, State};

/// How long one publication (connect, publish, confirm) may take.
const PUBLISH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub struct Publisher {
    broker: Broker,
    session: Mutex<Option<(Connection, Channel)>>,
    /// The broker's readiness state, set by each publication.
    dependency: Option<Dependency>,
}

impl Publisher {
    pub fn new(broker: Broker) -> Self {
        Self {
            broker,
            session: Mutex::new(None),
            dependency: None,
        }
    }

    /// Reports each publication's outcome to `dependency`.
    pub fn with_dependency(mut self, dependency: Dependency) -> Self {
        self.dependency = Some(dependency);
        self
    }

    /// Whether the broker can be reached: the open connection is still connected, or a new
    /// one opens (and is kept for the next publication). A publication in progress is its own
    /// probe, so this one does not wait for it.
    pub async fn probe(&self) -> Result<(), String> {
        let Ok(mut session) = self.session.try_lock() else {
            // The publication will tell; meanwhile the state stays what it was.
            return match self.dependency.as_ref().map(Dependency::state) {
                Some(State::Down(reason)) => Err(reason),
                Some(State::Unknown) => Err("a first publication is in progress".into()),
                Some(State::Up) | None => Ok(()),
            };
        };
        if let Some((connection, channel)) = session.as_ref() {
            if connection.status().connected() && channel.status().connected() {
                return Ok(());
            }
        }
        if let Some((connection, _)) = session.take() {
            let _ = connection.close(0, "trunkd: reconnecting".into()).await;
        }
        match self.open().await {
            Ok(opened) => {
                *session = Some(opened);
                Ok(())
            }
            Err(error) => Err(format!("RabbitMQ at {}: {error}", self.broker.redacted())),
        }
    }

    async fn open(&self) -> Result<(Connection, Channel), ConnectError> {
        let connection = self.broker.connect().await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        super::declare_exchange(&channel).await?;
        tracing::info!(broker = %self.broker.redacted(), "connected to RabbitMQ");
        Ok((connection, channel))
    }

    /// Publishes `notification` to the agent of `host` and waits for the broker's confirm.
    pub async fn publish(&self, host: &str, notification: &Notification) -> Result<(), String> {
        let body = serde_json::to_vec(notification).map_err(|e| e.to_string())?;
        let mut session = self.session.lock().await;
        let check = self.dependency.as_ref().map(|d| d.attempt());
        let attempt = async {
            if session.is_none() {
                *session = Some(self.open().await.map_err(|e| e.to_string())?);
            }
            let Some((_, channel)) = session.as_ref() else {
                return Err("no channel".to_string());
            };
            let confirm = channel
                .basic_publish(
                    EXCHANGE.into(),
                    routing_key(host).into(),
                    BasicPublishOptions::default(),
                    &body,
                    BasicProperties::default()
                        .with_content_type("application/json".into())
                        .with_delivery_mode(2),
                )
                .await
                .map_err(|e| e.to_string())?
                .await
                .map_err(|e| e.to_string())?;
            if confirm.is_ack() {
                Ok(())
            } else {
                Err("the broker refused the notification (nack)".to_string())
            }
        };
        let outcome = match tokio::time::timeout(PUBLISH_TIMEOUT, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no confirm within {PUBLISH_TIMEOUT:?}")),
        };
        if outcome.is_err() {
            // Start afresh next time: the connection or channel may be broken.
            if let Some((connection, _)) = session.take() {
                let _ = connection.close(0, "trunkd: reconnecting".into()).await;
            }
        }
        let outcome = outcome.map_err(|e| format!("RabbitMQ at {}: {e}", self.broker.redacted()));
        if let Some(check) = check {
            check.observe(&outcome);
        }
        outcome
    }
}
