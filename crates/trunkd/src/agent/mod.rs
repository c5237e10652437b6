//! `trunkd agent`: the per-host agent that wires trunks into Open vSwitch. Level-triggered: on
//! start, whenever its connection to the local switch database comes back, when the bridges
//! change, when the server notifies it over RabbitMQ, and periodically, it fetches the trunks
//! bound to its host from the server, converges the switch to them in one transaction (create,
//! repair, remove), then reports the ports it wired ACTIVE and its verdict on each trunk it
//! could not wire whole (refused, and why) or had refused before (wired now). The trunk's
//! status follows on the server, by the one rule for every driver. Losing a wake-up only
//! delays convergence; nothing is remembered between passes except what Open vSwitch itself
//! holds.

pub mod names;
pub mod server_api;
mod switch;
pub mod wiring;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Notify;

use crate::drivers::port_state::DataPlaneState;
use crate::ids::PortId;
use crate::model::PortStatus;
use crate::ovsdb::{Client, MonitorEvent, Remote, Timing};
use crate::service::{AgentPortState, AgentPortStates, AgentTrunk, AgentVerdict, AgentVerdictKind};
use crate::supervisor::Supervisor;
use server_api::{AgentAuth, ServerApi, ServerError};
use wiring::{Layout, TrunkOutcome};

/// How long a burst of switch changes is let settle before a pass.
const SETTLE: Duration = Duration::from_millis(300);

/// How the agent authenticates to the server.
#[derive(Debug, Clone)]
pub enum AgentCredential {
    /// Its own token, from `trunkd agent-token`.
    Token(crate::config::Secret),
    /// Its host's service user in Keystone (the server maps the user to the host).
    Keystone(crate::config::KeystoneConfig),
}

#[derive(Debug, Clone)]
pub struct AgentSettings {
    pub host: String,
    /// Base URL of a trunkd server.
    pub server: String,
    /// CA bundle for an `https://` server; none: the system's trusted CAs.
    pub server_cafile: Option<std::path::PathBuf>,
    /// Its credential for the agent API.
    pub credential: AgentCredential,
    pub ovsdb: Remote,
    pub layout: Layout,
    pub resync_interval: Duration,
    /// Where the server's notifications come from; without it, periodic resync only.
    pub rabbitmq_url: Option<String>,
    /// CA bundle for an `amqps://` broker; none: the system's trusted CAs.
    pub rabbitmq_cafile: Option<std::path::PathBuf>,
}

struct Agent {
    settings: AgentSettings,
    api: ServerApi,
    switch: Client,
}

/// Runs until the future is dropped.
pub async fn run(settings: AgentSettings) -> Result<(), String> {
    let auth = match &settings.credential {
        AgentCredential::Token(token) => AgentAuth::Bearer(token.0.clone()),
        AgentCredential::Keystone(keystone) => AgentAuth::Keystone(Box::new(
            crate::api::keystone::KeystoneAuth::new(keystone.clone())?,
        )),
    };
    let api = ServerApi::new(&settings.server, auth, settings.server_cafile.as_deref())?;
    // Background tasks (the switch session, the broker subscription) restart after a panic;
    // they stop when this future is dropped.
    let supervisor = Supervisor::new();
    let switch = Client::start_supervised(
        settings.ovsdb.clone(),
        Timing::default(),
        &supervisor,
        "ovsdb-connection",
    );
    let agent = Agent {
        settings,
        api,
        switch,
    };
    tracing::info!(
        host = %agent.settings.host,
        server = %agent.settings.server,
        ovsdb = %agent.settings.ovsdb,
        "trunkd agent started"
    );
    // Bridges and their port lists: a snapshot on every (re)connection, an update whenever
    // anybody changes them (a hand-deleted patch port, or the agent's own work).
    let mut changes = agent
        .switch
        .monitor(
            switch::DATABASE,
            json!({ "Bridge": { "columns": ["name", "ports"] } }),
        )
        .await;
    let notified = Arc::new(Notify::new());
    let _subscription = match agent.settings.rabbitmq_url.clone() {
        Some(url) => {
            let (host, wake) = (agent.settings.host.clone(), notified.clone());
            let broker = crate::notify::Broker::new(url, agent.settings.rabbitmq_cafile.clone());
            Some(supervisor.spawn("rabbitmq-subscription", move || {
                crate::notify::subscriber::run(broker.clone(), host.clone(), wake.clone())
            }))
        }
        None => {
            tracing::warn!("no rabbitmq_url: changes reach this agent at its periodic resync only");
            None
        }
    };
    let mut ticks = tokio::time::interval(agent.settings.resync_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = changes.recv() => match event {
                Some(MonitorEvent::Snapshot(_)) => agent.pass("connected").await,
                Some(MonitorEvent::Update(_)) => {
                    tokio::time::sleep(SETTLE).await;
                    while changes.try_recv().is_ok() {}
                    agent.pass("switch changed").await;
                }
                None => return Err("the switch monitor ended".into()),
            },
            _ = notified.notified() => agent.pass("notified").await,
            _ = ticks.tick() => agent.pass("periodic").await,
        }
    }
}

