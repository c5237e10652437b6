//! Several API servers on one database, raced against each other. After every race the
//! database itself is checked: no port in two trunks, no duplicate segmentation, subport
//! bindings consistent, revision numbers strictly increasing with one outbox event per change.
//! Runs on SQLite (two processes on one file) and, in CI's second pass, on PostgreSQL.

use crate::common;

use common::invariants::{check_invariants, facts};
use common::kit::settle;
use common::{vlan, Client, Server};
use serde_json::{json, Value};

/// Rounds per race.
const ROUNDS: usize = 5;
/// Concurrent requests per round, spread over the servers.
const RACERS: usize = 8;

/// Runs `requests` concurrently, alternating between the clients; returns the statuses.
async fn race(
    clients: &[Client],
    requests: Vec<(reqwest::Method, String, Option<Value>, Option<String>)>,
) -> Vec<u16> {
    let tasks: Vec<_> = requests
        .into_iter()
        .enumerate()
        .map(|(index, (method, path, body, if_match))| {
            let client = clients[index % clients.len()].clone();
            tokio::spawn(async move {
                let headers: Vec<(&str, &str)> = match &if_match {
                    Some(value) => vec![("If-Match", value.as_str())],
                    None => vec![],
                };
                client
                    .send_with(method, &path, body, &headers)
                    .await
                    .status
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("request task"));
    }
    assert!(
        statuses.iter().all(|s| *s < 500),
        "a race produced a 5xx: {statuses:?}"
    );
    statuses
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

async fn two_servers() -> (Server, Server, Vec<Client>) {
    let first = Server::start();
    let second = first.start_beside(&[]);
    let clients = vec![first.admin(), second.admin()];
    (first, second, clients)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_port_added_to_many_trunks_has_one_winner() {
    let (first, _second, clients) = two_servers().await;
    let admin = &clients[0];
    let net = admin.network(json!({})).await;
    let parents = admin.ports(&net, RACERS).await;
    let mut trunks = Vec::new();
    for parent in &parents {
        trunks.push(admin.trunk(parent, json!([])).await);
    }
    for round in 0..ROUNDS {
        let contested = admin.port(&net, json!({})).await;
        let requests = trunks
            .iter()
            .map(|t| {
                (
                    reqwest::Method::PUT,
                    format!("/v2.0/trunks/{t}/add_subports"),
                    Some(json!({"sub_ports": [vlan(&contested, round as i64 + 1)]})),
                    None,
                )
            })
            .collect();
        let statuses = race(&clients, requests).await;
        assert_eq!(count(&statuses, 200), 1, "round {round}: {statuses:?}");
        assert_eq!(
            count(&statuses, 409),
            RACERS - 1,
            "round {round}: {statuses:?}"
        );
    }
    check_invariants(&first, "one port, many trunks").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trunks_created_on_one_parent_have_one_winner() {
    let (first, _second, clients) = two_servers().await;
    let admin = &clients[0];
    let net = admin.network(json!({})).await;
    for round in 0..ROUNDS {
        let parent = admin.port(&net, json!({})).await;
        let requests = (0..RACERS)
            .map(|_| {
                (
                    reqwest::Method::POST,
                    "/v2.0/trunks".to_string(),
                    Some(json!({"trunk": {"port_id": parent}})),
                    None,
                )
            })
            .collect();
        let statuses = race(&clients, requests).await;
        assert_eq!(count(&statuses, 201), 1, "round {round}: {statuses:?}");
        assert_eq!(
            count(&statuses, 409),
            RACERS - 1,
            "round {round}: {statuses:?}"
        );
    }
    check_invariants(&first, "one parent, many creates").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adds_and_removes_with_overlapping_vlans_keep_the_trunk_consistent() {
    let (first, _second, clients) = two_servers().await;
    let admin = &clients[0];
    let net = admin.network(json!({})).await;
    let parent = admin.port(&net, json!({})).await;
    let trunk = admin.trunk(&parent, json!([])).await;
    for round in 0..ROUNDS {
        let current = admin
            .get(&format!("/v2.0/trunks/{trunk}"))
            .await
            .expect(200)["trunk"]["sub_ports"]
            .clone();
        let members: Vec<String> = current
            .as_array()
            .expect("list")
            .iter()
            .map(|s| s["port_id"].as_str().expect("id").to_string())
            .collect();
        let fresh = admin.ports(&net, RACERS).await;
        let mut requests = Vec::new();
        for (index, port) in fresh.iter().enumerate() {
            // VLANs 1..=3 only: most adds collide with each other or with what is there.
            let body = json!({"sub_ports": [vlan(port, (index % 3) as i64 + 1)]});
            requests.push((
                reqwest::Method::PUT,
                format!("/v2.0/trunks/{trunk}/add_subports"),
                Some(body),
                None,
            ));
        }
        for member in &members {
            let body = json!({"sub_ports": [{"port_id": member}]});
            requests.push((
                reqwest::Method::PUT,
                format!("/v2.0/trunks/{trunk}/remove_subports"),
                Some(body.clone()),
                None,
            ));
            requests.push((
                reqwest::Method::PUT,
                format!("/v2.0/trunks/{trunk}/remove_subports"),
                Some(body),
                None,
            ));
        }
        let statuses = race(&clients, requests).await;
        assert!(
            statuses.iter().all(|s| [200, 404, 409].contains(s)),
            "round {round}: {statuses:?}"
        );
        // Each member is removed exactly once, however many asked.
        assert_eq!(
            count(&statuses[RACERS..], 200),
            members.len(),
            "round {round}: {statuses:?}"
        );
        let after = admin
            .get(&format!("/v2.0/trunks/{trunk}"))
            .await
            .expect(200)["trunk"]["sub_ports"]
            .clone();
        let vlans: Vec<i64> = after
            .as_array()
            .expect("list")
            .iter()
            .map(|s| s["segmentation_id"].as_i64().expect("id"))
            .collect();
        let mut unique = vlans.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            vlans.len(),
            "round {round}: duplicate VLANs {vlans:?}"
        );
        assert_eq!(
            count(&statuses[..RACERS], 200),
            vlans.len(),
            "round {round}: adds that won are the subports now"
        );
    }
    check_invariants(&first, "adds and removes").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_match_updates_have_one_winner() {
    let (first, _second, clients) = two_servers().await;
    let admin = &clients[0];
    let net = admin.network(json!({})).await;
    let parent = admin.port(&net, json!({})).await;
    let trunk = admin.trunk(&parent, json!([])).await;
    admin.wait_for_status(&trunk, "ACTIVE").await;
    for round in 0..ROUNDS {
        let revision = admin
            .get(&format!("/v2.0/trunks/{trunk}"))
            .await
            .expect(200)["trunk"]["revision_number"]
            .as_i64()
            .expect("revision");
        let requests = (0..RACERS)
            .map(|i| {
                (
                    reqwest::Method::PUT,
                    format!("/v2.0/trunks/{trunk}"),
                    Some(json!({"trunk": {"name": format!("r{round}-{i}")}})),
                    Some(format!("revision_number={revision}")),
                )
            })
            .collect();
        let statuses = race(&clients, requests).await;
        assert_eq!(count(&statuses, 200), 1, "round {round}: {statuses:?}");
        assert_eq!(
            count(&statuses, 412),
            RACERS - 1,
            "round {round}: {statuses:?}"
        );
        let after = admin
            .get(&format!("/v2.0/trunks/{trunk}"))
            .await
            .expect(200)["trunk"]["revision_number"]
            .as_i64();
        assert_eq!(after, Some(revision + 1), "round {round}");
    }
    check_invariants(&first, "if-match").await;
}

/// `trunkd_driver_deliveries_total` of one server.
async fn deliveries(server: &Server) -> u64 {
    server
        .admin()
        .metric("trunkd_driver_deliveries_total")
        .await as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_is_delivered_by_one_server() {
    let (first, second, clients) = two_servers().await;
    let net = clients[0].network(json!({})).await;
    let mut trunks = Vec::new();
    for index in 0..12 {
        let client = &clients[index % 2];
        let ports = client.ports(&net, 3).await;
        let trunk = client.trunk(&ports[0], json!([vlan(&ports[1], 10)])).await;
        client
            .put(
                &format!("/v2.0/trunks/{trunk}/add_subports"),
                json!({"sub_ports": [vlan(&ports[2], 20)]}),
            )
            .await
            .expect(200);
        trunks.push(trunk);
    }
    for trunk in &trunks {
        clients[0].wait_for_status(trunk, "ACTIVE").await;
    }
    let location = first.database_location();
    let location = &location;
    let limit = std::time::Duration::from_secs(20);
    let facts = settle(limit, "every event delivered", || async move {
        let facts = facts(location).await;
        match facts.undelivered_events {
            0 => Ok(facts),
            undelivered => Err(format!("{undelivered} events undelivered")),
        }
    })
    .await;
    let (a, b) = (deliveries(&first).await, deliveries(&second).await);
    assert_eq!(
        a + b,
        facts.events as u64,
        "deliveries {a} + {b} against {} events",
        facts.events
    );
    assert!(a > 0 && b > 0, "both servers delivered: {a} and {b}");
    check_invariants(&first, "deliveries").await;
}
