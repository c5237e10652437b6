//! IP address management (issue 18, item 2) over HTTP, on the database the suite runs on
//! (SQLite, or PostgreSQL in CI's second pass): default addresses, every `fixed_ips` form and
//! refusal (with nothing written), exhaustion, updates that take and give back in one
//! transaction, `SubnetInUse`, IPv6 automatic addresses, pool changes, and two servers racing
//! for the addresses of one small subnet.

use std::collections::BTreeSet;

use crate::common;

use common::{Client, Identity, Server};
use serde_json::{json, Value};

async fn create_port(client: &Client, network: &str, extra: Value) -> Value {
    let mut body = json!({"network_id": network});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    client
        .post("/v2.0/ports", json!({ "port": body }))
        .await
        .expect(201)["port"]
        .clone()
}

/// `(subnet_id, ip_address)` of each fixed IP of a port body.
fn addresses(port: &Value) -> Vec<(String, String)> {
    port["fixed_ips"]
        .as_array()
        .unwrap_or_else(|| panic!("no fixed_ips in {port}"))
        .iter()
        .map(|ip| {
            (
                ip["subnet_id"].as_str().unwrap_or_default().to_string(),
                ip["ip_address"].as_str().expect("ip_address").to_string(),
            )
        })
        .collect()
}

fn ips(port: &Value) -> Vec<String> {
    addresses(port).into_iter().map(|(_, ip)| ip).collect()
}

async fn port_count(client: &Client) -> usize {
    client.get("/v2.0/ports").await.expect(200)["ports"]
        .as_array()
        .expect("ports")
        .len()
}

