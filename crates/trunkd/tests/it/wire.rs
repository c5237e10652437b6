//! The Neutron wire format: discovery, error bodies, bad input, list features, tags, auth.

use crate::common;

use common::{vlan, Identity, Server};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn discovery_lists_versions_resources_and_extensions() {
    let server = Server::start();
    let client = server.admin();
    let versions = client.get("/").await.expect(200);
    assert_eq!(versions["versions"][0]["id"], "v2.0");
    assert_eq!(versions["versions"][0]["status"], "CURRENT");
    let resources = client.get("/v2.0/").await.expect(200);
    let collections: Vec<&str> = resources["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["collection"].as_str())
        .collect();
    assert_eq!(collections, ["networks", "subnets", "ports", "trunks"]);
    let extensions = client.get("/v2.0/extensions").await.expect(200);
    let aliases: Vec<&str> = extensions["extensions"]
        .as_array()
        .expect("extensions")
        .iter()
        .filter_map(|e| e["alias"].as_str())
        .collect();
    for needed in [
        "trunk",
        "trunk-details",
        "binding",
        "provider",
        "net-mtu",
        "standard-attr-revisions",
        "standard-attr-timestamp",
        "standard-attr-tag",
        "project-id",
        "pagination",
        "sorting",
        "filter-validation",
    ] {
        assert!(
            aliases.contains(&needed),
            "extension {needed} missing from {aliases:?}"
        );
    }
    client.get("/v2.0/extensions/trunk").await.expect(200);
    client
        .get("/v2.0/extensions/nope")
        .await
        .expect_error(404, "ExtensionNotFound");
}

#[tokio::test]
async fn every_response_has_a_request_id_and_errors_are_neutron_errors() {
    let server = Server::start();
    let client = server.admin();
    let ok = client.get("/v2.0/trunks").await;
    let id = ok
        .headers
        .get("x-openstack-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(id.starts_with("req-"), "{id}");
    client
        .get("/v2.0/nothing-here")
        .await
        .expect_error(404, "HTTPNotFound");
    client
        .send(Method::PATCH, "/v2.0/trunks", None)
        .await
        .expect_error(405, "HTTPMethodNotAllowed");
    client
        .get("/v2.0/trunks/not-a-uuid")
        .await
        .expect_error(404, "TrunkNotFound");
    client
        .get(&format!("/v2.0/ports/{}", uuid::Uuid::new_v4()))
        .await
        .expect_error(404, "PortNotFound");
    client
        .get(&format!("/v2.0/networks/{}", uuid::Uuid::new_v4()))
        .await
        .expect_error(404, "NetworkNotFound");
}

#[tokio::test]
async fn bad_bodies_are_400_naming_the_field_and_write_nothing() {
    let server = Server::start();
    let client = server.admin();
    let net = client.network(json!({})).await;
    let parent = client.port(&net, json!({})).await;
    let long = "x".repeat(256);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"trunk": {"port_id": parent, "name": long}}), "name"),
        (
            json!({"trunk": {"port_id": parent, "description": long}}),
            "description",
        ),
        (json!({"trunk": {"port_id": parent, "name": 5}}), "name"),
        (
            json!({"trunk": {"port_id": parent, "admin_state_up": "maybe"}}),
            "admin_state_up",
        ),
        (json!({"trunk": {"port_id": "not-a-uuid"}}), "port_id"),
        (
            json!({"trunk": {"port_id": parent, "colour": "red"}}),
            "colour",
        ),
        (
            json!({"trunk": {"port_id": parent, "sub_ports": "all"}}),
            "sub_ports",
        ),
        (json!({"trunk": {}}), "port_id"),
        (json!({"trunk": 7}), "trunk"),
        (json!({"trunks": []}), "trunks"),
        (json!({"port": {"port_id": parent}}), "trunk"),
        (json!([1, 2]), "trunk"),
    ];
    for (body, field) in cases {
        let reply = client.post("/v2.0/trunks", body.clone()).await;
        assert_eq!(reply.status.as_u16(), 400, "{body} -> {}", reply.body);
        assert!(
            reply.message().contains(field),
            "{body}: '{}' does not name {field}",
            reply.message()
        );
    }
    let malformed = client
        .send_raw(Method::POST, "/v2.0/trunks", b"{\"trunk\": {".to_vec())
        .await;
    assert_eq!(malformed.status.as_u16(), 400);
    assert!(
        malformed.message().contains("Malformed JSON"),
        "{}",
        malformed.message()
    );
    // NUL characters: PostgreSQL cannot hold them in text, so every path refuses them (400).
    let reply = client
        .post("/v2.0/networks", json!({"network": {"name": "a\0b"}}))
        .await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.body);
    assert!(reply.message().contains("name"), "{}", reply.message());
    let reply = client.get("/v2.0/networks?tags-any=a%00b").await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.body);
    assert!(reply.message().contains("tags-any"), "{}", reply.message());
    let reply = client.get("/v2.0/networks?name=%00").await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.body);
    let reply = client
        .send(
            Method::PUT,
            &format!("/v2.0/networks/{net}/tags/a%00b"),
            None,
        )
        .await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.body);
    let empty = client
        .send_raw(Method::POST, "/v2.0/trunks", Vec::new())
        .await;
    assert_eq!(empty.status.as_u16(), 400);
    assert_eq!(
        client.get("/v2.0/trunks").await.expect(200)["trunks"],
        json!([])
    );

    for (body, field) in [
        (json!({"network": {"mtu": 67}}), "mtu"),
        (json!({"network": {"mtu": 9217}}), "mtu"),
        (
            json!({"network": {"provider:network_type": "token-ring"}}),
            "provider:network_type",
        ),
        (
            json!({"network": {"provider:network_type": "vlan", "provider:segmentation_id": 4095}}),
            "provider:segmentation_id",
        ),
        (
            json!({"network": {"provider:network_type": "flat"}}),
            "provider:physical_network",
        ),
        (json!({"network": {"status": "DOWN"}}), "status"),
    ] {
        let reply = client.post("/v2.0/networks", body.clone()).await;
        assert_eq!(reply.status.as_u16(), 400, "{body} -> {}", reply.body);
        assert!(
            reply.message().contains(field),
            "{body}: {}",
            reply.message()
        );
    }
    for (body, field) in [
        (
            json!({"port": {"network_id": net, "mac_address": "zz:zz"}}),
            "mac_address",
        ),
        (
            json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.0.0.999"}]}}),
            "fixed_ips",
        ),
        (
            json!({"port": {"network_id": net, "binding:vnic_type": "weird"}}),
            "binding:vnic_type",
        ),
        (
            json!({"port": {"network_id": net, "binding:profile": "x"}}),
            "binding:profile",
        ),
        (json!({"port": {}}), "network_id"),
    ] {
        let reply = client.post("/v2.0/ports", body.clone()).await;
        assert_eq!(reply.status.as_u16(), 400, "{body} -> {}", reply.body);
        assert!(
            reply.message().contains(field),
            "{body}: {}",
            reply.message()
        );
    }
}

