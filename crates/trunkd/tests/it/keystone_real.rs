//! One test against a real Keystone (from PyPI): trunkd validates real fernet tokens, maps
//! projects and roles from them, refuses an unknown token, and stops accepting a revoked one
//! once its cache TTL has passed.

use crate::common;
use crate::real_keystone;

use std::time::Duration;

use common::Server;
use real_keystone::RealKeystone;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trunkd_validates_real_keystone_tokens() {
    let Some(keystone) = RealKeystone::start("trunkd_validates_real_keystone_tokens").await else {
        return;
    };
    // trunkd's own service user, and a member of project demo.
    keystone
        .user_with_role("trunkd", "trunkd-secret", "service", "service")
        .await;
    let demo = keystone
        .user_with_role("alice", "alice-secret", "demo", "member")
        .await;
    let server = Server::start_with(&[
        "--auth",
        "keystone",
        "--keystone-url",
        &keystone.url,
        "--keystone-username",
        "trunkd",
        "--keystone-password",
        "trunkd-secret",
        "--keystone-project-name",
        "service",
        "--keystone-cache-ttl",
        "1",
    ]);

    let alice_token = keystone.token("alice", "alice-secret", "demo").await;
    let alice = server.with_token(&alice_token);
    let network = alice
        .post("/v2.0/networks", json!({"network": {"name": "n"}}))
        .await
        .expect(201);
    assert_eq!(
        network["network"]["project_id"],
        demo.as_str(),
        "the project comes from the token"
    );
    let port = alice
        .port(network["network"]["id"].as_str().expect("id"), json!({}))
        .await;
    let trunk = alice.trunk(&port, json!([])).await;
    alice
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200);
    // A member may not bind ports (admin only, per the default policy).
    alice
        .put(
            &format!("/v2.0/ports/{port}"),
            json!({"port": {"binding:host_id": "h"}}),
        )
        .await
        .expect_error(403, "PolicyNotAuthorized");

    let bogus = server
        .with_token("gAAAAAnot-a-fernet-token")
        .get("/v2.0/trunks")
        .await;
    assert_eq!(bogus.status, 401);

    keystone.revoke(&alice_token).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = alice.get("/v2.0/trunks").await;
    assert_eq!(
        after.status, 401,
        "a revoked token is refused once the cache TTL passed"
    );
}

/// Keystone behind https (a TLS-terminating proxy with a certificate from the test's own CA):
/// trunkd trusts it through `keystone_cafile` only, and a CA that did not sign it makes every
/// call a 503, never an allow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trunkd_reaches_keystone_over_https_with_its_cafile() {
    use crate::tls_kit::{TestCa, TlsProxy};
    let Some(keystone) =
        RealKeystone::start("trunkd_reaches_keystone_over_https_with_its_cafile").await
    else {
        return;
    };
    keystone
        .user_with_role("trunkd", "trunkd-secret", "service", "service")
        .await;
    keystone
        .user_with_role("alice", "alice-secret", "demo", "member")
        .await;
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::new("keystone test CA");
    let pair = ca.issue(&["127.0.0.1"], dir.path(), "keystone");
    let target = keystone
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("keystone address");
    let proxy = TlsProxy::start(target, &pair).await;
    let https = format!("https://127.0.0.1:{}", proxy.port);
    let start = |cafile: &std::path::Path| {
        Server::start_with(&[
            "--auth",
            "keystone",
            "--keystone-url",
            &https,
            "--keystone-cafile",
            cafile.to_str().expect("path"),
            "--keystone-username",
            "trunkd",
            "--keystone-password",
            "trunkd-secret",
        ])
    };
    let alice_token = keystone.token("alice", "alice-secret", "demo").await;

    let server = start(&ca.write(dir.path(), "ca.pem"));
    server
        .with_token(&alice_token)
        .post("/v2.0/networks", json!({"network": {"name": "n"}}))
        .await
        .expect(201);
    let bogus = server
        .with_token("gAAAAAnot-a-token")
        .get("/v2.0/trunks")
        .await;
    assert_eq!(bogus.status, 401, "Keystone was asked and said no");

    let stranger = TestCa::new("a CA that signed nothing here");
    let wrong = start(&stranger.write(dir.path(), "stranger.pem"));
    let refused = wrong.with_token(&alice_token).get("/v2.0/trunks").await;
    assert_eq!(refused.status, 503, "an untrusted Keystone is unavailable");
}
