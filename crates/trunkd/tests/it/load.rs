//! Load: 64 concurrent clients run mixed reads and writes for 60 s against one
//! server. No request may fail with a 5xx or be refused (each client works on its own trunk,
//! so every write is valid), the store passes the invariant check afterwards, and the
//! server's memory stops growing once warm: its RSS at the end is within `RSS_GROWTH_KIB` of
//! its RSS after the warm-up.
//!
//! Runs on the suite's store: the embedded SQLite, or PostgreSQL in CI's second pass.

use crate::common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::invariants::check_invariants;
use common::{vlan, Client, Identity, Server};
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Value};

const CLIENTS: usize = 64;
const RUN: Duration = Duration::from_secs(60);
/// Memory is sampled after this much of the run, once caches and pools have filled.
const WARM_UP: Duration = Duration::from_secs(15);
/// How much the server's RSS may grow between the warm-up and the end.
const RSS_GROWTH_KIB: u64 = 32 * 1024;
/// Subport candidates per client.
const POOL: usize = 6;
/// Projects the clients are spread over (as members), so reads see other projects' rows.
const PROJECTS: usize = 8;

/// Statuses seen, by "METHOD route".
type Tally = BTreeMap<String, BTreeMap<u16, u64>>;

struct Fixture {
    parent: String,
    pool: Vec<String>,
}

/// One client's loop: keeps one trunk on its parent and changes it, with reads in between.
async fn run_client(client: Client, fixture: Fixture, deadline: Instant, tally: Arc<Mutex<Tally>>) {
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut trunk: Option<String> = None;
    let mut members: Vec<usize> = Vec::new();
    let mut seen: Vec<(String, u16, Value)> = Vec::new();
    while Instant::now() < deadline {
        let (method, route, path, body) = match &trunk {
            None => {
                members = vec![0];
                (
                    Method::POST,
                    "/trunks",
                    "/v2.0/trunks".to_string(),
                    Some(json!({"trunk": {
                        "port_id": fixture.parent,
                        "sub_ports": [vlan(&fixture.pool[0], 100)],
                    }})),
                )
            }
            Some(id) => match rng.gen_range(0..10) {
                0..=2 => (
                    Method::GET,
                    "/trunks/{id}",
                    format!("/v2.0/trunks/{id}"),
                    None,
                ),
                3 => (
                    Method::GET,
                    "/trunks",
                    "/v2.0/trunks?limit=50".to_string(),
                    None,
                ),
                4 => (
                    Method::GET,
                    "/ports/{id}",
                    format!("/v2.0/ports/{}", fixture.parent),
                    None,
                ),
                5 => (
                    Method::PUT,
                    "/trunks/{id}",
                    format!("/v2.0/trunks/{id}"),
                    Some(json!({"trunk": {"name": format!("n{}", rng.gen::<u32>())}})),
                ),
                6 | 7 if members.len() < POOL => {
                    let next = (0..POOL).find(|i| !members.contains(i)).unwrap_or(0);
                    members.push(next);
                    (
                        Method::PUT,
                        "/trunks/{id}/add_subports",
                        format!("/v2.0/trunks/{id}/add_subports"),
                        Some(json!({"sub_ports": [vlan(&fixture.pool[next], 100 + next as i64)]})),
                    )
                }
                6..=8 if !members.is_empty() => {
                    let gone = members.swap_remove(rng.gen_range(0..members.len()));
                    (
                        Method::PUT,
                        "/trunks/{id}/remove_subports",
                        format!("/v2.0/trunks/{id}/remove_subports"),
                        Some(json!({"sub_ports": [{"port_id": fixture.pool[gone]}]})),
                    )
                }
                _ => (
                    Method::DELETE,
                    "/trunks/{id}",
                    format!("/v2.0/trunks/{id}"),
                    None,
                ),
            },
        };
        let reply = client.send(method.clone(), &path, body).await;
        let status = reply.status.as_u16();
        if method == Method::POST && status == 201 {
            trunk = reply.body["trunk"]["id"].as_str().map(str::to_string);
        }
        if method == Method::DELETE && status == 204 {
            trunk = None;
        }
        seen.push((format!("{method} {route}"), status, reply.body));
    }
    let mut tally = tally.lock().expect("lock");
    for (operation, status, body) in seen {
        *tally
            .entry(operation.clone())
            .or_default()
            .entry(status)
            .or_default() += 1;
        assert!(
            status < 400,
            "{operation} answered {status}: {body} (a valid request on the client's own trunk)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_seconds_of_64_clients_hold() {
    let server = Server::start();
    let admin = server.admin();
    let mut fixtures = Vec::new();
    let mut clients = Vec::new();
    for project in 0..PROJECTS {
        let member = server.as_(Identity::member(&format!("load-{project}")));
        let network = member.network(json!({})).await;
        let per_project = CLIENTS / PROJECTS;
        let ports = member.ports(&network, per_project * (POOL + 1)).await;
        for chunk in ports.chunks(POOL + 1) {
            fixtures.push(Fixture {
                parent: chunk[0].clone(),
                pool: chunk[1..].to_vec(),
            });
            clients.push(member.clone());
        }
    }
    assert_eq!(fixtures.len(), CLIENTS);

    let started = Instant::now();
    let deadline = started + RUN;
    let tally = Arc::new(Mutex::new(Tally::new()));
    let tasks: Vec<_> = clients
        .into_iter()
        .zip(fixtures)
        .map(|(client, fixture)| tokio::spawn(run_client(client, fixture, deadline, tally.clone())))
        .collect();
    tokio::time::sleep(WARM_UP).await;
    let warm_rss = server.rss_kib();
    for task in tasks {
        task.await.expect("a client failed");
    }
    let end_rss = server.rss_kib();
    let elapsed = started.elapsed();

    admin.wait_for_outbox_drained().await;
    check_invariants(&server, "after the load").await;
    let tally = tally.lock().expect("lock").clone();
    let total: u64 = tally
        .values()
        .flat_map(|by_status| by_status.values())
        .sum();
    eprintln!(
        "load: {CLIENTS} clients, {total} requests in {elapsed:?} ({:.0}/s), RSS {} MiB after \
         warm-up, {} MiB at the end",
        total as f64 / elapsed.as_secs_f64(),
        warm_rss / 1024,
        end_rss / 1024
    );
    for (operation, by_status) in &tally {
        eprintln!("  {operation}: {by_status:?}");
    }
    for operation in [
        "POST /trunks",
        "GET /trunks/{id}",
        "PUT /trunks/{id}/add_subports",
        "PUT /trunks/{id}/remove_subports",
        "DELETE /trunks/{id}",
    ] {
        assert!(
            tally.contains_key(operation),
            "no {operation} ran: {tally:?}"
        );
    }
    assert!(
        end_rss <= warm_rss + RSS_GROWTH_KIB,
        "RSS grew from {warm_rss} KiB after the warm-up to {end_rss} KiB"
    );
}
