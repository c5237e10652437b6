//! The trunk rules of spec 3.1 and the API side of the state machine (3.2), over HTTP against
//! a real server.

use crate::common;

use common::{vlan, Identity, Server};
use serde_json::{json, Value};

fn subport_ids(trunk: &Value) -> Vec<String> {
    trunk["sub_ports"]
        .as_array()
        .expect("sub_ports list")
        .iter()
        .map(|s| s["port_id"].as_str().expect("port_id").to_string())
        .collect()
}

#[tokio::test]
async fn readme_walkthrough_three_vlans_then_remove_one() {
    let server = Server::start_with(&["--noauth-default-admin"]);
    let admin = server.anonymous();
    let net = admin.network(json!({})).await;
    let parent = admin.port(&net, json!({"name": "parent"})).await;
    let subs = admin.ports(&net, 3).await;
    let trunk = admin
        .trunk(
            &parent,
            json!([vlan(&subs[0], 10), vlan(&subs[1], 20), vlan(&subs[2], 30)]),
        )
        .await;
    let body = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200)["trunk"]
        .clone();
    assert_eq!(
        body["status"], "ACTIVE",
        "the noop driver has nothing to wire: ACTIVE in the create's transaction"
    );
    assert_eq!(subport_ids(&body).len(), 3);
    let revision = body["revision_number"].as_i64().expect("revision");
    assert_eq!(revision, 0, "no status write after the create: {body}");

    let port = admin
        .get(&format!("/v2.0/ports/{}", subs[0]))
        .await
        .expect(200);
    assert_eq!(port["port"]["device_owner"], "trunk:subport");
    assert_eq!(port["port"]["device_id"], trunk.as_str());

    let parent_port = admin
        .get(&format!("/v2.0/ports/{parent}"))
        .await
        .expect(200);
    let details = &parent_port["port"]["trunk_details"];
    assert_eq!(details["trunk_id"], trunk.as_str());
    assert_eq!(details["sub_ports"].as_array().map(Vec::len), Some(3));
    assert!(details["sub_ports"][0]["mac_address"]
        .as_str()
        .is_some_and(|m| m.starts_with("fa:16:3e")));

    let removed = admin
        .put(
            &format!("/v2.0/trunks/{trunk}/remove_subports"),
            json!({"sub_ports": [{"port_id": subs[1]}]}),
        )
        .await
        .expect(200);
    assert_eq!(
        removed["status"], "ACTIVE",
        "with nothing to wire, the removal's own transaction leaves the trunk ACTIVE"
    );
    assert_eq!(
        subport_ids(&removed),
        vec![subs[0].clone(), subs[2].clone()]
    );
    assert!(removed["revision_number"].as_i64() > Some(revision));
    admin.wait_for_status(&trunk, "ACTIVE").await;
    let freed = admin
        .get(&format!("/v2.0/ports/{}", subs[1]))
        .await
        .expect(200);
    assert_eq!(freed["port"]["device_owner"], "");
    assert_eq!(freed["port"]["device_id"], "");

    // Reusing a port or a VLAN ID: the 409s a person sees.
    admin
        .put(
            &format!("/v2.0/trunks/{trunk}/add_subports"),
            json!({"sub_ports": [vlan(&subs[1], 10)]}),
        )
        .await
        .expect_error(409, "DuplicateSubPort");
    let other_parent = admin.port(&net, json!({})).await;
    let other = admin.trunk(&other_parent, json!([])).await;
    admin
        .put(
            &format!("/v2.0/trunks/{other}/add_subports"),
            json!({"sub_ports": [vlan(&subs[0], 99)]}),
        )
        .await
        .expect_error(409, "TrunkPortInUse");

    let listed = admin
        .get(&format!("/v2.0/trunks/{trunk}/get_subports"))
        .await
        .expect(200);
    assert_eq!(listed["sub_ports"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn rule1_parent_must_exist_and_be_visible() {
    let server = Server::start();
    let p1 = server.as_(Identity::member("p1"));
    let p2 = server.as_(Identity::member("p2"));
    let net = p1.network(json!({})).await;
    let parent = p1.port(&net, json!({})).await;
    p2.post("/v2.0/trunks", json!({"trunk": {"port_id": parent}}))
        .await
        .expect_error(404, "PortNotFound");
    p1.post(
        "/v2.0/trunks",
        json!({"trunk": {"port_id": uuid::Uuid::new_v4().to_string()}}),
    )
    .await
    .expect_error(404, "PortNotFound");
    // A subport from another project is just as invisible.
    let net2 = p2.network(json!({})).await;
    let foreign = p2.port(&net2, json!({})).await;
    p1.post(
        "/v2.0/trunks",
        json!({"trunk": {"port_id": parent, "sub_ports": [vlan(&foreign, 5)]}}),
    )
    .await
    .expect_error(404, "PortNotFound");
    assert_eq!(
        p1.get("/v2.0/trunks").await.expect(200)["trunks"],
        json!([])
    );
}

#[tokio::test]
async fn rule2_and_3_one_trunk_one_role_per_port() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let ports = admin.ports(&net, 5).await;
    let (a_parent, a_sub, b_parent) = (&ports[0], &ports[1], &ports[2]);
    let trunk_a = admin.trunk(a_parent, json!([vlan(a_sub, 7)])).await;

    // The parent of one trunk cannot be the parent of another...
    admin
        .post("/v2.0/trunks", json!({"trunk": {"port_id": a_parent}}))
        .await
        .expect_error(409, "ParentPortInUse");
    // ...a subport cannot become a parent...
    admin
        .post("/v2.0/trunks", json!({"trunk": {"port_id": a_sub}}))
        .await
        .expect_error(409, "TrunkPortInUse");
    let trunk_b = admin.trunk(b_parent, json!([])).await;
    // ...nor a subport of another trunk...
    admin
        .put(
            &format!("/v2.0/trunks/{trunk_b}/add_subports"),
            json!({"sub_ports": [vlan(a_sub, 8)]}),
        )
        .await
        .expect_error(409, "TrunkPortInUse");
    // ...and a parent cannot become anyone's subport, its own trunk's included (rule 3).
    admin
        .put(
            &format!("/v2.0/trunks/{trunk_b}/add_subports"),
            json!({"sub_ports": [vlan(a_parent, 8)]}),
        )
        .await
        .expect_error(409, "ParentPortInUse");
    admin
        .put(
            &format!("/v2.0/trunks/{trunk_a}/add_subports"),
            json!({"sub_ports": [vlan(a_parent, 9)]}),
        )
        .await
        .expect_error(409, "ParentPortInUse");
    admin
        .post(
            "/v2.0/trunks",
            json!({"trunk": {"port_id": ports[3], "sub_ports": [vlan(&ports[3], 9)]}}),
        )
        .await
        .expect_error(409, "ParentPortInUse");
}

#[tokio::test]
async fn rule4_subport_with_a_device_is_refused() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let parent = admin.port(&net, json!({})).await;
    let busy = admin
        .port(
            &net,
            json!({"device_id": "vm-1", "device_owner": "compute:nova"}),
        )
        .await;
    admin
        .post(
            "/v2.0/trunks",
            json!({"trunk": {"port_id": parent, "sub_ports": [vlan(&busy, 3)]}}),
        )
        .await
        .expect_error(409, "PortInUse");
}

