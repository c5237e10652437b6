//! What an operator reads and graphs (issue 21): JSON logs whose every line of a request
//! carries the caller's global request id, integer durations, health probes at DEBUG, "stopped"
//! as the last line after SIGTERM (server and agent), and `/metrics` families for the build,
//! the process, the database pools, the dependencies and the outbox's oldest event. Each runs
//! on SQLite, and on PostgreSQL when the suite does.

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{kit, trunkd, Server};

/// The log's lines, each parsed as JSON (a line that is not JSON fails the test).
fn json_lines(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .expect("read the log")
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

/// The `served` line of the request whose local id is `id`.
fn served<'a>(lines: &'a [Value], id: &str) -> Option<&'a Value> {
    lines
        .iter()
        .find(|line| line["message"] == "served" && line["span"]["request_id"] == id)
}

fn request_id(reply: &crate::common::Reply) -> String {
    reply
        .headers
        .get("x-openstack-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("a request id")
        .to_string()
}

#[tokio::test]
async fn json_logs_keep_the_callers_request_id_on_every_line_of_its_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("trunkd.log");
    // The store's statements are logged (at DEBUG: `trunkd::store` on SQLite, `sqlx::query` on
    // PostgreSQL) inside the request's span: lines besides the access line.
    let server = Server::start_traced(
        &["--log-format", "json"],
        &log,
        "info,trunkd=debug,sqlx::query=debug",
    );
    let admin = server.admin();
    let global = format!("req-{}", uuid::Uuid::new_v4());
    let created = admin
        .send_with(
            Method::POST,
            "/v2.0/networks",
            Some(json!({"network": {"name": "logged"}})),
            &[("X-Openstack-Request-Id", &global)],
        )
        .await;
    let local = request_id(&created);
    assert_ne!(
        local, global,
        "the caller's id is not taken as the local one"
    );
    created.expect(201);
    // Not `req-<uuid>`: no global id.
    let bogus = admin
        .send_with(
            Method::GET,
            "/v2.0/networks",
            None,
            &[("X-Openstack-Request-Id", "req-not-a-uuid")],
        )
        .await;
    let bogus_id = request_id(&bogus);
    let probe = admin.get("/healthz").await;
    let probe_id = request_id(&probe);

    let lines = kit::settle(
        Duration::from_secs(10),
        "the three access lines",
        || async {
            let lines = json_lines(&log);
            match [&local, &bogus_id, &probe_id]
                .iter()
                .all(|id| served(&lines, id).is_some())
            {
                true => Ok(lines),
                false => Err(format!("{} lines", lines.len())),
            }
        },
    )
    .await;

    let of_request: Vec<&Value> = lines
        .iter()
        .filter(|line| line["span"]["request_id"] == local.as_str())
        .collect();
    assert!(
        of_request.len() >= 2,
        "the create logged more than its access line: {of_request:#?}"
    );
    for line in &of_request {
        assert_eq!(line["span"]["global_request_id"], global.as_str(), "{line}");
    }

    let access = served(&lines, &local).expect("access line");
    assert_eq!(access["level"], "INFO", "{access}");
    assert_eq!(access["status"], 201, "{access}");
    assert_eq!(access["project"], "admin-project", "{access}");
    assert!(access["user"].is_string(), "{access}");
    assert!(
        access["client"]
            .as_str()
            .is_some_and(|c| c.starts_with("127.0.0.1:")),
        "{access}"
    );
    assert!(
        access["duration_us"].as_u64().is_some_and(|us| us > 0),
        "duration_us is a whole number of microseconds: {access}"
    );
    assert!(access.get("elapsed_ms").is_none(), "{access}");

    let bogus = served(&lines, &bogus_id).expect("access line");
    assert!(bogus["span"].get("global_request_id").is_none(), "{bogus}");

    let probe = served(&lines, &probe_id).expect("access line");
    assert_eq!(
        probe["level"], "DEBUG",
        "health probes log at DEBUG: {probe}"
    );
    assert_eq!(probe["span"]["path"], "/healthz", "{probe}");
}

#[tokio::test]
async fn sigterm_stops_the_server_and_stopped_is_its_last_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("trunkd.log");
    let server = Server::start_traced(&[], &log, "info");
    let admin = server.admin();
    admin.network(json!({})).await;
    let status = server.terminate();
    assert!(status.success(), "exit status {status}");
    let text = std::fs::read_to_string(&log).expect("read the log");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let last = lines.last().copied().unwrap_or_default();
    assert!(last.contains("trunkd stopped"), "last line: {last}\n{text}");
    assert!(
        lines.iter().any(|l| l.contains("shutting down")),
        "no shutting down line: {text}"
    );
    // Text format by default: not JSON.
    assert!(serde_json::from_str::<Value>(last).is_err(), "{last}");
}

