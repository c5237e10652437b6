//! Authorisation sweep: every route and method the router serves, called by every
//! kind of caller, on resources of project `p1` whose trunk sits on host `h1`: the status each
//! caller must get, and no data of `p1` in the body of anyone not entitled to it. The expected
//! statuses are written out by hand (the user API's from tests/policy_cases). A route added
//! to the router without a row here fails `every_routed_endpoint_is_in_the_sweep`.

use crate::common;
use crate::policy_cases;

use std::collections::BTreeSet;

use common::{Client, Identity, Server};
use reqwest::Method;
use serde_json::{json, Value};

/// The callers, in the order of each row's statuses.
const WHO: [&str; 10] = [
    "anonymous",
    "admin",
    "member of p1",
    "reader of p1",
    "member of p2",
    "reader of p2",
    "no role in p1",
    "service",
    "agent of h1",
    "agent of h2",
];

/// Callers who may see nothing of p1: their bodies are searched for p1's ids.
const OUTSIDERS: [&str; 5] = [
    "anonymous",
    "member of p2",
    "reader of p2",
    "no role in p1",
    "agent of h2",
];

/// Where a row's statuses come from.
enum Expect {
    /// The policy table's row for this action (tests/policy_cases), with these statuses for
    /// anonymous callers and for agents, who present no user identity.
    Table { anonymous: u16, agents: u16 },
    /// Every caller's status, following [`WHO`].
    Each([u16; 10]),
}

struct Row {
    method: &'static str,
    route: &'static str,
    action: &'static str,
    expect: Expect,
}

const fn table(method: &'static str, route: &'static str, action: &'static str) -> Row {
    Row {
        method,
        route,
        action,
        expect: Expect::Table {
            anonymous: 401,
            agents: 401,
        },
    }
}

const fn each(
    method: &'static str,
    route: &'static str,
    action: &'static str,
    statuses: [u16; 10],
) -> Row {
    Row {
        method,
        route,
        action,
        expect: Expect::Each(statuses),
    }
}

/// Anyone, signed in or not, gets the same answer.
const PUBLIC: [u16; 10] = [200; 10];
/// The agent API: user identities are not agents (401); the agent of the trunk's host is
/// served, the agent of another host is refused (403).
const AGENT_ON_TRUNK: [u16; 10] = [401, 401, 401, 401, 401, 401, 401, 401, 200, 403];

