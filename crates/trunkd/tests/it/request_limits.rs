//! Request limits: the per-project trunk quota (409 OverQuota), the cap on subports
//! in one request, and the time slow clients get. The body-size cap (413) is in wire.rs.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{vlan, Identity, Server};
use serde_json::{json, Value};

async fn trunk_count(server: &Server) -> usize {
    server.admin().get("/v2.0/trunks").await.expect(200)["trunks"]
        .as_array()
        .expect("trunks")
        .len()
}

fn create_body(parent: &str) -> Value {
    json!({"trunk": {"port_id": parent}})
}

#[tokio::test]
async fn a_project_over_its_trunk_quota_gets_409_over_quota() {
    let server = Server::start_with(&["--trunk-quota", "2"]);
    let alice = server.as_(Identity::member("alice"));
    let bob = server.as_(Identity::member("bob"));
    let net = alice.network(json!({})).await;
    let parents = alice.ports(&net, 4).await;
    alice.trunk(&parents[0], json!([])).await;
    let second = alice.trunk(&parents[1], json!([])).await;

    let refused = alice
        .post("/v2.0/trunks", create_body(&parents[2]))
        .await
        .expect_error(409, "OverQuota");
    assert_eq!(
        refused.message(),
        "Quota exceeded for resources: ['trunk']."
    );
    assert_eq!(
        trunk_count(&server).await,
        2,
        "the refused create wrote nothing"
    );

    // Another project's quota is its own; a bulk create counts every trunk in it.
    let bob_net = bob.network(json!({})).await;
    let bob_parents = bob.ports(&bob_net, 3).await;
    bob.trunk(&bob_parents[0], json!([])).await;
    let bulk = json!({"trunks": [
        {"port_id": bob_parents[1]},
        {"port_id": bob_parents[2]},
    ]});
    bob.post("/v2.0/trunks", bulk)
        .await
        .expect_error(409, "OverQuota");
    assert_eq!(
        trunk_count(&server).await,
        3,
        "no trunk of the bulk create was kept"
    );

    // An admin creating for the project is held to the project's quota too.
    server
        .admin()
        .post(
            "/v2.0/trunks",
            json!({"trunk": {"port_id": parents[2], "project_id": "alice"}}),
        )
        .await
        .expect_error(409, "OverQuota");

    // Deleting a trunk frees its place.
    alice
        .delete(&format!("/v2.0/trunks/{second}"))
        .await
        .expect(204);
    alice.trunk(&parents[2], json!([])).await;
}

#[tokio::test]
async fn concurrent_creates_do_not_overshoot_the_quota() {
    let server = Server::start_with(&["--trunk-quota", "3"]);
    let carol = server.as_(Identity::member("carol"));
    let net = carol.network(json!({})).await;
    let parents = carol.ports(&net, 12).await;
    let attempts = parents.iter().map(|parent| {
        let carol = carol.clone();
        let body = create_body(parent);
        async move { carol.post("/v2.0/trunks", body).await }
    });
    let replies = futures_util::future::join_all(attempts).await;
    let mut created = 0;
    for reply in replies {
        match reply.status.as_u16() {
            201 => created += 1,
            409 => assert_eq!(reply.error_type(), "OverQuota"),
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert_eq!(created, 3);
    assert_eq!(trunk_count(&server).await, 3);
}

#[test]
fn the_limit_settings_are_checked_at_start_up() {
    for (flag, value, setting) in [
        ("--trunk-quota", "-5", "trunk_quota"),
        ("--client-timeout", "0", "client_timeout"),
    ] {
        let output = common::trunkd()
            .args(["check-config", flag, value])
            .output()
            .expect("run trunkd");
        assert!(!output.status.success(), "{flag} {value} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(setting), "{stderr}");
    }
}

#[tokio::test]
async fn more_subports_than_the_cap_in_one_request_is_400_and_changes_nothing() {
    let server = Server::start_with(&["--max-subports-per-request", "3"]);
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let ports = admin.ports(&net, 6).await;
    let four: Vec<Value> = (1..=4).map(|i| vlan(&ports[i], i as i64 + 10)).collect();
    let refused = admin
        .post(
            "/v2.0/trunks",
            json!({"trunk": {"port_id": ports[0], "sub_ports": four}}),
        )
        .await
        .expect_error(400, "HTTPBadRequest");
    assert!(
        refused.message().contains("sub_ports"),
        "{}",
        refused.message()
    );
    assert_eq!(trunk_count(&server).await, 0);

    let trunk = admin.trunk(&ports[0], json!([vlan(&ports[5], 9)])).await;
    let path = format!("/v2.0/trunks/{trunk}/add_subports");
    let refused = admin
        .put(&path, json!({ "sub_ports": four }))
        .await
        .expect_error(400, "HTTPBadRequest");
    assert!(
        refused.message().contains("sub_ports"),
        "{}",
        refused.message()
    );
    let shown = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200);
    assert_eq!(
        shown["trunk"]["sub_ports"].as_array().map(Vec::len),
        Some(1)
    );
    // At the cap is fine.
    admin
        .put(&path, json!({ "sub_ports": four[..3] }))
        .await
        .expect(200);
}

/// The host and port of the server's base URL.
fn address(server: &Server) -> String {
    server
        .admin()
        .base
        .trim_start_matches("http://")
        .to_string()
}

/// Reads until the server closes the connection or `limit` passes; returns what came and
/// whether the connection was closed.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    stream
        .set_read_timeout(Some(limit))
        .expect("set read timeout");
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return (String::from_utf8_lossy(&received).into(), true),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {
                return (String::from_utf8_lossy(&received).into(), true)
            }
            Err(_) => return (String::from_utf8_lossy(&received).into(), false),
        }
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let server = Server::start_with(&["--client-timeout", "1"]);
    let mut stream = TcpStream::connect(address(&server)).expect("connect");
    stream
        .write_all(b"GET /v2.0/trunks HTTP/1.1\r\nHost: trunkd\r\nX-Slow: ")
        .expect("write part of the headers");
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(10));
    assert!(closed, "the connection stayed open");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}"
    );

    // A connection that sends nothing at all is closed as well.
    let mut idle = TcpStream::connect(address(&server)).expect("connect");
    let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(10));
    assert!(closed, "the idle connection stayed open");

    // Everyone else is still served.
    server.admin().get("/v2.0/trunks").await.expect(200);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_body_gets_408() {
    let server = Server::start_with(&["--client-timeout", "1"]);
    let mut stream = TcpStream::connect(address(&server)).expect("connect");
    stream
        .write_all(
            b"POST /v2.0/networks HTTP/1.1\r\nHost: trunkd\r\nX-Roles: admin\r\n\
              X-Project-Id: p\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"network\": ",
        )
        .expect("write the headers and part of the body");
    let (reply, _) = read_until_closed(&mut stream, Duration::from_secs(10));
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("HTTPRequestTimeout"), "{reply}");
    let networks = server.admin().get("/v2.0/networks").await.expect(200);
    assert_eq!(networks["networks"].as_array().map(Vec::len), Some(0));
}
