//! The audit trail (extension `trunk-audit`, issue 20 item 4) over HTTP against a real server:
//! every change to a trunk is one entry, written with the change (a refused change leaves
//! none), saying who (and by which request) and what; the owner and admins read it, admins
//! also after the trunk is gone; pages, filters and retention; the access log names the caller.

use crate::common;

use common::{vlan, Client, Identity, Server};
use serde_json::{json, Value};

async fn trail(client: &Client, trunk: &str, query: &str) -> Value {
    client
        .get(&format!("/v2.0/trunks/{trunk}/audit{query}"))
        .await
        .expect(200)
}

fn entries(page: &Value) -> Vec<Value> {
    page["audit"].as_array().expect("audit list").clone()
}

fn actions(page: &Value) -> Vec<String> {
    entries(page)
        .iter()
        .map(|e| e["action"].as_str().expect("action").to_string())
        .collect()
}

#[tokio::test]
async fn every_change_is_one_entry_saying_who_and_what() {
    let server = Server::start();
    let owner = server.as_(Identity::member("audited"));
    let net = owner.network(json!({})).await;
    let parent = owner.port(&net, json!({})).await;
    let subs = owner.ports(&net, 2).await;
    let global = "req-5f0c2a56-8a53-4b61-9a3e-5e1c0a7b9d21";
    let created = owner
        .send_with(
            reqwest::Method::POST,
            "/v2.0/trunks",
            Some(
                json!({"trunk": {"port_id": parent, "name": "a", "sub_ports": [
                {"port_id": subs[0], "segmentation_type": "vlan", "segmentation_id": "auto"}]}}),
            ),
            &[("X-OpenStack-Request-ID", global)],
        )
        .await
        .expect(201);
    let trunk = created["trunk"]["id"].as_str().expect("id").to_string();
    owner
        .put(
            &format!("/v2.0/trunks/{trunk}"),
            json!({"trunk": {"name": "b"}}),
        )
        .await
        .expect(200);
    let added = owner
        .put(
            &format!("/v2.0/trunks/{trunk}/add_subports"),
            json!({"sub_ports": [vlan(&subs[1], 300)]}),
        )
        .await;
    let add_request = added
        .headers
        .get("x-openstack-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("request id")
        .to_string();
    added.expect(200);
    // A refused change leaves no entry.
    owner
        .put(
            &format!("/v2.0/trunks/{trunk}/add_subports"),
            json!({"sub_ports": [vlan(&parent, 301)]}),
        )
        .await
        .expect_error(409, "ParentPortInUse");
    owner
        .put(
            &format!("/v2.0/trunks/{trunk}/remove_subports"),
            json!({"sub_ports": [{"port_id": subs[0]}]}),
        )
        .await
        .expect(200);
    owner
        .put(&format!("/v2.0/trunks/{trunk}/tags/blue"), json!({}))
        .await
        .expect(201);

    let page = trail(&owner, &trunk, "").await;
    assert_eq!(
        actions(&page),
        [
            "created",
            "updated",
            "subports_added",
            "subports_removed",
            "updated"
        ],
        "{page}"
    );
    let all = entries(&page);
    let revisions: Vec<(i64, i64)> = all
        .iter()
        .map(|e| {
            (
                e["revision_before"].as_i64().expect("before"),
                e["revision_after"].as_i64().expect("after"),
            )
        })
        .collect();
    assert_eq!(revisions, [(0, 0), (0, 1), (1, 2), (2, 3), (3, 4)]);
    let create = &all[0];
    assert_eq!(create["actor"]["source"]["kind"], "api");
    assert_eq!(create["actor"]["project_id"], "audited");
    assert_eq!(create["actor"]["user_id"], Identity::member("audited").user);
    assert_eq!(create["actor"]["roles"], json!(["member", "reader"]));
    assert_eq!(create["actor"]["global_request_id"], global);
    assert_eq!(
        create["changes"]["sub_ports_added"],
        json!([{"port_id": subs[0], "segmentation_type": "vlan", "segmentation_id": 1}])
    );
    assert_eq!(
        all[1]["changes"]["attributes"],
        json!({"name": {"from": "a", "to": "b"}})
    );
    assert_eq!(all[2]["actor"]["request_id"], add_request.as_str());
    assert_eq!(
        all[2]["changes"]["sub_ports_added"][0]["segmentation_id"],
        300
    );
    assert_eq!(
        all[3]["changes"]["sub_ports_removed"][0]["port_id"],
        subs[0].as_str()
    );
    assert_eq!(all[4]["changes"]["tags"], json!(["blue"]));

    // Another project sees no trail, before the delete or after; the owner still sees who
    // deleted the trunk.
    let stranger = server.as_(Identity::member("elsewhere"));
    stranger
        .get(&format!("/v2.0/trunks/{trunk}/audit"))
        .await
        .expect_error(404, "TrunkNotFound");
    owner
        .delete(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(204);
    stranger
        .get(&format!("/v2.0/trunks/{trunk}/audit"))
        .await
        .expect_error(404, "TrunkNotFound");
    let after = trail(&owner, &trunk, "?action=deleted").await;
    assert_eq!(actions(&after), ["deleted"]);
    assert_eq!(
        entries(&after)[0]["actor"]["project_id"],
        "audited",
        "{after}"
    );
    assert_eq!(
        actions(&trail(&server.admin(), &trunk, "").await).len(),
        6,
        "admins read it too"
    );
    assert_eq!(
        entries(&after)[0]["changes"]["sub_ports_removed"][0]["segmentation_id"],
        300
    );
}

/// A bulk create records every trunk's entry and event, also past the rows one insert holds
/// (they are inserted together at the commit, 1,000 rows a statement).
#[tokio::test]
async fn a_bulk_create_of_more_trunks_than_one_insert_holds_records_each() {
    const TRUNKS: usize = 1_001;
    let server = Server::start_with(&["--port-quota", "-1"]);
    let owner = server.as_(Identity::member("audited"));
    let net = owner.network(json!({})).await;
    let parents = owner.ports(&net, TRUNKS).await;
    let trunks: Vec<Value> = parents
        .iter()
        .map(|parent| json!({"port_id": parent}))
        .collect();
    owner.wait_for_outbox_drained().await;
    let delivered = "trunkd_driver_deliveries_total";
    let before = owner.metric(delivered).await;
    let created = owner
        .post("/v2.0/trunks", json!({ "trunks": trunks }))
        .await
        .expect(201);
    let ids: Vec<String> = created["trunks"]
        .as_array()
        .expect("trunks")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(ids.len(), TRUNKS);
    for trunk in [&ids[0], &ids[999], &ids[1_000]] {
        assert_eq!(actions(&trail(&owner, trunk, "").await), vec!["created"]);
    }
    // A creation stands alone: one outbox row a trunk.
    owner.wait_for_outbox_drained().await;
    assert_eq!(owner.metric(delivered).await - before, TRUNKS as f64);
}

#[tokio::test]
async fn pages_and_filters() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let parent = admin.port(&net, json!({})).await;
    let trunk = admin.trunk(&parent, json!([])).await;
    for name in ["b", "c", "d", "e"] {
        admin
            .put(
                &format!("/v2.0/trunks/{trunk}"),
                json!({"trunk": {"name": name}}),
            )
            .await
            .expect(200);
    }
    let first = trail(&admin, &trunk, "?limit=2").await;
    assert_eq!(actions(&first), ["created", "updated"]);
    let next = first["audit_links"][0]["href"].as_str().expect("next link");
    let path = next
        .split_once("/v2.0")
        .map(|(_, p)| format!("/v2.0{p}"))
        .expect("path");
    let second = admin.get(&path).await.expect(200);
    assert_eq!(actions(&second), ["updated", "updated"]);
    assert!(entries(&second)[0]["id"].as_i64() > entries(&first)[1]["id"].as_i64());
    let only = trail(&admin, &trunk, "?action=created").await;
    assert_eq!(actions(&only), ["created"]);
    let future = trail(&admin, &trunk, "?since=2999-01-01T00:00:00Z").await;
    assert!(entries(&future).is_empty());
    for (query, name) in [
        ("?action=renamed", "action"),
        ("?limit=0", "limit"),
        ("?until=soon", "until"),
    ] {
        let reply = admin
            .get(&format!("/v2.0/trunks/{trunk}/audit{query}"))
            .await
            .expect_error(400, "HTTPBadRequest");
        assert!(reply.message().contains(name), "{}", reply.message());
    }
    admin
        .get(&format!("/v2.0/trunks/{}/audit", uuid_never_used()))
        .await
        .expect_error(404, "TrunkNotFound");
}

fn uuid_never_used() -> String {
    "7a0f0000-0000-4000-8000-000000000000".to_string()
}

#[tokio::test]
async fn status_moves_name_their_source_and_binding_moves_their_hosts() {
    let dir = tempfile::tempdir().expect("dir");
    let (token, entry) = common::agent_token("compute-1");
    let credentials = dir.path().join("agents.toml");
    std::fs::write(&credentials, entry).expect("write credentials");
    let log = dir.path().join("trunkd.log");
    let server = Server::start_traced(
        &[
            "--agent-credentials-file",
            credentials.to_str().expect("path"),
        ],
        &log,
        "info",
    );
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let parent = admin.port(&net, json!({})).await;
    let sub = admin.port(&net, json!({})).await;
    let trunk = admin.trunk(&parent, json!([vlan(&sub, 10)])).await;
    admin
        .put(
            &format!("/v2.0/ports/{parent}"),
            json!({"port": {"binding:host_id": "compute-1"}}),
        )
        .await
        .expect(200);
    let reply = reqwest::Client::new()
        .put(format!("{}/agent/v1/ports/status", server.base))
        .bearer_auth(&token)
        .json(&json!({"ports": [{"port_id": sub, "status": "DOWN"}]}))
        .send()
        .await
        .expect("agent reaches trunkd");
    assert_eq!(reply.status(), 200);

    let page = trail(&admin, &trunk, "").await;
    let all = entries(&page);
    let bound = all
        .iter()
        .find(|e| e["action"] == "parent_bound")
        .unwrap_or_else(|| panic!("no parent_bound entry: {page}"));
    assert_eq!(
        bound["changes"]["host"],
        json!({"from": "", "to": "compute-1"})
    );
    let moved = all
        .iter()
        .find(|e| e["action"] == "status_changed")
        .unwrap_or_else(|| panic!("no status_changed entry: {page}"));
    assert_eq!(
        moved["actor"]["source"],
        json!({"kind": "agent", "host": "compute-1"})
    );
    assert_eq!(moved["changes"]["status"]["from"], "ACTIVE");
    assert_eq!(moved["changes"]["status"]["to"], "DEGRADED");

    // A refusal says why; a second refusal for another reason is still an entry.
    let agent = reqwest::Client::new();
    for reason in ["no VLAN left", "bridge gone"] {
        let revision = admin
            .get(&format!("/v2.0/trunks/{trunk}"))
            .await
            .expect(200)["trunk"]["revision_number"]
            .clone();
        let reply = agent
            .put(format!("{}/agent/v1/trunks/{trunk}/verdict", server.base))
            .bearer_auth(&token)
            .json(&json!({"verdict": "refused", "reason": reason, "revision_number": revision}))
            .send()
            .await
            .expect("agent reaches trunkd");
        assert_eq!(reply.status(), 200, "{reason}");
    }
    let refusals = entries(&trail(&admin, &trunk, "?action=status_changed").await);
    let last_two: Vec<&Value> = refusals.iter().rev().take(2).rev().collect();
    assert_eq!(
        last_two[0]["changes"],
        json!({"status": {"from": "DEGRADED", "to": "ERROR"},
               "refusal": {"from": null, "to": "no VLAN left"}})
    );
    assert_eq!(
        last_two[1]["changes"],
        json!({"refusal": {"from": "no VLAN left", "to": "bridge gone"}})
    );

    // The access log names the caller and the client.
    let text = std::fs::read_to_string(&log).expect("log");
    let served = text
        .lines()
        .find(|l| l.contains("served") && l.contains("admin-project"))
        .unwrap_or_else(|| panic!("no access line with the project:\n{text}"));
    assert!(served.contains("127.0.0.1"), "{served}");
    assert!(served.contains("user"), "{served}");
}

#[tokio::test]
async fn rows_past_the_retention_are_pruned() {
    let server = Server::start_with(&["--audit-retention", "1", "--idempotency-retention", "1"]);
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let parent = admin.port(&net, json!({})).await;
    let trunk = admin.trunk(&parent, json!([])).await;
    assert_eq!(entries(&trail(&admin, &trunk, "").await).len(), 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if entries(&trail(&admin, &trunk, "").await).is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the entry outlived its retention by 9 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_extension_is_listed() {
    let server = Server::start();
    let reply = server
        .admin()
        .get("/v2.0/extensions/trunk-audit")
        .await
        .expect(200);
    assert_eq!(reply["extension"]["alias"], "trunk-audit");
}
