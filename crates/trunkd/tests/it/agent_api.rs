//! The agent API: each host agent authenticates with its own token, sees only its host's
//! trunks, and its status reports are refused one by one when they are forged for another host
//! (403, logged), name an unknown status (400), come from a stale revision or take an illegal
//! edge of the state machine (409). Neutron's agent channel checks none of these.

use crate::common;

use common::{vlan, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Agent {
    token: String,
    base: String,
    http: reqwest::Client,
}

impl Agent {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("reaches trunkd");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            common::assert_neutron_error(&body);
        }
        (status, body)
    }

    async fn trunks(&self) -> Vec<Value> {
        let (status, body) = self
            .call(reqwest::Method::GET, "/agent/v1/trunks", None)
            .await;
        assert_eq!(status, 200, "{body}");
        body["trunks"].as_array().expect("trunks").clone()
    }

    async fn report(&self, trunk: &str, body: Value) -> (StatusCode, Value) {
        self.call(
            reqwest::Method::PUT,
            &format!("/agent/v1/trunks/{trunk}/status"),
            Some(body),
        )
        .await
    }
}

struct Setup {
    server: Server,
    compute1: Agent,
    compute2: Agent,
    trunk: String,
    subs: Vec<String>,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("dir");
    let (token1, entry1) = common::agent_token("compute-1");
    let (token2, entry2) = common::agent_token("compute-2");
    let credentials = dir.path().join("agents.toml");
    std::fs::write(&credentials, format!("{entry1}\n{entry2}")).expect("write credentials");
    let log = dir.path().join("trunkd.log");
    let server = Server::start_logged(
        &[
            "--noauth-default-admin",
            "--agent-credentials-file",
            credentials.to_str().expect("path"),
        ],
        &log,
    );
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    let parent = admin
        .port(&network, json!({"binding:host_id": "compute-1"}))
        .await;
    let subs = admin.ports(&network, 2).await;
    let trunk = admin
        .trunk(&parent, json!([vlan(&subs[0], 10), vlan(&subs[1], 20)]))
        .await;
    admin.wait_for_status(&trunk, "ACTIVE").await;
    let agent = |token: String| Agent {
        token,
        base: server.base.clone(),
        http: reqwest::Client::new(),
    };
    Setup {
        compute1: agent(token1),
        compute2: agent(token2),
        server,
        trunk,
        subs,
        log,
        _dir: dir,
    }
}

async fn trunk_now(server: &Server, trunk: &str) -> Value {
    server
        .admin()
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200)["trunk"]
        .clone()
}

#[tokio::test]
async fn agents_see_only_their_hosts_trunks() {
    let s = setup().await;
    let mine = s.compute1.trunks().await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["id"], s.trunk.as_str());
    let vlans: Vec<i64> = mine[0]["sub_ports"]
        .as_array()
        .expect("sub_ports")
        .iter()
        .map(|p| p["segmentation_id"].as_i64().expect("id"))
        .collect();
    assert_eq!(vlans, vec![10, 20]);
    assert!(mine[0]["parent"]["mac_address"].is_string());
    assert!(s.compute2.trunks().await.is_empty());
}

#[tokio::test]
async fn the_agent_api_takes_only_agent_tokens() {
    let s = setup().await;
    let http = reqwest::Client::new();
    let url = format!("{}/agent/v1/trunks", s.server.base);
    let anonymous = http.get(&url).send().await.expect("reaches");
    assert_eq!(anonymous.status(), 401);
    let guessed = http
        .get(&url)
        .bearer_auth("not-a-token")
        .send()
        .await
        .expect("reaches");
    assert_eq!(guessed.status(), 401);
    // noauth identity headers, even an admin's with the service role, are not an agent.
    let headers = http
        .get(&url)
        .header("X-Project-Id", "admin")
        .header("X-Roles", "admin,service")
        .send()
        .await
        .expect("reaches");
    assert_eq!(headers.status(), 401);
    let body: Value = headers.json().await.expect("json");
    common::assert_neutron_error(&body);
}