#[tokio::test]
async fn ports_get_the_lowest_free_address_and_give_it_back() {
    let server = Server::start();
    let member = server.as_(Identity::member("p1"));
    let network = member.network(json!({})).await;
    // Without subnets a port has no address.
    let bare = create_port(&member, &network, json!({})).await;
    assert_eq!(ips(&bare), Vec::<String>::new());
    let v4 = member
        .subnet(&network, json!({"cidr": "10.0.0.0/24"}))
        .await;

    let first = create_port(&member, &network, json!({})).await;
    assert_eq!(addresses(&first), vec![(v4.clone(), "10.0.0.2".into())]);
    let second = create_port(&member, &network, json!({})).await;
    assert_eq!(ips(&second), vec!["10.0.0.3"]);
    let shown = member
        .get(&format!(
            "/v2.0/ports/{}",
            first["id"].as_str().expect("id")
        ))
        .await
        .expect(200);
    assert_eq!(shown["port"]["fixed_ips"], first["fixed_ips"]);

    member
        .delete(&format!(
            "/v2.0/ports/{}",
            first["id"].as_str().expect("id")
        ))
        .await
        .expect(204);
    let third = create_port(&member, &network, json!({})).await;
    assert_eq!(
        ips(&third),
        vec!["10.0.0.2"],
        "a freed address is handed out again"
    );

    // With a second IPv4 subnet a port still gets one IPv4 address in all.
    let other = member
        .subnet(&network, json!({"cidr": "10.0.1.0/24"}))
        .await;
    let fourth = create_port(&member, &network, json!({})).await;
    let fourth = addresses(&fourth);
    assert!(
        fourth == vec![(v4.clone(), "10.0.0.4".into())]
            || fourth == vec![(other.clone(), "10.0.1.2".into())],
        "{fourth:?}"
    );
    // And a bulk create takes consecutive addresses in one transaction.
    let bulk = member
        .post(
            "/v2.0/ports",
            json!({"ports": [{"network_id": network, "fixed_ips": [{"subnet_id": v4}]},
                {"network_id": network, "fixed_ips": [{"subnet_id": v4}]}]}),
        )
        .await
        .expect(201);
    let bulk: Vec<String> = bulk["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .flat_map(ips)
        .collect();
    let expected = if fourth[0].1 == "10.0.0.4" {
        ["10.0.0.5", "10.0.0.6"]
    } else {
        ["10.0.0.4", "10.0.0.5"]
    };
    assert_eq!(bulk, expected);
}

#[tokio::test]
async fn fixed_ips_name_a_subnet_an_address_or_both() {
    let server = Server::start();
    let member = server.as_(Identity::member("p1"));
    let network = member.network(json!({})).await;
    let a = member.subnet(&network,
        json!({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.100", "end": "10.0.0.200"}]}),
    )
    .await;
    let b = member
        .subnet(&network, json!({"cidr": "10.0.1.0/24"}))
        .await;

    let by_subnet = create_port(&member, &network, json!({"fixed_ips": [{"subnet_id": b}]})).await;
    assert_eq!(addresses(&by_subnet), vec![(b.clone(), "10.0.1.2".into())]);
    let by_address = create_port(
        &member,
        &network,
        json!({"fixed_ips": [{"ip_address": "10.0.0.150"}]}),
    )
    .await;
    assert_eq!(
        addresses(&by_address),
        vec![(a.clone(), "10.0.0.150".into())]
    );
    // Outside the pools but inside the CIDR is the caller's to choose, as in Neutron.
    let both = create_port(
        &member,
        &network,
        json!({"fixed_ips": [{"subnet_id": a, "ip_address": "10.0.0.7"},
                             {"subnet_id": b, "ip_address": "10.0.1.9"}]}),
    )
    .await;
    assert_eq!(
        addresses(&both),
        vec![
            (a.clone(), "10.0.0.7".into()),
            (b.clone(), "10.0.1.9".into())
        ]
    );
    // The pool's first address is still free: 10.0.0.150 was taken out of the middle.
    let next = create_port(&member, &network, json!({"fixed_ips": [{"subnet_id": a}]})).await;
    assert_eq!(ips(&next), vec!["10.0.0.100"]);

    let before = port_count(&member).await;
    for (fixed_ips, status, kind_or_field) in [
        (
            json!([{"ip_address": "10.0.0.150"}]),
            409,
            "IpAddressAlreadyAllocated",
        ),
        (
            json!([{"ip_address": "10.0.0.7"}]),
            409,
            "IpAddressAlreadyAllocated",
        ),
        (
            json!([{"subnet_id": a, "ip_address": "10.0.1.5"}]),
            400,
            "fixed_ips",
        ),
        (json!([{"ip_address": "10.0.0.0"}]), 400, "fixed_ips"),
        (json!([{"ip_address": "10.0.0.255"}]), 400, "fixed_ips"),
        (json!([{"ip_address": "192.0.2.1"}]), 400, "fixed_ips"),
        (json!([{"ip_address": "10.0.0.300"}]), 400, "fixed_ips"),
        (json!([{"subnet_id": "not-a-uuid"}]), 400, "fixed_ips"),
        (json!([{}]), 400, "fixed_ips"),
        (
            json!([{"ip_address": "10.0.0.9"}, {"ip_address": "10.0.0.9"}]),
            400,
            "fixed_ips",
        ),
        // A good entry first, then a bad one: the first is not kept.
        (
            json!([{"ip_address": "10.0.0.20"}, {"ip_address": "10.0.0.150"}]),
            409,
            "IpAddressAlreadyAllocated",
        ),
    ] {
        let reply = member
            .post(
                "/v2.0/ports",
                json!({"port": {"network_id": network, "fixed_ips": fixed_ips}}),
            )
            .await;
        assert_eq!(reply.status.as_u16(), status, "{fixed_ips}: {}", reply.body);
        if status == 409 {
            assert_eq!(reply.error_type(), kind_or_field, "{}", reply.body);
        } else {
            assert!(reply.message().contains(kind_or_field), "{}", reply.body);
        }
    }
    assert_eq!(port_count(&member).await, before, "nothing was written");
    let again = create_port(
        &member,
        &network,
        json!({"fixed_ips": [{"ip_address": "10.0.0.20"}]}),
    )
    .await;
    assert_eq!(
        ips(&again),
        vec!["10.0.0.20"],
        "the refused request held nothing"
    );

    // A subnet of another network is a 400; one that does not exist (or is hidden) a 404.
    let elsewhere = member.network(json!({})).await;
    let foreign = member
        .subnet(&elsewhere, json!({"cidr": "10.5.0.0/24"}))
        .await;
    let reply = member
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": network, "fixed_ips": [{"subnet_id": foreign}]}}),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.body);
    assert!(reply.message().contains(&foreign), "{}", reply.body);
    let other_project = server.as_(Identity::member("p2"));
    let hidden_network = other_project.network(json!({})).await;
    let hidden = other_project
        .subnet(&hidden_network, json!({"cidr": "10.6.0.0/24"}))
        .await;
    for missing in [hidden, "0f0e0d0c-0b0a-4909-8807-060504030201".to_string()] {
        member
            .post(
                "/v2.0/ports",
                json!({"port": {"network_id": network, "fixed_ips": [{"subnet_id": missing}]}}),
            )
            .await
            .expect_error(404, "SubnetNotFound");
    }
    // An address on a network without subnets fits none of them.
    let empty = member.network(json!({})).await;
    let reply = member
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": empty, "fixed_ips": [{"ip_address": "10.0.0.5"}]}}),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.body);
    assert!(
        reply.message().contains("any of the subnets"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn a_full_subnet_refuses_the_next_port_and_writes_nothing() {
    let server = Server::start();
    let member = server.as_(Identity::member("p1"));
    let network = member.network(json!({})).await;
    // 10.0.0.0/29: pool .2-.6 (five addresses) around the gateway .1.
    member
        .subnet(&network, json!({"cidr": "10.0.0.0/29"}))
        .await;
    let ports: Vec<Value> = {
        let mut ports = Vec::new();
        for _ in 0..5 {
            ports.push(create_port(&member, &network, json!({})).await);
        }
        ports
    };
    let taken: BTreeSet<String> = ports.iter().flat_map(ips).collect();
    assert_eq!(taken.len(), 5);
    let before = port_count(&member).await;
    let reply = member
        .post("/v2.0/ports", json!({"port": {"network_id": network}}))
        .await
        .expect_error(409, "IpAddressGenerationFailure");
    assert!(reply.message().contains(&network), "{}", reply.body);
    // A bulk create that would overflow is refused whole.
    let bulk = member
        .post(
            "/v2.0/ports",
            json!({"ports": [{"network_id": network, "fixed_ips": []}, {"network_id": network}]}),
        )
        .await;
    assert_eq!(bulk.status.as_u16(), 409, "{}", bulk.body);
    assert_eq!(port_count(&member).await, before);
    // `fixed_ips: []` asks for no address, which a full subnet can give.
    let none = create_port(&member, &network, json!({"fixed_ips": []})).await;
    assert_eq!(ips(&none), Vec::<String>::new());
    // Freeing one address makes room for exactly one port.
    let freed = ips(&ports[2]);
    member
        .delete(&format!(
            "/v2.0/ports/{}",
            ports[2]["id"].as_str().expect("id")
        ))
        .await
        .expect(204);
    let refill = create_port(&member, &network, json!({})).await;
    assert_eq!(ips(&refill), freed);
}

#[tokio::test]
async fn updating_fixed_ips_takes_and_gives_back_in_one_transaction() {
    let server = Server::start();
    let member = server.as_(Identity::member("p1"));
    let network = member.network(json!({})).await;
    let sub = member
        .subnet(&network, json!({"cidr": "10.0.0.0/24"}))
        .await;
    let port = create_port(&member, &network, json!({})).await;
    let id = port["id"].as_str().expect("id").to_string();
    let other = create_port(&member, &network, json!({})).await;
    assert_eq!(ips(&port), vec!["10.0.0.2"]);
    assert_eq!(ips(&other), vec!["10.0.0.3"]);

    // Keep .2 (named by subnet only), add .50.
    let updated = member
        .put(
            &format!("/v2.0/ports/{id}"),
            json!({"port": {"fixed_ips": [{"subnet_id": sub}, {"ip_address": "10.0.0.50"}]}}),
        )
        .await
        .expect(200);
    assert_eq!(ips(&updated["port"]), vec!["10.0.0.2", "10.0.0.50"]);
    // Move to .60 only: .2 and .50 go back.
    let updated = member
        .put(
            &format!("/v2.0/ports/{id}"),
            json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.60"}]}}),
        )
        .await
        .expect(200);
    assert_eq!(ips(&updated["port"]), vec!["10.0.0.60"]);
    let revision = updated["port"]["revision_number"].clone();
    // Taking the other port's address fails, and the port keeps what it had.
    member
        .put(
            &format!("/v2.0/ports/{id}"),
            json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.3"}], "name": "renamed"}}),
        )
        .await
        .expect_error(409, "IpAddressAlreadyAllocated");
    let shown = member.get(&format!("/v2.0/ports/{id}")).await.expect(200);
    assert_eq!(ips(&shown["port"]), vec!["10.0.0.60"]);
    assert_eq!(shown["port"]["name"], port["name"]);
    assert_eq!(shown["port"]["revision_number"], revision);
    // What the port gave back is free again, lowest first.
    let next = create_port(&member, &network, json!({})).await;
    assert_eq!(ips(&next), vec!["10.0.0.2"]);
    let next = create_port(
        &member,
        &network,
        json!({"fixed_ips": [{"ip_address": "10.0.0.50"}]}),
    )
    .await;
    assert_eq!(ips(&next), vec!["10.0.0.50"]);
    // Removing every address.
    let cleared = member
        .put(
            &format!("/v2.0/ports/{id}"),
            json!({"port": {"fixed_ips": []}}),
        )
        .await
        .expect(200);
    assert_eq!(ips(&cleared["port"]), Vec::<String>::new());
    let reuse = create_port(
        &member,
        &network,
        json!({"fixed_ips": [{"ip_address": "10.0.0.60"}]}),
    )
    .await;
    assert_eq!(ips(&reuse), vec!["10.0.0.60"]);
}

#[tokio::test]
async fn subnets_with_addresses_in_use_cannot_be_deleted() {
    let server = Server::start();
    let member = server.as_(Identity::member("p1"));
    let network = member.network(json!({})).await;
    let sub = member
        .subnet(&network, json!({"cidr": "10.0.0.0/24"}))
        .await;
    let port = create_port(&member, &network, json!({})).await;
    let reply = member
        .delete(&format!("/v2.0/subnets/{sub}"))
        .await
        .expect_error(409, "SubnetInUse");
    assert!(reply.message().contains(&sub), "{}", reply.body);
    member
        .get(&format!("/v2.0/subnets/{sub}"))
        .await
        .expect(200);
    member
        .delete(&format!("/v2.0/ports/{}", port["id"].as_str().expect("id")))
        .await
        .expect(204);
    member
        .delete(&format!("/v2.0/subnets/{sub}"))
        .await
        .expect(204);
    // The network's next subnet on the same CIDR starts from a clean pool.
    member
        .subnet(&network, json!({"cidr": "10.0.0.0/24"}))
        .await;
    assert_eq!(
        ips(&create_port(&member, &network, json!({})).await),
        vec!["10.0.0.2"]
    );
}

#[tokio::test]
async fn ipv6_subnets_hand_out_stateful_and_eui64_addresses() {
    let server = Server::start();
    // Admin: choosing a MAC address is an admin's by default.
    let member = server.admin();
    let network = member.network(json!({})).await;
    let v4 = member
        .subnet(&network, json!({"cidr": "10.0.0.0/24"}))
        .await;
    let stateful = member
        .subnet(
            &network,
            json!({"ip_version": 6, "cidr": "2001:db8::/64", "ipv6_address_mode": "dhcpv6-stateful",
               "ipv6_ra_mode": "dhcpv6-stateful"}),
        )
        .await;
    let mac = "fa:16:3e:12:34:56";
    let port = create_port(&member, &network, json!({"mac_address": mac})).await;
    let id = port["id"].as_str().expect("id").to_string();
    assert_eq!(
        addresses(&port),
        vec![
            (v4.clone(), "10.0.0.2".into()),
            (stateful.clone(), "2001:db8::2".into())
        ]
    );

    // A SLAAC subnet added later gives the existing port its EUI-64 address.
    let slaac = member
        .subnet(
            &network,
            json!({"ip_version": 6, "cidr": "2001:db8:1::/64", "ipv6_address_mode": "slaac",
               "ipv6_ra_mode": "slaac"}),
        )
        .await;
    let shown = member.get(&format!("/v2.0/ports/{id}")).await.expect(200);
    assert!(
        addresses(&shown["port"])
            .contains(&(slaac.clone(), "2001:db8:1:0:f816:3eff:fe12:3456".into())),
        "{}",
        shown["port"]["fixed_ips"]
    );
    // The caller cannot choose an address there, only get the automatic one.
    let reply = member
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": network,
                "fixed_ips": [{"subnet_id": slaac, "ip_address": "2001:db8:1::5"}]}}),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.body);
    assert!(reply.message().contains("automatic"), "{}", reply.body);
    // A new port gets it whatever its fixed_ips say.
    let explicit = create_port(
        &member,
        &network,
        json!({"mac_address": "fa:16:3e:00:00:07", "fixed_ips": [{"subnet_id": v4}]}),
    )
    .await;
    assert_eq!(
        addresses(&explicit),
        vec![
            (v4.clone(), "10.0.0.3".into()),
            (slaac.clone(), "2001:db8:1:0:f816:3eff:fe00:7".into())
        ]
    );
    // Emptying fixed_ips keeps the automatic address; a new MAC moves it.
    let updated = member
        .put(
            &format!("/v2.0/ports/{id}"),
            json!({"port": {"fixed_ips": [], "mac_address": "fa:16:3e:ab:cd:ef"}}),
        )
        .await
        .expect(200);
    assert_eq!(
        addresses(&updated["port"]),
        vec![(slaac.clone(), "2001:db8:1:0:f816:3eff:feab:cdef".into())]
    );
    // A SLAAC subnet is never "in use": deleting it takes its addresses off the ports.
    member
        .delete(&format!("/v2.0/subnets/{slaac}"))
        .await
        .expect(204);
    let shown = member.get(&format!("/v2.0/ports/{id}")).await.expect(200);
    assert_eq!(ips(&shown["port"]), Vec::<String>::new());
    // EUI-64 needs a /64.
    let reply = member
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": network, "ip_version": 6, "cidr": "2001:db8:2::/80",
                "ipv6_address_mode": "slaac"}}),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.body);
    assert!(reply.message().contains("cidr"), "{}", reply.body);
}