#[tokio::test]
async fn the_agent_logs_its_stop_after_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("agent.log");
    let token = dir.path().join("token");
    std::fs::write(&token, "a-token\n").expect("write the token");
    let mut agent = trunkd()
        .env("RUST_LOG", "info")
        // The format from the environment this time.
        .env("TRUNKD_LOG_FORMAT", "json")
        .args([
            "agent",
            "--host",
            "compute-1",
            "--server",
            "http://127.0.0.1:9",
        ])
        .arg("--token-file")
        .arg(&token)
        .arg("--ovsdb")
        .arg(format!(
            "unix:{}",
            dir.path().join("no-such.sock").display()
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("the agent starts");
    let log_ref = &log;
    kit::settle(
        Duration::from_secs(15),
        "the agent's start line",
        || async move {
            let text = std::fs::read_to_string(log_ref).unwrap_or_default();
            match text.contains("trunkd agent started") {
                true => Ok(()),
                false => Err(text),
            }
        },
    )
    .await;
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let status = kit::settle(Duration::from_secs(15), "the agent to exit", || {
        let polled = agent.try_wait().expect("wait for the agent");
        async move { polled.ok_or("still running") }
    })
    .await;
    assert!(status.success(), "exit status {status}");
    let lines = json_lines(&log);
    let last = lines.last().expect("log lines");
    assert_eq!(last["message"], "trunkd agent stopped", "{lines:#?}");
}

/// Every sample of `name`: its labels (`{...}` or empty) and value.
fn samples(text: &str, name: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(labelled) => {
                    let (labels, value) = labelled.split_once("} ")?;
                    (labels.to_string(), value)
                }
                None => (String::new(), rest.strip_prefix(' ')?),
            };
            Some((labels, value.trim().parse().ok()?))
        })
        .collect()
}

/// The one sample of `name` whose labels contain each of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    let found: Vec<f64> = samples(text, name)
        .into_iter()
        .filter(|(have, _)| labels.iter().all(|l| have.contains(l)))
        .map(|(_, value)| value)
        .collect();
    match found.as_slice() {
        [value] => *value,
        other => panic!(
            "{} samples of {name} {labels:?}: {other:?}\n{text}",
            other.len()
        ),
    }
}

async fn metrics(server: &Server) -> String {
    reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("metrics reachable")
        .text()
        .await
        .expect("metrics text")
}

#[tokio::test]
async fn metrics_show_the_build_the_process_the_pools_and_the_dependencies() {
    let server = Server::start();
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    admin.port(&network, json!({})).await;
    server.admin().wait_for_outbox_drained().await;
    let text = metrics(&server).await;

    let version = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
    assert_eq!(sample(&text, "trunkd_build_info", &[&version]), 1.0);

    let rss = sample(&text, "process_resident_memory_bytes", &[]);
    assert!(rss > 1024.0 * 1024.0, "RSS {rss}");
    let fds = sample(&text, "process_open_fds", &[]);
    assert!(fds > 3.0, "open fds {fds}");
    assert!(sample(&text, "process_max_fds", &[]) >= fds);
    // The kernel counts CPU time in ticks of 10 ms, and a server that has done this little
    // may not have been caught running at a tick yet: scrape (work for it) until one is.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut scraped = text.clone();
    while sample(&scraped, "process_cpu_seconds_total", &[]) == 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no CPU time counted: {scraped}"
        );
        scraped = metrics(&server).await;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let started = sample(&text, "process_start_time_seconds", &[]);
    assert!(
        started > now - 600.0 && started <= now + 1.0,
        "started at {started}, now {now}"
    );

    let pools: &[&str] = if server.database.is_some() {
        &["shared"]
    } else {
        &["writes", "reads"]
    };
    for pool in pools {
        let pool = format!("pool=\"{pool}\"");
        let max = sample(&text, "trunkd_db_pool_max_connections", &[&pool]);
        let in_use = sample(
            &text,
            "trunkd_db_pool_connections",
            &[&pool, "state=\"in_use\""],
        );
        let idle = sample(
            &text,
            "trunkd_db_pool_connections",
            &[&pool, "state=\"idle\""],
        );
        assert!(
            max >= 1.0 && in_use + idle <= max,
            "{pool}: {in_use} + {idle} of {max}"
        );
        assert!(sample(&text, "trunkd_db_pool_waits_total", &[&pool]) >= 0.0);
        assert!(sample(&text, "trunkd_db_pool_timeouts_total", &[&pool]) >= 0.0);
    }
    // The writes opened a connection, idle now or busy with the dispatcher's next poll.
    let writes = format!("pool=\"{}\"", pools[0]);
    let opened: f64 = ["state=\"in_use\"", "state=\"idle\""]
        .iter()
        .map(|state| sample(&text, "trunkd_db_pool_connections", &[&writes, state]))
        .sum();
    assert!(opened >= 1.0, "{text}");
    // Two writes (the network, the port), each run once: nothing conflicted.
    let runs = sample(&text, "trunkd_write_transaction_runs_total", &[]);
    assert!(runs >= 2.0, "write runs {runs}");
    assert_eq!(
        sample(&text, "trunkd_write_transaction_conflicts_total", &[]),
        0.0
    );
    assert_eq!(
        sample(&text, "trunkd_write_transactions_exhausted_total", &[]),
        0.0
    );

    let database = "dependency=\"database\"";
    assert_eq!(
        sample(
            &text,
            "trunkd_dependency_state",
            &[database, "state=\"connected\""]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "trunkd_dependency_state",
            &[database, "state=\"failed\""]
        ),
        0.0
    );
    assert_eq!(
        sample(&text, "trunkd_dependency_reconnects_total", &[database]),
        0.0
    );
    // Nothing pending: no age.
    assert_eq!(
        sample(&text, "trunkd_outbox_oldest_pending_age_seconds", &[]),
        0.0
    );
}

