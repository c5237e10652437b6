//! Test harness: starts the real `trunkd` binary on an ephemeral port with its own data
//! directory, and talks to it over HTTP as chosen identities.
#![allow(dead_code)]

pub use crate::pgdb;
pub use crate::support::kit;

pub mod answers;
pub mod invariants;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

pub struct Server {
    child: Child,
    pub base: String,
    pub data_dir: TempDir,
    /// The PostgreSQL database, when the tests run on PostgreSQL.
    pub database: Option<pgdb::TempDatabase>,
    http: reqwest::Client,
}

/// Where a test server keeps its data.
#[derive(Debug, Clone)]
pub enum DatabaseLocation {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

/// A connection of the test's own to a server's database.
pub enum OwnConnection {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl DatabaseLocation {
    /// Opens a connection of the test's own to the database.
    pub async fn connect(&self) -> OwnConnection {
        use sqlx::Connection;
        match self {
            DatabaseLocation::Sqlite(path) => OwnConnection::Sqlite(
                sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                    .await
                    .expect("open SQLite"),
            ),
            DatabaseLocation::Postgres(url) => OwnConnection::Postgres(
                sqlx::PgConnection::connect(url)
                    .await
                    .expect("open PostgreSQL"),
            ),
        }
    }

    /// Runs `sql` on a connection of the test's own, as an operator (or a crash) would.
    pub async fn execute(&self, sql: &str) {
        match self.connect().await {
            OwnConnection::Sqlite(mut conn) => sqlx::query(sql).execute(&mut conn).await.map(drop),
            OwnConnection::Postgres(mut conn) => {
                sqlx::query(sql).execute(&mut conn).await.map(drop)
            }
        }
        .expect(sql);
    }

    /// The one integer `sql` returns (a count), read on a connection of the test's own.
    pub async fn integer(&self, sql: &str) -> i64 {
        match self.connect().await {
            OwnConnection::Sqlite(mut conn) => sqlx::query_scalar(sql).fetch_one(&mut conn).await,
            OwnConnection::Postgres(mut conn) => sqlx::query_scalar(sql).fetch_one(&mut conn).await,
        }
        .expect(sql)
    }
}

/// What a stopped server leaves behind, to start another on the same data.
pub struct Kept {
    pub data_dir: TempDir,
    pub database: Option<pgdb::TempDatabase>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The log filter that has the store log every statement at DEBUG: sqlx's on PostgreSQL,
/// trunkd's own on SQLite.
pub const STATEMENTS_AT_DEBUG: &str = "sqlx::query=debug,trunkd::store::sqlite=debug";

/// Whether a log line is one of the store's statements (see [`STATEMENTS_AT_DEBUG`]).
pub fn is_statement_line(line: &str) -> bool {
    line.contains("sqlx::query") || line.contains("ran a statement")
}

pub fn trunkd() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trunkd"));
    command.env("RUST_LOG", "warn");
    for (key, _) in std::env::vars() {
        if key.starts_with("TRUNKD_") {
            command.env_remove(key);
        }
    }
    command
}

/// The base URL a `trunkd serve` child (stdout piped) says it listens on; its stdout is read
/// on from a thread of its own.
pub fn listening_address(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout piped");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("trunkd listening on ") {
                let _ = sender.send(url.to_string());
            }
        }
    });
    receiver
        .recv_timeout(Duration::from_secs(30))
        .expect("trunkd reports its address within 30 s")
}

