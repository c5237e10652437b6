//! TLS on the API listener: served with the configured pair, links name https, the handshake
//! has the client timeout, SIGHUP swaps the pair (a bad one is logged and the old kept), and a
//! bad pair stops start-up and check-config, naming the setting.

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{trunkd, Identity, Server};
use crate::tls_kit::{client_trusting, TestCa};

fn args(pair: &crate::tls_kit::PemPair) -> Vec<String> {
    vec![
        "--tls-cert-file".into(),
        pair.cert.display().to_string(),
        "--tls-key-file".into(),
        pair.key.display().to_string(),
    ]
}

#[tokio::test]
async fn the_api_is_served_over_tls_with_https_links() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::new("trunkd test CA");
    let pair = ca.issue(&["127.0.0.1"], dir.path(), "server");
    let args = args(&pair);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start_with(&refs).with_http(client_trusting(&ca));
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );

    let admin = server.as_(Identity::admin());
    let network = admin.network(json!({})).await;
    let shown = admin
        .get(&format!("/v2.0/networks/{network}"))
        .await
        .expect(200);
    assert_eq!(shown["network"]["id"], network.as_str());
    let versions = admin.get("/").await.expect(200);
    assert_eq!(
        versions["versions"][0]["links"][0]["href"],
        format!("{}/v2.0/", server.base)
    );

    // Plain HTTP to the TLS port gets no answer, and a client that does not trust the CA
    // does not get through either.
    let plain = server.base.replacen("https://", "http://", 1);
    assert!(reqwest::get(format!("{plain}/")).await.is_err());
    let other = client_trusting(&TestCa::new("another CA"));
    assert!(other.get(format!("{}/", server.base)).send().await.is_err());
}