#[tokio::test]
async fn a_report_forged_for_another_host_is_refused_and_logged() {
    let s = setup().await;
    let before = trunk_now(&s.server, &s.trunk).await;
    let revision = before["revision_number"].clone();
    let (status, body) = s
        .compute2
        .report(
            &s.trunk,
            json!({"status": "ERROR", "revision_number": revision}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["NeutronError"]["type"], "PolicyNotAuthorized");
    assert_eq!(
        trunk_now(&s.server, &s.trunk).await,
        before,
        "nothing changed"
    );
    let log = std::fs::read_to_string(&s.log).expect("log");
    assert!(
        log.contains("refused a status report") && log.contains("compute-2"),
        "the refusal is logged: {log}"
    );
}

#[tokio::test]
async fn an_unknown_status_or_a_missing_revision_is_a_400_naming_the_field() {
    let s = setup().await;
    let before = trunk_now(&s.server, &s.trunk).await;
    let revision = before["revision_number"].clone();
    let (status, body) = s
        .compute1
        .report(
            &s.trunk,
            json!({"status": "GREEN", "revision_number": revision}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["NeutronError"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("status"));
    let (status, body) = s
        .compute1
        .report(&s.trunk, json!({"status": "ACTIVE"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["NeutronError"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("revision_number"));
    let (status, _) = s
        .compute1
        .report(
            &s.trunk,
            json!({"status": "BUILD", "revision_number": revision, "extra": 1}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        trunk_now(&s.server, &s.trunk).await,
        before,
        "nothing changed"
    );
}

#[tokio::test]
async fn stale_revisions_and_illegal_transitions_are_409s() {
    let s = setup().await;
    let revision = trunk_now(&s.server, &s.trunk).await["revision_number"]
        .as_i64()
        .expect("revision");
    let (status, body) = s
        .compute1
        .report(
            &s.trunk,
            json!({"status": "BUILD", "revision_number": revision - 1}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["NeutronError"]["type"], "StaleRevision");

    // ACTIVE -> ERROR is legal; ERROR -> ACTIVE is not (only ERROR -> BUILD).
    let (status, body) = s
        .compute1
        .report(
            &s.trunk,
            json!({"status": "ERROR", "revision_number": revision}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let after_error = body["trunk"]["revision_number"].as_i64().expect("revision");
    assert_eq!(after_error, revision + 1);
    let (status, body) = s
        .compute1
        .report(
            &s.trunk,
            json!({"status": "ACTIVE", "revision_number": after_error}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["NeutronError"]["type"], "InvalidStatusTransition");
    let now = trunk_now(&s.server, &s.trunk).await;
    assert_eq!(now["status"], "ERROR");
    assert_eq!(now["revision_number"], after_error);

    let (status, body) = s
        .compute1
        .report(
            &s.trunk,
            json!({"status": "BUILD", "revision_number": after_error}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = s
        .compute1
        .report(
            "00000000-0000-4000-8000-000000000000",
            json!({"status": "BUILD", "revision_number": 1}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn subports_are_bound_to_the_parents_host_by_its_agent_only() {
    let s = setup().await;
    let path = format!("/agent/v1/trunks/{}/bind_subports", s.trunk);
    let (status, body) = s.compute2.call(reqwest::Method::PUT, &path, None).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = s.compute1.call(reqwest::Method::PUT, &path, None).await;
    assert_eq!(status, 200, "{body}");
    let admin = s.server.admin();
    for sub in &s.subs {
        let port = admin.get(&format!("/v2.0/ports/{sub}")).await.expect(200);
        assert_eq!(port["port"]["binding:host_id"], "compute-1");
        assert_eq!(port["port"]["binding:vif_type"], "ovs");
    }
    // Again: nothing left to change.
    let (_, body) = s.compute1.call(reqwest::Method::PUT, &path, None).await;
    assert_eq!(body["rebound_ports"], json!([]));
}
