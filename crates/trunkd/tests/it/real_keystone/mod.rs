//! A real Keystone (the `keystone` package from PyPI) for one test: SQLite database, fernet
//! tokens, bootstrapped admin, served by Werkzeug on a free port in a temp dir. The virtualenv
//! comes from `TRUNKD_TEST_KEYSTONE` (CI installs it); without it the test prints SKIPPED
//! outside CI and fails under CI.
#![allow(dead_code)]

pub use super::common::kit;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tempfile::TempDir;

pub const ADMIN_PASSWORD: &str = "admin-secret";

pub struct RealKeystone {
    pub url: String,
    dir: TempDir,
    server: Child,
    http: reqwest::Client,
}

impl Drop for RealKeystone {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// Serves the public WSGI application; the port comes from the environment because
/// oslo.config would read command-line arguments as its own.
const SERVE: &str = r#"
import os, sys, warnings
warnings.simplefilter("ignore")
port = int(os.environ["KS_PORT"])
del sys.argv[1:]
from werkzeug.serving import run_simple
from keystone.server import wsgi
run_simple("127.0.0.1", port, wsgi.initialize_public_application(), threaded=True,
           use_reloader=False, use_debugger=False)
"#;

impl RealKeystone {
    pub async fn start(test: &str) -> Option<RealKeystone> {
        let venv = kit::require_tool(test, &kit::KEYSTONE)?;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = |name: &str| dir.path().join(name);
        for keys in ["fernet-keys", "credential-keys"] {
            std::fs::create_dir(path(keys)).expect("key dir");
            std::process::Command::new("chmod")
                .args(["700", path(keys).to_str().expect("path")])
                .status()
                .expect("chmod");
        }
        let port = kit::free_port();
        let url = format!("http://127.0.0.1:{port}");
        let conf = format!(
            "[DEFAULT]\nlog_file = {log}\n\n[database]\nconnection = sqlite:///{db}\n\n\
             [token]\nprovider = fernet\nexpiration = 3600\n\n\
             [fernet_tokens]\nkey_repository = {fernet}/\n\n[fernet_receipts]\nkey_repository = {fernet}/\n\n\
             [credential]\nkey_repository = {credential}/\n\n[identity]\npassword_hash_rounds = 4\n",
            log = path("keystone.log").display(),
            db = path("keystone.db").display(),
            fernet = path("fernet-keys").display(),
            credential = path("credential-keys").display(),
        );
        std::fs::write(path("keystone.conf"), conf).expect("keystone.conf");
        std::fs::write(path("serve.py"), SERVE).expect("serve.py");
        let user = kit::stdout_of(Command::new("id").arg("-un"), "id -un");
        let group = kit::stdout_of(Command::new("id").arg("-gn"), "id -gn");
        let manage = |args: &[&str]| {
            kit::stdout_of(
                Command::new(venv.join("bin/keystone-manage"))
                    .arg("--config-file")
                    .arg(path("keystone.conf"))
                    .args(args)
                    .env("PYTHONWARNINGS", "ignore"),
                &format!("keystone-manage {args:?}"),
            );
        };
        manage(&[
            "fernet_setup",
            "--keystone-user",
            &user,
            "--keystone-group",
            &group,
        ]);
        manage(&[
            "credential_setup",
            "--keystone-user",
            &user,
            "--keystone-group",
            &group,
        ]);
        manage(&["db_sync"]);
        let endpoint = format!("{url}/v3/");
        manage(&[
            "bootstrap",
            "--bootstrap-password",
            ADMIN_PASSWORD,
            "--bootstrap-admin-url",
            &endpoint,
            "--bootstrap-public-url",
            &endpoint,
            "--bootstrap-internal-url",
            &endpoint,
            "--bootstrap-region-id",
            "RegionOne",
        ]);
        let server = Command::new(venv.join("bin/python"))
            .arg(path("serve.py"))
            .env("KS_PORT", port.to_string())
            .env("OS_KEYSTONE_CONFIG_DIR", dir.path())
            .env("PYTHONWARNINGS", "ignore")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start keystone");
        let keystone = RealKeystone {
            url,
            dir,
            server,
            http: reqwest::Client::new(),
        };
        let (http, version) = (&keystone.http, format!("{}/v3", keystone.url));
        kit::settle(Duration::from_secs(60), "keystone to answer", || {
            http.get(&version).send()
        })
        .await;
        Some(keystone)
    }