#[tokio::test]
async fn changed_pools_keep_what_ports_hold() {
    let server = Server::start();
    let member = server.as_(Identity::member("p1"));
    let network = member.network(json!({})).await;
    let sub = member.subnet(&network,
        json!({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.10", "end": "10.0.0.12"}]}),
    )
    .await;
    let held = create_port(&member, &network, json!({})).await;
    assert_eq!(ips(&held), vec!["10.0.0.10"]);
    member
        .put(
            &format!("/v2.0/subnets/{sub}"),
            json!({"subnet": {"allocation_pools": [{"start": "10.0.0.9", "end": "10.0.0.11"}]}}),
        )
        .await
        .expect(200);
    let ports = [
        create_port(&member, &network, json!({})).await,
        create_port(&member, &network, json!({})).await,
    ];
    assert_eq!(ips(&ports[0]), vec!["10.0.0.9"]);
    assert_eq!(
        ips(&ports[1]),
        vec!["10.0.0.11"],
        ".10 is held, .12 left the pool"
    );
    member
        .post("/v2.0/ports", json!({"port": {"network_id": network}}))
        .await
        .expect_error(409, "IpAddressGenerationFailure");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_racing_for_one_subnet_never_share_an_address() {
    let first = Server::start();
    let second = first.start_beside(&[]);
    let admin = first.admin();
    let network = admin.network(json!({})).await;
    // 30 addresses for 40 ports: ten must fail, and no address may be handed out twice.
    admin.subnet(&network,
        json!({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.30"}],
               "gateway_ip": null}),
    )
    .await;
    let clients = [first.admin(), second.admin()];
    let mut tasks = Vec::new();
    for n in 0..40 {
        let client = clients[n % 2].clone();
        let network = network.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post("/v2.0/ports", json!({"port": {"network_id": network}}))
                .await
        }));
    }
    let mut taken = Vec::new();
    let mut exhausted = 0;
    for task in tasks {
        let reply = task.await.expect("task");
        match reply.status.as_u16() {
            201 => taken.extend(ips(&reply.body["port"])),
            409 => {
                assert_eq!(
                    reply.error_type(),
                    "IpAddressGenerationFailure",
                    "{}",
                    reply.body
                );
                exhausted += 1;
            }
            other => panic!("{other}: {}", reply.body),
        }
    }
    let distinct: BTreeSet<&String> = taken.iter().collect();
    assert_eq!(taken.len(), 30, "{taken:?}");
    assert_eq!(
        distinct.len(),
        30,
        "an address was handed out twice: {taken:?}"
    );
    assert_eq!(exhausted, 10);
}

