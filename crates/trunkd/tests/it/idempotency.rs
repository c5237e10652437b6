//! Idempotent retries (extension `idempotency-keys`, issue 20 item 3) over HTTP against real
//! servers: a retried request gets the first answer without the work being done again, a key
//! reused for another request is a 422, keys are per project and expire, a failed request
//! claims nothing, and two servers on one database never do one key's work twice.

use crate::common;

use common::invariants::check_invariants;
use common::{Client, DatabaseLocation, Identity, Server};
use reqwest::Method;
use serde_json::{json, Value};

const KEY: &str = "Idempotency-Key";

async fn send(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<Value>,
    key: &str,
) -> common::Reply {
    client.send_with(method, path, body, &[(KEY, key)]).await
}

fn replayed(reply: &common::Reply) -> bool {
    reply
        .headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

async fn trunk_count(client: &Client) -> usize {
    client.get("/v2.0/trunks").await.expect(200)["trunks"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test]
async fn a_retried_create_answers_the_first_answer_and_creates_once() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let parent = admin.port(&net, json!({})).await;
    let body = json!({"trunk": {"port_id": parent, "name": "once"}});
    let first = send(
        &admin,
        Method::POST,
        "/v2.0/trunks",
        Some(body.clone()),
        "create-1",
    )
    .await;
    assert_eq!(first.status.as_u16(), 201, "{}", first.body);
    assert!(!replayed(&first));
    let again = send(
        &admin,
        Method::POST,
        "/v2.0/trunks",
        Some(body.clone()),
        "create-1",
    )
    .await;
    assert_eq!(again.status.as_u16(), 201, "{}", again.body);
    assert!(replayed(&again), "the retry says it is a replay");
    assert_eq!(again.body, first.body, "the same answer, byte for byte");
    assert_eq!(trunk_count(&admin).await, 1, "the work was done once");
    // Without a key the same request is a new request: the parent is taken now.
    admin
        .post("/v2.0/trunks", body)
        .await
        .expect_error(409, "ParentPortInUse");
}

#[tokio::test]
async fn a_key_reused_for_another_request_is_a_422_that_changes_nothing() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let parents = admin.ports(&net, 2).await;
    let reply = send(
        &admin,
        Method::POST,
        "/v2.0/trunks",
        Some(json!({"trunk": {"port_id": parents[0]}})),
        "k",
    )
    .await;
    assert_eq!(reply.status.as_u16(), 201);
    let reused = send(
        &admin,
        Method::POST,
        "/v2.0/trunks",
        Some(json!({"trunk": {"port_id": parents[1]}})),
        "k",
    )
    .await
    .expect_error(422, "IdempotencyKeyReused");
    assert!(reused.message().contains("'k'"), "{}", reused.message());
    // Another path with the same key is another request too.
    send(
        &admin,
        Method::DELETE,
        &format!("/v2.0/ports/{}", parents[1]),
        None,
        "k",
    )
    .await
    .expect_error(422, "IdempotencyKeyReused");
    assert_eq!(trunk_count(&admin).await, 1);
    admin
        .get(&format!("/v2.0/ports/{}", parents[1]))
        .await
        .expect(200);
}

#[tokio::test]
async fn keys_belong_to_their_project() {
    let server = Server::start();
    let alice = server.as_(Identity::member("alice-project"));
    let bob = server.as_(Identity::member("bob-project"));
    let body = json!({"network": {"name": "n"}});
    let a = send(
        &alice,
        Method::POST,
        "/v2.0/networks",
        Some(body.clone()),
        "same",
    )
    .await;
    let b = send(&bob, Method::POST, "/v2.0/networks", Some(body), "same").await;
    assert_eq!((a.status.as_u16(), b.status.as_u16()), (201, 201));
    assert!(!replayed(&b), "bob's key is not alice's");
    assert_ne!(a.body["network"]["id"], b.body["network"]["id"]);
    // Another user of alice's project, with alice's key and body: never alice's answer.
    let carol = server.as_(Identity::reader("alice-project"));
    send(
        &carol,
        Method::POST,
        "/v2.0/networks",
        Some(json!({"network": {"name": "n"}})),
        "same",
    )
    .await
    .expect_error(422, "IdempotencyKeyReused");
}

#[tokio::test]
async fn a_failed_request_claims_nothing() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let parent = admin.port(&net, json!({})).await;
    let holder = admin.trunk(&parent, json!([])).await;
    let body = json!({"trunk": {"port_id": parent}});
    send(
        &admin,
        Method::POST,
        "/v2.0/trunks",
        Some(body.clone()),
        "retry-me",
    )
    .await
    .expect_error(409, "ParentPortInUse");
    admin
        .delete(&format!("/v2.0/trunks/{holder}"))
        .await
        .expect(204);
    // The first try changed nothing and kept no key: the retry does the work.
    let retried = send(&admin, Method::POST, "/v2.0/trunks", Some(body), "retry-me").await;
    assert_eq!(retried.status.as_u16(), 201, "{}", retried.body);
    assert!(!replayed(&retried));
}