#[tokio::test]
async fn rule5_segmentation_is_validated() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let parent = admin.port(&net, json!({})).await;
    let sub = admin.port(&net, json!({})).await;
    let trunk = admin.trunk(&parent, json!([])).await;
    let settled = admin.wait_for_status(&trunk, "ACTIVE").await["revision_number"].clone();
    let bad = [
        json!({"port_id": sub, "segmentation_type": "vlan", "segmentation_id": 0}),
        json!({"port_id": sub, "segmentation_type": "vlan", "segmentation_id": 4095}),
        json!({"port_id": sub, "segmentation_type": "vlan", "segmentation_id": "abc"}),
        json!({"port_id": sub, "segmentation_type": "vlan", "segmentation_id": 1.5}),
        json!({"port_id": sub, "segmentation_type": "vlan"}),
        json!({"port_id": sub, "segmentation_id": 5}),
        json!({"port_id": sub, "segmentation_type": "gre", "segmentation_id": 5}),
        json!({"port_id": sub, "segmentation_type": 5, "segmentation_id": 5}),
        json!({"segmentation_type": "vlan", "segmentation_id": 5}),
        json!({"port_id": "not-a-uuid", "segmentation_type": "vlan", "segmentation_id": 5}),
        json!({"port_id": sub, "segmentation_type": "vlan", "segmentation_id": 5, "colour": "red"}),
    ];
    for entry in bad {
        let reply = admin
            .put(
                &format!("/v2.0/trunks/{trunk}/add_subports"),
                json!({"sub_ports": [entry.clone()]}),
            )
            .await
            .expect_error(400, "HTTPBadRequest");
        assert!(
            reply.message().contains("sub_ports[0]"),
            "{entry}: {}",
            reply.message()
        );
    }
    let after = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200);
    assert_eq!(after["trunk"]["sub_ports"], json!([]));
    assert_eq!(
        after["trunk"]["revision_number"], settled,
        "a refused change writes nothing"
    );
    // Boundaries are fine.
    let edge = admin.port(&net, json!({})).await;
    admin
        .put(
            &format!("/v2.0/trunks/{trunk}/add_subports"),
            json!({"sub_ports": [vlan(&sub, 1), vlan(&edge, 4094)]}),
        )
        .await
        .expect(200);
}