impl Agent {
    /// One convergence: fetch, plan, commit, report.
    async fn pass(&self, trigger: &'static str) {
        let desired = match self.api.desired().await {
            Ok(desired) => desired,
            Err(error) => {
                tracing::warn!(trigger, %error, "cannot fetch this host's trunks; will retry");
                return;
            }
        };
        let state = match switch::read(&self.switch).await {
            Ok(state) => state,
            Err(error) => {
                tracing::warn!(trigger, %error, "cannot read Open vSwitch; will retry");
                return;
            }
        };
        let plan = wiring::plan(&desired, &state, &self.settings.layout);
        if !plan.operations.is_empty() {
            let mut operations = plan.operations.clone();
            operations.push(json!({"op": "comment", "comment": format!("trunkd agent {}: {trigger}", self.settings.host)}));
            if let Err(error) = self.switch.transact(switch::DATABASE, operations).await {
                tracing::warn!(trigger, %error, "Open vSwitch refused the wiring; will retry");
                return;
            }
            for change in &plan.changes {
                tracing::info!(trigger, %change, "wired");
            }
        }
        for (trunk, outcome) in desired.iter().zip(&plan.outcomes) {
            self.report(trunk, outcome).await;
        }
    }

    /// Tells the server what a pass did for `trunk`: binds its subports here, gives a verdict
    /// when the trunk's refusal changes (refused now, or wired after a refusal) and reports
    /// the ports it wired that are not ACTIVE yet. Nothing when all is as the server has it.
    async fn report(&self, trunk: &AgentTrunk, outcome: &TrunkOutcome) {
        let statuses: std::collections::HashMap<PortId, PortStatus> =
            std::iter::once(&trunk.parent)
                .chain(trunk.sub_ports.iter().map(|s| &s.port))
                .map(|p| (p.port_id, p.status))
                .collect();
        let came_up: Vec<AgentPortState> = outcome
            .wired
            .iter()
            .filter(|id| statuses.get(id) != Some(&PortStatus::Active))
            .map(|id| AgentPortState {
                port_id: *id,
                status: DataPlaneState::Up,
            })
            .collect();
        // A verdict only when it changes what the server holds: a new or other refusal, or
        // wired after a refusal.
        let verdict = match (&outcome.refusal, &trunk.refusal) {
            (Some(now), Some(before)) if now == before => None,
            (Some(now), _) => Some(AgentVerdictKind::Refused {
                reason: now.clone(),
            }),
            (None, Some(_)) => Some(AgentVerdictKind::Wired),
            (None, None) => None,
        };
        if came_up.is_empty() && verdict.is_none() {
            return;
        }
        if !trunk.sub_ports.is_empty() {
            if let Err(error) = self.api.bind_subports(trunk.id).await {
                tracing::warn!(trunk = %trunk.id, %error, "could not bind subports");
                return;
            }
        }
        // The verdict first: it names the revision fetched, which the ports' reports may move.
        if let Some(verdict) = verdict {
            let report = AgentVerdict {
                revision_number: outcome.revision_number,
                verdict,
            };
            match self.api.report_verdict(trunk.id, &report).await {
                Ok(_) => {
                    tracing::info!(trunk = %trunk.id, verdict = ?report.verdict, "verdict reported")
                }
                // The trunk moved on since it was fetched: the next pass judges the new state.
                Err(ServerError::Refused { status: 409, .. }) => {
                    tracing::debug!(trunk = %trunk.id, "trunk changed while wiring; next pass")
                }
                Err(error) => tracing::warn!(trunk = %trunk.id, %error, "verdict report failed"),
            }
        }
        let ports = came_up.len();
        match self
            .api
            .report_ports(&AgentPortStates { ports: came_up })
            .await
        {
            Ok(()) if ports > 0 => {
                tracing::info!(trunk = %trunk.id, ports, "reported wired ports ACTIVE")
            }
            Ok(()) => {}
            Err(error) => {
                tracing::warn!(trunk = %trunk.id, %error, "could not report port states; next pass")
            }
        }
    }
}
