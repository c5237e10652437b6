//! The default policy table, end to end: every endpoint, called by every kind of caller, on a
//! resource owned by project `p1`, with the status each must get. Statuses are written out by
//! hand, not derived from the rules under test. Used with noauth identities (policy_table) and
//! with Keystone tokens (keystone_auth).
#![allow(dead_code)]

use reqwest::Method;
use serde_json::{json, Value};

use super::common::{vlan, Client, Identity};

pub const WHO: [&str; 7] = [
    "admin",
    "member of p1",
    "reader of p1",
    "member of p2",
    "reader of p2",
    "no role in p1",
    "service",
];

pub fn identities() -> [Identity; 7] {
    [
        Identity::admin(),
        Identity::member("p1"),
        Identity::reader("p1"),
        Identity::member("p2"),
        Identity::reader("p2"),
        Identity::new("p1", ""),
        Identity::new("services", "service"),
    ]
}

/// Resources of project p1 an action works on; made fresh for every call.
pub struct Fixture {
    pub network: String,
    /// A port with no trunk, for creating one.
    pub parent: String,
    pub spare: String,
    pub trunk: String,
    pub trunk_parent: String,
    pub subport: String,
}

pub async fn fixture(owner: &Client) -> Fixture {
    let network = owner.network(json!({})).await;
    let ports = owner.ports(&network, 4).await;
    let trunk = owner.trunk(&ports[0], json!([vlan(&ports[1], 5)])).await;
    Fixture {
        network,
        parent: ports[2].clone(),
        spare: ports[3].clone(),
        trunk,
        trunk_parent: ports[0].clone(),
        subport: ports[1].clone(),
    }
}

/// The request `action` makes on the fixture `f`: method, path and body.
pub fn request_for(action: &str, f: &Fixture) -> (Method, String, Option<Value>) {
    let t = &f.trunk;
    let (method, path, body) = match action {
        "list trunks" => (Method::GET, "/v2.0/trunks".to_string(), None),
        "show trunk" => (Method::GET, format!("/v2.0/trunks/{t}"), None),
        "create trunk" => (
            Method::POST,
            "/v2.0/trunks".to_string(),
            Some(json!({"trunk": {"port_id": f.parent}})),
        ),
        "update trunk" => (
            Method::PUT,
            format!("/v2.0/trunks/{t}"),
            Some(json!({"trunk": {"name": "n"}})),
        ),
        "delete trunk" => (Method::DELETE, format!("/v2.0/trunks/{t}"), None),
        "add subports" => (
            Method::PUT,
            format!("/v2.0/trunks/{t}/add_subports"),
            Some(json!({"sub_ports": []})),
        ),
        "remove subports" => (
            Method::PUT,
            format!("/v2.0/trunks/{t}/remove_subports"),
            Some(json!({"sub_ports": []})),
        ),
        "get subports" => (Method::GET, format!("/v2.0/trunks/{t}/get_subports"), None),
        "guest config" => (Method::GET, format!("/v2.0/trunks/{t}/guest_config"), None),
        "trunk audit" => (Method::GET, format!("/v2.0/trunks/{t}/audit"), None),
        "replace trunk tags" => (
            Method::PUT,
            format!("/v2.0/trunks/{t}/tags"),
            Some(json!({"tags": ["a"]})),
        ),
        "add trunk tag" => (Method::PUT, format!("/v2.0/trunks/{t}/tags/a"), None),
        "clear trunk tags" => (Method::DELETE, format!("/v2.0/trunks/{t}/tags"), None),
        "list trunk tags" => (Method::GET, format!("/v2.0/trunks/{t}/tags"), None),
        "list networks" => (Method::GET, "/v2.0/networks".to_string(), None),
        "show network" => (Method::GET, format!("/v2.0/networks/{}", f.network), None),
        "create network" => (
            Method::POST,
            "/v2.0/networks".to_string(),
            Some(json!({"network": {"name": "x"}})),
        ),
        "update network" => (
            Method::PUT,
            format!("/v2.0/networks/{}", f.network),
            Some(json!({"network": {"name": "y"}})),
        ),
        "list ports" => (Method::GET, "/v2.0/ports".to_string(), None),
        "show port" => (Method::GET, format!("/v2.0/ports/{}", f.spare), None),
        "create port" => (
            Method::POST,
            "/v2.0/ports".to_string(),
            Some(json!({"port": {"network_id": f.network}})),
        ),
        "update port" => (
            Method::PUT,
            format!("/v2.0/ports/{}", f.spare),
            Some(json!({"port": {"name": "y"}})),
        ),
        "bind port" => (
            Method::PUT,
            format!("/v2.0/ports/{}", f.spare),
            Some(json!({"port": {"binding:host_id": "h1"}})),
        ),
        "delete port" => (Method::DELETE, format!("/v2.0/ports/{}", f.spare), None),
        "extensions" => (Method::GET, "/v2.0/extensions".to_string(), None),
        other => panic!("no such action {other}"),
    };
    (method, path, body)
}

