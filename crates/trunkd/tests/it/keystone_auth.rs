//! `--auth keystone` against a fake Keystone speaking the v3 token API: the whole default
//! policy table through real tokens, 401 with a Keystone challenge for missing, malformed,
//! unknown and expired tokens, 503 (never an allow) when Keystone is unreachable, a cache that
//! spares Keystone and honours revocation within its TTL, and service-token renewal;
//! `/readyz` not ready while Keystone is unreachable or hangs, and ready again after.

use crate::common;
use crate::fake_keystone;
use crate::policy_cases;
use crate::readyz;
use crate::tcp_proxy;

use std::time::Duration;

use common::kit::settle;
use common::{vlan, Client, Server};
use fake_keystone::FakeKeystone;
use serde_json::json;

fn start(keystone: &FakeKeystone, cache_ttl: &str) -> Server {
    let args = keystone.server_args(cache_ttl);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start_with(&refs)
}

fn hours(n: i64) -> chrono::Duration {
    chrono::Duration::hours(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_table_holds_with_keystone_tokens() {
    let keystone = FakeKeystone::start().await;
    // Every case makes its own network and ports in one project: more than its quotas.
    let mut args = keystone.server_args("300");
    args.extend(["--network-quota", "-1", "--port-quota", "-1"].map(String::from));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start_with(&refs);
    let clients: Vec<Client> = policy_cases::identities()
        .iter()
        .map(|identity| {
            let roles: Vec<&str> = identity
                .roles
                .split(',')
                .filter(|r| !r.is_empty())
                .collect();
            let token = keystone.issue(&identity.user, &identity.project, &roles, hours(1));
            server.with_token(&token)
        })
        .collect();
    let owner = clients[1].clone();
    policy_cases::check(&owner, &clients, &server.anonymous()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_get_401_with_a_keystone_challenge() {
    let keystone = FakeKeystone::start().await;
    let server = start(&keystone, "300");
    let expired = keystone.issue("u", "p1", &["member"], -hours(1));
    let revoked = keystone.issue("u", "p1", &["member"], hours(1));
    keystone.revoke(&revoked);
    // noauth headers mean nothing here.
    let headers_only = server.as_(common::Identity::admin());
    for (what, client) in [
        ("no token", server.anonymous()),
        ("noauth headers", headers_only),
        ("unknown", server.with_token("not-a-token")),
        ("expired", server.with_token(&expired)),
        ("revoked", server.with_token(&revoked)),
        ("malformed", server.with_token("two words")),
    ] {
        let reply = client.get("/v2.0/trunks").await;
        assert_eq!(reply.status, 401, "{what}: {:?}", reply.body);
        let challenge = reply.headers["www-authenticate"].to_str().expect("ascii");
        assert_eq!(
            challenge,
            format!("Keystone uri=\"{}\"", keystone.url),
            "{what}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keystone_unreachable_is_503_never_an_allow() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    let server = Server::start_with(&[
        "--auth",
        "keystone",
        "--keystone-url",
        &url,
        "--keystone-username",
        "trunkd",
        "--keystone-password",
        "x",
    ]);
    let reply = server.with_token("any-token").get("/v2.0/trunks").await;
    assert_eq!(reply.status, 503, "{:?}", reply.body);
    assert_eq!(reply.body["NeutronError"]["type"], "ServiceUnavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validated_tokens_are_cached_and_revocation_holds_within_the_ttl() {
    let keystone = FakeKeystone::start().await;
    let server = start(&keystone, "1");
    let token = keystone.issue("alice", "p1", &["member", "reader"], hours(1));
    let client = server.with_token(&token);
    for _ in 0..5 {
        client.get("/v2.0/trunks").await.expect(200);
    }
    assert_eq!(
        keystone.validations(),
        1,
        "four of five calls came from the cache"
    );

    keystone.revoke(&token);
    let client = &client;
    let what = "the revoked token to be refused once the cache TTL passed";
    settle(Duration::from_secs(5), what, || async move {
        let status = client.get("/v2.0/trunks").await.status;
        if status == 401 {
            return Ok(());
        }
        assert_eq!(status, 200);
        Err(status)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_service_token_is_renewed_once() {
    let keystone = FakeKeystone::start().await;
    let server = start(&keystone, "1");
    let first = keystone.issue("alice", "p1", &["reader"], hours(1));
    server
        .with_token(&first)
        .get("/v2.0/trunks")
        .await
        .expect(200);
    assert_eq!(keystone.logins(), 1);
    keystone.forget_service_tokens();
    let second = keystone.issue("bob", "p1", &["reader"], hours(1));
    server
        .with_token(&second)
        .get("/v2.0/trunks")
        .await
        .expect(200);
    assert_eq!(
        keystone.logins(),
        2,
        "logged in again after Keystone refused the old token"
    );
}

/// A server whose agents are Keystone users: agent-hv1 is hv1's, agent-hv2 is hv2's.
async fn with_agents(keystone: &FakeKeystone, dir: &tempfile::TempDir) -> Server {
    let credentials = dir.path().join("agents.toml");
    std::fs::write(
        &credentials,
        "[[agents]]\nhost = \"hv1\"\nkeystone_user_id = \"agent-hv1\"\n\n\
         [[agents]]\nhost = \"hv2\"\nkeystone_user_id = \"agent-hv2\"\n",
    )
    .expect("credentials");
    let mut args = keystone.server_args("300");
    args.extend([
        "--agent-credentials-file".to_string(),
        credentials.to_str().expect("path").to_string(),
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start_with(&refs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_authenticate_as_their_hosts_service_user() {
    let keystone = FakeKeystone::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let server = with_agents(&keystone, &dir).await;
    let admin = server.with_token(&keystone.issue(
        "root",
        "admin-project",
        &["admin", "member", "reader"],
        hours(1),
    ));
    let network = admin.network(json!({})).await;
    let parent = admin
        .port(&network, json!({"binding:host_id": "hv1"}))
        .await;
    let sub = admin.port(&network, json!({})).await;
    let trunk = admin.trunk(&parent, json!([vlan(&sub, 7)])).await;
    let revision = admin.wait_for_status(&trunk, "ACTIVE").await["revision_number"].clone();

    let hv1 = server.with_token(&keystone.issue("agent-hv1", "service", &["service"], hours(1)));
    let mine = hv1.get("/agent/v1/trunks").await.expect(200);
    assert_eq!(mine["host"], "hv1");
    assert_eq!(mine["trunks"][0]["id"], trunk.as_str());

    let report = json!({"verdict": "wired", "revision_number": revision});
    let path = format!("/agent/v1/trunks/{trunk}/verdict");
    let hv2 = server.with_token(&keystone.issue("agent-hv2", "service", &["service"], hours(1)));
    hv2.put(&path, report.clone())
        .await
        .expect_error(403, "PolicyNotAuthorized");
    let stranger = server.with_token(&keystone.issue("eve", "service", &["service"], hours(1)));
    stranger
        .get("/agent/v1/trunks")
        .await
        .expect_error(403, "PolicyNotAuthorized");
    let roleless =
        server.with_token(&keystone.issue("agent-hv1", "service", &["reader"], hours(1)));
    roleless
        .put(&path, report.clone())
        .await
        .expect_error(403, "PolicyNotAuthorized");
    let bogus = server
        .with_token("not-a-token")
        .get("/agent/v1/trunks")
        .await;
    assert_eq!(bogus.status, 401);
    hv1.put(&path, report).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_process_logs_in_to_keystone_as_its_service_user() {
    let keystone = FakeKeystone::start().await;
    keystone.add_user("agent-hv1", "hv1-secret", "service", &["service"]);
    let dir = tempfile::tempdir().expect("dir");
    let server = with_agents(&keystone, &dir).await;
    let mut agent = common::trunkd()
        .args([
            "agent",
            "--host",
            "hv1",
            "--server",
            &server.base,
            "--keystone-url",
            &keystone.url,
            "--keystone-username",
            "agent-hv1",
            "--keystone-password",
            "hv1-secret",
            // No switch here: the pass stops after fetching this host's trunks.
            "--ovsdb",
            "unix:/nonexistent/db.sock",
            "--resync-interval",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the agent");
    let keystone = &keystone;
    let what = "the server to validate a token of the agent's user";
    settle(Duration::from_secs(15), what, || async move {
        let users = keystone.validated_users();
        match users.iter().any(|u| u == "agent-hv1") {
            true => Ok(()),
            false => Err(format!("validated only {users:?}")),
        }
    })
    .await;
    let _ = agent.kill();
    let _ = agent.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_keystone_going_away_hanging_and_returning() {
    let keystone = FakeKeystone::start().await;
    let address: std::net::SocketAddr = keystone
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("the fake's address");
    // The server reaches Keystone through a proxy the test can cut or make hang.
    let proxy = tcp_proxy::TcpProxy::start(address).await;
    let mut args = keystone.server_args("300");
    let proxied = format!("http://127.0.0.1:{}", proxy.port);
    args[3] = proxied.clone();
    assert_eq!(args[2], "--keystone-url");
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start_with(&refs);
    let ready = readyz::until_ready(&server.base, Duration::from_secs(10)).await;
    assert_eq!(ready, json!({"status": "ready", "drivers": ["noop"]}));
    let token = keystone.issue("alice", "p1", &["member", "reader"], hours(1));

    // Keystone unreachable: API calls get 503, and so does /readyz, naming keystone only.
    proxy.down();
    let fresh = keystone.issue("bob", "p1", &["member", "reader"], hours(1));
    server
        .with_token(&fresh)
        .get("/v2.0/trunks")
        .await
        .expect_error(503, "ServiceUnavailable");
    let (body, slowest) =
        readyz::until_down(&server.base, "keystone", Duration::from_secs(10)).await;
    assert_eq!(body["dependencies"], json!({"keystone": "down"}), "{body}");
    assert_eq!(body["tasks"], json!({}), "{body}");
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("trunkd_dependency_up{dependency=\"keystone\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("trunkd_dependency_up{dependency=\"database\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("trunkd_task_up{task=\"keystone-probe\"} 1"),
        "{metrics}"
    );
    println!("keystone refused: slowest /readyz {slowest:?}");

    // Back: ready again without a restart, and calls work.
    proxy.up().await;
    readyz::until_ready(&server.base, Duration::from_secs(10)).await;
    server
        .with_token(&token)
        .get("/v2.0/trunks")
        .await
        .expect(200);

    // Keystone accepts connections and never answers: /readyz still answers at once, and
    // says not ready once a probe has run out of time.
    proxy.stall().await;
    let (body, slowest) =
        readyz::until_down(&server.base, "keystone", Duration::from_secs(15)).await;
    assert_eq!(body["dependencies"], json!({"keystone": "down"}), "{body}");
    println!("keystone hanging: slowest /readyz {slowest:?}");
    proxy.up().await;
    readyz::until_ready(&server.base, Duration::from_secs(10)).await;
}
