//! Subnets as Neutron serves them (issue 18, item 1): defaults and normalisation, every
//! validation rule (a 400 naming the attribute or Neutron's 409, and nothing written), the
//! network's `subnets` list and the cascade on network delete, policy, quota, lists and tags.

use crate::common;

use common::{Client, Identity, Server};
use serde_json::{json, Value};

async fn subnet(client: &Client, network: &str, cidr: &str, extra: Value) -> Value {
    let mut body = json!({"network_id": network, "ip_version": 4, "cidr": cidr});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    client
        .post("/v2.0/subnets", json!({ "subnet": body }))
        .await
        .expect(201)["subnet"]
        .clone()
}

fn ids(body: &Value) -> Vec<String> {
    body["subnets"]
        .as_array()
        .unwrap_or_else(|| panic!("no subnets in {body}"))
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_string())
        .collect()
}

async fn count(client: &Client) -> usize {
    ids(&client.get("/v2.0/subnets").await.expect(200)).len()
}

fn assert_bad(reply: common::Reply, field: &str) {
    assert_eq!(reply.status.as_u16(), 400, "{field}: {}", reply.body);
    let message = reply.message();
    assert!(message.contains(field), "{field} not named in: {message}");
}

#[tokio::test]
async fn subnets_crud_with_neutron_defaults() {
    let server = Server::start();
    let member = server.as_(Identity::member("p1"));
    let network = member.network(json!({})).await;

    let created = subnet(&member, &network, "10.1.0.5/24", json!({"name": "s1"})).await;
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(created["cidr"], "10.1.0.0/24");
    assert_eq!(created["ip_version"], 4);
    assert_eq!(created["network_id"], json!(network));
    assert_eq!(created["gateway_ip"], "10.1.0.1");
    assert_eq!(
        created["allocation_pools"],
        json!([{"start": "10.1.0.2", "end": "10.1.0.254"}])
    );
    assert_eq!(created["enable_dhcp"], true);
    assert_eq!(created["dns_nameservers"], json!([]));
    assert_eq!(created["host_routes"], json!([]));
    assert_eq!(created["ipv6_address_mode"], Value::Null);
    assert_eq!(created["ipv6_ra_mode"], Value::Null);
    assert_eq!(created["subnetpool_id"], Value::Null);
    assert_eq!(created["project_id"], "p1");
    assert_eq!(created["tenant_id"], "p1");
    assert_eq!(created["revision_number"], 0);
    assert_eq!(created["tags"], json!([]));
    let keys: Vec<&String> = created.as_object().expect("object").keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "keys in alphabetical order");

    // Show, and the network lists it.
    let shown = member.get(&format!("/v2.0/subnets/{id}")).await.expect(200);
    assert_eq!(shown["subnet"], created);
    let net = member
        .get(&format!("/v2.0/networks/{network}"))
        .await
        .expect(200);
    assert_eq!(net["network"]["subnets"], json!([id]));

    // Update what may change.
    let updated = member
        .put(
            &format!("/v2.0/subnets/{id}"),
            json!({"subnet": {
                "name": "s2",
                "description": "d",
                "enable_dhcp": false,
                "dns_nameservers": ["8.8.8.8", "2001:db8::53"],
                "host_routes": [{"destination": "10.9.0.7/16", "nexthop": "10.1.0.9"}],
                "gateway_ip": "10.1.0.254",
                "allocation_pools": [{"start": "10.1.0.10", "end": "10.1.0.20"}],
            }}),
        )
        .await
        .expect(200)["subnet"]
        .clone();
    assert_eq!(updated["name"], "s2");
    assert_eq!(updated["enable_dhcp"], false);
    assert_eq!(updated["gateway_ip"], "10.1.0.254");
    assert_eq!(
        updated["host_routes"],
        json!([{"destination": "10.9.0.0/16", "nexthop": "10.1.0.9"}])
    );
    assert_eq!(
        updated["dns_nameservers"],
        json!(["8.8.8.8", "2001:db8::53"])
    );
    assert_eq!(updated["revision_number"], 1);
    // A gateway of null: none.
    let updated = member
        .put(
            &format!("/v2.0/subnets/{id}"),
            json!({"subnet": {"gateway_ip": null}}),
        )
        .await
        .expect(200);
    assert_eq!(updated["subnet"]["gateway_ip"], Value::Null);
    // cidr, ip_version and network_id are fixed.
    for (field, value) in [
        ("cidr", json!("10.2.0.0/24")),
        ("ip_version", json!(6)),
        ("network_id", json!(network)),
    ] {
        assert_bad(
            member
                .put(
                    &format!("/v2.0/subnets/{id}"),
                    json!({"subnet": {field: value}}),
                )
                .await,
            field,
        );
    }

    // Delete.
    member
        .delete(&format!("/v2.0/subnets/{id}"))
        .await
        .expect(204);
    member
        .get(&format!("/v2.0/subnets/{id}"))
        .await
        .expect_error(404, "SubnetNotFound");
    let net = member
        .get(&format!("/v2.0/networks/{network}"))
        .await
        .expect(200);
    assert_eq!(net["network"]["subnets"], json!([]));
}