const ROWS: &[Row] = &[
    each("GET", "/", "versions", PUBLIC),
    each("GET", "/v2.0", "resources", PUBLIC),
    each("GET", "/v2.0/", "resources (slash)", PUBLIC),
    Row {
        expect: Expect::Table {
            anonymous: 200,
            agents: 200,
        },
        ..table("GET", "/v2.0/extensions", "extensions")
    },
    each("GET", "/v2.0/extensions/{alias}", "show extension", PUBLIC),
    table("GET", "/v2.0/networks", "list networks"),
    table("POST", "/v2.0/networks", "create network"),
    table("GET", "/v2.0/networks/{id}", "show network"),
    table("PUT", "/v2.0/networks/{id}", "update network"),
    each(
        "DELETE",
        "/v2.0/networks/{id}",
        "delete network",
        [401, 204, 204, 403, 404, 404, 404, 403, 401, 401],
    ),
    each(
        "GET",
        "/v2.0/subnets",
        "list subnets",
        [401, 200, 200, 200, 200, 200, 200, 200, 401, 401],
    ),
    each(
        "POST",
        "/v2.0/subnets",
        "create subnet",
        [401, 201, 201, 403, 404, 404, 404, 403, 401, 401],
    ),
    each(
        "GET",
        "/v2.0/subnets/{id}",
        "show subnet",
        [401, 200, 200, 200, 404, 404, 404, 404, 401, 401],
    ),
    each(
        "PUT",
        "/v2.0/subnets/{id}",
        "update subnet",
        [401, 200, 200, 403, 404, 404, 404, 404, 401, 401],
    ),
    each(
        "DELETE",
        "/v2.0/subnets/{id}",
        "delete subnet",
        [401, 204, 204, 403, 404, 404, 404, 404, 401, 401],
    ),
    table("GET", "/v2.0/ports", "list ports"),
    table("POST", "/v2.0/ports", "create port"),
    table("GET", "/v2.0/ports/{id}", "show port"),
    table("PUT", "/v2.0/ports/{id}", "update port"),
    table("PUT", "/v2.0/ports/{id}", "bind port"),
    table("DELETE", "/v2.0/ports/{id}", "delete port"),
    table("GET", "/v2.0/trunks", "list trunks"),
    table("POST", "/v2.0/trunks", "create trunk"),
    table("GET", "/v2.0/trunks/{id}", "show trunk"),
    table("PUT", "/v2.0/trunks/{id}", "update trunk"),
    table("DELETE", "/v2.0/trunks/{id}", "delete trunk"),
    // Extension trunk-teardown: the fixture's parent is bound to h1, so only a forced
    // teardown (admins) goes through; a subport leaves its trunk as remove_subports allows.
    each(
        "DELETE",
        "/v2.0/trunks/{id}",
        "delete trunk with ports",
        [401, 409, 409, 403, 404, 404, 404, 404, 401, 401],
    ),
    each(
        "DELETE",
        "/v2.0/trunks/{id}",
        "force delete trunk with ports",
        [401, 204, 403, 403, 404, 404, 404, 404, 401, 401],
    ),
    each(
        "DELETE",
        "/v2.0/ports/{id}",
        "delete subport from its trunk",
        [401, 204, 204, 403, 404, 404, 404, 409, 401, 401],
    ),
    table("PUT", "/v2.0/trunks/{id}/add_subports", "add subports"),
    table(
        "PUT",
        "/v2.0/trunks/{id}/remove_subports",
        "remove subports",
    ),
    table("GET", "/v2.0/trunks/{id}/get_subports", "get subports"),
    table("GET", "/v2.0/trunks/{id}/guest_config", "guest config"),
    table("GET", "/v2.0/trunks/{id}/audit", "trunk audit"),
    table("GET", "/v2.0/{collection}/{id}/tags", "list trunk tags"),
    table("PUT", "/v2.0/{collection}/{id}/tags", "replace trunk tags"),
    table("DELETE", "/v2.0/{collection}/{id}/tags", "clear trunk tags"),
    each(
        "GET",
        "/v2.0/{collection}/{id}/tags/{tag}",
        "check trunk tag",
        [401, 204, 204, 204, 404, 404, 404, 404, 401, 401],
    ),
    table("PUT", "/v2.0/{collection}/{id}/tags/{tag}", "add trunk tag"),
    each(
        "DELETE",
        "/v2.0/{collection}/{id}/tags/{tag}",
        "remove trunk tag",
        [401, 204, 204, 403, 404, 404, 404, 404, 401, 401],
    ),
    each(
        "GET",
        "/agent/v1/trunks",
        "agent trunks",
        [401, 401, 401, 401, 401, 401, 401, 401, 200, 200],
    ),
    each(
        "PUT",
        "/agent/v1/trunks/{id}/verdict",
        "agent verdict",
        AGENT_ON_TRUNK,
    ),
    each(
        "PUT",
        "/agent/v1/ports/status",
        "agent port states",
        AGENT_ON_TRUNK,
    ),
    each(
        "PUT",
        "/agent/v1/trunks/{id}/bind_subports",
        "agent bind subports",
        AGENT_ON_TRUNK,
    ),
    each("GET", "/healthz", "healthz", PUBLIC),
    each("GET", "/readyz", "readyz", PUBLIC),
    each("GET", "/metrics", "metrics", PUBLIC),
    each("GET", "/openapi.json", "openapi", PUBLIC),
];

/// p1's resources for one call: the policy table's fixture, its trunk tagged `t` and its
/// parent bound to h1, a network with no ports (which can be deleted) and a subnet
/// (10.0.0.0/24) on the fixture's network.
struct Fixture {
    base: policy_cases::Fixture,
    empty_network: String,
    subnet: String,
}