/// Sends SIGTERM to `child`, as systemd stops a service, and waits up to `limit` for it to
/// exit; its exit status.
pub fn terminate(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -TERM failed");
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running {limit:?} after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Server {
        let kept = Kept {
            data_dir: tempfile::tempdir().expect("temp dir"),
            database: pgdb::TempDatabase::create(),
        };
        Self::start_in(kept, extra)
    }

    /// Like `start_with`, writing the server's log (warnings and up) to `log`.
    pub fn start_logged(extra: &[&str], log: &std::path::Path) -> Server {
        Self::start_traced(extra, log, "warn")
    }

    /// Like `start_logged`, with `filter` as the server's RUST_LOG.
    pub fn start_traced(extra: &[&str], log: &std::path::Path, filter: &str) -> Server {
        let kept = Kept {
            data_dir: tempfile::tempdir().expect("temp dir"),
            database: pgdb::TempDatabase::create(),
        };
        let path = kept.data_dir.path().to_path_buf();
        let file = std::fs::File::create(log).expect("create the log file");
        Self::launch_with(kept, &path, extra, Stdio::from(file), filter)
    }

    /// Starts a server on the data another one left.
    pub fn start_in(kept: Kept, extra: &[&str]) -> Server {
        let path = kept.data_dir.path().to_path_buf();
        Self::start_in_path(kept, &path, extra)
    }

    fn start_in_path(kept: Kept, data_path: &std::path::Path, extra: &[&str]) -> Server {
        Self::launch(kept, data_path, extra, Stdio::inherit())
    }

    fn launch(kept: Kept, data_path: &std::path::Path, extra: &[&str], stderr: Stdio) -> Server {
        Self::launch_with(kept, data_path, extra, stderr, "warn")
    }

    fn launch_with(
        kept: Kept,
        data_path: &std::path::Path,
        extra: &[&str],
        stderr: Stdio,
        log_filter: &str,
    ) -> Server {
        let Kept { data_dir, database } = kept;
        let mut command = trunkd();
        command.env("RUST_LOG", log_filter);
        command
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data_path);
        if let Some(database) = &database {
            command.args(["--database-url", &database.url]);
        }
        let mut child = command
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("trunkd starts");
        let base = listening_address(&mut child);
        Server {
            child,
            base,
            data_dir,
            database,
            http: reqwest::Client::new(),
        }
    }

    /// Another server process on the same database (the same SQLite file, or the same
    /// PostgreSQL database), as a second API server behind a load balancer would be.
    pub fn start_beside(&self, extra: &[&str]) -> Server {
        let mut args: Vec<String> = Vec::new();
        if let Some(database) = &self.database {
            args.extend(["--database-url".to_string(), database.url.clone()]);
        }
        args.extend(extra.iter().map(|a| a.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let kept = Kept {
            data_dir: tempfile::tempdir().expect("temp dir"),
            database: None,
        };
        Self::start_in_path(kept, self.data_dir.path(), &refs)
    }

    /// How tests reach the database directly: a SQLite file path or a PostgreSQL URL.
    pub fn database_location(&self) -> DatabaseLocation {
        match &self.database {
            Some(database) => DatabaseLocation::Postgres(database.url.clone()),
            None => DatabaseLocation::Sqlite(self.data_dir.path().join("trunkd.db")),
        }
    }

    pub fn as_(&self, identity: Identity) -> Client {
        Client {
            http: self.http.clone(),
            base: self.base.clone(),
            identity: Some(identity),
            token: None,
            bearer: None,
        }
    }

    /// A client that presents a Keystone token.
    pub fn with_token(&self, token: &str) -> Client {
        Client {
            http: self.http.clone(),
            base: self.base.clone(),
            identity: None,
            token: Some(token.to_string()),
            bearer: None,
        }
    }

    /// A client that presents a host agent's token.
    pub fn as_agent(&self, token: &str) -> Client {
        Client {
            http: self.http.clone(),
            base: self.base.clone(),
            identity: None,
            token: None,
            bearer: Some(token.to_string()),
        }
    }

    pub fn admin(&self) -> Client {
        self.as_(Identity::admin())
    }

    pub fn anonymous(&self) -> Client {
        Client {
            http: self.http.clone(),
            base: self.base.clone(),
            identity: None,
            token: None,
            bearer: None,
        }
    }

    /// Talks to the server with `http` (a client that trusts a test CA, for a TLS server).
    pub fn with_http(mut self, http: reqwest::Client) -> Server {
        self.http = http;
        self
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server process's resident memory in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read the server's /proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status")
    }

    /// Asks the server to stop as an init system does (SIGTERM) and waits for it to exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        terminate(&mut self.child, Duration::from_secs(30))
    }

    /// Stops the server and hands back its data, once no transaction of the server can still
    /// commit (on PostgreSQL its backends are gone).
    pub fn stop(mut self) -> Kept {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(database) = &self.database {
            database.wait_until_unused(Duration::from_secs(30));
        }
        let dir = tempfile::tempdir().expect("temp dir");
        Kept {
            data_dir: std::mem::replace(&mut self.data_dir, dir),
            database: self.database.take(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Identity {
    pub project: String,
    pub roles: String,
    pub user: String,
}

impl Identity {
    pub fn new(project: &str, roles: &str) -> Self {
        Self {
            project: project.into(),
            roles: roles.into(),
            user: format!("user-{project}-{}", roles.replace(',', "-")),
        }
    }
    pub fn admin() -> Self {
        Self::new("admin-project", "admin,member,reader")
    }
    pub fn member(project: &str) -> Self {
        Self::new(project, "member,reader")
    }
    pub fn reader(project: &str) -> Self {
        Self::new(project, "reader")
    }
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    pub base: String,
    identity: Option<Identity>,
    /// A Keystone token, sent as X-Auth-Token (for servers with `--auth keystone`).
    token: Option<String>,
    /// A host agent's token, sent as `Authorization: Bearer`.
    bearer: Option<String>,
}

/// A response: status, parsed JSON body (Null when empty) and headers.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The NeutronError type, asserting the body has Neutron's error shape.
    pub fn error_type(&self) -> String {
        assert_neutron_error(&self.body);
        self.body["NeutronError"]["type"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    pub fn message(&self) -> String {
        self.body["NeutronError"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }
    pub fn expect_error(self, status: u16, kind: &str) -> Reply {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.error_type(), kind, "body: {}", self.body);
        self
    }
}

pub fn assert_neutron_error(body: &Value) {
    let error = body
        .get("NeutronError")
        .unwrap_or_else(|| panic!("not a NeutronError body: {body}"));
    assert!(error["type"].is_string(), "type missing in {body}");
    assert!(error["message"].is_string(), "message missing in {body}");
    assert!(error.get("detail").is_some(), "detail missing in {body}");
    let text = body.to_string();
    assert!(
        !text.contains("panicked") && !text.contains("stack backtrace"),
        "{text}"
    );
}

impl Client {
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.send_with(method, path, body, &[]).await
    }

    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let request = self.request(method, path, body, headers);
        self.finish(request).await
    }

    /// Like `send`, but a request that does not reach trunkd or gets no whole answer (refused,
    /// reset: the server was killed) is an `Err` instead of a panic.
    pub async fn try_send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Reply, reqwest::Error> {
        let request = self.request(method, path, body, &[]);
        self.try_finish(request).await
    }

    /// Sends as this client and returns the status and the body as text, whatever it is.
    pub async fn send_for_text(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, String) {
        let response = self
            .request(method, path, body, &[])
            .send()
            .await
            .expect("request reaches trunkd");
        let status = response.status();
        (status, response.text().await.expect("body"))
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(identity) = &self.identity {
            request = request
                .header("X-Project-Id", &identity.project)
                .header("X-Roles", &identity.roles)
                .header("X-User-Id", &identity.user);
        }
        if let Some(token) = &self.token {
            request = request.header("X-Auth-Token", token);
        }
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request
    }

    pub async fn send_raw(&self, method: Method, path: &str, body: Vec<u8>) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(identity) = &self.identity {
            request = request
                .header("X-Project-Id", &identity.project)
                .header("X-Roles", &identity.roles);
        }
        self.finish(request).await
    }

    async fn finish(&self, request: reqwest::RequestBuilder) -> Reply {
        self.try_finish(request)
            .await
            .expect("request reaches trunkd and gets its answer")
    }

    async fn try_finish(&self, request: reqwest::RequestBuilder) -> Result<Reply, reqwest::Error> {
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("non-JSON body: {}", String::from_utf8_lossy(&bytes)))
        };
        if !status.is_success() {
            assert_neutron_error(&body);
        }
        Ok(Reply {
            status,
            body,
            headers,
        })
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    // fixtures

    pub async fn network(&self, extra: Value) -> String {
        let mut body = json!({"name": "net"});
        merge(&mut body, extra);
        let reply = self
            .post("/v2.0/networks", json!({ "network": body }))
            .await;
        id_of(reply.expect(201), "network")
    }

    /// A subnet on `network` (IPv4 unless `extra` says otherwise); its id.
    pub async fn subnet(&self, network: &str, extra: Value) -> String {
        let mut body = json!({"network_id": network, "ip_version": 4});
        merge(&mut body, extra);
        let reply = self.post("/v2.0/subnets", json!({ "subnet": body })).await;
        id_of(reply.expect(201), "subnet")
    }

    pub async fn port(&self, network: &str, extra: Value) -> String {
        let mut body = json!({"network_id": network});
        merge(&mut body, extra);
        let reply = self.post("/v2.0/ports", json!({ "port": body })).await;
        id_of(reply.expect(201), "port")
    }

    pub async fn ports(&self, network: &str, count: usize) -> Vec<String> {
        let items: Vec<Value> = (0..count).map(|_| json!({"network_id": network})).collect();
        let reply = self.post("/v2.0/ports", json!({ "ports": items })).await;
        reply.expect(201)["ports"]
            .as_array()
            .expect("ports list")
            .iter()
            .map(|p| p["id"].as_str().expect("id").to_string())
            .collect()
    }

    pub async fn trunk(&self, parent: &str, subports: Value) -> String {
        let reply = self
            .post(
                "/v2.0/trunks",
                json!({"trunk": {"port_id": parent, "name": "trunk", "sub_ports": subports}}),
            )
            .await;
        id_of(reply.expect(201), "trunk")
    }

    /// One unlabelled sample of `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics reachable")
            .text()
            .await
            .expect("metrics text");
        let prefix = format!("{name} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    }

    /// Committed changes not yet delivered to every driver.
    pub async fn pending_events(&self) -> f64 {
        self.metric("trunkd_outbox_pending_events").await
    }

    /// Polls `/metrics` until every committed change has reached the drivers.
    pub async fn wait_for_outbox_drained(&self) {
        kit::settle(
            Duration::from_secs(120),
            "the outbox to drain",
            || async move {
                let pending = self.pending_events().await;
                if pending == 0.0 {
                    Ok(())
                } else {
                    Err(format!("{pending} events pending"))
                }
            },
        )
        .await
    }

    /// Polls a trunk until it has `status` (the noop driver acts after commit).
    pub async fn wait_for_status(&self, trunk: &str, status: &str) -> Value {
        let what = format!("trunk {trunk} to reach {status}");
        kit::settle(Duration::from_secs(15), &what, || async move {
            let body = self.get(&format!("/v2.0/trunks/{trunk}")).await.expect(200);
            if body["trunk"]["status"] == status {
                Ok(body["trunk"].clone())
            } else {
                Err(body)
            }
        })
        .await
    }
}

pub fn vlan(port: &str, id: i64) -> Value {
    json!({"port_id": port, "segmentation_type": "vlan", "segmentation_id": id})
}

pub fn id_of(body: Value, resource: &str) -> String {
    body[resource]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no {resource}.id in {body}"))
        .to_string()
}

fn merge(base: &mut Value, extra: Value) {
    if let (Value::Object(base), Value::Object(extra)) = (base, extra) {
        base.extend(extra);
    }
}

/// Runs `trunkd agent-token` and returns (token, credentials-file entry).
pub fn agent_token(host: &str) -> (String, String) {
    let output = trunkd()
        .args(["agent-token", "--host", host])
        .output()
        .expect("run trunkd agent-token");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let token = text
        .lines()
        .find_map(|l| l.split("(keep it secret): ").nth(1))
        .expect("token line")
        .trim()
        .to_string();
    let entry = text[text.find("[[agents]]").expect("entry")..].to_string();
    (token, entry)
}