#[tokio::test]
async fn ipv6_subnets_and_explicit_gateways() {
    let server = Server::start();
    let member = server.as_(Identity::member("p1"));
    let network = member.network(json!({})).await;
    let v6 = member
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": network, "ip_version": 6, "cidr": "2001:db8::/64",
                "ipv6_address_mode": "slaac", "ipv6_ra_mode": "slaac"}}),
        )
        .await
        .expect(201)["subnet"]
        .clone();
    assert_eq!(v6["gateway_ip"], "2001:db8::1");
    assert_eq!(v6["ipv6_address_mode"], "slaac");
    assert_eq!(
        v6["allocation_pools"],
        json!([{"start": "2001:db8::2", "end": "2001:db8::ffff:ffff:ffff:ffff"}])
    );
    let none = subnet(
        &member,
        &network,
        "10.0.0.0/24",
        json!({"gateway_ip": null}),
    )
    .await;
    assert_eq!(none["gateway_ip"], Value::Null);
    assert_eq!(
        none["allocation_pools"],
        json!([{"start": "10.0.0.1", "end": "10.0.0.254"}])
    );
    let middle = subnet(
        &member,
        &network,
        "10.0.1.0/24",
        json!({"gateway_ip": "10.0.1.100"}),
    )
    .await;
    assert_eq!(
        middle["allocation_pools"],
        json!([{"start": "10.0.1.1", "end": "10.0.1.99"}, {"start": "10.0.1.101", "end": "10.0.1.254"}])
    );
}