/// Writes that queue for the store show on `/metrics`: how many took a connection, how many
/// waited, and for how long in all, so an operator can tell a store that makes requests wait
/// (the mean wait: seconds over waits) from one that does not.
#[tokio::test]
async fn writes_that_queue_for_the_store_count_their_waits_and_wait_time() {
    let server = Server::start();
    let admin = server.admin();
    let pool = if server.database.is_some() {
        "pool=\"shared\""
    } else {
        "pool=\"writes\""
    };
    let before = metrics(&server).await;
    let takes_before = sample(&before, "trunkd_db_pool_takes_total", &[pool]);
    let mut written = 0.0;
    let mut text = before;
    // Rounds of concurrent creates until some had to wait (the first round almost always;
    // three rounds stay within the default network quota of 100).
    for _ in 0..3 {
        let creates = (0..32).map(|_| admin.post("/v2.0/networks", json!({"network": {}})));
        for reply in futures_util::future::join_all(creates).await {
            reply.expect(201);
        }
        written += 32.0;
        text = metrics(&server).await;
        if sample(&text, "trunkd_db_pool_waits_total", &[pool]) > 0.0 {
            break;
        }
    }
    let waits = sample(&text, "trunkd_db_pool_waits_total", &[pool]);
    assert!(waits > 0.0, "no write waited: {text}");
    let takes = sample(&text, "trunkd_db_pool_takes_total", &[pool]) - takes_before;
    assert!(takes >= written, "{takes} takes for {written} writes");
    let waited = sample(&text, "trunkd_db_pool_wait_seconds_total", &[pool]);
    assert!(
        waited > 0.0 && waited < 60.0 * waits,
        "{waits} waits lasted {waited} s in all"
    );
}

#[tokio::test]
async fn the_oldest_pending_events_age_grows_while_a_driver_fails() {
    // Nothing listens on port 9's AMQP: every notification to an agent fails and is retried.
    let server = Server::start_with(&[
        "--driver",
        "ovs",
        "--rabbitmq-url",
        "amqp://guest:guest@127.0.0.1:9/%2f",
    ]);
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    let parent = admin.port(&network, json!({})).await;
    admin.trunk(&parent, json!([])).await;
    // Binding the parent is news for its host's agent, which the broker never carries.
    admin
        .put(
            &format!("/v2.0/ports/{parent}"),
            json!({"port": {"binding:host_id": "compute-1"}}),
        )
        .await
        .expect(200);
    let server = &server;
    let first = kit::settle(
        Duration::from_secs(20),
        "an event pending for a second or more",
        || async move {
            let text = metrics(server).await;
            let age = sample(&text, "trunkd_outbox_oldest_pending_age_seconds", &[]);
            match age >= 1.0 {
                true => Ok(age),
                false => Err(text),
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let text = metrics(server).await;
    let later = sample(&text, "trunkd_outbox_oldest_pending_age_seconds", &[]);
    assert!(later >= first + 2.0, "age {first} then {later}");
    assert!(sample(&text, "trunkd_outbox_pending_events", &[]) >= 1.0);
    assert_eq!(
        sample(
            &text,
            "trunkd_dependency_state",
            &["dependency=\"broker\"", "state=\"connected\""]
        ),
        0.0
    );
}
