//! RabbitMQ over TLS (`amqps://`): the machine's RabbitMQ speaks plain AMQP, so a
//! TLS-terminating proxy with a certificate of the test's own CA stands in front of it. With
//! that CA as `--rabbitmq-cafile`, the server's publisher reaches the broker (`/readyz` says the
//! broker is up) and a subscriber, as agents run it, hears a change through it; with another
//! CA's bundle the broker stays down and the error names the certificate, not the password.

use crate::common;
use crate::readyz;
use crate::tls_kit::{TestCa, TlsProxy};

use std::sync::Arc;
use std::time::Duration;

use common::kit;
use common::Server;
use serde_json::json;
use tokio::sync::Notify;
use trunkd::notify::Broker;

/// The broker URL through the TLS proxy, by the name its certificate carries.
fn amqps(port: u16) -> String {
    format!("amqps://guest:guest@localhost:{port}/%2f")
}

async fn woken(wake: &Notify, what: &str) {
    tokio::time::timeout(Duration::from_secs(20), wake.notified())
        .await
        .unwrap_or_else(|_| panic!("{what} within 20s"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_travel_over_amqps_with_the_cafile_ca() {
    let Some(plain) = kit::broker() else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::new("trunkd test broker CA");
    let cafile = ca.write(dir.path(), "ca.pem");
    let pair = ca.issue(&["localhost"], dir.path(), "broker");
    let proxy = TlsProxy::start(plain, &pair).await;
    let url = amqps(proxy.port);

    let server = Server::start_with(&[
        "--noauth-default-admin",
        "--driver",
        "ovs",
        "--rabbitmq-url",
        &url,
        "--rabbitmq-cafile",
        cafile.to_str().expect("path"),
    ]);
    // Ready means no dependency is down or still connecting: the broker's probe opened a
    // connection through the proxy and declared the exchange.
    readyz::until_ready(&server.base, Duration::from_secs(20)).await;

    // A subscriber as the agent runs it, through the same TLS proxy: it wakes once subscribed,
    // and again for the notification of a change on its host.
    let host = format!("amqps-{}", std::process::id());
    let wake = Arc::new(Notify::new());
    let subscription = tokio::spawn(trunkd::notify::subscriber::run(
        Broker::new(url.clone(), Some(cafile.clone())),
        host.clone(),
        wake.clone(),
    ));
    woken(&wake, "the subscriber subscribes over amqps").await;

    let admin = server.admin();
    let parent_net = admin.network(json!({"name": "parent-net"})).await;
    let parent = admin.port(&parent_net, json!({})).await;
    admin.trunk(&parent, json!([])).await;
    admin
        .put(
            &format!("/v2.0/ports/{parent}"),
            json!({"port": {"binding:host_id": host}}),
        )
        .await
        .expect(200);
    woken(&wake, "the notification of the binding arrives over amqps").await;
    subscription.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_certificate_of_another_ca_is_refused() {
    let Some(plain) = kit::broker() else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::new("the broker's CA");
    let other = TestCa::new("a CA the broker does not use");
    let other_file = other.write(dir.path(), "other.pem");
    let pair = ca.issue(&["localhost"], dir.path(), "broker");
    let proxy = TlsProxy::start(plain, &pair).await;
    let url = amqps(proxy.port);

    // Directly: the error names the certificate problem, and not the password.
    let error = match Broker::new(url.clone(), Some(other_file.clone()))
        .connect()
        .await
    {
        Ok(_) => panic!("a certificate of an untrusted CA was accepted"),
        Err(error) => error.to_string(),
    };
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    assert!(!error.contains("guest:guest"), "{error}");

    // The server: the broker dependency is down, and the log says why.
    let log = dir.path().join("server.log");
    let server = Server::start_logged(
        &[
            "--noauth-default-admin",
            "--driver",
            "ovs",
            "--rabbitmq-url",
            &url,
            "--rabbitmq-cafile",
            other_file.to_str().expect("path"),
        ],
        &log,
    );
    readyz::until_down(&server.base, "broker", Duration::from_secs(20)).await;
    let logged = std::fs::read_to_string(&log).expect("log");
    assert!(logged.to_lowercase().contains("certificate"), "{logged}");
    assert!(!logged.contains("guest:guest"), "{logged}");
}
