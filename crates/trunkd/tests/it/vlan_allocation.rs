//! Server-side VLAN allocation (extension `trunk-vlan-allocation`, issue 20 item 1), over HTTP
//! against a real server: `"segmentation_id": "auto"` takes the lowest ID free on the trunk,
//! explicit IDs are honoured, freed IDs rest for `vlan_reuse_cooldown`, a full trunk is a 409
//! that changes nothing, and two servers on one database never hand out one ID twice.

use crate::common;

use std::collections::HashSet;

use common::invariants::check_invariants;
use common::{vlan, Client, Server};
use serde_json::{json, Value};

fn auto(port: &str) -> Value {
    json!({"port_id": port, "segmentation_type": "vlan", "segmentation_id": "auto"})
}

/// `(port_id, segmentation_id)` of each subport, in the order the trunk lists them.
fn segmentation(trunk: &Value) -> Vec<(String, i64)> {
    trunk["sub_ports"]
        .as_array()
        .expect("sub_ports list")
        .iter()
        .map(|s| {
            (
                s["port_id"].as_str().expect("port_id").to_string(),
                s["segmentation_id"].as_i64().expect("segmentation_id"),
            )
        })
        .collect()
}

fn id_of(trunk: &Value, port: &str) -> i64 {
    segmentation(trunk)
        .into_iter()
        .find(|(p, _)| p == port)
        .map(|(_, id)| id)
        .unwrap_or_else(|| panic!("{port} is not a subport of {trunk}"))
}

async fn add(client: &Client, trunk: &str, subports: Value) -> Value {
    client
        .put(
            &format!("/v2.0/trunks/{trunk}/add_subports"),
            json!({ "sub_ports": subports }),
        )
        .await
        .expect(200)
}

async fn remove(client: &Client, trunk: &str, port: &str) {
    client
        .put(
            &format!("/v2.0/trunks/{trunk}/remove_subports"),
            json!({"sub_ports": [{"port_id": port}]}),
        )
        .await
        .expect(200);
}

#[tokio::test]
async fn auto_takes_the_lowest_free_ids_after_the_explicit_ones() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let parent = admin.port(&net, json!({})).await;
    let subs = admin.ports(&net, 6).await;
    let created = admin
        .post(
            "/v2.0/trunks",
            json!({"trunk": {"port_id": parent, "sub_ports": [auto(&subs[0]), vlan(&subs[1], 3)]}}),
        )
        .await
        .expect(201)["trunk"]
        .clone();
    assert_eq!(
        segmentation(&created),
        vec![(subs[0].clone(), 1), (subs[1].clone(), 3)],
        "a create allocates in its own transaction"
    );
    let trunk = created["id"].as_str().expect("id").to_string();
    // An explicit ID later in the request is reserved before any auto entry is given one.
    let added = add(
        &admin,
        &trunk,
        json!([
            auto(&subs[2]),
            vlan(&subs[3], 2),
            auto(&subs[4]),
            auto(&subs[5])
        ]),
    )
    .await;
    assert_eq!(id_of(&added, &subs[2]), 4);
    assert_eq!(id_of(&added, &subs[3]), 2);
    assert_eq!(id_of(&added, &subs[4]), 5);
    assert_eq!(id_of(&added, &subs[5]), 6);
    // What the add answered is what is stored.
    let shown = admin
        .get(&format!("/v2.0/trunks/{trunk}/get_subports"))
        .await
        .expect(200);
    let stored: HashSet<(String, i64)> = segmentation(&shown).into_iter().collect();
    let answered: HashSet<(String, i64)> = segmentation(&added).into_iter().collect();
    assert_eq!(stored, answered);
    check_invariants(&server, "auto ids").await;
}

#[tokio::test]
async fn a_freed_id_rests_for_the_cooldown_but_an_explicit_id_is_honoured() {
    let server = Server::start_with(&["--vlan-reuse-cooldown", "2"]);
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let parent = admin.port(&net, json!({})).await;
    let subs = admin.ports(&net, 4).await;
    let trunk = admin.trunk(&parent, json!([auto(&subs[0])])).await;
    remove(&admin, &trunk, &subs[0]).await;
    let added = add(&admin, &trunk, json!([auto(&subs[1])])).await;
    assert_eq!(
        id_of(&added, &subs[1]),
        2,
        "ID 1 was freed a moment ago: it rests"
    );
    let added = add(&admin, &trunk, json!([vlan(&subs[2], 1)])).await;
    assert_eq!(
        id_of(&added, &subs[2]),
        1,
        "an explicit free ID is honoured while it rests"
    );
    remove(&admin, &trunk, &subs[2]).await;
    tokio::time::sleep(std::time::Duration::from_millis(2_300)).await;
    let added = add(&admin, &trunk, json!([auto(&subs[3])])).await;
    assert_eq!(
        id_of(&added, &subs[3]),
        1,
        "after the cooldown the lowest ID is handed out again"
    );
}

#[tokio::test]
async fn without_a_cooldown_a_freed_id_is_handed_out_at_once() {
    let server = Server::start_with(&["--vlan-reuse-cooldown", "0"]);
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let parent = admin.port(&net, json!({})).await;
    let subs = admin.ports(&net, 2).await;
    let trunk = admin.trunk(&parent, json!([auto(&subs[0])])).await;
    remove(&admin, &trunk, &subs[0]).await;
    let added = add(&admin, &trunk, json!([auto(&subs[1])])).await;
    assert_eq!(id_of(&added, &subs[1]), 1);
}

