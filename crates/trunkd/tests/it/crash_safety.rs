//! Crash safety: the server is killed with SIGKILL at random moments while clients
//! stream writes at it, again and again. After each restart the store must pass the invariant
//! check, every write the server acknowledged must be there, and a write in flight at the kill
//! must be there whole or not at all. At the end every event has been delivered and every trunk
//! has reached ACTIVE. Beside the trunk writers, one client creates, readdresses and deletes
//! ports on a small subnet, so every kill also lands in the middle of IP address changes,
//! which the invariant check then finds whole (issue 18).
//!
//! Runs on the suite's store: SQLite (WAL, `synchronous=NORMAL`: a process crash loses
//! nothing committed), or PostgreSQL in CI's second pass.

use crate::common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::invariants::check_invariants;
use common::{vlan, Client, Server};
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Value};

/// How many times the server is killed.
const KILLS: usize = 50;
/// Clients writing at once; each owns a parent port and a pool of subport candidates.
const WRITERS: usize = 4;
/// Subport candidates per writer.
const POOL: usize = 12;

/// A trunk's subports by port id; `None` when the writer's parent has no trunk.
type TrunkState = Option<BTreeSet<String>>;

/// What one writer knows of its trunk.
struct Writer {
    parent: String,
    pool: Vec<String>,
    trunk: Option<String>,
    /// The state after the last acknowledged write.
    acked: TrunkState,
    /// The state if the write in flight (unacknowledged) was committed.
    in_flight: Option<TrunkState>,
    /// Writes acknowledged over the whole test.
    acknowledged: usize,
    /// Answers that should never come (5xx, or a refusal of a valid write).
    unexpected: Vec<String>,
}

/// The segmentation id of pool port `index`: unique within the trunk.
fn vlan_of(index: usize) -> i64 {
    100 + index as i64
}

/// The next write for `writer`, as (method, path, body, state if it commits).
fn next_write(writer: &Writer, rng: &mut impl Rng) -> (Method, String, Option<Value>, TrunkState) {
    let pick = |wanted: bool, count: usize, rng: &mut dyn rand::RngCore| -> Vec<usize> {
        let members = writer.acked.clone().unwrap_or_default();
        let candidates: Vec<usize> = (0..writer.pool.len())
            .filter(|i| members.contains(&writer.pool[*i]) == wanted)
            .collect();
        let mut chosen = Vec::new();
        for _ in 0..count.min(candidates.len()) {
            let index = candidates[rng.gen_range(0..candidates.len())];
            if !chosen.contains(&index) {
                chosen.push(index);
            }
        }
        chosen
    };
    match (&writer.trunk, &writer.acked) {
        (Some(trunk), Some(members)) => {
            let roll = rng.gen_range(0..10);
            if roll < 5 && members.len() < writer.pool.len() {
                let added = pick(false, rng.gen_range(1..=3), rng);
                let body: Vec<Value> = added
                    .iter()
                    .map(|i| vlan(&writer.pool[*i], vlan_of(*i)))
                    .collect();
                let mut after = members.clone();
                after.extend(added.iter().map(|i| writer.pool[*i].clone()));
                (
                    Method::PUT,
                    format!("/v2.0/trunks/{trunk}/add_subports"),
                    Some(json!({ "sub_ports": body })),
                    Some(after),
                )
            } else if roll < 9 && !members.is_empty() {
                let removed = pick(true, rng.gen_range(1..=2), rng);
                let body: Vec<Value> = removed
                    .iter()
                    .map(|i| json!({"port_id": writer.pool[*i]}))
                    .collect();
                let mut after = members.clone();
                for i in &removed {
                    after.remove(&writer.pool[*i]);
                }
                (
                    Method::PUT,
                    format!("/v2.0/trunks/{trunk}/remove_subports"),
                    Some(json!({ "sub_ports": body })),
                    Some(after),
                )
            } else {
                (Method::DELETE, format!("/v2.0/trunks/{trunk}"), None, None)
            }
        }
        _ => {
            let added = pick(false, 2, rng);
            let body: Vec<Value> = added
                .iter()
                .map(|i| vlan(&writer.pool[*i], vlan_of(*i)))
                .collect();
            let after: BTreeSet<String> = added.iter().map(|i| writer.pool[*i].clone()).collect();
            (
                Method::POST,
                "/v2.0/trunks".to_string(),
                Some(json!({"trunk": {"port_id": writer.parent, "sub_ports": body}})),
                Some(after),
            )
        }
    }
}