    /// A project-scoped token for `user`.
    pub async fn token(&self, user: &str, password: &str, project: &str) -> String {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}},
        }});
        // Keystone keeps its data in SQLite here: on a loaded machine a login now and then
        // meets its database locked and answers 500. That is Keystone's, not trunkd's; a few
        // tries get past it, and a login that still fails shows Keystone's log.
        let mut tries = 0;
        let reply = loop {
            tries += 1;
            let reply = self
                .http
                .post(format!("{}/v3/auth/tokens", self.url))
                .json(&body)
                .send()
                .await
                .expect("keystone answers");
            if !reply.status().is_server_error() || tries == 5 {
                break reply;
            }
            tokio::time::sleep(Duration::from_millis(200 * tries)).await;
        };
        if reply.status() != 201 {
            let log =
                std::fs::read_to_string(self.dir.path().join("keystone.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!(
                "login of {user}: {} after {tries} tries; Keystone's log ends:\n{}",
                reply.status(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        reply.headers()["x-subject-token"]
            .to_str()
            .expect("token")
            .to_string()
    }

    /// An admin call; returns the JSON reply.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let token = self.token("admin", ADMIN_PASSWORD, "admin").await;
        let mut request = self
            .http
            .request(method, format!("{}/v3{path}", self.url))
            .header("X-Auth-Token", token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().await.expect("keystone answers");
        assert!(reply.status().is_success(), "{path}: {}", reply.status());
        reply.json().await.unwrap_or(Value::Null)
    }

    /// Creates (or finds) a role, a project and a user holding that role on it; returns the
    /// project id.
    pub async fn user_with_role(
        &self,
        user: &str,
        password: &str,
        project: &str,
        role: &str,
    ) -> String {
        use reqwest::Method;
        let roles = self
            .admin(Method::GET, &format!("/roles?name={role}"), None)
            .await;
        let role_id = match roles["roles"][0]["id"].as_str() {
            Some(id) => id.to_string(),
            None => self
                .admin(
                    Method::POST,
                    "/roles",
                    Some(json!({"role": {"name": role}})),
                )
                .await["role"]["id"]
                .as_str()
                .expect("role id")
                .to_string(),
        };
        let projects = self
            .admin(Method::GET, &format!("/projects?name={project}"), None)
            .await;
        let project_id = match projects["projects"][0]["id"].as_str() {
            Some(id) => id.to_string(),
            None => self
                .admin(
                    Method::POST,
                    "/projects",
                    Some(json!({"project": {"name": project, "domain_id": "default"}})),
                )
                .await["project"]["id"]
                .as_str()
                .expect("project id")
                .to_string(),
        };
        let created = self
            .admin(
                Method::POST,
                "/users",
                Some(json!({"user": {"name": user, "password": password, "domain_id": "default"}})),
            )
            .await;
        let user_id = created["user"]["id"].as_str().expect("user id");
        self.admin(
            Method::PUT,
            &format!("/projects/{project_id}/users/{user_id}/roles/{role_id}"),
            None,
        )
        .await;
        project_id
    }

    /// Revokes a token, as `openstack token revoke` does.
    pub async fn revoke(&self, token: &str) {
        let admin = self.token("admin", ADMIN_PASSWORD, "admin").await;
        let reply = self
            .http
            .delete(format!("{}/v3/auth/tokens", self.url))
            .header("X-Auth-Token", admin)
            .header("X-Subject-Token", token)
            .send()
            .await
            .expect("keystone answers");
        assert_eq!(reply.status(), 204);
    }
}