#[tokio::test]
async fn a_full_trunk_is_a_409_that_changes_nothing() {
    let server = Server::start_with(&["--port-quota", "-1"]);
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let parent = admin.port(&net, json!({})).await;
    let mut subs = admin.ports(&net, 4094).await;
    subs.extend(admin.ports(&net, 1).await);
    let trunk = admin.trunk(&parent, json!([])).await;
    // All 4,094 in one call: one transaction, IDs 1 to 4094 in request order.
    let entries: Vec<Value> = subs[..4094].iter().map(|p| auto(p)).collect();
    let full = add(&admin, &trunk, Value::Array(entries)).await;
    let ids: Vec<i64> = segmentation(&full).into_iter().map(|(_, id)| id).collect();
    assert_eq!(ids, (1..=4094).collect::<Vec<_>>());
    let revision = full["revision_number"].as_i64();

    let refused = admin
        .put(
            &format!("/v2.0/trunks/{trunk}/add_subports"),
            json!({"sub_ports": [auto(&subs[4094])]}),
        )
        .await
        .expect_error(409, "NoVlanIdAvailable");
    let message = refused.message();
    assert!(
        message.contains("sub_ports[0].segmentation_id") && message.contains("4094 in use"),
        "the message says which entry and why: {message}"
    );
    let after = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200)["trunk"]
        .clone();
    assert_eq!(after["revision_number"].as_i64(), revision);
    assert_eq!(segmentation(&after).len(), 4094);
    let port = admin
        .get(&format!("/v2.0/ports/{}", subs[4094]))
        .await
        .expect(200);
    assert_eq!(
        port["port"]["device_owner"], "",
        "the refused port did not join"
    );
}

#[tokio::test]
async fn bad_segmentation_ids_are_400s_naming_the_entry() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let parent = admin.port(&net, json!({})).await;
    let subs = admin.ports(&net, 2).await;
    let trunk = admin.trunk(&parent, json!([])).await;
    let path = format!("/v2.0/trunks/{trunk}/add_subports");
    for (entry, field) in [
        (
            json!({"port_id": subs[0], "segmentation_type": "vlan", "segmentation_id": "automatic"}),
            "sub_ports[1].segmentation_id",
        ),
        (
            json!({"port_id": subs[0], "segmentation_type": "inherit", "segmentation_id": "auto"}),
            "sub_ports[1].segmentation_id",
        ),
        (
            json!({"port_id": subs[0], "segmentation_type": "vlan"}),
            "sub_ports[1].segmentation_id",
        ),
    ] {
        let reply = admin
            .put(&path, json!({"sub_ports": [vlan(&subs[1], 7), entry]}))
            .await
            .expect_error(400, "HTTPBadRequest");
        assert!(
            reply.message().contains(field),
            "the message names {field}: {}",
            reply.message()
        );
    }
    let after = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200)["trunk"]
        .clone();
    assert_eq!(after["revision_number"], 0, "nothing changed: {after}");
    assert!(segmentation(&after).is_empty());
}

#[tokio::test]
async fn a_missing_id_is_allocated_when_the_operator_turns_it_on() {
    let server = Server::start_with(&["--vlan-allocate-missing"]);
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let parent = admin.port(&net, json!({})).await;
    let subs = admin.ports(&net, 2).await;
    let trunk = admin.trunk(&parent, json!([vlan(&subs[0], 1)])).await;
    let added = add(
        &admin,
        &trunk,
        json!([{"port_id": subs[1], "segmentation_type": "vlan"}]),
    )
    .await;
    assert_eq!(id_of(&added, &subs[1]), 2);
}

#[tokio::test]
async fn the_extension_is_listed() {
    let server = Server::start();
    let reply = server
        .admin()
        .get("/v2.0/extensions/trunk-vlan-allocation")
        .await
        .expect(200);
    assert_eq!(reply["extension"]["alias"], "trunk-vlan-allocation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_never_hand_out_one_id_twice() {
    const RACERS: usize = 8;
    const PER_CALL: usize = 5;
    let first = Server::start();
    let second = first.start_beside(&[]);
    let clients = [first.admin(), second.admin()];
    let admin = &clients[0];
    let net = admin.network(json!({})).await;
    let parent = admin.port(&net, json!({})).await;
    let subs = admin.ports(&net, RACERS * PER_CALL).await;
    let trunk = admin.trunk(&parent, json!([])).await;
    let tasks: Vec<_> = subs
        .chunks(PER_CALL)
        .enumerate()
        .map(|(index, ports)| {
            let client = clients[index % clients.len()].clone();
            let path = format!("/v2.0/trunks/{trunk}/add_subports");
            let body = json!({"sub_ports": ports.iter().map(|p| auto(p)).collect::<Vec<_>>()});
            tokio::spawn(async move { client.put(&path, body).await.status.as_u16() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task"), 200, "every racer gets its IDs");
    }
    let shown = admin
        .get(&format!("/v2.0/trunks/{trunk}/get_subports"))
        .await
        .expect(200);
    let mut ids: Vec<i64> = segmentation(&shown).into_iter().map(|(_, id)| id).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (1..=(RACERS * PER_CALL) as i64).collect::<Vec<_>>(),
        "distinct IDs, and the lowest ones"
    );
    check_invariants(&first, "racing allocations").await;
}