#[tokio::test]
async fn bad_subnets_are_refused_and_nothing_is_written() {
    let server = Server::start();
    let member = server.as_(Identity::member("p1"));
    let network = member.network(json!({})).await;
    let base = json!({"network_id": network, "ip_version": 4, "cidr": "10.0.0.0/24"});
    let with = |extra: Value| {
        let mut body = base.clone();
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            for (key, value) in extra {
                if value == &json!("<absent>") {
                    body.remove(key);
                } else {
                    body.insert(key.clone(), value.clone());
                }
            }
        }
        json!({ "subnet": body })
    };
    let bad_requests = [
        (json!({"cidr": "10.0.0.0"}), "cidr"),
        (json!({"cidr": "10.0.0.0/33"}), "cidr"),
        (json!({"cidr": "not a cidr"}), "cidr"),
        (json!({"cidr": "<absent>"}), "cidr"),
        (json!({"cidr": 5}), "cidr"),
        (json!({"ip_version": 5}), "ip_version"),
        (json!({"ip_version": 6}), "ip_version"),
        (json!({"ip_version": "<absent>"}), "ip_version"),
        (json!({"network_id": "<absent>"}), "network_id"),
        (json!({"gateway_ip": "10.0.1.1"}), "gateway_ip"),
        (json!({"gateway_ip": "10.0.0.0"}), "gateway_ip"),
        (json!({"gateway_ip": "10.0.0.255"}), "gateway_ip"),
        (json!({"gateway_ip": "gw"}), "gateway_ip"),
        (json!({"gateway_ip": "2001:db8::1"}), "gateway_ip"),
        (
            json!({"allocation_pools": [{"start": "10.0.0.10", "end": "10.0.1.10"}]}),
            "allocation_pools",
        ),
        (
            json!({"allocation_pools": [{"start": "10.0.0.20", "end": "10.0.0.10"}]}),
            "allocation_pools",
        ),
        (
            json!({"allocation_pools": [{"start": "10.0.0.10"}]}),
            "allocation_pools",
        ),
        (json!({"allocation_pools": "x"}), "allocation_pools"),
        (
            json!({"dns_nameservers": ["dns.example"]}),
            "dns_nameservers",
        ),
        (
            json!({"dns_nameservers": ["8.8.8.8", "8.8.8.8"]}),
            "dns_nameservers",
        ),
        (
            json!({"host_routes": [{"destination": "10.9.0.0", "nexthop": "10.0.0.1"}]}),
            "host_routes",
        ),
        (
            json!({"host_routes": [{"destination": "10.9.0.0/16", "nexthop": "x"}]}),
            "host_routes",
        ),
        (json!({"ipv6_address_mode": "slaac"}), "ipv6_address_mode"),
        (json!({"ipv6_ra_mode": "slaac"}), "ipv6_ra_mode"),
        (json!({"enable_dhcp": "maybe"}), "enable_dhcp"),
        (json!({"subnetpool_id": "x"}), "subnetpool_id"),
        (json!({"status": "ACTIVE"}), "status"),
        (json!({"id": "x"}), "id"),
        (json!({"name": "x".repeat(256)}), "name"),
    ];
    for (extra, field) in bad_requests {
        assert_bad(member.post("/v2.0/subnets", with(extra)).await, field);
    }
    let v6_bad = json!({"subnet": {"network_id": network, "ip_version": 6, "cidr": "2001:db8::/64",
        "ipv6_address_mode": "slaac", "ipv6_ra_mode": "dhcpv6-stateful"}});
    assert_bad(member.post("/v2.0/subnets", v6_bad).await, "ipv6_ra_mode");
    let v6_bad = json!({"subnet": {"network_id": network, "ip_version": 6, "cidr": "2001:db8::/64",
        "ipv6_address_mode": "eui64"}});
    assert_bad(
        member.post("/v2.0/subnets", v6_bad).await,
        "ipv6_address_mode",
    );

    member
        .post(
            "/v2.0/subnets",
            with(json!({"allocation_pools": [
                {"start": "10.0.0.10", "end": "10.0.0.20"},
                {"start": "10.0.0.15", "end": "10.0.0.30"},
            ]})),
        )
        .await
        .expect_error(409, "OverlappingAllocationPools");
    member
        .post(
            "/v2.0/subnets",
            with(json!({"allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.20"}]})),
        )
        .await
        .expect_error(409, "GatewayConflictWithAllocationPools");
    member
        .post(
            "/v2.0/subnets",
            with(json!({"network_id": "00000000-0000-0000-0000-000000000000"})),
        )
        .await
        .expect_error(404, "NetworkNotFound");
    assert_eq!(count(&member).await, 0, "nothing written");

    // Overlapping CIDRs on one network: 400 with Neutron's message; another network is fine.
    let first = subnet(&member, &network, "10.0.0.0/16", json!({})).await;
    let reply = member.post("/v2.0/subnets", with(json!({}))).await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.body);
    assert_eq!(
        reply.message(),
        format!(
            "Invalid input for operation: Requested subnet with cidr: 10.0.0.0/24 for network: \
             {network} overlaps with another subnet."
        )
    );
    let other = member.network(json!({})).await;
    subnet(&member, &other, "10.0.0.0/24", json!({})).await;
    assert_eq!(count(&member).await, 2);

    // Updates are checked too, and change nothing when refused.
    let id = first["id"].as_str().expect("id");
    member
        .put(
            &format!("/v2.0/subnets/{id}"),
            json!({"subnet": {"gateway_ip": "10.0.0.9"}}),
        )
        .await
        .expect_error(409, "GatewayConflictWithAllocationPools");
    assert_bad(
        member
            .put(
                &format!("/v2.0/subnets/{id}"),
                json!({"subnet": {"allocation_pools": [{"start": "10.1.0.1", "end": "10.1.0.2"}]}}),
            )
            .await,
        "allocation_pools",
    );
    let after = member.get(&format!("/v2.0/subnets/{id}")).await.expect(200);
    assert_eq!(after["subnet"], first);
}