#[tokio::test]
async fn rule5_inherit_copies_the_network_segment() {
    let server = Server::start();
    let admin = server.admin();
    let parent_net = admin.network(json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 100})).await;
    let vlan_net = admin.network(json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 200})).await;
    let local_net = admin
        .network(json!({"provider:network_type": "local"}))
        .await;
    let parent = admin.port(&parent_net, json!({})).await;
    let inherits = admin.port(&vlan_net, json!({})).await;
    let local = admin.port(&local_net, json!({})).await;
    let trunk = admin.trunk(&parent, json!([])).await;
    let body = admin
        .put(
            &format!("/v2.0/trunks/{trunk}/add_subports"),
            json!({"sub_ports": [{"port_id": inherits, "segmentation_type": "inherit"}]}),
        )
        .await
        .expect(200);
    assert_eq!(body["sub_ports"][0]["segmentation_type"], "vlan");
    assert_eq!(body["sub_ports"][0]["segmentation_id"], 200);
    admin
        .put(
            &format!("/v2.0/trunks/{trunk}/add_subports"),
            json!({"sub_ports": [{"port_id": local, "segmentation_type": "inherit"}]}),
        )
        .await
        .expect_error(400, "HTTPBadRequest");
    admin
        .put(&format!("/v2.0/trunks/{trunk}/add_subports"), json!({"sub_ports": [{"port_id": local, "segmentation_type": "inherit", "segmentation_id": 5}]}))
        .await
        .expect_error(400, "HTTPBadRequest");
}

#[tokio::test]
async fn rule6_segmentation_unique_in_trunk_and_request() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let ports = admin.ports(&net, 4).await;
    let trunk = admin.trunk(&ports[0], json!([vlan(&ports[1], 100)])).await;
    admin
        .put(
            &format!("/v2.0/trunks/{trunk}/add_subports"),
            json!({"sub_ports": [vlan(&ports[2], 100)]}),
        )
        .await
        .expect_error(409, "DuplicateSubPort");
    // Twice in one request: bad input (400), found before any lookup, as Neutron's body
    // validation finds it; named by the second entry's port.
    let twice = admin
        .put(
            &format!("/v2.0/trunks/{trunk}/add_subports"),
            json!({"sub_ports": [vlan(&ports[2], 101), vlan(&ports[3], 101)]}),
        )
        .await
        .expect_error(400, "HTTPBadRequest");
    assert_eq!(
        twice.message(),
        format!(
            "Invalid input for sub_ports. Reason: Segmentation ID '101' for '{}' is not unique.",
            ports[3]
        )
    );
    // Also on create, and before the parent is looked up: a parent that is no port at all.
    let missing_parent = uuid::Uuid::new_v4().to_string();
    admin
        .post(
            "/v2.0/trunks",
            json!({"trunk": {"port_id": missing_parent,
                "sub_ports": [vlan(&ports[2], 7), vlan(&ports[3], 7)]}}),
        )
        .await
        .expect_error(400, "HTTPBadRequest");
    let body = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200);
    assert_eq!(body["trunk"]["sub_ports"].as_array().map(Vec::len), Some(1));
    // The same VLAN on another trunk is fine.
    let other = admin.port(&net, json!({})).await;
    admin.trunk(&other, json!([vlan(&ports[2], 100)])).await;
}