#[tokio::test]
async fn huge_bodies_are_413() {
    let server = Server::start_with(&["--max-body-bytes", "4096"]);
    let client = server.admin();
    let reply = client
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "n".repeat(5000)}}),
        )
        .await
        .expect_error(413, "HTTPRequestEntityTooLarge");
    assert!(reply.message().contains("4096"));
    assert_eq!(
        client.get("/v2.0/networks").await.expect(200)["networks"],
        json!([])
    );
}

#[tokio::test]
async fn missing_identity_is_401_unless_default_admin() {
    let server = Server::start();
    let reply = server
        .anonymous()
        .get("/v2.0/trunks")
        .await
        .expect_error(401, "HTTPUnauthorized");
    assert!(reply.headers.contains_key("www-authenticate"));
    let open = Server::start_with(&["--noauth-default-admin"]);
    open.anonymous().get("/v2.0/trunks").await.expect(200);
}

#[tokio::test]
async fn networks_get_defaults_allocation_and_mtu() {
    let server = Server::start_with(&["--network-vlan-range", "physnet1:10:11"]);
    let admin = server.admin();
    let vx = admin
        .post("/v2.0/networks", json!({"network": {"name": "a"}}))
        .await
        .expect(201);
    assert_eq!(vx["network"]["provider:network_type"], "vxlan");
    assert_eq!(vx["network"]["provider:segmentation_id"], 1);
    assert_eq!(vx["network"]["mtu"], 1450);
    assert_eq!(vx["network"]["tenant_id"], vx["network"]["project_id"]);
    let vx2 = admin
        .post("/v2.0/networks", json!({"network": {}}))
        .await
        .expect(201);
    assert_eq!(vx2["network"]["provider:segmentation_id"], 2);
    let geneve = admin
        .post(
            "/v2.0/networks",
            json!({"network": {"provider:network_type": "geneve"}}),
        )
        .await
        .expect(201);
    assert_eq!(geneve["network"]["mtu"], 1442);
    let vlan_type = json!({"provider:network_type": "vlan"});
    let v1 = admin
        .post("/v2.0/networks", json!({"network": vlan_type}))
        .await
        .expect(201);
    assert_eq!(v1["network"]["mtu"], 1500);
    assert_eq!(v1["network"]["provider:physical_network"], "physnet1");
    assert_eq!(v1["network"]["provider:segmentation_id"], 10);
    admin
        .post("/v2.0/networks", json!({"network": vlan_type}))
        .await
        .expect(201);
    admin
        .post("/v2.0/networks", json!({"network": vlan_type}))
        .await
        .expect_error(409, "NoNetworkAvailable");
    admin
        .post(
            "/v2.0/networks",
            json!({"network": {"provider:network_type": "vlan", "provider:segmentation_id": 10}}),
        )
        .await
        .expect_error(409, "VlanIdInUse");
    // Provider attributes are admin-only, to set and to see.
    let member = server.as_(Identity::member("p1"));
    member
        .post(
            "/v2.0/networks",
            json!({"network": {"provider:network_type": "vxlan"}}),
        )
        .await
        .expect_error(403, "PolicyNotAuthorized");
    let own = member
        .post("/v2.0/networks", json!({"network": {"name": "mine"}}))
        .await
        .expect(201);
    assert!(
        own["network"].get("provider:network_type").is_none(),
        "{own}"
    );
    assert_eq!(own["network"]["project_id"], "p1");
}

