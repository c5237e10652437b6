//! Links and identity headers: links are built from `network_link_prefix`
//! (Neutron's option) or the address the server was reached on, never from the request's
//! `Host`; the `Authorization` scheme is case-insensitive (RFC 7235); an identity header given
//! twice is a 400 naming it, and changes nothing.

use crate::common;

use common::{agent_token, trunkd, Identity, Server};
use reqwest::Method;
use serde_json::{json, Value};

/// Every `href` in a body.
fn hrefs(body: &Value) -> Vec<String> {
    match body {
        Value::Object(map) => map
            .iter()
            .flat_map(|(key, value)| match (key.as_str(), value) {
                ("href", Value::String(href)) => vec![href.clone()],
                _ => hrefs(value),
            })
            .collect(),
        Value::Array(items) => items.iter().flat_map(hrefs).collect(),
        _ => Vec::new(),
    }
}

/// The bodies of the calls that answer with links: discovery and a page of a list.
async fn linked_bodies(server: &Server, headers: &[(&str, &str)]) -> Vec<Value> {
    let admin = server.admin();
    let mut bodies = Vec::new();
    for path in ["/", "/v2.0/", "/v2.0/networks?limit=1"] {
        let reply = admin.send_with(Method::GET, path, None, headers).await;
        bodies.push(reply.expect(200));
    }
    bodies
}

#[tokio::test]
async fn links_ignore_the_host_header() {
    let server = Server::start();
    let admin = server.admin();
    admin.network(json!({})).await;
    admin.network(json!({})).await;
    for headers in [
        vec![("Host", "evil.example")],
        vec![("Host", "evil.example:80"), ("X-Forwarded-Proto", "https")],
        vec![("X-Forwarded-Host", "evil.example")],
    ] {
        let bodies = linked_bodies(&server, &headers).await;
        let links: Vec<String> = bodies.iter().flat_map(hrefs).collect();
        assert!(links.len() >= 5, "{bodies:?}");
        for link in links {
            assert!(
                link.starts_with(&format!("{}/v2.0/", server.base)),
                "{link} with {headers:?}"
            );
        }
    }
}

#[tokio::test]
async fn links_start_with_the_configured_prefix() {
    let server = Server::start_with(&["--network-link-prefix", "https://net.example/network/"]);
    let admin = server.admin();
    admin.network(json!({})).await;
    admin.network(json!({})).await;
    let bodies = linked_bodies(&server, &[("Host", "evil.example")]).await;
    let links: Vec<String> = bodies.iter().flat_map(hrefs).collect();
    assert!(links.len() >= 5, "{bodies:?}");
    for link in &links {
        assert!(
            link.starts_with("https://net.example/network/v2.0/"),
            "{link}"
        );
    }
    assert!(links.contains(&"https://net.example/network/v2.0/".to_string()));

    // A prefix that is no http(s) URL stops the server before it starts.
    for bad in [
        "ftp://net.example",
        "net.example",
        "https://u:p@net.example",
        "https://h/?q=1",
    ] {
        let output = trunkd()
            .args(["check-config", "--network-link-prefix", bad])
            .output()
            .expect("trunkd runs");
        assert!(!output.status.success(), "{bad} accepted");
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(error.contains("network_link_prefix"), "{error}");
    }
}

#[tokio::test]
async fn an_identity_header_given_twice_is_a_400_naming_it() {
    let server = Server::start();
    let member = server.as_(Identity::member("alice"));
    for (header, value) in [
        ("X-Project-Id", "mallory"),
        ("X-User-Id", "mallory"),
        ("X-Roles", "admin"),
    ] {
        let reply = member
            .send_with(
                Method::POST,
                "/v2.0/networks",
                Some(json!({"network": {"name": "n"}})),
                &[(header, value)],
            )
            .await;
        assert_eq!(reply.status.as_u16(), 400, "{header}: {}", reply.body);
        assert_eq!(reply.error_type(), "HTTPBadRequest", "{}", reply.body);
        assert!(reply.message().contains(header), "{}", reply.body);
    }
    // X-Tenant-Id naming another project than X-Project-Id is refused as well; the same one is
    // what older clients send, and fine.
    let reply = member
        .send_with(
            Method::GET,
            "/v2.0/networks",
            None,
            &[("X-Tenant-Id", "mallory")],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.body);
    assert!(reply.message().contains("X-Tenant-Id"), "{}", reply.body);
    member
        .send_with(
            Method::GET,
            "/v2.0/networks",
            None,
            &[("X-Tenant-Id", "alice")],
        )
        .await
        .expect(200);
    // Nothing was created.
    let networks = server.admin().get("/v2.0/networks").await.expect(200);
    assert_eq!(networks["networks"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let (token, entry) = agent_token("compute-1");
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("agents.toml");
    std::fs::write(&file, entry).expect("write credentials");
    let path = file.to_string_lossy().to_string();
    let server = Server::start_with(&["--agent-credentials-file", &path]);
    let http = reqwest::Client::new();
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = http
            .get(format!("{}/agent/v1/trunks", server.base))
            .header("Authorization", format!("{scheme} {token}"))
            .send()
            .await
            .expect("reaches trunkd");
        assert_eq!(response.status().as_u16(), 200, "{scheme}");
    }
    for value in [format!("Basic {token}"), format!("Bearer{token}")] {
        let response = http
            .get(format!("{}/agent/v1/trunks", server.base))
            .header("Authorization", value.clone())
            .send()
            .await
            .expect("reaches trunkd");
        assert_eq!(response.status().as_u16(), 401, "{value}");
    }
}