impl Fixture {
    async fn make(owner: &Client, admin: &Client) -> Fixture {
        let base = policy_cases::fixture(owner).await;
        owner
            .send(
                Method::PUT,
                &format!("/v2.0/trunks/{}/tags/t", base.trunk),
                None,
            )
            .await
            .expect(201);
        admin
            .put(
                &format!("/v2.0/ports/{}", base.trunk_parent),
                json!({"port": {"binding:host_id": "h1"}}),
            )
            .await
            .expect(200);
        let empty_network = owner.network(json!({})).await;
        let subnet = owner
            .post(
                "/v2.0/subnets",
                json!({"subnet": {"network_id": base.network, "ip_version": 4, "cidr": "10.0.0.0/24"}}),
            )
            .await
            .expect(201)["subnet"]["id"]
            .as_str()
            .expect("subnet id")
            .to_string();
        Fixture {
            base,
            empty_network,
            subnet,
        }
    }

    /// Every id of p1's the fixture holds.
    fn ids(&self) -> [&str; 8] {
        let b = &self.base;
        [
            &b.network,
            &b.parent,
            &b.spare,
            &b.trunk,
            &b.trunk_parent,
            &b.subport,
            &self.empty_network,
            &self.subnet,
        ]
    }
}

/// The request of `action` on `f`; `admin` reads what the request must name (the trunk's
/// current revision, for an agent's verdict).
async fn request_for(action: &str, f: &Fixture, admin: &Client) -> (Method, String, Option<Value>) {
    let t = &f.base.trunk;
    match action {
        "versions" => (Method::GET, "/".into(), None),
        "resources" => (Method::GET, "/v2.0".into(), None),
        "resources (slash)" => (Method::GET, "/v2.0/".into(), None),
        "show extension" => (Method::GET, "/v2.0/extensions/trunk".into(), None),
        "delete network" => (
            Method::DELETE,
            format!("/v2.0/networks/{}", f.empty_network),
            None,
        ),
        "list subnets" => (Method::GET, "/v2.0/subnets".into(), None),
        "create subnet" => (
            Method::POST,
            "/v2.0/subnets".into(),
            Some(
                json!({"subnet": {"network_id": f.base.network, "ip_version": 4, "cidr": "10.0.1.0/24"}}),
            ),
        ),
        "show subnet" => (Method::GET, format!("/v2.0/subnets/{}", f.subnet), None),
        "update subnet" => (
            Method::PUT,
            format!("/v2.0/subnets/{}", f.subnet),
            Some(json!({"subnet": {"name": "renamed"}})),
        ),
        "delete subnet" => (Method::DELETE, format!("/v2.0/subnets/{}", f.subnet), None),
        "delete trunk with ports" => (
            Method::DELETE,
            format!("/v2.0/trunks/{t}?delete_ports=true"),
            None,
        ),
        "force delete trunk with ports" => (
            Method::DELETE,
            format!("/v2.0/trunks/{t}?delete_ports=true&force=true"),
            None,
        ),
        "delete subport from its trunk" => (
            Method::DELETE,
            format!("/v2.0/ports/{}?remove_from_trunk=true", f.base.subport),
            None,
        ),
        "check trunk tag" => (Method::GET, format!("/v2.0/trunks/{t}/tags/t"), None),
        "remove trunk tag" => (Method::DELETE, format!("/v2.0/trunks/{t}/tags/t"), None),
        "agent trunks" => (Method::GET, "/agent/v1/trunks".into(), None),
        "agent verdict" => {
            let shown = admin.get(&format!("/v2.0/trunks/{t}")).await.expect(200);
            let revision = shown["trunk"]["revision_number"].clone();
            (
                Method::PUT,
                format!("/agent/v1/trunks/{t}/verdict"),
                Some(json!({"verdict": "wired", "revision_number": revision})),
            )
        }
        "agent port states" => (
            Method::PUT,
            "/agent/v1/ports/status".into(),
            Some(json!({"ports": [{"port_id": f.base.trunk_parent, "status": "ACTIVE"}]})),
        ),
        "agent bind subports" => (
            Method::PUT,
            format!("/agent/v1/trunks/{t}/bind_subports"),
            None,
        ),
        "healthz" => (Method::GET, "/healthz".into(), None),
        "readyz" => (Method::GET, "/readyz".into(), None),
        "metrics" => (Method::GET, "/metrics".into(), None),
        "openapi" => (Method::GET, "/openapi.json".into(), None),
        table_action => policy_cases::request_for(table_action, &f.base),
    }
}

