//! Keystone token validation, as keystonemiddleware does it: the server logs in with its own
//! service credential (and logs in again before that token expires, or when Keystone stops
//! accepting it), validates each caller's `X-Auth-Token` with `GET /v3/auth/tokens`, and maps
//! the result to the caller's credentials. Validated tokens are cached until the token expires
//! or the cache TTL passes, whichever is first, so a revoked token stops working within the TTL.
//! Keystone unreachable means 503, never a silent allow. In the server Keystone is a readiness
//! dependency: every validation that reaches Keystone sets its state, and so does
//! [`KeystoneAuth::probe`], run periodically in the background.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::{KeystoneConfig, KeystoneCredential};
use crate::policy::Credentials;
use crate::readiness::{Dependency, State as DependencyState};

/// Renew the service token this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(60);
/// Limit on one call to Keystone.
const KEYSTONE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Unknown, expired, revoked or malformed: the caller gets 401.
    #[error("{0}")]
    Invalid(String),
    /// Keystone could not answer: the caller gets 503.
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Debug, Deserialize)]
struct Named {
    id: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TokenBody {
    expires_at: String,
    user: Option<Named>,
    project: Option<Named>,
    domain: Option<Named>,
    #[serde(default)]
    roles: Vec<Named>,
    system: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct TokenReply {
    token: TokenBody,
}

struct Cached {
    credentials: Credentials,
    valid_until: Instant,
}

pub struct KeystoneAuth {
    config: KeystoneConfig,
    http: reqwest::Client,
    /// The service token and when to renew it.
    service_token: tokio::sync::Mutex<Option<(String, Instant)>>,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
    /// Keystone's readiness state, when the server tracks it.
    dependency: Option<Dependency>,
}

fn expiry(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("expires_at '{text}': {e}"))
}

/// An error with its causes: reqwest's own text says only that the request failed, the
/// reason (refused, a certificate no CA in `keystone_cafile` signed) is in its sources.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Time from now until `at`, or zero if it has passed.
fn until(at: DateTime<Utc>) -> Duration {
    (at - Utc::now()).to_std().unwrap_or(Duration::ZERO)
}

impl KeystoneAuth {
    pub fn new(config: KeystoneConfig) -> Result<Self, String> {
        let mut http = reqwest::Client::builder().timeout(KEYSTONE_TIMEOUT);
        if let Some(cafile) = &config.cafile {
            // Only the given CAs, as keystoneauth's `cafile` does.
            http = http.tls_built_in_root_certs(false);
            for certificate in
                crate::tls::certificates("keystone_cafile", cafile).map_err(|e| e.to_string())?
            {
                let certificate = reqwest::Certificate::from_der(&certificate)
                    .map_err(|e| format!("setting keystone_cafile: {e}"))?;
                http = http.add_root_certificate(certificate);
            }
        }
        let http = http.build().map_err(|e| e.to_string())?;
        Ok(Self {
            config,
            http,
            service_token: tokio::sync::Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
            dependency: None,
        })
    }

    /// Reports whether Keystone answers to `dependency`.
    pub fn with_dependency(mut self, dependency: Dependency) -> Self {
        self.dependency = Some(dependency);
        self
    }

    /// Whether Keystone can be used now: this process holds a service token (logging in when
    /// there is none or it is due for renewal) and Keystone answers its version document
    /// (`GET /v3`) with anything but a server error. Cheap: no token is validated, and a
    /// login happens only when one would anyway.
    pub async fn probe(&self) -> Result<(), String> {
        self.service_token(false).await.map_err(|e| e.to_string())?;
        let response = self
            .http
            .get(format!("{}/v3", self.config.url))
            .send()
            .await
            .map_err(|e| format!("Keystone unreachable: {}", chain(&e)))?;
        if response.status().is_server_error() {
            return Err(format!("Keystone answered {}", response.status()));
        }
        Ok(())
    }

    /// Keystone's URL, for the `WWW-Authenticate` challenge.
    pub fn url(&self) -> &str {
        &self.config.url
    }

