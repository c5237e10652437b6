//! The agent's side of the agent API: what to wire, and reports back, over HTTP with the
//! agent's own token.

use std::time::Duration;

use serde_json::Value;

use crate::ids::TrunkId;
use crate::service::{AgentPortStates, AgentTrunk, AgentVerdict};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot reach the trunkd server: {0}")]
    Unreachable(String),
    /// The server refused the call; `kind` is the NeutronError type.
    #[error("the server refused ({status}, {kind}): {message}")]
    Refused {
        status: u16,
        kind: String,
        message: String,
    },
}

/// How the agent proves who it is.
pub enum AgentAuth {
    /// Its own bearer token (`trunkd agent-token`).
    Bearer(String),
    /// A Keystone token of its service user, renewed as needed.
    Keystone(Box<crate::api::keystone::KeystoneAuth>),
}

pub struct ServerApi {
    base: String,
    auth: AgentAuth,
    http: reqwest::Client,
}

impl ServerApi {
    /// A client of the server at `base`; an `https://` one is trusted if a CA of `cafile`
    /// signed its certificate, or without one, a CA the system trusts.
    pub fn new(
        base: &str,
        auth: AgentAuth,
        cafile: Option<&std::path::Path>,
    ) -> Result<Self, String> {
        let mut http = reqwest::Client::builder().timeout(Duration::from_secs(30));
        if let Some(cafile) = cafile {
            http = http.tls_built_in_root_certs(false);
            for certificate in crate::tls::certificates("agent_server_cafile", cafile)
                .map_err(|e| e.to_string())?
            {
                let certificate = reqwest::Certificate::from_der(&certificate)
                    .map_err(|e| format!("setting agent_server_cafile: {e}"))?;
                http = http.add_root_certificate(certificate);
            }
        }
        let http = http.build().map_err(|e| e.to_string())?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            auth,
            http,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ServerError> {
        let outcome = self
            .attempt(method.clone(), path, body.clone(), false)
            .await;
        match (&self.auth, outcome) {
            // Keystone may have dropped our token early (revoked, restarted): log in again, once.
            (AgentAuth::Keystone(_), Err(ServerError::Refused { status: 401, .. })) => {
                self.attempt(method, path, body, true).await
            }
            (_, outcome) => outcome,
        }
    }

    async fn attempt(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        renew: bool,
    ) -> Result<Value, ServerError> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        request = match &self.auth {
            AgentAuth::Bearer(token) => request.bearer_auth(token),
            AgentAuth::Keystone(keystone) => {
                let token = keystone
                    .service_token(renew)
                    .await
                    .map_err(|e| ServerError::Unreachable(format!("Keystone: {e}")))?;
                request.header("X-Auth-Token", token)
            }
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ServerError::Unreachable(e.to_string()))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| ServerError::Unreachable(e.to_string()))?;
        if status.is_success() {
            return Ok(body);
        }
        let error = &body["NeutronError"];
        Err(ServerError::Refused {
            status: status.as_u16(),
            kind: error["type"].as_str().unwrap_or("").to_string(),
            message: error["message"].as_str().unwrap_or("").to_string(),
        })
    }

    /// The trunks bound to this agent's host.
    pub async fn desired(&self) -> Result<Vec<AgentTrunk>, ServerError> {
        let body = self
            .call(reqwest::Method::GET, "/agent/v1/trunks", None)
            .await?;
        serde_json::from_value(body["trunks"].clone())
            .map_err(|e| ServerError::Unreachable(format!("unreadable desired state: {e}")))
    }

    pub async fn bind_subports(&self, trunk: TrunkId) -> Result<(), ServerError> {
        self.call(
            reqwest::Method::PUT,
            &format!("/agent/v1/trunks/{trunk}/bind_subports"),
            None,
        )
        .await
        .map(drop)
    }

    /// Reports the agent's verdict on a trunk; returns the trunk's revision afterwards.
    pub async fn report_verdict(
        &self,
        trunk: TrunkId,
        verdict: &AgentVerdict,
    ) -> Result<i64, ServerError> {
        let body = self
            .call(
                reqwest::Method::PUT,
                &format!("/agent/v1/trunks/{trunk}/verdict"),
                Some(to_body(verdict)?),
            )
            .await?;
        body["trunk"]["revision_number"]
            .as_i64()
            .ok_or_else(|| ServerError::Unreachable(format!("unreadable verdict reply: {body}")))
    }

    /// Reports the states of ports this host wired or unwired.
    pub async fn report_ports(&self, states: &AgentPortStates) -> Result<(), ServerError> {
        if states.ports.is_empty() {
            return Ok(());
        }
        self.call(
            reqwest::Method::PUT,
            "/agent/v1/ports/status",
            Some(to_body(states)?),
        )
        .await
        .map(drop)
    }
}

/// A typed request body as JSON.
fn to_body(value: &impl serde::Serialize) -> Result<Value, ServerError> {
    serde_json::to_value(value)
        .map_err(|e| ServerError::Unreachable(format!("cannot encode a report: {e}")))
}
