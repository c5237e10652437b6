//! An agent's subscription: a private queue bound to its host's routing key. Each notification
//! wakes the agent's convergence loop; the subscription reconnects with backoff when the broker
//! goes away (meanwhile the agent's periodic resync keeps it converging).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use tokio::sync::Notify;

use super::{routing_key, Broker, ConnectError, Notification, EXCHANGE};

const RECONNECT_MIN: Duration = Duration::from_millis(200);
const RECONNECT_MAX: Duration = Duration::from_secs(10);

/// Runs until dropped: wakes `wake` on every notification for `host`.
pub async fn run(broker: Broker, host: String, wake: Arc<Notify>) {
    let mut pause = RECONNECT_MIN;
    loop {
        match consume(&broker, &host, &wake).await {
            Ok(()) => {
                tracing::warn!(broker = %broker.redacted(), "RabbitMQ subscription ended; reconnecting");
                pause = RECONNECT_MIN;
            }
            Err(error) => tracing::warn!(
                broker = %broker.redacted(),
                %error,
                "RabbitMQ unavailable; relying on periodic resync until it returns"
            ),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RECONNECT_MAX);
    }
}

async fn consume(broker: &Broker, host: &str, wake: &Notify) -> Result<(), ConnectError> {
    let connection = broker.connect().await?;
    let channel = connection.create_channel().await?;
    super::declare_exchange(&channel).await?;
    // A private queue: the agent resyncs fully whenever it (re)subscribes, so nothing sent
    // while it was away needs keeping.
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            queue.name().clone(),
            EXCHANGE.into(),
            routing_key(host).into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut deliveries = channel
        .basic_consume(
            queue.name().clone(),
            format!("trunkd-agent-{host}").into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(broker = %broker.redacted(), host, "subscribed to RabbitMQ notifications");
    // Subscribed: anything missed before now is picked up by a pass.
    wake.notify_one();
    while let Some(delivery) = deliveries.next().await {
        let delivery = delivery?;
        match serde_json::from_slice::<Notification>(&delivery.data) {
            Ok(notification) => tracing::debug!(
                trunk = %notification.trunk_id,
                revision = notification.revision_number,
                event = %notification.event,
                "notification"
            ),
            Err(error) => tracing::warn!(%error, "unreadable notification; resyncing anyway"),
        }
        delivery.ack(BasicAckOptions::default()).await?;
        wake.notify_one();
    }
    Ok(())
}