    fn tokens_url(&self) -> String {
        format!("{}/v3/auth/tokens", self.config.url)
    }

    fn login_body(&self) -> Value {
        match &self.config.credential {
            KeystoneCredential::Password {
                username,
                password,
                user_domain_name,
                project_name,
                project_domain_name,
            } => json!({"auth": {
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": username, "domain": {"name": user_domain_name}, "password": password.0}}},
                "scope": {"project": {"name": project_name, "domain": {"name": project_domain_name}}},
            }}),
            KeystoneCredential::ApplicationCredential { id, secret } => json!({"auth": {
                "identity": {"methods": ["application_credential"],
                    "application_credential": {"id": id, "secret": secret.0}},
            }}),
        }
    }

    /// This process's own token (the service token of a server, or an agent's), logging in when
    /// there is none, it is about to expire, or `force` says Keystone refused it.
    pub async fn service_token(&self, force: bool) -> Result<String, TokenError> {
        let mut held = self.service_token.lock().await;
        if let Some((token, renew_at)) = held.as_ref() {
            if !force && Instant::now() < *renew_at {
                return Ok(token.clone());
            }
        }
        // A failed login leaves no token behind: the next caller (or probe) logs in again
        // rather than reusing one Keystone may have just refused.
        *held = None;
        let unavailable =
            |e: String| TokenError::Unavailable(format!("Keystone login failed: {e}"));
        let response = self
            .http
            .post(self.tokens_url())
            .json(&self.login_body())
            .send()
            .await
            .map_err(|e| unavailable(chain(&e)))?;
        if !response.status().is_success() {
            // Our own credential refused is a server fault, not the caller's: 503, logged.
            tracing::error!(status = %response.status(), "Keystone refused trunkd's service credential");
            return Err(unavailable(format!("status {}", response.status())));
        }
        let token = response
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| unavailable("no X-Subject-Token in the reply".into()))?;
        let reply: TokenReply = response
            .json()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let lifetime = until(expiry(&reply.token.expires_at).map_err(unavailable)?);
        let renew_at = Instant::now() + lifetime.saturating_sub(RENEW_BEFORE);
        *held = Some((token.clone(), renew_at));
        tracing::info!("obtained a Keystone service token");
        Ok(token)
    }