/// The status `row` expects of caller `index` (in [`WHO`]).
fn expected(row: &Row, index: usize) -> u16 {
    match &row.expect {
        Expect::Each(statuses) => statuses[index],
        Expect::Table { anonymous, agents } => match index {
            0 => *anonymous,
            8 | 9 => *agents,
            policy => {
                let (_, statuses) = policy_cases::TABLE
                    .iter()
                    .find(|(action, _)| *action == row.action)
                    .unwrap_or_else(|| panic!("{} is not in the policy table", row.action));
                // The table's 299 is "200 and p1's resources are listed".
                match statuses[policy - 1] {
                    299 => 200,
                    status => status,
                }
            }
        },
    }
}

/// Whether a list answered to `who` shows p1's resources, where the policy table says so.
fn lists_p1(row: &Row, index: usize) -> Option<bool> {
    let Expect::Table { .. } = row.expect else {
        return None;
    };
    if !(1..=7).contains(&index) || !row.action.starts_with("list ") || row.action.ends_with("tags")
    {
        return None;
    }
    policy_cases::TABLE
        .iter()
        .find(|(action, _)| *action == row.action)
        .map(|(_, statuses)| statuses[index - 1] == 299)
}

#[tokio::test]
async fn every_endpoint_as_every_caller() {
    let dir = tempfile::tempdir().expect("dir");
    let (h1_token, h1_entry) = common::agent_token("h1");
    let (h2_token, h2_entry) = common::agent_token("h2");
    let credentials = dir.path().join("agents.toml");
    std::fs::write(&credentials, format!("{h1_entry}\n{h2_entry}")).expect("write credentials");
    // Every case makes its own network and ports in one project: more than its quotas.
    let server = Server::start_with(&[
        "--agent-credentials-file",
        credentials.to_str().expect("path"),
        "--network-quota",
        "-1",
        "--port-quota",
        "-1",
        "--subnet-quota",
        "-1",
    ]);
    let owner = server.as_(Identity::member("p1"));
    let admin = server.admin();
    let mut callers = vec![server.anonymous()];
    callers.extend(
        policy_cases::identities()
            .into_iter()
            .map(|i| server.as_(i)),
    );
    callers.push(server.as_agent(&h1_token));
    callers.push(server.as_agent(&h2_token));
    assert_eq!(callers.len(), WHO.len());

    let mut failures = Vec::new();
    let mut checked = 0;
    for row in ROWS {
        for (index, caller) in callers.iter().enumerate() {
            let who = WHO[index];
            let fixture = Fixture::make(&owner, &admin).await;
            let (method, path, body) = request_for(row.action, &fixture, &admin).await;
            assert_eq!(method.as_str(), row.method, "{}: method", row.action);
            let sent = format!("{path} {}", body.clone().unwrap_or(Value::Null));
            let (status, text) = caller.send_for_text(method, &path, body).await;
            checked += 1;
            let want = expected(row, index);
            if status.as_u16() != want {
                failures.push(format!(
                    "{} as {who}: expected {want}, got {status}: {text}",
                    row.action
                ));
                continue;
            }
            if status.as_u16() >= 400 {
                let error: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                common::assert_neutron_error(&error);
            }
            if let Some(shows) = lists_p1(row, index) {
                let listed: Value = serde_json::from_str(&text).expect("a JSON list");
                let collection = row.action.trim_start_matches("list ");
                let count = listed[collection].as_array().map_or(0, Vec::len);
                if shows != (count > 0) {
                    failures.push(format!(
                        "{} as {who}: {count} items listed, expected p1's: {shows}",
                        row.action
                    ));
                }
            }
            if OUTSIDERS.contains(&who) {
                let leaked: Vec<&str> = fixture
                    .ids()
                    .into_iter()
                    .filter(|id| text.contains(id) && !sent.contains(id))
                    .collect();
                if !leaked.is_empty() || text.contains("\"p1\"") {
                    failures.push(format!(
                        "{} as {who}: the body shows p1's data ({leaked:?}): {text}",
                        row.action
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} calls went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "authorisation sweep: {} endpoints x {} callers = {checked} calls",
        ROWS.len(),
        WHO.len()
    );
}

/// The (method, route) pairs the router in src/api/mod.rs serves, read from its source: each
/// `.route("PATH", get(..).put(..))` call. Handlers are passed, never called, so `get(`,
/// `put(`... only appear as method routers.
fn routed() -> BTreeSet<(String, String)> {
    let source = include_str!("../../src/api/mod.rs");
    let router = &source[source.find("pub fn router").expect("the router function")..];
    let mut found = BTreeSet::new();
    for call in router.split(".route(").skip(1) {
        let call = call
            .split(".method_not_allowed_fallback")
            .next()
            .unwrap_or(call);
        let path = call.split('"').nth(1).expect("a route path");
        let bytes = call.as_bytes();
        for method in ["get", "post", "put", "delete", "patch"] {
            let needle = format!("{method}(");
            let mut from = 0;
            while let Some(at) = call[from..].find(&needle) {
                let start = from + at;
                let before = if start == 0 { b' ' } else { bytes[start - 1] };
                if !(before.is_ascii_alphanumeric() || before == b'_' || before == b':') {
                    found.insert((method.to_uppercase(), path.to_string()));
                }
                from = start + needle.len();
            }
        }
    }
    found
}

#[test]
fn every_routed_endpoint_is_in_the_sweep() {
    let routes = routed();
    assert!(
        routes.len() >= 30,
        "only {} routes found: {routes:?}",
        routes.len()
    );
    let swept: BTreeSet<(String, String)> = ROWS
        .iter()
        .map(|row| (row.method.to_string(), row.route.to_string()))
        .collect();
    let missing: Vec<_> = routes.difference(&swept).collect();
    assert!(
        missing.is_empty(),
        "routed but not in the sweep: {missing:?}"
    );
    let stale: Vec<_> = swept.difference(&routes).collect();
    assert!(stale.is_empty(), "in the sweep but not routed: {stale:?}");
}

/// Outsiders who may list (or try to): each must learn nothing of p1 through a list.
const LIST_OUTSIDERS: [&str; 4] = ["anonymous", "member of p2", "reader of p2", "no role in p1"];

/// Attributes policy hides from outsiders, per collection, with a value p1's resources hold.
const HIDDEN_FILTERS: &[(&str, &str, &str)] = &[
    ("networks", "provider:segmentation_id", "2345"),
    ("networks", "provider:network_type", "vlan"),
    ("networks", "provider:physical_network", "physnet1"),
    ("ports", "binding:host_id", "h1"),
    ("ports", "binding:vif_type", "ovs"),
    ("ports", "binding:vif_type", "unbound"),
];

/// The path of an absolute page link, as a client would follow it.
fn link_path(href: &str) -> String {
    let at = href.find("/v2.0/").expect("a v2.0 link");
    href[at..].to_string()
}

/// Lists: for each collection, an outsider using markers that name p1's
/// resources, filters naming p1's values, sort keys and filters on attributes policy hides,
/// and following page links, gets exactly the answers an unknown id or attribute gets, and no
/// body shows any of p1's ids, its project, or any hidden attribute.
#[tokio::test]
async fn lists_show_outsiders_nothing() {
    let server = Server::start();
    let owner = server.as_(Identity::member("p1"));
    let admin = server.admin();
    let fixture = Fixture::make(&owner, &admin).await;
    for id in [&fixture.base.network, &fixture.empty_network] {
        owner
            .send(Method::PUT, &format!("/v2.0/networks/{id}/tags/t"), None)
            .await
            .expect(201);
    }
    owner
        .send(
            Method::PUT,
            &format!("/v2.0/ports/{}/tags/t", fixture.base.trunk_parent),
            None,
        )
        .await
        .expect(201);
    // A shared network on VLAN 2345, owned by a third project: outsiders see it, but not its
    // segment, and may not find it by that segment.
    admin
        .post(
            "/v2.0/networks",
            json!({"network": {"project_id": "p3", "name": "shared", "shared": true,
                "provider:network_type": "vlan", "provider:physical_network": "physnet1",
                "provider:segmentation_id": 2345}}),
        )
        .await
        .expect(201);
    // p2 has resources of its own, so its lists and pages are not empty.
    let p2 = server.as_(Identity::member("p2"));
    let p2_fixture = policy_cases::fixture(&p2).await;
    let p1_ids = fixture.ids();
    let unknown = uuid::Uuid::new_v4().to_string();

    let mut callers = vec![("anonymous", server.anonymous())];
    callers.push(("member of p2", server.as_(Identity::member("p2"))));
    callers.push(("reader of p2", server.as_(Identity::reader("p2"))));
    callers.push(("no role in p1", server.as_(Identity::new("p1", ""))));
    assert_eq!(callers.len(), LIST_OUTSIDERS.len());

    let mut failures = Vec::new();
    let mut checked = 0;
    // What `who` got for `path` must show nothing of p1's beyond what the request named.
    let mut leaks = |who: &str, path: &str, status: u16, text: &str| {
        checked += 1;
        let leaked: Vec<&str> = p1_ids
            .iter()
            .copied()
            .filter(|id| text.contains(id) && !path.contains(id))
            .collect();
        let hidden = [
            "provider:segmentation_id",
            "binding:host_id",
            "\"h1\"",
            "\"p1\"",
        ];
        // An attribute's name echoed from the request (in its 400) tells nothing.
        let shown: Vec<&str> = hidden
            .into_iter()
            .filter(|h| text.contains(h) && !path.contains(h))
            .collect();
        if !leaked.is_empty() || !shown.is_empty() {
            failures.push(format!(
                "GET {path} as {who}: {status} shows p1's data ({leaked:?} {shown:?}): {text}"
            ));
        }
    };
    let mut mismatches = Vec::new();
    for (who, caller) in &callers {
        let refused = if *who == "anonymous" { 401 } else { 400 };
        for collection in ["networks", "ports", "trunks"] {
            // Markers: p1's ids (of every collection) answer as a random id does.
            for id in p1_ids {
                for query in [
                    "marker={id}",
                    "marker={id}&limit=1",
                    "marker={id}&sort_key=name&limit=1",
                    "marker={id}&sort_key=id&sort_dir=desc&limit=2",
                    "marker={id}&page_reverse=True&limit=1",
                    "marker={id}&sort_key=created_at&page_reverse=True&limit=5",
                ] {
                    let path = format!("/v2.0/{collection}?{query}");
                    let (status, text) = caller
                        .send_for_text(Method::GET, &path.replace("{id}", id), None)
                        .await;
                    leaks(who, &path.replace("{id}", id), status.as_u16(), &text);
                    let (random_status, random_text) = caller
                        .send_for_text(Method::GET, &path.replace("{id}", &unknown), None)
                        .await;
                    if (status, text.replace(id, "<id>"))
                        != (random_status, random_text.replace(&unknown, "<id>"))
                        || status.as_u16() != refused
                    {
                        mismatches.push(format!(
                            "GET {path} as {who} with p1's {id}: {status} {text}; with an unknown id: {random_status} {random_text}"
                        ));
                    }
                }
            }
            // Filters naming p1's values find nothing.
            let b = &fixture.base;
            let mut queries = vec![
                "project_id=p1".to_string(),
                "tenant_id=p1".to_string(),
                "tags=t".to_string(),
                "tags-any=t,u".to_string(),
                "not-tags=zzz".to_string(),
                "name=net&sort_key=name".to_string(),
                "sort_key=project_id&sort_dir=desc".to_string(),
            ];
            queries.extend(p1_ids.iter().map(|id| format!("id={id}")));
            match collection {
                "ports" => {
                    queries.push(format!("network_id={}", b.network));
                    queries.push(format!("device_id={}", b.trunk));
                    queries.push("device_owner=trunk:subport".into());
                }
                "trunks" => queries.push(format!("port_id={}", b.trunk_parent)),
                _ => {}
            }
            for query in queries {
                let path = format!("/v2.0/{collection}?{query}");
                let (status, text) = caller.send_for_text(Method::GET, &path, None).await;
                leaks(who, &path, status.as_u16(), &text);
                let expect = if *who == "anonymous" { 401 } else { 200 };
                if status.as_u16() != expect {
                    mismatches.push(format!("GET {path} as {who}: {status} {text}"));
                }
            }
            // Filters and sort keys on hidden attributes: the unknown attribute's answer.
            for (_, attr, value) in HIDDEN_FILTERS.iter().filter(|f| f.0 == collection) {
                for (query, unknown_query) in [
                    (format!("{attr}={value}"), format!("colour={value}")),
                    (format!("sort_key={attr}"), "sort_key=colour".to_string()),
                    (
                        format!("sort_key=name&sort_key={attr}&limit=1"),
                        "sort_key=name&sort_key=colour&limit=1".to_string(),
                    ),
                ] {
                    let path = format!("/v2.0/{collection}?{query}");
                    let (status, text) = caller.send_for_text(Method::GET, &path, None).await;
                    leaks(who, &path, status.as_u16(), &text);
                    let (unknown_status, unknown_text) = caller
                        .send_for_text(
                            Method::GET,
                            &format!("/v2.0/{collection}?{unknown_query}"),
                            None,
                        )
                        .await;
                    if status != unknown_status
                        || text != unknown_text.replace("colour", attr)
                        || status.as_u16() != refused
                    {
                        mismatches.push(format!(
                            "GET {path} as {who}: {status} {text}; unknown attribute: {unknown_status} {unknown_text}"
                        ));
                    }
                }
            }
            // Page links, followed both ways until they end.
            for start in [
                "limit=1",
                "limit=1&sort_key=name&sort_dir=desc",
                "limit=2&page_reverse=True",
            ] {
                let mut next = Some(format!("/v2.0/{collection}?{start}"));
                let mut pages = 0;
                while let Some(path) = next.take() {
                    pages += 1;
                    let (status, text) = caller.send_for_text(Method::GET, &path, None).await;
                    leaks(who, &path, status.as_u16(), &text);
                    if !status.is_success() || pages > 40 {
                        break;
                    }
                    let body: Value = serde_json::from_str(&text).expect("a JSON list");
                    let links = body[format!("{collection}_links")].as_array().cloned();
                    let rel = if start.contains("page_reverse") {
                        "previous"
                    } else {
                        "next"
                    };
                    let follow = links
                        .unwrap_or_default()
                        .into_iter()
                        .find(|l| l["rel"] == rel);
                    let page_len = body[collection].as_array().map_or(0, Vec::len);
                    if page_len > 0 {
                        next = follow.and_then(|l| l["href"].as_str().map(link_path));
                    }
                }
            }
        }
    }
    // p2's own resources are still listed to p2, and its markers page.
    let member_p2 = server.as_(Identity::member("p2"));
    member_p2
        .get(&format!("/v2.0/trunks?marker={}&limit=1", p2_fixture.trunk))
        .await
        .expect(200);
    assert!(
        failures.is_empty() && mismatches.is_empty(),
        "{} leaks and {} wrong answers:\n{}\n{}",
        failures.len(),
        mismatches.len(),
        failures.join("\n"),
        mismatches.join("\n")
    );
    eprintln!(
        "list sweep: {checked} list calls by {} outsiders",
        callers.len()
    );
}
