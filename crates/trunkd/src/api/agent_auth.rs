//! Credentials of host agents, bound to one host name each in a credentials file the operator
//! keeps. An agent authenticates either with its own bearer token (`Authorization: Bearer`;
//! the server stores only SHA-256 digests) or, under `--auth keystone`, with a Keystone token of
//! its own service user (`X-Auth-Token`; the file maps the user id to the host). Either way it
//! acts for its own host alone, so one compromised host cannot speak for another.

use std::collections::HashMap;
use std::path::Path;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::api::auth::{keystone_caller, AuthMode};
use crate::api::error::ApiError;
use crate::api::request_id;
use crate::api::AppState;
use crate::service::{Context, ServiceError};

/// One entry of the credentials file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentEntry {
    host: String,
    token_sha256: Option<String>,
    /// The Keystone user id of the host's service user.
    keystone_user_id: Option<String>,
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
    host_of_user: HashMap<String, String>,
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
            if entry.token_sha256.is_none() && entry.keystone_user_id.is_none() {
                return Err(format!(
                    "agents[{index}] needs token_sha256 or keystone_user_id"
                ));
            }
            if let Some(user) = entry.keystone_user_id {
                if credentials
                    .host_of_user
                    .insert(user, entry.host.clone())
                    .is_some()
                {
                    return Err(format!(
                        "agents[{index}]: the keystone_user_id is already another host's"
                    ));
                }
            }
            if let Some(token_sha256) = entry.token_sha256 {
                let bytes = hex::decode(&token_sha256)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| {
                        format!(
                            "agents[{index}].token_sha256 must be 64 hex digits (a SHA-256 digest)"
                        )
                    })?;
                if credentials.host_of.insert(bytes, entry.host).is_some() {
                    return Err(format!(
                        "agents[{index}]: the token is already another host's"
                    ));
                }
            }
        }
        Ok(credentials)
    }

    /// The host a token is bound to.
    pub fn host_for(&self, token: &str) -> Option<&str> {
        self.host_of.get(&digest(token)).map(String::as_str)
    }

    /// The host a Keystone user is the agent of.
    pub fn host_for_user(&self, user_id: &str) -> Option<&str> {
        self.host_of_user.get(user_id).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.host_of.is_empty() && self.host_of_user.is_empty()
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

/// The token of an `Authorization: Bearer <token>` value. The scheme is matched without regard
/// to case (RFC 7235: `bearer`, `BEARER` are the same scheme).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// An authenticated host agent.
pub struct AgentCaller(pub Context);

impl FromRequestParts<AppState> for AgentCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let request_id = request_id::of(parts);
        let policy = state.service.policy();
        if let (AuthMode::Keystone(keystone), true) =
            (&state.auth, parts.headers.contains_key("x-auth-token"))
        {
            // The host's service user, by Keystone token: its roles come from Keystone.
            let credentials = keystone_caller(keystone, &parts.headers).await?;
            let user = credentials.user_id.clone().unwrap_or_default();
            let Some(host) = state.agents.host_for_user(&user) else {
                tracing::warn!(
                    user,
                    "refused an agent API call from a user that is no host's agent"
                );
                return Err(ApiError::Service(ServiceError::Forbidden {
                    message: format!("User {user} is not the agent of any host."),
                }));
            };
            return Ok(AgentCaller(Context::agent_with(
                credentials,
                host,
                policy,
                request_id,
            )));
        }
        let authorization = crate::api::auth::single_header(
            &parts.headers,
            axum::http::header::AUTHORIZATION.as_str(),
        )?;
        let token = authorization.as_deref().and_then(bearer_token);
        let Some(token) = token else {
            return Err(ApiError::unauthorized(
                "The agent API needs the agent's credential: Authorization: Bearer <token>, \
                 or X-Auth-Token with --auth keystone.",
                "Bearer",
            ));
        };
        let Some(host) = state.agents.host_for(token) else {
            tracing::warn!("refused an agent API call with an unknown token");
            return Err(ApiError::unauthorized(
                "The agent token is not valid.",
                "Bearer",
            ));
        };
        Ok(AgentCaller(Context::agent(host, policy, request_id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_matched_without_regard_to_case() {
        for value in ["Bearer abc", "bearer abc", "BEARER  abc ", "BeArEr\tabc"] {
            assert_eq!(bearer_token(value), Some("abc"), "{value}");
        }
        for value in ["Basic abc", "Bearer", "Bearer ", "Bearerabc", "abc"] {
            assert_eq!(bearer_token(value), None, "{value}");
        }
    }

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
