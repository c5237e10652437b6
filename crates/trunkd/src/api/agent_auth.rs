//! Credentials of host agents. Each agent has its own bearer token, bound to one host name in
//! a credentials file the operator keeps; the server stores only SHA-256 digests of the tokens.
//! An agent authenticates with `Authorization: Bearer <token>` and acts as the service role for
//! its own host alone, so one compromised host cannot speak for another.

use std::collections::HashMap;
use std::path::Path;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::api::error::ApiError;
use crate::api::request_id::RequestId;
use crate::api::AppState;
use crate::service::Context;

/// One entry of the credentials file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentEntry {
    host: String,
    token_sha256: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    #[serde(default)]
    agents: Vec<AgentEntry>,
}

/// Token digests and the hosts they are bound to.
#[derive(Debug, Default, Clone)]
pub struct AgentCredentials {
    host_of: HashMap<[u8; 32], String>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl AgentCredentials {
    /// Reads a TOML file of `[[agents]]` entries with `host` and `token_sha256` (64 hex digits).
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        let file: CredentialsFile = toml::from_str(&text).map_err(|e| e.to_string())?;
        let mut credentials = Self::default();
        let mut hosts = std::collections::HashSet::new();
        for (index, entry) in file.agents.into_iter().enumerate() {
            if entry.host.trim().is_empty() || entry.host.len() > 255 {
                return Err(format!("agents[{index}].host must be a host name"));
            }
            if !hosts.insert(entry.host.clone()) {
                return Err(format!(
                    "agents[{index}]: host {} is listed twice",
                    entry.host
                ));
            }
            let bytes = hex::decode(&entry.token_sha256)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    format!("agents[{index}].token_sha256 must be 64 hex digits (a SHA-256 digest)")
                })?;
            if credentials.host_of.insert(bytes, entry.host).is_some() {
                return Err(format!(
                    "agents[{index}]: the token is already another host's"
                ));
            }
        }
        Ok(credentials)
    }

    /// The host a token is bound to.
    pub fn host_for(&self, token: &str) -> Option<&str> {
        self.host_of.get(&digest(token)).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.host_of.is_empty()
    }
}

/// A new random token for `host`, and the entry for the credentials file.
pub fn new_token(host: &str) -> (String, String) {
    let token = hex::encode(rand::random::<[u8; 32]>());
    let entry = format!(
        "[[agents]]\nhost = {}\ntoken_sha256 = \"{}\"\n",
        toml_string(host),
        hex::encode(digest(&token))
    );
    (token, entry)
}

fn toml_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// An authenticated host agent.
pub struct AgentCaller(pub Context);

impl FromRequestParts<AppState> for AgentCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(ApiError::Unauthorized(
                "The agent API needs the agent's token: Authorization: Bearer <token>.".into(),
            ));
        };
        let Some(host) = state.agents.host_for(token) else {
            tracing::warn!("refused an agent API call with an unknown token");
            return Err(ApiError::Unauthorized(
                "The agent token is not valid.".into(),
            ));
        };
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        Ok(AgentCaller(Context::agent(
            host,
            state.service.policy(),
            request_id,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_entry_loads_and_binds_its_token_to_the_host() {
        let (token, entry) = new_token("compute-1");
        let (other, other_entry) = new_token("compute-2");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("agents.toml");
        std::fs::write(&path, format!("{entry}\n{other_entry}")).expect("write");
        let credentials = AgentCredentials::load(&path).expect("loads");
        assert_eq!(credentials.host_for(&token), Some("compute-1"));
        assert_eq!(credentials.host_for(&other), Some("compute-2"));
        assert_eq!(credentials.host_for("guess"), None);
    }

    #[test]
    fn malformed_files_are_refused_with_the_entry_named() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("agents.toml");
        let digest = "a".repeat(64);
        for (text, naming) in [
            ("[[agents]]\nhost = \"h\"\ntoken_sha256 = \"xyz\"\n".to_string(), "agents[0].token_sha256"),
            (format!("[[agents]]\nhost = \"\"\ntoken_sha256 = \"{digest}\"\n"), "agents[0].host"),
            (
                format!("[[agents]]\nhost = \"h\"\ntoken_sha256 = \"{digest}\"\n[[agents]]\nhost = \"h\"\ntoken_sha256 = \"{}\"\n", "b".repeat(64)),
                "listed twice",
            ),
            ("[[agents]]\nhost = \"h\"\n".to_string(), "token_sha256"),
        ] {
            std::fs::write(&path, &text).expect("write");
            let error = AgentCredentials::load(&path).expect_err(&text);
            assert!(error.contains(naming), "{error} should name {naming}");
        }
    }
}
