//! Long polls on a trunk (issue 19, item 3, extension `trunk-wait-for-revision`): a waiter is
//! answered at the change it waits for, not at its timeout; one that asks for the next
//! revision after every answer sees every state in order; a change made through another
//! server wakes it too; a deleted trunk ends the wait with a 404; bad parameters are 400s.

use std::time::{Duration, Instant};

use crate::common;

use common::{Identity, Server};
use serde_json::{json, Value};

async fn trunk_of(client: &common::Client) -> (String, i64) {
    let network = client.network(json!({})).await;
    let parent = client.port(&network, json!({})).await;
    let trunk = client.trunk(&parent, json!([])).await;
    let shown = client
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200);
    let revision = shown["trunk"]["revision_number"]
        .as_i64()
        .expect("revision");
    (trunk, revision)
}

fn revision_of(body: &Value) -> i64 {
    body["trunk"]["revision_number"].as_i64().expect("revision")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_is_answered_at_the_change_not_at_its_timeout() {
    let server = Server::start();
    let client = server.as_(Identity::member("p1"));
    let (trunk, revision) = trunk_of(&client).await;

    // Already there: answered at once.
    let started = Instant::now();
    let now = client
        .get(&format!(
            "/v2.0/trunks/{trunk}?wait_for_revision={revision}"
        ))
        .await
        .expect(200);
    assert_eq!(revision_of(&now), revision);
    assert!(started.elapsed() < Duration::from_secs(5));

    // Waiting for the next revision: a rename by another client answers it.
    let waiter = {
        let client = client.clone();
        let path = format!(
            "/v2.0/trunks/{trunk}?wait_for_revision={}&wait_timeout=30",
            revision + 1
        );
        tokio::spawn(async move {
            let started = Instant::now();
            let reply = client.get(&path).await;
            (reply, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    client
        .put(
            &format!("/v2.0/trunks/{trunk}"),
            json!({"trunk": {"name": "renamed"}}),
        )
        .await
        .expect(200);
    let (reply, waited) = waiter.await.expect("waiter");
    let body = reply.expect(200);
    assert_eq!(body["trunk"]["name"], "renamed");
    assert_eq!(revision_of(&body), revision + 1);
    assert!(
        waited < Duration::from_secs(10),
        "answered after {waited:?}"
    );

    // Nothing happens: answered after wait_timeout, as it is.
    let started = Instant::now();
    let body = client
        .get(&format!(
            "/v2.0/trunks/{trunk}?wait_for_revision={}&wait_timeout=1",
            revision + 5
        ))
        .await
        .expect(200);
    let waited = started.elapsed();
    assert_eq!(revision_of(&body), revision + 1);
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(10),
        "{waited:?}"
    );

    // fields= still applies.
    let picked = client
        .get(&format!(
            "/v2.0/trunks/{trunk}?wait_for_revision=0&fields=status"
        ))
        .await
        .expect(200);
    assert_eq!(
        picked["trunk"].as_object().map(|o| o.len()),
        Some(1),
        "{picked}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_sees_every_state_in_order() {
    let server = Server::start();
    let client = server.as_(Identity::member("p1"));
    let (trunk, first) = trunk_of(&client).await;
    let names: Vec<String> = (1..=12).map(|n| format!("step-{n}")).collect();
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<(i64, String)>();
    let subscriber = {
        let client = client.clone();
        let trunk = trunk.clone();
        let count = names.len();
        tokio::spawn(async move {
            let mut last = first;
            for _ in 0..count {
                let body = client
                    .get(&format!(
                        "/v2.0/trunks/{trunk}?wait_for_revision={}&wait_timeout=20",
                        last + 1
                    ))
                    .await
                    .expect(200);
                last = revision_of(&body);
                let name = body["trunk"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if seen_tx.send((last, name)).is_err() {
                    break;
                }
            }
        })
    };
    // Each change waits until the subscriber has seen the one before: lockstep, so a lost
    // wake-up would show as a waiter answered only at its timeout (20 s), not as a skip.
    let started = Instant::now();
    let mut seen = Vec::new();
    for name in &names {
        client
            .put(
                &format!("/v2.0/trunks/{trunk}"),
                json!({"trunk": {"name": name}}),
            )
            .await
            .expect(200);
        seen.push(seen_rx.recv().await.expect("the subscriber answered"));
    }
    subscriber.await.expect("subscriber");
    let expected: Vec<(i64, String)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (first + 1 + i as i64, name.clone()))
        .collect();
    assert_eq!(seen, expected);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "a waiter was answered by its timeout: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_another_server_wakes_the_waiter() {
    let first = Server::start();
    let second = first.start_beside(&[]);
    let here = first.as_(Identity::member("p1"));
    let there = second.as_(Identity::member("p1"));
    let (trunk, revision) = trunk_of(&here).await;
    let waiter = {
        let here = here.clone();
        let path = format!(
            "/v2.0/trunks/{trunk}?wait_for_revision={}&wait_timeout=30",
            revision + 1
        );
        tokio::spawn(async move {
            let started = Instant::now();
            (here.get(&path).await, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    there
        .put(
            &format!("/v2.0/trunks/{trunk}"),
            json!({"trunk": {"name": "elsewhere"}}),
        )
        .await
        .expect(200);
    let (reply, waited) = waiter.await.expect("waiter");
    assert_eq!(reply.expect(200)["trunk"]["name"], "elsewhere");
    assert!(
        waited < Duration::from_secs(10),
        "answered after {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_and_bad_parameters_end_the_wait() {
    let server = Server::start();
    let client = server.as_(Identity::member("p1"));
    let (trunk, revision) = trunk_of(&client).await;
    let waiter = {
        let client = client.clone();
        let path = format!(
            "/v2.0/trunks/{trunk}?wait_for_revision={}&wait_timeout=30",
            revision + 1
        );
        tokio::spawn(async move { client.get(&path).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    client
        .delete(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(204);
    waiter
        .await
        .expect("waiter")
        .expect_error(404, "TrunkNotFound");

    let (trunk, _) = trunk_of(&client).await;
    // Another project's caller waits on nothing it may not see.
    server
        .as_(Identity::member("p2"))
        .get(&format!(
            "/v2.0/trunks/{trunk}?wait_for_revision=99&wait_timeout=1"
        ))
        .await
        .expect_error(404, "TrunkNotFound");
    for (query, field) in [
        ("wait_for_revision=-1", "wait_for_revision"),
        ("wait_for_revision=soon", "wait_for_revision"),
        ("wait_for_revision=3&wait_timeout=0", "wait_timeout"),
        ("wait_for_revision=3&wait_timeout=61", "wait_timeout"),
        ("wait_timeout=5", "wait_timeout"),
    ] {
        let reply = client.get(&format!("/v2.0/trunks/{trunk}?{query}")).await;
        assert_eq!(reply.status.as_u16(), 400, "{query}: {}", reply.body);
        assert!(reply.message().contains(field), "{query}: {}", reply.body);
    }
    // The extension is listed.
    let extensions = client.get("/v2.0/extensions").await.expect(200);
    assert!(
        extensions["extensions"]
            .as_array()
            .expect("extensions")
            .iter()
            .any(|e| e["alias"] == "trunk-wait-for-revision"),
        "{extensions}"
    );
}