pub async fn call(action: &str, client: &Client, f: &Fixture) -> u16 {
    let (method, path, body) = request_for(action, f);
    let reply = client.send(method, &path, body).await;
    let status = reply.status.as_u16();
    // List calls never show another project's resources.
    if action.starts_with("list ") && status == 200 && !action.ends_with("tags") {
        let collection = action.trim_start_matches("list ");
        let items = reply.body[collection]
            .as_array()
            .cloned()
            .unwrap_or_default();
        return if items.is_empty() { 200 } else { 299 };
    }
    status
}

/// Expected status per action, columns following [`WHO`]. 299 means "200 and the list shows
/// p1's resources"; 200 on a list means an empty list.
pub const TABLE: &[(&str, [u16; 7])] = &[
    ("list trunks", [299, 299, 299, 200, 200, 200, 200]),
    ("show trunk", [200, 200, 200, 404, 404, 404, 404]),
    ("create trunk", [201, 201, 403, 404, 403, 403, 403]),
    ("update trunk", [200, 200, 403, 404, 404, 404, 404]),
    ("delete trunk", [204, 204, 403, 404, 404, 404, 404]),
    ("add subports", [200, 200, 403, 404, 404, 404, 404]),
    ("remove subports", [200, 200, 403, 404, 404, 404, 404]),
    ("get subports", [200, 200, 200, 404, 404, 404, 404]),
    ("guest config", [200, 200, 200, 404, 404, 404, 404]),
    ("trunk audit", [200, 200, 200, 404, 404, 404, 404]),
    ("replace trunk tags", [200, 200, 403, 404, 404, 404, 404]),
    ("add trunk tag", [201, 201, 403, 404, 404, 404, 404]),
    ("clear trunk tags", [204, 204, 403, 404, 404, 404, 404]),
    ("list trunk tags", [200, 200, 200, 404, 404, 404, 404]),
    ("list networks", [299, 299, 299, 200, 200, 200, 299]),
    ("show network", [200, 200, 200, 404, 404, 404, 200]),
    ("create network", [201, 201, 403, 201, 403, 403, 403]),
    ("update network", [200, 200, 403, 404, 404, 404, 403]),
    ("list ports", [299, 299, 299, 200, 200, 200, 299]),
    ("show port", [200, 200, 200, 404, 404, 404, 200]),
    ("create port", [201, 201, 403, 404, 403, 403, 201]),
    ("update port", [200, 200, 403, 404, 404, 404, 200]),
    ("bind port", [200, 403, 403, 404, 404, 404, 200]),
    ("delete port", [204, 204, 403, 404, 404, 404, 204]),
    ("extensions", [200, 200, 200, 200, 200, 200, 200]),
];

/// Runs the whole table: `owner` (a member of p1) makes the fixtures, `clients` follow
/// [`WHO`], and `anonymous` must get 401 everywhere but the extension list.
pub async fn check(owner: &Client, clients: &[Client], anonymous: &Client) {
    let mut failures = Vec::new();
    for (action, expected) in TABLE {
        for ((client, who), want) in clients.iter().zip(WHO).zip(expected) {
            let fixture = fixture(owner).await;
            let got = call(action, client, &fixture).await;
            if got != *want {
                failures.push(format!("{action} as {who}: expected {want}, got {got}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "policy mismatches:\n{}",
        failures.join("\n")
    );
    let fixture = fixture(owner).await;
    for (action, _) in TABLE.iter().filter(|(a, _)| *a != "extensions") {
        assert_eq!(
            call(action, anonymous, &fixture).await,
            401,
            "{action} anonymously"
        );
    }
}