#[tokio::test]
async fn rule7_subport_mtu_not_above_parent() {
    let server = Server::start();
    let admin = server.admin();
    let small = admin.network(json!({"mtu": 1400})).await;
    let big = admin.network(json!({"mtu": 9000})).await;
    let parent = admin.port(&small, json!({})).await;
    let sub = admin.port(&big, json!({})).await;
    admin
        .post(
            "/v2.0/trunks",
            json!({"trunk": {"port_id": parent, "sub_ports": [vlan(&sub, 2)]}}),
        )
        .await
        .expect_error(409, "SubPortMtuGreaterThanTrunkPortMtu");
    assert_eq!(
        admin.get("/v2.0/trunks").await.expect(200)["trunks"],
        json!([])
    );
}

#[tokio::test]
async fn rule8_disabled_trunk_refuses_changes() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let ports = admin.ports(&net, 3).await;
    let trunk = admin.trunk(&ports[0], json!([vlan(&ports[1], 5)])).await;
    admin
        .put(
            &format!("/v2.0/trunks/{trunk}"),
            json!({"trunk": {"admin_state_up": false}}),
        )
        .await
        .expect(200);
    let path = format!("/v2.0/trunks/{trunk}");
    admin
        .put(
            &format!("{path}/add_subports"),
            json!({"sub_ports": [vlan(&ports[2], 6)]}),
        )
        .await
        .expect_error(409, "TrunkDisabled");
    admin
        .put(
            &format!("{path}/remove_subports"),
            json!({"sub_ports": [{"port_id": ports[1]}]}),
        )
        .await
        .expect_error(409, "TrunkDisabled");
    admin.delete(&path).await.expect_error(409, "TrunkDisabled");
    admin
        .put(&path, json!({"trunk": {"admin_state_up": true}}))
        .await
        .expect(200);
    admin.delete(&path).await.expect(204);
    admin.get(&path).await.expect_error(404, "TrunkNotFound");
    let freed = admin
        .get(&format!("/v2.0/ports/{}", ports[1]))
        .await
        .expect(200);
    assert_eq!(
        freed["port"]["device_owner"], "",
        "deleting a trunk frees its subports"
    );
}

#[tokio::test]
async fn rule10_removing_a_stranger_is_404() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let ports = admin.ports(&net, 3).await;
    let trunk = admin.trunk(&ports[0], json!([vlan(&ports[1], 5)])).await;
    admin
        .put(
            &format!("/v2.0/trunks/{trunk}/remove_subports"),
            json!({"sub_ports": [{"port_id": ports[1]}, {"port_id": ports[2]}]}),
        )
        .await
        .expect_error(404, "SubPortNotFound");
    let body = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200);
    assert_eq!(
        body["trunk"]["sub_ports"].as_array().map(Vec::len),
        Some(1),
        "all or nothing"
    );
}

#[tokio::test]
async fn rule12_subport_binding_follows_parent_and_unbinding_goes_down() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let ports = admin.ports(&net, 2).await;
    let trunk = admin.trunk(&ports[0], json!([vlan(&ports[1], 5)])).await;
    admin.wait_for_status(&trunk, "ACTIVE").await;
    admin
        .put(
            &format!("/v2.0/ports/{}", ports[0]),
            json!({"port": {"binding:host_id": "compute-1"}}),
        )
        .await
        .expect(200);
    let sub = admin
        .get(&format!("/v2.0/ports/{}", ports[1]))
        .await
        .expect(200);
    assert_eq!(sub["port"]["binding:host_id"], "compute-1");
    assert_ne!(sub["port"]["binding:vif_type"], "unbound");
    let status_before = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200)["trunk"]["status"]
        .clone();
    assert_eq!(
        status_before, "ACTIVE",
        "binding alone does not take the trunk down"
    );
    admin
        .put(
            &format!("/v2.0/ports/{}", ports[0]),
            json!({"port": {"binding:host_id": ""}}),
        )
        .await
        .expect(200);
    let after = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200);
    assert_eq!(after["trunk"]["status"], "DOWN");
    let sub = admin
        .get(&format!("/v2.0/ports/{}", ports[1]))
        .await
        .expect(200);
    assert_eq!(sub["port"]["binding:host_id"], "");
    assert_eq!(sub["port"]["binding:vif_type"], "unbound");
    // Bound again: with nothing to wire, ACTIVE in the binding's own transaction.
    admin
        .put(
            &format!("/v2.0/ports/{}", ports[0]),
            json!({"port": {"binding:host_id": "compute-2"}}),
        )
        .await
        .expect(200);
    let rebound = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200);
    assert_eq!(rebound["trunk"]["status"], "ACTIVE");
}

