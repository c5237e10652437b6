//! Per-project quotas on networks and ports: Neutron's defaults (100
//! networks, 500 ports), `-1` for none, 409 `OverQuota` in Neutron's words, a bulk counted
//! whole and refused whole, and an admin creating for a project held to that project's quota.
//! Without them one member took every tenant segment with one bulk create and every other
//! project's network create failed with `NoNetworkAvailable`.

use crate::common;

use common::{Client, Identity, Server};
use serde_json::{json, Value};

fn empty_networks(count: usize) -> Value {
    let items: Vec<Value> = (0..count).map(|_| json!({})).collect();
    json!({ "networks": items })
}

async fn count(client: &Client, collection: &str) -> usize {
    client.get(&format!("/v2.0/{collection}")).await.expect(200)[collection]
        .as_array()
        .expect("list")
        .len()
}

#[tokio::test]
async fn a_bulk_of_9999_networks_by_a_member_is_refused_whole_and_others_still_create() {
    let server = Server::start();
    let mallory = server.as_(Identity::member("mallory"));
    let alice = server.as_(Identity::member("alice"));

    // 9,999 in one request: beyond the bulk cap (max_bulk_items, 4,094) before any quota.
    mallory
        .post("/v2.0/networks", empty_networks(9_999))
        .await
        .expect_error(400, "HTTPBadRequest");
    // Within the cap, the quota refuses the bulk whole.
    let refused = mallory
        .post("/v2.0/networks", empty_networks(4_094))
        .await
        .expect_error(409, "OverQuota");
    assert_eq!(
        refused.message(),
        "Quota exceeded for resources: ['network']."
    );
    assert_eq!(count(&mallory, "networks").await, 0, "nothing was written");

    // The default quota is Neutron's, 100: all of it in one bulk, then not one more.
    mallory
        .post("/v2.0/networks", empty_networks(100))
        .await
        .expect(201);
    mallory
        .post("/v2.0/networks", json!({"network": {}}))
        .await
        .expect_error(409, "OverQuota");
    assert_eq!(count(&mallory, "networks").await, 100);

    // Another project's quota is its own, and segments are left for it.
    alice.network(json!({})).await;
    assert_eq!(count(&alice, "networks").await, 1);
}

#[tokio::test]
async fn the_port_quota_counts_a_bulk_whole_and_holds_an_admin_creating_for_a_project() {
    let server = Server::start_with(&["--port-quota", "3"]);
    let alice = server.as_(Identity::member("alice"));
    let admin = server.admin();
    let net = alice.network(json!({})).await;
    alice.ports(&net, 2).await;

    // Two more would make four: the whole bulk is refused, nothing of it written.
    let bulk = json!({"ports": [{"network_id": net}, {"network_id": net}]});
    let refused = alice
        .post("/v2.0/ports", bulk)
        .await
        .expect_error(409, "OverQuota");
    assert_eq!(refused.message(), "Quota exceeded for resources: ['port'].");
    assert_eq!(count(&alice, "ports").await, 2);

    alice.port(&net, json!({})).await;
    alice
        .post("/v2.0/ports", json!({"port": {"network_id": net}}))
        .await
        .expect_error(409, "OverQuota");

    // An admin creating in alice's project is held to alice's quota ...
    admin
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net, "project_id": "alice"}}),
        )
        .await
        .expect_error(409, "OverQuota");
    assert_eq!(count(&alice, "ports").await, 3);
    // ... and creates in its own project against its own.
    admin.port(&net, json!({})).await;

    // A deleted port frees its place.
    let ports = alice.get("/v2.0/ports").await.expect(200);
    let first = ports["ports"][0]["id"].as_str().expect("id").to_string();
    alice
        .delete(&format!("/v2.0/ports/{first}"))
        .await
        .expect(204);
    alice.port(&net, json!({})).await;
}

