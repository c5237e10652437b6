//! What a data plane says of ports (issue 19, item 1): up (a host claimed the port and its
//! VIF is there) or down. A port's status is never a guess: it moves only on such a report,
//! from a driver's background task that follows the data plane, through the service, which
//! writes it in a transaction of its own.
//!
//! Reports travel on a channel ([`PortStateFeed`]) because the drivers start before the
//! service that applies them; the server connects the two ([`apply_forever`]).

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::ids::PortId;
use crate::model::PortStatus;

/// A data plane's word on one port. On the agent API's wire as the status it means,
/// `"ACTIVE"` or `"DOWN"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DataPlaneState {
    #[serde(rename = "ACTIVE")]
    Up,
    #[serde(rename = "DOWN")]
    Down,
}

impl DataPlaneState {
    /// The port status it means.
    pub fn status(self) -> PortStatus {
        match self {
            DataPlaneState::Up => PortStatus::Active,
            DataPlaneState::Down => PortStatus::Down,
        }
    }
}

/// One port's state as a data plane reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortStateReport {
    pub port: PortId,
    pub state: DataPlaneState,
}

/// Where drivers send port states (cheap to clone, never blocks).
#[derive(Debug, Clone)]
pub struct PortStateFeed {
    sender: mpsc::UnboundedSender<Vec<PortStateReport>>,
}

impl PortStateFeed {
    /// Sends reports; nothing when `reports` is empty. Reports sent after the server stopped
    /// applying them are dropped with it.
    pub fn send(&self, reports: Vec<PortStateReport>) {
        if !reports.is_empty() {
            let _ = self.sender.send(reports);
        }
    }
}

/// The feed and the receiving end the server applies.
pub fn port_state_feed() -> (PortStateFeed, mpsc::UnboundedReceiver<Vec<PortStateReport>>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    (PortStateFeed { sender }, receiver)
}

/// Applies port states.
#[async_trait::async_trait]
pub trait PortStateSink: Send + Sync {
    /// Writes the reported states; a port that is gone is skipped. Errors are the store's.
    async fn apply_port_states(&self, reports: &[PortStateReport]) -> Result<(), String>;
}

/// Applies what arrives on `receiver` until the feed closes. Whatever queued while one batch
/// was written goes in the next, the latest report of a port winning, so a burst (the 4,095
/// ports of a trunk claimed together) is a few transactions, not thousands. A batch that fails
/// is kept and tried again after a pause.
pub async fn apply_forever(
    receiver: &mut mpsc::UnboundedReceiver<Vec<PortStateReport>>,
    sink: Arc<dyn PortStateSink>,
) {
    let mut pending: Vec<PortStateReport> = Vec::new();
    loop {
        if pending.is_empty() {
            match receiver.recv().await {
                Some(batch) => pending.extend(batch),
                None => return,
            }
        }
        while let Ok(batch) = receiver.try_recv() {
            pending.extend(batch);
        }
        let batch = latest_per_port(std::mem::take(&mut pending));
        if let Err(error) = sink.apply_port_states(&batch).await {
            tracing::warn!(%error, ports = batch.len(), "could not record port states; retrying");
            pending = batch;
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
}

/// One report per port, the last one given, in the order ports were first reported.
fn latest_per_port(reports: Vec<PortStateReport>) -> Vec<PortStateReport> {
    let mut index: std::collections::HashMap<PortId, usize> = std::collections::HashMap::new();
    let mut latest: Vec<PortStateReport> = Vec::with_capacity(reports.len());
    for report in reports {
        match index.get(&report.port) {
            Some(at) => latest[*at] = report,
            None => {
                index.insert(report.port, latest.len());
                latest.push(report);
            }
        }
    }
    latest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_report_of_a_port_wins() {
        let (a, b) = (PortId::new(), PortId::new());
        let report = |port, state| PortStateReport { port, state };
        assert_eq!(
            latest_per_port(vec![
                report(a, DataPlaneState::Up),
                report(b, DataPlaneState::Up),
                report(a, DataPlaneState::Down),
            ]),
            vec![
                report(a, DataPlaneState::Down),
                report(b, DataPlaneState::Up)
            ]
        );
    }
}