#[tokio::test]
async fn only_the_network_owner_chooses_addresses_on_it() {
    let server = Server::start();
    let admin = server.admin();
    let owner = server.as_(Identity::member("p1"));
    let guest = server.as_(Identity::member("p2"));
    // A network of p1's, shared with everyone by an admin.
    let network = owner.network(json!({})).await;
    admin
        .put(
            &format!("/v2.0/networks/{network}"),
            json!({"network": {"shared": true}}),
        )
        .await
        .expect(200);
    let sub = owner.subnet(&network, json!({"cidr": "10.0.0.0/24"})).await;

    // Another project may take an address, or one of a named subnet, but not choose one.
    let handed = create_port(&guest, &network, json!({})).await;
    assert_eq!(ips(&handed), vec!["10.0.0.2"]);
    let named = create_port(&guest, &network, json!({"fixed_ips": [{"subnet_id": sub}]})).await;
    assert_eq!(ips(&named), vec!["10.0.0.3"]);
    let before = port_count(&admin).await;
    for fixed_ips in [
        json!([{"ip_address": "10.0.0.9"}]),
        json!([{"subnet_id": sub, "ip_address": "10.0.0.9"}]),
    ] {
        let reply = guest
            .post(
                "/v2.0/ports",
                json!({"port": {"network_id": network, "fixed_ips": fixed_ips}}),
            )
            .await
            .expect_error(403, "PolicyNotAuthorized");
        assert!(
            reply.message().contains("create_port:fixed_ips:ip_address"),
            "{}",
            reply.body
        );
    }
    assert_eq!(port_count(&admin).await, before, "nothing was written");
    let id = handed["id"].as_str().expect("id");
    guest
        .put(
            &format!("/v2.0/ports/{id}"),
            json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.9"}]}}),
        )
        .await
        .expect_error(403, "PolicyNotAuthorized");
    let shown = guest.get(&format!("/v2.0/ports/{id}")).await.expect(200);
    assert_eq!(ips(&shown["port"]), vec!["10.0.0.2"]);
    // The owner may.
    let chosen = create_port(
        &owner,
        &network,
        json!({"fixed_ips": [{"ip_address": "10.0.0.9"}]}),
    )
    .await;
    assert_eq!(ips(&chosen), vec!["10.0.0.9"]);
}