#[tokio::test]
async fn an_admin_creating_networks_for_a_project_is_held_to_its_quota() {
    let server = Server::start_with(&["--network-quota", "2"]);
    let admin = server.admin();
    let bob = server.as_(Identity::member("bob"));
    bob.network(json!({})).await;
    let for_bob = json!({"networks": [{"project_id": "bob"}, {"project_id": "bob"}]});
    admin
        .post("/v2.0/networks", for_bob)
        .await
        .expect_error(409, "OverQuota");
    // A bulk for two projects: each counted against its own quota.
    let mixed = json!({"networks": [{"project_id": "bob"}, {"project_id": "carol"}]});
    admin.post("/v2.0/networks", mixed).await.expect(201);
    assert_eq!(count(&bob, "networks").await, 2);
    bob.post("/v2.0/networks", json!({"network": {}}))
        .await
        .expect_error(409, "OverQuota");
}

#[tokio::test]
async fn zero_refuses_every_create_and_minus_one_is_no_limit() {
    let server = Server::start_with(&["--network-quota", "0", "--port-quota", "-1"]);
    let member = server.as_(Identity::member("p"));
    member
        .post("/v2.0/networks", json!({"network": {}}))
        .await
        .expect_error(409, "OverQuota");
    let admin = server.admin();
    // The admin's own project is held too: 0 is 0 for everyone.
    admin
        .post("/v2.0/networks", json!({"network": {}}))
        .await
        .expect_error(409, "OverQuota");
    drop(server);

    let server = Server::start_with(&["--network-quota", "-1", "--port-quota", "-1"]);
    let admin = server.admin();
    admin
        .post("/v2.0/networks", empty_networks(150))
        .await
        .expect(201);
    let net = admin.network(json!({})).await;
    assert_eq!(admin.ports(&net, 600).await.len(), 600);
}

#[tokio::test]
async fn concurrent_creates_do_not_overshoot_the_quota() {
    let server = Server::start_with(&["--network-quota", "5"]);
    let member = server.as_(Identity::member("racer"));
    let attempts: Vec<_> = (0..12)
        .map(|_| {
            let member = member.clone();
            tokio::spawn(async move {
                member
                    .post("/v2.0/networks", json!({"network": {}}))
                    .await
                    .status
                    .as_u16()
            })
        })
        .collect();
    let mut created = 0;
    for attempt in attempts {
        match attempt.await.expect("task") {
            201 => created += 1,
            409 => {}
            other => panic!("a racing create answered {other}"),
        }
    }
    assert_eq!(created, 5);
    assert_eq!(count(&member, "networks").await, 5);
}

#[test]
fn quota_settings_are_checked_and_subnet_quota_exists() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let check = |args: &[&str], env: Option<(&str, &str)>| {
        let mut command = common::trunkd();
        command.arg("check-config").arg("--data-dir").arg(&data);
        command.args(args);
        if let Some((key, value)) = env {
            command.env(key, value);
        }
        command.output().expect("trunkd runs")
    };
    let migrated = common::trunkd()
        .arg("migrate")
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("trunkd runs");
    assert!(migrated.status.success(), "migrate failed");
    for (flag, variable, setting) in [
        ("--network-quota", "TRUNKD_NETWORK_QUOTA", "network_quota"),
        ("--subnet-quota", "TRUNKD_SUBNET_QUOTA", "subnet_quota"),
        ("--port-quota", "TRUNKD_PORT_QUOTA", "port_quota"),
    ] {
        for refused in [
            check(&[flag, "-2"], None),
            check(&[], Some((variable, "-3"))),
        ] {
            assert!(!refused.status.success(), "{setting} below -1 accepted");
            let stderr = String::from_utf8_lossy(&refused.stderr);
            assert!(stderr.contains(setting), "{stderr} does not name {setting}");
        }
        for accepted in [
            check(&[flag, "-1"], None),
            check(&[], Some((variable, "0"))),
        ] {
            assert!(
                accepted.status.success(),
                "{}",
                String::from_utf8_lossy(&accepted.stderr)
            );
        }
    }
    let file = dir.path().join("trunkd.toml");
    std::fs::write(
        &file,
        "network_quota = 10\nsubnet_quota = 10\nport_quota = 50\n",
    )
    .expect("write config");
    let file_arg = file.to_str().expect("utf-8 path");
    let accepted = check(&["--config", file_arg], None);
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    std::fs::write(&file, "subnet_quota = -7\n").expect("write config");
    let refused = check(&["--config", file_arg], None);
    assert!(!refused.status.success(), "subnet_quota = -7 accepted");
}