    /// The caller's credentials for `token`.
    pub async fn validate(&self, token: &str) -> Result<Credentials, TokenError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(credentials) = self.cached(&key) {
            return Ok(credentials);
        }
        if token.len() > 8192 || token.chars().any(|c| !c.is_ascii_graphic()) {
            return Err(TokenError::Invalid("The token is malformed.".into()));
        }
        let attempt = self.dependency.as_ref().map(|d| d.attempt());
        let outcome = self.validate_with_keystone(token, key).await;
        if let Some(attempt) = attempt {
            attempt.set(match &outcome {
                Err(TokenError::Unavailable(reason)) => DependencyState::Down(reason.clone()),
                Ok(_) | Err(TokenError::Invalid(_)) => DependencyState::Up,
            });
        }
        outcome
    }

    /// Asks Keystone about `token` (not in the cache) and caches the answer.
    async fn validate_with_keystone(
        &self,
        token: &str,
        key: [u8; 32],
    ) -> Result<Credentials, TokenError> {
        let mut reply = self.ask(token, false).await?;
        if reply.status() == reqwest::StatusCode::UNAUTHORIZED {
            // Our service token lapsed (or was revoked): log in again, once.
            reply = self.ask(token, true).await?;
        }
        match reply.status() {
            status if status.is_success() => {}
            reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::BAD_REQUEST => {
                return Err(TokenError::Invalid(
                    "The token is not valid (unknown, expired or revoked).".into(),
                ))
            }
            status => {
                return Err(TokenError::Unavailable(format!(
                    "Keystone answered token validation with {status}"
                )))
            }
        }
        let body: TokenReply = reply
            .json()
            .await
            .map_err(|e| TokenError::Unavailable(format!("unreadable token from Keystone: {e}")))?;
        let expires_at = expiry(&body.token.expires_at).map_err(TokenError::Unavailable)?;
        let lifetime = until(expires_at);
        if lifetime.is_zero() {
            return Err(TokenError::Invalid("The token has expired.".into()));
        }
        let credentials = credentials_of(body.token);
        self.remember(key, &credentials, lifetime.min(self.config.cache_ttl));
        Ok(credentials)
    }

    async fn ask(&self, token: &str, renew: bool) -> Result<reqwest::Response, TokenError> {
        let service = self.service_token(renew).await?;
        self.http
            .get(self.tokens_url())
            .header("X-Auth-Token", service)
            .header("X-Subject-Token", token)
            .send()
            .await
            .map_err(|e| TokenError::Unavailable(format!("Keystone unreachable: {}", chain(&e))))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Cached>> {
        // Entries are inserted and removed whole: a poisoned lock holds a consistent map.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Credentials> {
        let mut cache = self.cache();
        match cache.get(key) {
            Some(entry) if Instant::now() < entry.valid_until => Some(entry.credentials.clone()),
            Some(_) => {
                cache.remove(key);
                None
            }
            None => None,
        }
    }

    fn remember(&self, key: [u8; 32], credentials: &Credentials, ttl: Duration) {
        let mut cache = self.cache();
        if cache.len() >= self.config.cache_size {
            let now = Instant::now();
            cache.retain(|_, entry| entry.valid_until > now);
        }
        if cache.len() >= self.config.cache_size {
            // Still full: drop the entry that would expire first.
            if let Some(oldest) = cache
                .iter()
                .min_by_key(|(_, entry)| entry.valid_until)
                .map(|(key, _)| *key)
            {
                cache.remove(&oldest);
            }
        }
        cache.insert(
            key,
            Cached {
                credentials: credentials.clone(),
                valid_until: Instant::now() + ttl,
            },
        );
    }
}

/// Maps a validated token to the caller's credentials (roles in lower case, as policy
/// compares them).
fn credentials_of(token: TokenBody) -> Credentials {
    let roles: Vec<String> = token
        .roles
        .iter()
        .filter_map(|r| r.name.as_deref())
        .map(str::to_ascii_lowercase)
        .collect();
    let mut credentials = Credentials::new(
        token.user.and_then(|u| u.id),
        token.project.and_then(|p| p.id),
        roles,
    );
    credentials.domain_id = token.domain.and_then(|d| d.id);
    credentials.system_scope = token
        .system
        .as_ref()
        .and_then(|s| s.get("all"))
        .and_then(Value::as_bool)
        .filter(|all| *all)
        .map(|_| "all".to_string());
    credentials
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_maps_to_credentials() {
        let token: TokenReply = serde_json::from_value(json!({"token": {
            "expires_at": "2030-01-01T00:00:00.000000Z",
            "user": {"id": "u1", "name": "alice", "domain": {"id": "default"}},
            "project": {"id": "p1", "name": "demo", "domain": {"id": "default"}},
            "roles": [{"id": "r1", "name": "Member"}, {"id": "r2", "name": "reader"}],
            "methods": ["password"], "issued_at": "2029-12-31T23:00:00.000000Z"
        }}))
        .expect("v3 token");
        let credentials = credentials_of(token.token);
        assert_eq!(credentials.user_id.as_deref(), Some("u1"));
        assert_eq!(credentials.project_id.as_deref(), Some("p1"));
        assert_eq!(credentials.roles, vec!["member", "reader"]);
        assert_eq!(credentials.system_scope, None);
    }

    #[test]
    fn a_system_scoped_token_says_so() {
        let token: TokenReply = serde_json::from_value(json!({"token": {
            "expires_at": "2030-01-01T00:00:00Z",
            "user": {"id": "u1"}, "system": {"all": true}, "roles": [{"name": "admin"}]
        }}))
        .expect("v3 token");
        let credentials = credentials_of(token.token);
        assert_eq!(credentials.system_scope.as_deref(), Some("all"));
        assert_eq!(credentials.project_id, None);
    }
}