#[tokio::test]
async fn a_client_that_never_starts_the_handshake_is_cut_off_after_the_client_timeout() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::new("trunkd test CA");
    let pair = ca.issue(&["127.0.0.1"], dir.path(), "server");
    let mut args = args(&pair);
    args.extend(["--client-timeout".into(), "1".into()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start_with(&refs);
    let address = server.base.trim_start_matches("https://").to_string();
    let mut silent = std::net::TcpStream::connect(&address).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let started = Instant::now();
    let mut buffer = [0u8; 64];
    // The server closes the connection (a read of 0 bytes, or a reset) well before our 10 s.
    let read = silent.read(&mut buffer);
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_the_pair_and_a_bad_one_keeps_the_old() {
    let dir = tempfile::tempdir().expect("dir");
    let (first, second) = (TestCa::new("first CA"), TestCa::new("second CA"));
    let pair = first.issue(&["127.0.0.1"], dir.path(), "server");
    let args = args(&pair);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let log = dir.path().join("trunkd.log");
    let server = Server::start_traced(&refs, &log, "info");
    let root = format!("{}/", server.base);
    let hangup = || {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &server.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    };
    // A new client each time: a pooled connection would keep the pair it was opened with.
    let answers = |ca: &TestCa| {
        let request = client_trusting(ca).get(&root).send();
        async move { request.await.is_ok_and(|r| r.status().is_success()) }
    };
    assert!(answers(&first).await);
    assert!(!answers(&second).await);

    // A key that is not the certificate's: logged as an ERROR, the first pair still served.
    let stray = second.issue(&["127.0.0.1"], dir.path(), "stray");
    std::fs::copy(&stray.key, &pair.key).expect("copy");
    hangup();
    crate::common::kit::settle(
        Duration::from_secs(10),
        "the reload error in the log",
        || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            async move {
                if text.contains("ERROR") && text.contains("tls_key_file") {
                    Ok(())
                } else {
                    Err("not yet")
                }
            }
        },
    )
    .await;
    assert!(answers(&first).await);

    // A good new pair from the second CA: new connections get it.
    let renewed = second.issue(&["127.0.0.1"], dir.path(), "renewed");
    std::fs::copy(&renewed.cert, &pair.cert).expect("copy");
    std::fs::copy(&renewed.key, &pair.key).expect("copy");
    hangup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !answers(&second).await {
        assert!(Instant::now() < deadline, "the new pair was not served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!answers(&first).await);
}

#[test]
fn a_bad_pair_is_refused_naming_the_setting() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::new("trunkd test CA");
    let pair = ca.issue(&["127.0.0.1"], dir.path(), "server");
    let other = ca.issue(&["127.0.0.1"], dir.path(), "other");
    let missing = dir.path().join("missing.pem");
    let cert = pair.cert.to_str().expect("path");
    let cases: [(&[&str], &str, &str); 4] = [
        (&["--tls-cert-file", cert], "tls_key_file", "give"),
        (
            &[
                "--tls-cert-file",
                cert,
                "--tls-key-file",
                other.key.to_str().expect("p"),
            ],
            "tls_key_file",
            "is not the key",
        ),
        (
            &[
                "--tls-cert-file",
                missing.to_str().expect("p"),
                "--tls-key-file",
                pair.key.to_str().expect("p"),
            ],
            "tls_cert_file",
            "cannot be read",
        ),
        (
            &[
                "--tls-cert-file",
                pair.key.to_str().expect("p"),
                "--tls-key-file",
                pair.key.to_str().expect("p"),
            ],
            "tls_cert_file",
            "no certificate",
        ),
    ];
    for (flags, setting, why) in cases {
        for subcommand in ["check-config", "serve"] {
            let output = trunkd()
                .arg(subcommand)
                .arg("--data-dir")
                .arg(dir.path())
                .args(["--bind", "127.0.0.1:0"])
                .args(flags)
                .output()
                .expect("trunkd runs");
            assert!(!output.status.success(), "{subcommand} {flags:?} accepted");
            let error = String::from_utf8_lossy(&output.stderr);
            assert!(
                error.contains(&format!("setting {setting}")) && error.contains(why),
                "{subcommand} {flags:?}: {error}"
            );
        }
    }
}

/// The ovn driver on an `ssl:` northbound database: a real ovsdb-server listening with
/// `pssl:`, which requires trunkd's client certificate; its own certificate names no host (as
/// `ovs-pki` makes them), and only the CA is checked. Trusting another CA, trunkd does not get
/// through and readiness says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ovn_driver_writes_to_an_ssl_northbound_database() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::new("OVN test CA");
    let ovsdb = ca.issue(&["ovnnb"], dir.path(), "ovsdb");
    let client = ca.issue(&["trunkd"], dir.path(), "trunkd");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let Some((nb, port)) = crate::nbdb::NbDatabase::start_ssl(
        "the_ovn_driver_writes_to_an_ssl_northbound_database",
        &ovsdb.key,
        &ovsdb.cert,
        &ca_file,
    ) else {
        return;
    };
    let connection = format!("ssl:127.0.0.1:{port}");
    let start = |ca: &std::path::Path| {
        Server::start_with(&[
            "--noauth-default-admin",
            "--driver",
            "ovn",
            "--ovn-nb-connection",
            &connection,
            "--ovn-nb-private-key",
            client.key.to_str().expect("path"),
            "--ovn-nb-certificate",
            client.cert.to_str().expect("path"),
            "--ovn-nb-ca-cert",
            ca.to_str().expect("path"),
        ])
    };
    let server = start(&ca_file);
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    let port_id = admin.port(&network, json!({})).await;
    admin.wait_for_outbox_drained().await;
    crate::common::kit::wait_for(Duration::from_secs(30), "the port's row", || {
        nb.names("Logical_Switch_Port")
            .contains(&port_id)
            .then_some(())
    });
    crate::readyz::until_ready(&server.base, Duration::from_secs(10)).await;

    let stranger = TestCa::new("a CA that signed nothing here").write(dir.path(), "other.pem");
    let distrustful = start(&stranger);
    crate::readyz::until_down(&distrustful.base, "ovn", Duration::from_secs(15)).await;
}

/// An agent reaches an https server through `agent_server_cafile`; trusting only the system's
/// CAs, it does not.
#[tokio::test]
async fn the_agent_reaches_an_https_server_with_its_cafile() {
    use trunkd::agent::server_api::{AgentAuth, ServerApi, ServerError};
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::new("trunkd test CA");
    let pair = ca.issue(&["127.0.0.1"], dir.path(), "server");
    let (token, entry) = crate::common::agent_token("compute-1");
    let credentials = dir.path().join("agents.toml");
    std::fs::write(&credentials, entry).expect("write credentials");
    let mut args = args(&pair);
    args.extend([
        "--agent-credentials-file".into(),
        credentials.display().to_string(),
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start_with(&refs);
    let ca_file = ca.write(dir.path(), "ca.pem");

    let trusting = ServerApi::new(
        &server.base,
        AgentAuth::Bearer(token.clone()),
        Some(&ca_file),
    )
    .expect("client");
    let desired = trusting.desired().await.expect("the agent API answers");
    assert!(desired.is_empty());

    let system = ServerApi::new(&server.base, AgentAuth::Bearer(token), None).expect("client");
    let refused = system
        .desired()
        .await
        .expect_err("an unknown CA is trusted");
    assert!(matches!(refused, ServerError::Unreachable(_)), "{refused}");
}