/// Writes until the task is aborted (the server is killed under it).
async fn write_forever(client: Client, writer: Arc<Mutex<Writer>>) {
    let mut rng = rand::rngs::StdRng::from_entropy();
    loop {
        let (method, path, body, after) = {
            let mut w = writer.lock().expect("lock");
            let write = next_write(&w, &mut rng);
            w.in_flight = Some(write.3.clone());
            write
        };
        let reply = match client.try_send(method, &path, body).await {
            Ok(reply) => reply,
            // The server is gone; the write may or may not have committed.
            Err(_) => return,
        };
        let mut w = writer.lock().expect("lock");
        w.in_flight = None;
        match reply.status.as_u16() {
            200 | 201 | 204 => {
                if let Some(id) = reply.body["trunk"]["id"].as_str() {
                    w.trunk = Some(id.to_string());
                }
                if after.is_none() {
                    w.trunk = None;
                }
                w.acked = after;
                w.acknowledged += 1;
            }
            status => w
                .unexpected
                .push(format!("{status} on {path}: {}", reply.body)),
        }
    }
}

/// Creates, readdresses and deletes ports on `network` (one small subnet) until aborted.
/// Only a 5xx or a 400 is unexpected: the subnet filling up, an address taken, or a port an
/// unacknowledged delete already removed are the workload's own doing.
async fn churn_addresses(client: Client, network: String, unexpected: Arc<Mutex<Vec<String>>>) {
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut ports: Vec<String> = match client
        .try_send(
            Method::GET,
            &format!("/v2.0/ports?network_id={network}"),
            None,
        )
        .await
    {
        Ok(reply) => reply.body["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["id"].as_str().map(str::to_string))
            .collect(),
        Err(_) => return,
    };
    loop {
        let roll = rng.gen_range(0..10);
        let (method, path, body) = if roll < 5 || ports.is_empty() {
            let body = json!({"port": {"network_id": network}});
            (Method::POST, "/v2.0/ports".to_string(), Some(body))
        } else if roll < 8 {
            let port = &ports[rng.gen_range(0..ports.len())];
            let wanted = format!("10.99.0.{}", rng.gen_range(2..30));
            let body = json!({"port": {"fixed_ips": [{"ip_address": wanted}]}});
            (Method::PUT, format!("/v2.0/ports/{port}"), Some(body))
        } else {
            let port = ports.swap_remove(rng.gen_range(0..ports.len()));
            (Method::DELETE, format!("/v2.0/ports/{port}"), None)
        };
        let reply = match client.try_send(method, &path, body).await {
            Ok(reply) => reply,
            Err(_) => return,
        };
        match reply.status.as_u16() {
            201 => ports.extend(reply.body["port"]["id"].as_str().map(str::to_string)),
            200 | 204 | 404 | 409 => {}
            status => unexpected
                .lock()
                .expect("lock")
                .push(format!("{status} on {path}: {}", reply.body)),
        }
    }
}

/// The writer's trunk as the restarted server shows it: its id and subports.
async fn observed(client: &Client, parent: &str) -> (Option<String>, TrunkState) {
    let listed = client
        .get(&format!("/v2.0/trunks?port_id={parent}"))
        .await
        .expect(200);
    let trunks = listed["trunks"].as_array().expect("trunks");
    assert!(trunks.len() <= 1, "two trunks on one parent: {listed}");
    match trunks.first() {
        None => (None, None),
        Some(trunk) => {
            let members = trunk["sub_ports"]
                .as_array()
                .expect("sub_ports")
                .iter()
                .map(|s| s["port_id"].as_str().expect("port_id").to_string())
                .collect();
            (
                Some(trunk["id"].as_str().expect("id").to_string()),
                Some(members),
            )
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_nothing_acknowledged() {
    let mut server = Server::start();
    let admin = server.admin();
    let network = admin
        .network(json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1"}))
        .await;
    let writers: Vec<Arc<Mutex<Writer>>> = {
        let ports = admin.ports(&network, WRITERS * (POOL + 1)).await;
        ports
            .chunks(POOL + 1)
            .map(|chunk| {
                Arc::new(Mutex::new(Writer {
                    parent: chunk[0].clone(),
                    pool: chunk[1..].to_vec(),
                    trunk: None,
                    acked: None,
                    in_flight: None,
                    acknowledged: 0,
                    unexpected: Vec::new(),
                }))
            })
            .collect()
    };
    let addressed = admin.network(json!({})).await;
    admin
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": addressed, "ip_version": 4, "cidr": "10.99.0.0/27"}}),
        )
        .await
        .expect(201);
    let address_faults = Arc::new(Mutex::new(Vec::new()));
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut writes_in_flight_at_kill = 0;
    let mut in_flight_found_committed = 0;
    for kill in 1..=KILLS {
        let mut tasks: Vec<_> = writers
            .iter()
            .map(|writer| tokio::spawn(write_forever(server.admin(), writer.clone())))
            .collect();
        tasks.push(tokio::spawn(churn_addresses(
            server.admin(),
            addressed.clone(),
            address_faults.clone(),
        )));
        tokio::time::sleep(Duration::from_millis(rng.gen_range(20..250))).await;
        let kept = server.stop(); // SIGKILL
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
        server = Server::start_in(kept, &[]);
        let client = server.admin();
        for writer in &writers {
            let (parent, acked, in_flight) = {
                let w = writer.lock().expect("lock");
                (w.parent.clone(), w.acked.clone(), w.in_flight.clone())
            };
            let (trunk, state) = observed(&client, &parent).await;
            let whole = Some(&state) == in_flight.as_ref();
            assert!(
                state == acked || whole,
                "kill {kill}: parent {parent} shows {state:?}; acknowledged {acked:?}, \
                 in flight {in_flight:?}"
            );
            if in_flight.is_some() {
                writes_in_flight_at_kill += 1;
            }
            if whole && state != acked {
                in_flight_found_committed += 1;
            }
            let mut w = writer.lock().expect("lock");
            w.trunk = trunk;
            w.acked = state;
            w.in_flight = None;
        }
        check_invariants(&server, &format!("after kill {kill}")).await;
    }

    // Nothing was refused or failed while the server was up, and everything was delivered.
    let client = server.admin();
    client.wait_for_outbox_drained().await;
    check_invariants(&server, "after the last kill, drained").await;
    let faults = address_faults.lock().expect("lock").clone();
    assert!(
        faults.is_empty(),
        "unexpected answers to address changes: {faults:?}"
    );
    let mut acknowledged = 0;
    for writer in &writers {
        let trunk = {
            let w = writer.lock().expect("lock");
            assert!(
                w.unexpected.is_empty(),
                "unexpected answers: {:?}",
                w.unexpected
            );
            acknowledged += w.acknowledged;
            w.trunk.clone()
        };
        if let Some(trunk) = trunk {
            client.wait_for_status(&trunk, "ACTIVE").await;
        }
    }
    assert!(
        acknowledged > KILLS,
        "only {acknowledged} writes were acknowledged over {KILLS} kills"
    );
    eprintln!(
        "crash safety: {KILLS} kills survived, {acknowledged} writes acknowledged, \
         {writes_in_flight_at_kill} in flight at a kill, of which {in_flight_found_committed} \
         had committed"
    );
}
