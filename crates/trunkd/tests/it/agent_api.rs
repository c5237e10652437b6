//! The agent API: each host agent authenticates with its own token, sees only its host's
//! trunks, and its reports (port states, verdicts on trunks) are refused whole when they are
//! about another host's ports or trunks (403, logged, nothing written), name an unknown status
//! or verdict (400 naming the field), or judge a stale revision (409). A report moves no
//! trunk status directly: the status follows from the ports and the verdict. Neutron's agent
//! channel checks none of these.

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

    async fn verdict(&self, trunk: &str, body: Value) -> (StatusCode, Value) {
        self.call(
            reqwest::Method::PUT,
            &format!("/agent/v1/trunks/{trunk}/verdict"),
            Some(body),
        )
        .await
    }

    async fn ports(&self, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PUT, "/agent/v1/ports/status", Some(body))
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
        .verdict(
            &s.trunk,
            json!({"verdict": "refused", "reason": "forged", "revision_number": revision}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["NeutronError"]["type"], "PolicyNotAuthorized");
    // One port of another host spoils the whole report.
    let (status, body) = s
        .compute2
        .ports(json!({"ports": [{"port_id": s.subs[0], "status": "DOWN"}]}))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        trunk_now(&s.server, &s.trunk).await,
        before,
        "nothing changed"
    );
    let log = std::fs::read_to_string(&s.log).expect("log");
    assert!(
        log.contains("refused a verdict") && log.contains("compute-2"),
        "the refused verdict is logged: {log}"
    );
    assert!(
        log.contains("refused a port report"),
        "the refused port report is logged: {log}"
    );
}

#[tokio::test]
async fn bad_reports_are_400s_naming_the_field_and_change_nothing() {
    let s = setup().await;
    let before = trunk_now(&s.server, &s.trunk).await;
    let revision = before["revision_number"].clone();
    let message = |body: &Value| {
        body["NeutronError"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let verdicts = [
        (
            json!({"verdict": "GREEN", "revision_number": revision}),
            "verdict",
        ),
        (json!({"verdict": "wired"}), "revision_number"),
        (
            json!({"verdict": "refused", "revision_number": revision}),
            "reason",
        ),
        (
            json!({"verdict": "wired", "reason": "x", "revision_number": revision}),
            "reason",
        ),
        (
            json!({"verdict": "wired", "revision_number": revision, "extra": 1}),
            "extra",
        ),
    ];
    for (body, field) in verdicts {
        let (status, answer) = s.compute1.verdict(&s.trunk, body.clone()).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert!(message(&answer).contains(field), "{body} -> {answer}");
    }
    let reports = [
        (
            json!({"ports": [{"port_id": s.subs[0], "status": "BUILD"}]}),
            "ports[0].status",
        ),
        (
            json!({"ports": [{"port_id": "not-a-uuid", "status": "ACTIVE"}]}),
            "ports[0].port_id",
        ),
        (json!({"ports": [{"status": "ACTIVE"}]}), "ports[0].port_id"),
        (json!({}), "ports"),
    ];
    for (body, field) in reports {
        let (status, answer) = s.compute1.ports(body.clone()).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert!(message(&answer).contains(field), "{body} -> {answer}");
    }
    assert_eq!(
        trunk_now(&s.server, &s.trunk).await,
        before,
        "nothing changed"
    );
}

#[tokio::test]
async fn a_refusal_is_error_with_its_reason_until_wired_and_port_reports_move_status() {
    let s = setup().await;
    let revision = trunk_now(&s.server, &s.trunk).await["revision_number"]
        .as_i64()
        .expect("revision");
    let (status, body) = s
        .compute1
        .verdict(
            &s.trunk,
            json!({"verdict": "wired", "revision_number": revision - 1}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["NeutronError"]["type"], "StaleRevision");

    let (status, body) = s
        .compute1
        .verdict(
            &s.trunk,
            json!({"verdict": "refused", "reason": "no local VLAN left", "revision_number": revision}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let refused = body["trunk"]["revision_number"].as_i64().expect("revision");
    assert_eq!(refused, revision + 1);
    let now = trunk_now(&s.server, &s.trunk).await;
    assert_eq!(now["status"], "ERROR");
    assert_eq!(
        now["status_reason"],
        json!({"code": "driver_refused", "message": "no local VLAN left"})
    );
    // The agent sees the standing refusal, so it need not repeat it every pass.
    assert_eq!(
        s.compute1.trunks().await[0]["refusal"],
        "no local VLAN left"
    );
    let (status, body) = s
        .compute1
        .verdict(
            &s.trunk,
            json!({"verdict": "wired", "revision_number": refused}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let now = trunk_now(&s.server, &s.trunk).await;
    assert_eq!(
        (&now["status"], &now["status_reason"]),
        (&json!("ACTIVE"), &Value::Null)
    );

    // The agent unwires a subport: DEGRADED, and that subport says why.
    let (status, body) = s
        .compute1
        .ports(json!({"ports": [{"port_id": s.subs[1], "status": "DOWN"}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed_ports"], 1);
    let now = trunk_now(&s.server, &s.trunk).await;
    assert_eq!(now["status"], "DEGRADED");
    assert_eq!(now["status_reason"]["code"], "subports_not_active");
    let statuses = now["sub_ports_status"].as_array().expect("statuses");
    assert_eq!(statuses[0]["status"], "ACTIVE");
    assert_eq!(statuses[1]["port_id"], json!(s.subs[1]));
    assert_eq!(statuses[1]["status"], "DOWN");
    assert_eq!(statuses[1]["status_reason"]["code"], "not_claimed");
    let (status, _) = s
        .compute1
        .ports(json!({"ports": [{"port_id": s.subs[1], "status": "ACTIVE"}]}))
        .await;
    assert_eq!(status, 200);
    let now = trunk_now(&s.server, &s.trunk).await;
    assert_eq!(now["status"], "ACTIVE");

    // Refused again; the parent moves to another host, whose drivers judge it afresh.
    let (status, _) = s
        .compute1
        .verdict(
            &s.trunk,
            json!({"verdict": "refused", "reason": "full", "revision_number": now["revision_number"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(trunk_now(&s.server, &s.trunk).await["status"], "ERROR");
    s.server
        .admin()
        .put(
            &format!("/v2.0/ports/{}", now["port_id"].as_str().expect("parent")),
            json!({"port": {"binding:host_id": "compute-2"}}),
        )
        .await
        .expect(200);
    let moved = trunk_now(&s.server, &s.trunk).await;
    assert_eq!(
        (&moved["status"], &moved["status_reason"]),
        (&json!("ACTIVE"), &Value::Null),
        "the move cleared the refusal: {moved}"
    );

    let (status, body) = s
        .compute1
        .verdict(
            "00000000-0000-4000-8000-000000000000",
            json!({"verdict": "wired", "revision_number": 1}),
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