#[tokio::test]
async fn lists_filter_sort_select_and_paginate() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let ports = admin.ports(&net, 5).await;
    let mut trunks = Vec::new();
    for (index, port) in ports.iter().enumerate() {
        let body = admin
            .post("/v2.0/trunks", json!({"trunk": {"port_id": port, "name": format!("t{}", 4 - index), "admin_state_up": index % 2 == 0}}))
            .await
            .expect(201);
        trunks.push(body["trunk"]["id"].as_str().expect("id").to_string());
    }
    let disabled = admin
        .get("/v2.0/trunks?admin_state_up=false")
        .await
        .expect(200);
    assert_eq!(disabled["trunks"].as_array().map(Vec::len), Some(2));
    let either = admin
        .get(&format!("/v2.0/trunks?id={}&id={}", trunks[0], trunks[1]))
        .await
        .expect(200);
    assert_eq!(either["trunks"].as_array().map(Vec::len), Some(2));
    admin
        .get("/v2.0/trunks?colour=red")
        .await
        .expect_error(400, "HTTPBadRequest");

    let sorted = admin
        .get("/v2.0/trunks?sort_key=name&sort_dir=asc&fields=name")
        .await
        .expect(200);
    let names: Vec<&str> = sorted["trunks"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["t0", "t1", "t2", "t3", "t4"]);
    assert_eq!(
        sorted["trunks"][0].as_object().map(|o| o.len()),
        Some(1),
        "fields= selects"
    );

    // Walk pages of two forward, then back from the last page.
    let mut seen = Vec::new();
    let mut next = Some(format!("{}/v2.0/trunks?sort_key=name&limit=2", admin.base));
    let mut pages = 0;
    while let Some(url) = next.take() {
        let path = url
            .strip_prefix(&admin.base)
            .expect("same server")
            .to_string();
        let page = admin.get(&path).await.expect(200);
        pages += 1;
        for trunk in page["trunks"].as_array().expect("list") {
            seen.push(trunk["name"].as_str().expect("name").to_string());
        }
        next = page["trunks_links"]
            .as_array()
            .and_then(|links| links.iter().find(|l| l["rel"] == "next"))
            .and_then(|l| l["href"].as_str())
            .map(String::from);
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(seen, ["t0", "t1", "t2", "t3", "t4"]);
    assert_eq!(pages, 3);
    let marker = &trunks[0]; // named t4, the last by name
    let back = admin
        .get(&format!(
            "/v2.0/trunks?sort_key=name&limit=2&marker={marker}&page_reverse=True"
        ))
        .await
        .expect(200);
    let names: Vec<&str> = back["trunks"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["t2", "t3"]);
    admin
        .get(&format!("/v2.0/trunks?marker={}", uuid::Uuid::new_v4()))
        .await
        .expect_error(400, "HTTPBadRequest");
}