#[tokio::test]
async fn deletes_and_subport_changes_replay() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let parent = admin.port(&net, json!({})).await;
    let sub = admin.port(&net, json!({})).await;
    let trunk = admin.trunk(&parent, json!([])).await;
    let path = format!("/v2.0/trunks/{trunk}/add_subports");
    let body = json!({"sub_ports": [{"port_id": sub, "segmentation_type": "vlan", "segmentation_id": "auto"}]});
    let first = send(&admin, Method::PUT, &path, Some(body.clone()), "add").await;
    assert_eq!(first.status.as_u16(), 200, "{}", first.body);
    let again = send(&admin, Method::PUT, &path, Some(body), "add").await;
    assert!(replayed(&again));
    assert_eq!(again.body, first.body);
    let shown = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200);
    assert_eq!(
        shown["trunk"]["revision_number"], first.body["revision_number"],
        "the replay did not add again"
    );

    let port = admin.port(&net, json!({})).await;
    let path = format!("/v2.0/ports/{port}");
    let deleted = send(&admin, Method::DELETE, &path, None, "del").await;
    assert_eq!(deleted.status.as_u16(), 204);
    let again = send(&admin, Method::DELETE, &path, None, "del").await;
    assert_eq!(again.status.as_u16(), 204, "a retried delete is not a 404");
    assert!(replayed(&again));
}

#[tokio::test]
async fn bad_keys_are_400s_naming_the_header() {
    let server = Server::start();
    let admin = server.admin();
    let long = "x".repeat(256);
    for key in ["has space", long.as_str()] {
        let reply = send(
            &admin,
            Method::POST,
            "/v2.0/networks",
            Some(json!({"network": {}})),
            key,
        )
        .await
        .expect_error(400, "HTTPBadRequest");
        assert!(
            reply.message().contains("Idempotency-Key"),
            "{}",
            reply.message()
        );
    }
    let networks = admin.get("/v2.0/networks").await.expect(200);
    assert_eq!(networks["networks"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn an_expired_key_is_a_new_request() {
    let server = Server::start_with(&["--idempotency-retention", "1"]);
    let admin = server.admin();
    let body = json!({"network": {"name": "n"}});
    let first = send(
        &admin,
        Method::POST,
        "/v2.0/networks",
        Some(body.clone()),
        "old",
    )
    .await;
    assert_eq!(first.status.as_u16(), 201);
    tokio::time::sleep(std::time::Duration::from_millis(1_300)).await;
    let later = send(&admin, Method::POST, "/v2.0/networks", Some(body), "old").await;
    assert_eq!(later.status.as_u16(), 201);
    assert!(!replayed(&later));
    assert_ne!(first.body["network"]["id"], later.body["network"]["id"]);
}

/// How many keys the server's database holds.
async fn stored_keys(location: &DatabaseLocation) -> i64 {
    location
        .integer("SELECT COUNT(*) FROM idempotency_keys")
        .await
}

#[tokio::test]
async fn expired_keys_are_pruned() {
    let server = Server::start_with(&["--idempotency-retention", "1"]);
    let admin = server.admin();
    let body = json!({"network": {"name": "n"}});
    let created = send(&admin, Method::POST, "/v2.0/networks", Some(body), "pruned").await;
    assert_eq!(created.status.as_u16(), 201);
    let location = server.database_location();
    assert_eq!(
        stored_keys(&location).await,
        1,
        "the key is stored with its work"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while stored_keys(&location).await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the key outlived its retention by 9 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_answer_lost_in_a_crash_is_never_redone() {
    let server = Server::start();
    let admin = server.admin();
    let body = json!({"network": {"name": "n"}});
    let first = send(
        &admin,
        Method::POST,
        "/v2.0/networks",
        Some(body.clone()),
        "lost",
    )
    .await;
    assert_eq!(first.status.as_u16(), 201);
    // As a server that died between its commit and recording the answer leaves it.
    server
        .database_location()
        .execute(
            "UPDATE idempotency_keys SET answer_status = NULL, answer_body = NULL \
             WHERE idempotency_key = 'lost'",
        )
        .await;
    send(&admin, Method::POST, "/v2.0/networks", Some(body), "lost")
        .await
        .expect_error(409, "IdempotentAnswerMissing");
    let networks = admin.get("/v2.0/networks").await.expect(200);
    assert_eq!(
        networks["networks"].as_array().map(Vec::len),
        Some(1),
        "the work was not done again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_do_one_keys_work_once() {
    const RACERS: usize = 8;
    let first = Server::start();
    let second = first.start_beside(&[]);
    let clients = [first.admin(), second.admin()];
    let net = clients[0].network(json!({})).await;
    for round in 0..3 {
        let parent = clients[0].port(&net, json!({})).await;
        let body = json!({"trunk": {"port_id": parent, "name": format!("round-{round}")}});
        let key = format!("race-{round}");
        let tasks: Vec<_> = (0..RACERS)
            .map(|index| {
                let client = clients[index % 2].clone();
                let (body, key) = (body.clone(), key.clone());
                tokio::spawn(async move {
                    send(&client, Method::POST, "/v2.0/trunks", Some(body), &key).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            let reply = task.await.expect("task");
            assert_eq!(reply.status.as_u16(), 201, "round {round}: {}", reply.body);
            answers.push(reply.body);
        }
        assert!(
            answers.iter().all(|a| *a == answers[0]),
            "round {round}: every racer got the one answer"
        );
    }
    assert_eq!(trunk_count(&clients[0]).await, 3, "one trunk per key");
    check_invariants(&first, "racing idempotency keys").await;
}

#[tokio::test]
async fn the_extension_is_listed() {
    let server = Server::start();
    let reply = server
        .admin()
        .get("/v2.0/extensions/idempotency-keys")
        .await
        .expect(200);
    assert_eq!(reply["extension"]["alias"], "idempotency-keys");
}