#[tokio::test]
async fn ports_in_trunks_and_networks_with_ports_cannot_be_deleted() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let ports = admin.ports(&net, 2).await;
    admin.trunk(&ports[0], json!([vlan(&ports[1], 5)])).await;
    admin
        .delete(&format!("/v2.0/ports/{}", ports[0]))
        .await
        .expect_error(409, "PortInUseAsTrunkParent");
    admin
        .delete(&format!("/v2.0/ports/{}", ports[1]))
        .await
        .expect_error(409, "PortInUseAsSubPort");
    admin
        .delete(&format!("/v2.0/networks/{net}"))
        .await
        .expect_error(409, "NetworkInUse");
}

#[tokio::test]
async fn four_thousand_subports_with_a_bad_last_entry_write_nothing() {
    // 4,096 ports in one project: beyond the default port quota.
    let server = Server::start_with(&["--port-quota", "-1"]);
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let parent = admin.port(&net, json!({})).await;
    let mut ports = Vec::new();
    for _ in 0..5 {
        ports.extend(admin.ports(&net, 819).await);
    }
    assert_eq!(ports.len(), 4095);
    let trunk = admin.trunk(&parent, json!([])).await;
    let settled = admin.wait_for_status(&trunk, "ACTIVE").await["revision_number"].clone();
    let mut entries: Vec<Value> = ports[..4093]
        .iter()
        .enumerate()
        .map(|(i, p)| vlan(p, i as i64 + 1))
        .collect();
    // The 4,094th entry reuses a port already in the request: refused in the database phase.
    entries.push(vlan(&ports[0], 4094));
    let reply = admin
        .put(
            &format!("/v2.0/trunks/{trunk}/add_subports"),
            json!({"sub_ports": entries.clone()}),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.body);
    // And one whose last port is visible only to the database phase (a 409).
    let busy = admin.port(&net, json!({"device_id": "vm"})).await;
    *entries.last_mut().expect("entries") = vlan(&busy, 4094);
    admin
        .put(
            &format!("/v2.0/trunks/{trunk}/add_subports"),
            json!({"sub_ports": entries.clone()}),
        )
        .await
        .expect_error(409, "PortInUse");
    let body = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200);
    assert_eq!(body["trunk"]["sub_ports"], json!([]));
    assert_eq!(body["trunk"]["revision_number"], settled);
    let first = admin
        .get(&format!("/v2.0/ports/{}", ports[0]))
        .await
        .expect(200);
    assert_eq!(first["port"]["device_owner"], "", "no port was touched");
    assert_eq!(first["port"]["revision_number"], 0);
    // The whole valid set goes in one call.
    *entries.last_mut().expect("entries") = vlan(&ports[4093], 4094);
    let body = admin
        .put(
            &format!("/v2.0/trunks/{trunk}/add_subports"),
            json!({"sub_ports": entries}),
        )
        .await
        .expect(200);
    assert_eq!(body["sub_ports"].as_array().map(Vec::len), Some(4094));
    // Over the per-request cap.
    let over: Vec<Value> = (0..4095).map(|i| vlan(&ports[i % 4095], 1)).collect();
    admin
        .put(
            &format!("/v2.0/trunks/{trunk}/add_subports"),
            json!({"sub_ports": over}),
        )
        .await
        .expect_error(400, "HTTPBadRequest");
}