#[tokio::test]
async fn deleting_a_network_deletes_its_subnets() {
    let server = Server::start();
    let member = server.as_(Identity::member("p1"));
    let network = member.network(json!({})).await;
    let a = subnet(&member, &network, "10.0.0.0/24", json!({"tags": ["t"]})).await;
    let b = subnet(&member, &network, "10.0.1.0/24", json!({})).await;
    let net = member
        .get(&format!("/v2.0/networks/{network}"))
        .await
        .expect(200);
    let mut listed: Vec<Value> = net["network"]["subnets"].as_array().expect("list").clone();
    listed.sort_by_key(|v| v.to_string());
    let mut expected = vec![a["id"].clone(), b["id"].clone()];
    expected.sort_by_key(|v| v.to_string());
    assert_eq!(listed, expected);
    member
        .delete(&format!("/v2.0/networks/{network}"))
        .await
        .expect(204);
    assert_eq!(count(&member).await, 0);
    for s in [a, b] {
        let id = s["id"].as_str().expect("id");
        member
            .get(&format!("/v2.0/subnets/{id}"))
            .await
            .expect_error(404, "SubnetNotFound");
    }
}

#[tokio::test]
async fn subnet_policy_follows_the_network() {
    let server = Server::start();
    let admin = server.admin();
    let p1 = server.as_(Identity::member("p1"));
    let p2 = server.as_(Identity::member("p2"));
    let reader = server.as_(Identity::reader("p1"));
    let private = p1.network(json!({})).await;
    let own = subnet(&p1, &private, "10.0.0.0/24", json!({})).await;
    let own_id = own["id"].as_str().expect("id");

    // Another project sees nothing of it.
    p2.get(&format!("/v2.0/subnets/{own_id}"))
        .await
        .expect_error(404, "SubnetNotFound");
    p2.put(
        &format!("/v2.0/subnets/{own_id}"),
        json!({"subnet": {"name": "x"}}),
    )
    .await
    .expect_error(404, "SubnetNotFound");
    p2.delete(&format!("/v2.0/subnets/{own_id}"))
        .await
        .expect_error(404, "SubnetNotFound");
    assert_eq!(count(&p2).await, 0);
    p2.post(
        "/v2.0/subnets",
        json!({"subnet": {"network_id": private, "ip_version": 4, "cidr": "10.5.0.0/24"}}),
    )
    .await
    .expect_error(404, "NetworkNotFound");
    // A reader reads but does not write.
    reader
        .get(&format!("/v2.0/subnets/{own_id}"))
        .await
        .expect(200);
    assert_eq!(
        reader
            .put(
                &format!("/v2.0/subnets/{own_id}"),
                json!({"subnet": {"name": "x"}})
            )
            .await
            .status
            .as_u16(),
        403
    );

    // A shared network's subnets are readable by every project, writable only by the owner.
    let shared = admin
        .post(
            "/v2.0/networks",
            json!({"network": {"shared": true, "project_id": "p1"}}),
        )
        .await
        .expect(201)["network"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let on_shared = subnet(&p1, &shared, "10.9.0.0/24", json!({})).await;
    let shared_id = on_shared["id"].as_str().expect("id");
    let seen = p2
        .get(&format!("/v2.0/subnets/{shared_id}"))
        .await
        .expect(200);
    assert_eq!(seen["subnet"]["id"], json!(shared_id));
    assert_eq!(
        ids(&p2.get("/v2.0/subnets").await.expect(200)),
        vec![shared_id.to_string()]
    );
    assert_eq!(
        p2.put(
            &format!("/v2.0/subnets/{shared_id}"),
            json!({"subnet": {"name": "x"}})
        )
        .await
        .status
        .as_u16(),
        403
    );
    assert_eq!(
        p2.post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": shared, "ip_version": 4, "cidr": "10.8.0.0/24"}}),
        )
        .await
        .status
        .as_u16(),
        403
    );
    // The admin sees everything.
    assert_eq!(count(&admin).await, 2);
}