#[tokio::test]
async fn tags_can_be_set_filtered_and_removed() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let ports = admin.ports(&net, 2).await;
    let a = admin.trunk(&ports[0], json!([])).await;
    let b = admin.trunk(&ports[1], json!([])).await;
    admin.wait_for_status(&a, "ACTIVE").await;
    let before = admin.get(&format!("/v2.0/trunks/{a}")).await.expect(200)["trunk"]
        ["revision_number"]
        .as_i64();
    let tags = admin
        .put(
            &format!("/v2.0/trunks/{a}/tags"),
            json!({"tags": ["red", "blue"]}),
        )
        .await
        .expect(200);
    assert_eq!(tags["tags"], json!(["blue", "red"]));
    let after = admin.get(&format!("/v2.0/trunks/{a}")).await.expect(200);
    assert_eq!(after["trunk"]["tags"], json!(["blue", "red"]));
    assert_eq!(
        after["trunk"]["revision_number"].as_i64(),
        before.map(|r| r + 1)
    );
    admin
        .send(Method::PUT, &format!("/v2.0/trunks/{b}/tags/red"), None)
        .await
        .expect(201);
    admin
        .get(&format!("/v2.0/trunks/{b}/tags/red"))
        .await
        .expect(204);
    admin
        .get(&format!("/v2.0/trunks/{b}/tags/blue"))
        .await
        .expect_error(404, "TagNotFound");
    let red = admin.get("/v2.0/trunks?tags=red").await.expect(200);
    assert_eq!(red["trunks"].as_array().map(Vec::len), Some(2));
    let both = admin.get("/v2.0/trunks?tags=red,blue").await.expect(200);
    assert_eq!(both["trunks"].as_array().map(Vec::len), Some(1));
    let not_blue = admin
        .get("/v2.0/trunks?not-tags-any=blue")
        .await
        .expect(200);
    assert_eq!(not_blue["trunks"][0]["id"], b.as_str());
    admin
        .delete(&format!("/v2.0/trunks/{a}/tags/red"))
        .await
        .expect(204);
    admin
        .delete(&format!("/v2.0/trunks/{a}/tags/red"))
        .await
        .expect_error(404, "TagNotFound");
    admin
        .delete(&format!("/v2.0/trunks/{a}/tags"))
        .await
        .expect(204);
    assert_eq!(
        admin
            .get(&format!("/v2.0/trunks/{a}/tags"))
            .await
            .expect(200)["tags"],
        json!([])
    );
    admin
        .put(&format!("/v2.0/trunks/{a}/tags"), json!({"tags": ["a,b"]}))
        .await
        .expect_error(400, "HTTPBadRequest");
    admin
        .put(
            &format!("/v2.0/networks/{net}/tags"),
            json!({"tags": ["n"]}),
        )
        .await
        .expect(200);
    admin
        .put(
            &format!("/v2.0/ports/{}/tags", ports[0]),
            json!({"tags": ["p"]}),
        )
        .await
        .expect(200);
    admin
        .put(&format!("/v2.0/widgets/{net}/tags"), json!({"tags": ["n"]}))
        .await
        .expect_error(404, "HTTPNotFound");
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let server = Server::start();
    let client = server.anonymous();
    client.get("/healthz").await.expect(200);
    let ready = client.get("/readyz").await.expect(200);
    assert_eq!(ready["drivers"], json!(["noop"]));
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let ports = admin.ports(&net, 2).await;
    let trunk = admin.trunk(&ports[0], json!([vlan(&ports[1], 3)])).await;
    admin.wait_for_status(&trunk, "ACTIVE").await;
    let response = reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("metrics");
    let text = response.text().await.expect("text");
    assert!(text.contains("trunkd_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/v2.0/trunks\""), "{text}");
    assert!(text.contains("trunkd_outbox_pending_events"), "{text}");
    assert!(text.contains("trunkd_driver_deliveries_total"), "{text}");
    assert!(text.contains("trunkd_outbox_retrying_events 0"), "{text}");
    for line in [
        "trunkd_task_up{task=\"dispatcher\"} 1",
        "trunkd_task_up{task=\"database-probe\"} 1",
        "trunkd_task_restarts_total{task=\"dispatcher\"} 0",
        "trunkd_dependency_up{dependency=\"database\"} 1",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    // The counter counts reports of drivers and agents; noop settles in the write's own
    // transaction and reports nothing (driver_faults.rs counts a reporting driver's).
    assert!(
        text.contains("# TYPE trunkd_trunk_status_transitions"),
        "{text}"
    );
    assert!(
        !text.contains("trunkd_trunk_status_transitions_total{"),
        "{text}"
    );
}