#[tokio::test]
async fn if_match_guards_every_write() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let ports = admin.ports(&net, 2).await;
    let trunk = admin.trunk(&ports[0], json!([])).await;
    let body = admin.wait_for_status(&trunk, "ACTIVE").await;
    let revision = body["revision_number"].as_i64().expect("revision");
    let stale = format!("revision_number={}", revision - 1);
    let fresh = format!("revision_number={revision}");
    let path = format!("/v2.0/trunks/{trunk}");
    let reply = admin
        .send_with(
            reqwest::Method::PUT,
            &path,
            Some(json!({"trunk": {"name": "x"}})),
            &[("If-Match", &stale)],
        )
        .await
        .expect_error(412, "RevisionNumberConstraintFailed");
    assert!(reply.message().contains(&revision.to_string()));
    admin
        .send_with(
            reqwest::Method::PUT,
            &format!("{path}/add_subports"),
            Some(json!({"sub_ports": [vlan(&ports[1], 4)]})),
            &[("If-Match", &stale)],
        )
        .await
        .expect_error(412, "RevisionNumberConstraintFailed");
    admin
        .send_with(
            reqwest::Method::DELETE,
            &path,
            None,
            &[("If-Match", &stale)],
        )
        .await
        .expect_error(412, "RevisionNumberConstraintFailed");
    let unchanged = admin.get(&path).await.expect(200);
    assert_eq!(unchanged["trunk"]["name"], "trunk");
    assert_eq!(
        unchanged["trunk"]["revision_number"].as_i64(),
        Some(revision)
    );
    let renamed = admin
        .send_with(
            reqwest::Method::PUT,
            &path,
            Some(json!({"trunk": {"name": "x"}})),
            &[("If-Match", &fresh)],
        )
        .await
        .expect(200);
    assert_eq!(
        renamed["trunk"]["revision_number"].as_i64(),
        Some(revision + 1)
    );
}

#[tokio::test]
async fn read_only_and_create_only_attributes_are_refused_on_update() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let ports = admin.ports(&net, 2).await;
    let trunk = admin.trunk(&ports[0], json!([])).await;
    for body in [
        json!({"status": "ACTIVE"}),
        json!({"port_id": ports[1]}),
        json!({"id": trunk}),
        json!({"sub_ports": []}),
    ] {
        let reply = admin
            .put(
                &format!("/v2.0/trunks/{trunk}"),
                json!({"trunk": body.clone()}),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 400, "{body}: {}", reply.body);
    }
    admin
        .post(
            "/v2.0/trunks",
            json!({"trunk": {"port_id": ports[1], "status": "ACTIVE"}}),
        )
        .await
        .expect_error(400, "HTTPBadRequest");
}

#[tokio::test]
async fn bulk_create_is_all_or_nothing() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let ports = admin.ports(&net, 3).await;
    admin
        .post(
            "/v2.0/trunks",
            json!({"trunks": [
                {"port_id": ports[0]},
                {"port_id": ports[1], "sub_ports": [vlan(&ports[0], 5)]},
            ]}),
        )
        .await
        .expect_error(409, "ParentPortInUse");
    assert_eq!(
        admin.get("/v2.0/trunks").await.expect(200)["trunks"],
        json!([])
    );
    let created = admin
        .post(
            "/v2.0/trunks",
            json!({"trunks": [{"port_id": ports[0]}, {"port_id": ports[1]}]}),
        )
        .await
        .expect(201);
    assert_eq!(created["trunks"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn concurrent_claims_of_one_port_have_one_winner() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let parents = admin.ports(&net, 8).await;
    let contested = admin.port(&net, json!({})).await;
    let mut trunks = Vec::new();
    for parent in &parents {
        trunks.push(admin.trunk(parent, json!([])).await);
    }
    let attempts = trunks.iter().map(|trunk| {
        let client = admin.clone();
        let path = format!("/v2.0/trunks/{trunk}/add_subports");
        let body = json!({"sub_ports": [vlan(&contested, 42)]});
        tokio::spawn(async move { client.put(&path, body).await.status.as_u16() })
    });
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.expect("task"));
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        trunks.len() - 1,
        "{statuses:?}"
    );
}
