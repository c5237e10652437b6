//! Segment allocation: a network create finds the lowest free
//! segmentation id without reading the ids in use, so its cost does not grow with them, and a
//! bulk of N networks walks the taken ids once, not N times. The server's statement log (sqlx
//! at debug, each line inside its request's span, with `rows_returned`) shows what each
//! create read. The allocation rules stay: lowest free id first (a freed one is reused), an
//! explicit id taken is a 409, and exhaustion is a 409 `NoNetworkAvailable`.

use crate::common;

use common::Server;
use serde_json::{json, Value};

/// (statements, rows they returned) the server logged inside the request `request_id`.
fn reads_of(log: &str, request_id: &str) -> (usize, u64) {
    let mut statements = 0;
    let mut rows = 0;
    for line in log
        .lines()
        .filter(|line| line.contains(request_id) && common::is_statement_line(line))
    {
        statements += 1;
        let returned = line
            .split("rows_returned=")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|digits| digits.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no rows_returned in {line}"));
        rows += returned;
    }
    (statements, rows)
}

fn request_id(reply: &common::Reply) -> String {
    reply
        .headers
        .get("x-openstack-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("request id header")
        .to_string()
}

fn segments(body: &Value) -> Vec<i64> {
    body["networks"]
        .as_array()
        .expect("networks")
        .iter()
        .map(|n| n["provider:segmentation_id"].as_i64().expect("segment"))
        .collect()
}

fn empty_networks(count: usize) -> Value {
    let items: Vec<Value> = (0..count).map(|_| json!({})).collect();
    json!({ "networks": items })
}

#[tokio::test]
async fn allocation_reads_do_not_grow_with_the_ids_in_use() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("server.log");
    let server = Server::start_traced(
        &["--network-quota", "-1"],
        &log_path,
        &format!(
            "warn,trunkd::api::request_id=info,{}",
            common::STATEMENTS_AT_DEBUG
        ),
    );
    let admin = server.admin();
    let first = admin
        .post("/v2.0/networks", empty_networks(400))
        .await
        .expect(201);
    assert_eq!(segments(&first), (1..=400).collect::<Vec<i64>>());

    // One network with 400 ids in use, then a bulk of 200 with 401 in use.
    let one = admin.post("/v2.0/networks", json!({"network": {}})).await;
    let one_id = request_id(&one);
    assert_eq!(one.expect(201)["network"]["provider:segmentation_id"], 401);
    let bulk = admin.post("/v2.0/networks", empty_networks(200)).await;
    let bulk_id = request_id(&bulk);
    assert_eq!(
        segments(&bulk.expect(201)),
        (402..=601).collect::<Vec<i64>>()
    );
    drop(server);

    let log = std::fs::read_to_string(&log_path).expect("server log");
    let (statements, rows) = reads_of(&log, &one_id);
    assert!(statements > 2, "the statement log was not captured");
    assert!(
        rows <= 8,
        "creating one network beside 400 read {rows} rows in {statements} statements"
    );
    let (statements, rows) = reads_of(&log, &bulk_id);
    assert!(
        rows <= 8 * 200,
        "a bulk of 200 networks beside 401 read {rows} rows in {statements} statements"
    );
    assert!(
        statements <= 8 * 200,
        "a bulk of 200 networks took {statements} statements"
    );
}

#[tokio::test]
async fn the_lowest_free_id_is_taken_and_the_rules_hold() {
    let server = Server::start_with(&[
        "--vxlan-range",
        "5:9",
        "--network-vlan-range",
        "physnet1:300:301",
        "--network-vlan-range",
        "physnet1:100:101",
        "--network-vlan-range",
        "physnet2:7:7",
    ]);
    let admin = server.admin();
    // Explicit ids inside the range, given in the same bulk as allocated ones.
    let mixed = json!({"networks": [
        {},
        {"provider:network_type": "vxlan", "provider:segmentation_id": 6},
        {},
        {"provider:network_type": "vxlan", "provider:segmentation_id": 9},
    ]});
    let body = admin.post("/v2.0/networks", mixed).await.expect(201);
    assert_eq!(segments(&body), vec![5, 6, 7, 9]);
    admin
        .post(
            "/v2.0/networks",
            json!({"network": {"provider:network_type": "vxlan", "provider:segmentation_id": 7}}),
        )
        .await
        .expect_error(409, "TunnelIdInUse");
    // An explicit id outside the range is the admin's to choose.
    admin
        .post(
            "/v2.0/networks",
            json!({"network": {"provider:network_type": "vxlan", "provider:segmentation_id": 50}}),
        )
        .await
        .expect(201);
    let eight = admin
        .post("/v2.0/networks", json!({"network": {}}))
        .await
        .expect(201);
    assert_eq!(eight["network"]["provider:segmentation_id"], 8);
    admin
        .post("/v2.0/networks", json!({"network": {}}))
        .await
        .expect_error(409, "NoNetworkAvailable");

    // A freed id is reused, lowest first.
    let six = body["networks"][1]["id"].as_str().expect("id");
    admin
        .delete(&format!("/v2.0/networks/{six}"))
        .await
        .expect(204);
    admin
        .post("/v2.0/networks", empty_networks(2))
        .await
        .expect_error(409, "NoNetworkAvailable");
    let reused = admin
        .post("/v2.0/networks", json!({"network": {}}))
        .await
        .expect(201);
    assert_eq!(reused["network"]["provider:segmentation_id"], 6);

    // VLAN: the ranges of the physical network in the order configured, each to its end,
    // and another physical network's ids are its own.
    let vlan = json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1"});
    let vlans = json!({"networks": [vlan.clone(), vlan.clone(), vlan.clone(), vlan.clone()]});
    let body = admin.post("/v2.0/networks", vlans).await.expect(201);
    assert_eq!(segments(&body), vec![300, 301, 100, 101]);
    admin
        .post("/v2.0/networks", json!({"network": vlan}))
        .await
        .expect_error(409, "NoNetworkAvailable");
    let other = json!({"provider:network_type": "vlan", "provider:physical_network": "physnet2"});
    let body = admin
        .post("/v2.0/networks", json!({"network": other}))
        .await
        .expect(201);
    assert_eq!(body["network"]["provider:segmentation_id"], 7);
    admin
        .post(
            "/v2.0/networks",
            json!({"network": {"provider:network_type": "vlan",
                "provider:physical_network": "physnet1", "provider:segmentation_id": 100}}),
        )
        .await
        .expect_error(409, "VlanIdInUse");
}
