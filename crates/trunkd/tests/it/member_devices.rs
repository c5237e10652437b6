//! A trunk member's `device_owner`/`device_id`. A subport's say
//! `trunk:subport` and its trunk for as long as it is one, so a port update may not change
//! them (409 `PortInUseAsSubPort`, naming the trunk); a parent's name the device plugged into
//! the trunk, which a compute service plugs (fields empty before) and unplugs (both cleared
//! at once), but which may not be edited in place (409 `PortInUseAsTrunkParent`). Setting a
//! field to the value it has is accepted. Before, `PUT /v2.0/ports/<own subport>` with
//! `device_owner: ""` answered 200 with the port still in its trunk, and the store broke its
//! invariant that subport bindings agree with membership.

use crate::common;

use common::invariants::check_invariants;
use common::{vlan, Client, Identity, Server};
use serde_json::{json, Value};

async fn port(client: &Client, id: &str) -> Value {
    client.get(&format!("/v2.0/ports/{id}")).await.expect(200)["port"].clone()
}

async fn update(client: &Client, id: &str, body: Value) -> common::Reply {
    client
        .put(&format!("/v2.0/ports/{id}"), json!({ "port": body }))
        .await
}

#[tokio::test]
async fn a_members_device_fields_cannot_be_changed_while_it_is_one() {
    let server = Server::start();
    let alice = server.as_(Identity::member("alice"));
    let admin = server.admin();
    let net = alice.network(json!({})).await;
    let parent = alice
        .port(
            &net,
            json!({"device_id": "vm-1", "device_owner": "compute:nova"}),
        )
        .await;
    let sub = alice.port(&net, json!({})).await;
    let trunk = alice.trunk(&parent, json!([vlan(&sub, 10)])).await;
    let sub_before = port(&alice, &sub).await;
    let parent_before = port(&alice, &parent).await;
    assert_eq!(sub_before["device_owner"], "trunk:subport");
    assert_eq!(sub_before["device_id"], trunk.as_str());

    let sub_changes = [
        json!({"device_owner": ""}),
        json!({"device_id": ""}),
        json!({"device_id": "", "device_owner": ""}),
        json!({"device_id": "vm-9", "device_owner": "compute:nova"}),
        json!({"device_owner": "network:dhcp", "name": "renamed"}),
    ];
    for change in &sub_changes {
        for client in [&alice, &admin] {
            let refused = update(client, &sub, change.clone())
                .await
                .expect_error(409, "PortInUseAsSubPort");
            assert_eq!(
                refused.message(),
                format!("Port {sub} is currently a subport for trunk {trunk}."),
                "{change}"
            );
        }
    }
    let parent_changes = [
        json!({"device_owner": ""}),
        json!({"device_id": ""}),
        json!({"device_id": "vm-2"}),
        json!({"device_owner": "compute:other"}),
        json!({"device_id": "vm-2", "device_owner": "compute:nova"}),
    ];
    for change in &parent_changes {
        let refused = update(&alice, &parent, change.clone())
            .await
            .expect_error(409, "PortInUseAsTrunkParent");
        assert_eq!(
            refused.message(),
            format!("Port {parent} is currently a parent port for trunk {trunk}."),
            "{change}"
        );
    }
    assert_eq!(
        port(&alice, &sub).await,
        sub_before,
        "the subport is unchanged"
    );
    assert_eq!(
        port(&alice, &parent).await,
        parent_before,
        "the parent is unchanged"
    );
    check_invariants(&server, "after refused device changes").await;

    // Their own values again are no change: idempotent clients send whole ports back.
    update(
        &alice,
        &sub,
        json!({"device_id": trunk, "device_owner": "trunk:subport", "name": "s"}),
    )
    .await
    .expect(200);
    update(
        &alice,
        &parent,
        json!({"device_id": "vm-1", "device_owner": "compute:nova", "name": "p"}),
    )
    .await
    .expect(200);

    // A compute service unplugs the instance (both fields cleared in one update) and plugs
    // another (fields set while empty), as Nova does on a trunk's parent.
    let unplugged = update(
        &alice,
        &parent,
        json!({"device_id": "", "device_owner": ""}),
    )
    .await
    .expect(200);
    assert_eq!(unplugged["port"]["device_id"], "");
    update(
        &alice,
        &parent,
        json!({"device_id": "vm-2", "device_owner": "compute:nova"}),
    )
    .await
    .expect(200);
    check_invariants(&server, "after the parent's device was swapped").await;

    // Out of the trunk, the subport's fields are free again.
    alice
        .put(
            &format!("/v2.0/trunks/{trunk}/remove_subports"),
            json!({"sub_ports": [{"port_id": sub}]}),
        )
        .await
        .expect(200);
    update(
        &alice,
        &sub,
        json!({"device_id": "vm-3", "device_owner": "compute:nova"}),
    )
    .await
    .expect(200);
    check_invariants(&server, "after the freed subport was given a device").await;
}
