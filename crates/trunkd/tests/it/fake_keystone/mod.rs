//! A fake Keystone that speaks the real v3 token API: `POST /v3/auth/tokens` logs the service
//! user in (password or application credential) and `GET /v3/auth/tokens` validates a subject
//! token with the service token, answering 404 for unknown, revoked or expired tokens and 401
//! when the service token is not valid. Tests issue user tokens directly.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

pub const SERVICE_USER: &str = "trunkd";
pub const SERVICE_PASSWORD: &str = "service-secret";

#[derive(Default)]
struct Keys {
    /// Subject tokens and their v3 token bodies.
    tokens: HashMap<String, Value>,
    service_tokens: HashSet<String>,
    revoked: HashSet<String>,
    validations: usize,
    logins: usize,
    /// Users who may log in: name -> (password, project, roles).
    users: HashMap<String, (String, String, Vec<String>)>,
    /// Users whose tokens were validated successfully.
    validated_users: Vec<String>,
}

type Shared = Arc<Mutex<Keys>>;

pub struct FakeKeystone {
    pub url: String,
    keys: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeKeystone {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn token_body(
    user: &str,
    project: Option<&str>,
    roles: &[&str],
    expires_in: chrono::Duration,
) -> Value {
    let expires = (chrono::Utc::now() + expires_in)
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let mut token = json!({
        "methods": ["password"],
        "expires_at": expires,
        "issued_at": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "user": {"id": user, "name": user, "domain": {"id": "default", "name": "Default"}},
        "roles": roles.iter().map(|r| json!({"id": format!("id-{r}"), "name": r})).collect::<Vec<_>>(),
    });
    if let Some(project) = project {
        token["project"] =
            json!({"id": project, "name": project, "domain": {"id": "default", "name": "Default"}});
    }
    json!({ "token": token })
}

async fn login(State(keys): State<Shared>, Json(body): Json<Value>) -> Response {
    let user = &body["auth"]["identity"]["password"]["user"];
    let (name, password) = (
        user["name"].as_str().unwrap_or(""),
        user["password"].as_str().unwrap_or(""),
    );
    let mut keys = keys.lock().expect("keys");
    let token_of = if name == SERVICE_USER && password == SERVICE_PASSWORD {
        Some(token_body(
            "trunkd-service",
            Some("service"),
            &["service"],
            chrono::Duration::hours(1),
        ))
    } else {
        keys.users
            .get(name)
            .filter(|(p, _, _)| p == password)
            .map(|(_, project, roles)| {
                let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
                token_body(name, Some(project), &roles, chrono::Duration::hours(1))
            })
    };
    let Some(body) = token_of else {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}))).into_response();
    };
    let token = format!("login-{}", uuid::Uuid::new_v4().simple());
    keys.logins += 1;
    if name == SERVICE_USER {
        keys.service_tokens.insert(token.clone());
    } else {
        keys.tokens.insert(token.clone(), body.clone());
    }
    (
        StatusCode::CREATED,
        [("X-Subject-Token", token)],
        Json(body),
    )
        .into_response()
}

async fn validate(State(keys): State<Shared>, headers: HeaderMap) -> Response {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (service, subject) = (text("x-auth-token"), text("x-subject-token"));
    let mut keys = keys.lock().expect("keys");
    if !keys.service_tokens.contains(&service) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"code": 401}})),
        )
            .into_response();
    }
    keys.validations += 1;
    let found = keys
        .tokens
        .get(&subject)
        .filter(|_| !keys.revoked.contains(&subject))
        .cloned();
    let live = found.filter(|body| {
        body["token"]["expires_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t > chrono::Utc::now())
    });
    match live {
        Some(body) => {
            let user = body["token"]["user"]["id"].as_str().unwrap_or("").to_string();
            keys.validated_users.push(user);
            (StatusCode::OK, Json(body)).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"code": 404, "title": "Not Found", "message": "Could not find token."}})),
        )
            .into_response(),
    }
}

impl FakeKeystone {
    pub async fn start() -> FakeKeystone {
        let keys: Shared = Arc::default();
        let app = Router::new()
            .route("/v3/auth/tokens", post(login).get(validate))
            .with_state(keys.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeKeystone { url, keys, task }
    }

    /// A user token scoped to `project` with `roles`, valid for `expires_in`.
    pub fn issue(
        &self,
        user: &str,
        project: &str,
        roles: &[&str],
        expires_in: chrono::Duration,
    ) -> String {
        let token = format!("user-{}", uuid::Uuid::new_v4().simple());
        self.keys.lock().expect("keys").tokens.insert(
            token.clone(),
            token_body(user, Some(project), roles, expires_in),
        );
        token
    }

    /// A user who may log in with a password (an agent's service user).
    pub fn add_user(&self, name: &str, password: &str, project: &str, roles: &[&str]) {
        self.keys.lock().expect("keys").users.insert(
            name.to_string(),
            (
                password.to_string(),
                project.to_string(),
                roles.iter().map(|r| r.to_string()).collect(),
            ),
        );
    }

    /// Users whose tokens the server had validated successfully.
    pub fn validated_users(&self) -> Vec<String> {
        self.keys.lock().expect("keys").validated_users.clone()
    }

    pub fn revoke(&self, token: &str) {
        self.keys
            .lock()
            .expect("keys")
            .revoked
            .insert(token.to_string());
    }

    /// Forgets the service tokens it issued, as a Keystone restart with new keys would.
    pub fn forget_service_tokens(&self) {
        self.keys.lock().expect("keys").service_tokens.clear();
    }

    pub fn validations(&self) -> usize {
        self.keys.lock().expect("keys").validations
    }

    pub fn logins(&self) -> usize {
        self.keys.lock().expect("keys").logins
    }

    /// The server's arguments for this Keystone.
    pub fn server_args(&self, cache_ttl: &str) -> Vec<String> {
        [
            "--auth",
            "keystone",
            "--keystone-url",
            &self.url,
            "--keystone-username",
            SERVICE_USER,
            "--keystone-password",
            SERVICE_PASSWORD,
            "--keystone-cache-ttl",
            cache_ttl,
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    }
}