#[tokio::test]
async fn subnet_quota_is_enforced() {
    let server = Server::start_with(&["--subnet-quota", "2"]);
    let member = server.as_(Identity::member("p1"));
    let network = member.network(json!({})).await;
    subnet(&member, &network, "10.0.0.0/24", json!({})).await;
    member
        .post(
            "/v2.0/subnets",
            json!({"subnets": [
                {"network_id": network, "ip_version": 4, "cidr": "10.0.1.0/24"},
                {"network_id": network, "ip_version": 4, "cidr": "10.0.2.0/24"},
            ]}),
        )
        .await
        .expect_error(409, "OverQuota");
    assert_eq!(count(&member).await, 1, "a refused bulk writes nothing");
    subnet(&member, &network, "10.0.1.0/24", json!({})).await;
    member
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": network, "ip_version": 4, "cidr": "10.0.2.0/24"}}),
        )
        .await
        .expect_error(409, "OverQuota");
}

#[tokio::test]
async fn subnet_lists_filter_sort_page_and_carry_tags() {
    let server = Server::start();
    let member = server.as_(Identity::member("p1"));
    let network = member.network(json!({})).await;
    let mut made = Vec::new();
    for (index, name) in ["c", "a", "b"].iter().enumerate() {
        let s = subnet(
            &member,
            &network,
            &format!("10.0.{index}.0/24"),
            json!({"name": name, "tags": [format!("t{index}")]}),
        )
        .await;
        made.push(s);
    }
    let v6_network = member.network(json!({})).await;
    member
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": v6_network, "ip_version": 6, "cidr": "2001:db8::/64", "name": "v6"}}),
        )
        .await
        .expect(201);

    let names = |body: &Value| -> Vec<String> {
        body["subnets"]
            .as_array()
            .expect("list")
            .iter()
            .map(|s| s["name"].as_str().expect("name").to_string())
            .collect()
    };
    let sorted = member
        .get(&format!(
            "/v2.0/subnets?network_id={network}&sort_key=name&sort_dir=asc"
        ))
        .await
        .expect(200);
    assert_eq!(names(&sorted), ["a", "b", "c"]);
    let v6 = member.get("/v2.0/subnets?ip_version=6").await.expect(200);
    assert_eq!(names(&v6), ["v6"]);
    let by_cidr = member
        .get("/v2.0/subnets?cidr=10.0.1.0/24")
        .await
        .expect(200);
    assert_eq!(names(&by_cidr), ["a"]);
    let tagged = member.get("/v2.0/subnets?tags=t2").await.expect(200);
    assert_eq!(names(&tagged), ["b"]);

    // Pages.
    let page = member
        .get("/v2.0/subnets?sort_key=name&sort_dir=asc&limit=2")
        .await
        .expect(200);
    assert_eq!(names(&page), ["a", "b"]);
    let marker = page["subnets"][1]["id"].as_str().expect("id");
    let next = member
        .get(&format!(
            "/v2.0/subnets?sort_key=name&sort_dir=asc&limit=2&marker={marker}"
        ))
        .await
        .expect(200);
    assert_eq!(names(&next), ["c", "v6"]);

    // fields=.
    let picked = member
        .get("/v2.0/subnets?fields=id&fields=cidr")
        .await
        .expect(200);
    let first = picked["subnets"][0].as_object().expect("object");
    assert_eq!(first.len(), 2, "{first:?}");
    // Unknown filters are refused.
    assert_bad(member.get("/v2.0/subnets?colour=red").await, "colour");

    // Tag calls on a subnet.
    let id = made[0]["id"].as_str().expect("id");
    member
        .put(&format!("/v2.0/subnets/{id}/tags/extra"), json!(null))
        .await;
    let tags = member
        .get(&format!("/v2.0/subnets/{id}/tags"))
        .await
        .expect(200);
    assert_eq!(tags["tags"], json!(["extra", "t0"]));
    member
        .put(&format!("/v2.0/subnets/{id}/tags"), json!({"tags": ["z"]}))
        .await
        .expect(200);
    let shown = member.get(&format!("/v2.0/subnets/{id}")).await.expect(200);
    assert_eq!(shown["subnet"]["tags"], json!(["z"]));
    assert_eq!(shown["subnet"]["revision_number"], 2);
}
