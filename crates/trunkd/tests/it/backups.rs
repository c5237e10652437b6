//! Backups (README, Backups): a clean stop leaves every commit in `trunkd.db` itself, and a
//! backup taken while clients write (SQLite: `trunkd backup`; PostgreSQL: `pg_dump`, as the
//! README says) restores, by the README's steps, to a store holding every write acknowledged
//! before the backup started, with the store's invariants holding.

use crate::common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::invariants::check_invariants;
use common::kit;
use common::{trunkd, vlan, Kept, Server};
use serde_json::{json, Value};

/// Clients writing while the backup runs.
const WRITERS: usize = 4;

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The names of the rows of `table` in the SQLite file at `path`, read from that file alone.
async fn names_in(path: &std::path::Path, table: &str) -> BTreeSet<String> {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", path.display()))
        .await
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    sqlx::query_scalar(&format!("SELECT name FROM {table}"))
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{table} in {}: {e}", path.display()))
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_leaves_every_commit_in_the_database_file() {
    // SQLite whatever the suite's store: this is about the embedded database's files.
    let dir = tempfile::tempdir().expect("dir");
    let mut child = trunkd()
        .env("RUST_LOG", "info")
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("trunkd starts");
    let base = common::listening_address(&mut child);
    let http = reqwest::Client::new();
    for name in ["first", "second", "third"] {
        let reply = http
            .post(format!("{base}/v2.0/networks"))
            .header("X-Project-Id", "p1")
            .header("X-Roles", "member")
            .json(&json!({"network": {"name": name}}))
            .send()
            .await
            .expect("create");
        assert_eq!(reply.status(), 201);
    }
    let db = dir.path().join("trunkd.db");
    let wal = dir.path().join("trunkd.db-wal");
    assert!(
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) > 0,
        "while serving, the commits should still be in the write-ahead log"
    );

    let status = common::terminate(&mut child, Duration::from_secs(30));
    assert!(status.success(), "a clean stop exits 0: {status:?}");
    let wal_left = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_left, 0, "the write-ahead log was not checkpointed away");

    // A copy of the database file alone, as a naive backup would take it.
    let copy_dir = tempfile::tempdir().expect("dir");
    let copy = copy_dir.path().join("trunkd.db");
    std::fs::copy(&db, &copy).expect("copy");
    let names = names_in(&copy, "networks").await;
    let expected: BTreeSet<String> = ["first", "second", "third"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(names, expected);
}

/// What the writers were told was done, and when.
#[derive(Default)]
struct Acknowledged {
    ports: Vec<(String, Instant)>,
    trunks: Vec<(String, Instant)>,
}

/// Creates ports, and trunks of them, until `stop`; records each acknowledged write.
async fn write_until(
    server: Arc<Server>,
    network: String,
    writer: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
    acknowledged: Arc<Mutex<Acknowledged>>,
) {
    let admin = server.admin();
    let mut round = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        round += 1;
        let mut members = Vec::new();
        for role in ["parent", "sub"] {
            let name = format!("w{writer}-{round}-{role}");
            let reply = admin
                .post(
                    "/v2.0/ports",
                    json!({"port": {"network_id": network, "name": name}}),
                )
                .await;
            let body = reply.expect(201);
            let id = body["port"]["id"].as_str().expect("port id").to_string();
            acknowledged
                .lock()
                .expect("lock")
                .ports
                .push((name, Instant::now()));
            members.push(id);
        }
        let name = format!("w{writer}-{round}-trunk");
        let reply = admin
            .post(
                "/v2.0/trunks",
                json!({"trunk": {
                    "name": name,
                    "port_id": members[0],
                    "sub_ports": [vlan(&members[1], 100 + round)],
                }}),
            )
            .await;
        reply.expect(201);
        acknowledged
            .lock()
            .expect("lock")
            .trunks
            .push((name, Instant::now()));
    }
}

/// Names of every `collection` item the server shows.
async fn names_served(server: &Server, collection: &str) -> BTreeSet<String> {
    let body = server
        .admin()
        .get(&format!("/v2.0/{collection}?fields=name"))
        .await
        .expect(200);
    body[collection]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|item| item["name"].as_str().map(String::from))
        .collect()
}

/// The README's backup command for the server's store; the file it wrote.
fn take_backup(server: &Server, dir: &std::path::Path) -> std::path::PathBuf {
    match &server.database {
        None => {
            let target = dir.join("trunkd-backup.db");
            let output = kit::output_within(
                trunkd()
                    .args(["backup", "--data-dir"])
                    .arg(server.data_dir.path())
                    .arg("--to")
                    .arg(&target),
                Duration::from_secs(60),
            )
            .unwrap_or_else(|output| panic!("trunkd backup hung: {}", stderr(&output)));
            assert!(output.status.success(), "backup: {}", stderr(&output));
            let said = String::from_utf8_lossy(&output.stdout);
            assert!(said.contains("backed up to"), "{said}");
            assert!(said.contains("trunks"), "{said}");
            target
        }
        Some(database) => {
            let target = dir.join("trunkd.dump");
            let output = kit::output_within(
                Command::new("pg_dump")
                    .args(["--format=custom", "--file"])
                    .arg(&target)
                    .arg(&database.url),
                Duration::from_secs(60),
            )
            .unwrap_or_else(|output| panic!("pg_dump hung: {}", stderr(&output)));
            assert!(output.status.success(), "pg_dump: {}", stderr(&output));
            target
        }
    }
}

/// The README's restore steps: a server on the restored copy.
fn restore(server: &Server, backup: &std::path::Path, extra: &[&str]) -> Server {
    match &server.database {
        None => {
            let dir = tempfile::tempdir().expect("dir");
            std::fs::copy(backup, dir.path().join("trunkd.db")).expect("copy the backup");
            Server::start_in(
                Kept {
                    data_dir: dir,
                    database: None,
                },
                extra,
            )
        }
        Some(_) => {
            let database = common::pgdb::TempDatabase::create().expect("a PostgreSQL database");
            let output = kit::output_within(
                Command::new("pg_restore")
                    .args(["--no-owner", "--dbname", &database.url])
                    .arg(backup),
                Duration::from_secs(60),
            )
            .unwrap_or_else(|output| panic!("pg_restore hung: {}", stderr(&output)));
            assert!(output.status.success(), "pg_restore: {}", stderr(&output));
            Server::start_in(
                Kept {
                    data_dir: tempfile::tempdir().expect("dir"),
                    database: Some(database),
                },
                extra,
            )
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_write_load_restores_every_acknowledged_write() {
    let extra = [
        "--port-quota",
        "-1",
        "--trunk-quota",
        "-1",
        "--pagination-max-limit",
        "-1",
    ];
    let server = Arc::new(Server::start_with(&extra));
    let network = server.admin().network(json!({"name": "load"})).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            tokio::spawn(write_until(
                server.clone(),
                network.clone(),
                writer,
                stop.clone(),
                acknowledged.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;

    let dir = tempfile::tempdir().expect("dir");
    let started = Instant::now();
    let backup = {
        let server = server.clone();
        let path = dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || take_backup(&server, &path))
            .await
            .expect("backup thread")
    };
    let finished = Instant::now();
    // Writes go on after the backup, and must not be in it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer");
    }

    let (ports_before, trunks_before, ports_all, trunks_all, after) = {
        let acked = acknowledged.lock().expect("lock");
        let before = |list: &[(String, Instant)]| -> BTreeSet<String> {
            list.iter()
                .filter(|(_, at)| *at < started)
                .map(|(name, _)| name.clone())
                .collect()
        };
        let all = |list: &[(String, Instant)]| -> BTreeSet<String> {
            list.iter().map(|(name, _)| name.clone()).collect()
        };
        let after = acked
            .ports
            .iter()
            .filter(|(_, at)| *at > finished)
            .map(|(name, _)| name.clone())
            .collect::<BTreeSet<String>>();
        (
            before(&acked.ports),
            before(&acked.trunks),
            all(&acked.ports),
            all(&acked.trunks),
            after,
        )
    };
    assert!(
        trunks_before.len() >= WRITERS,
        "too few writes before the backup to prove anything: {trunks_before:?}"
    );
    assert!(!after.is_empty(), "no write acknowledged after the backup");

    let restored = restore(&server, &backup, &extra);
    let ports = names_served(&restored, "ports").await;
    let trunks = names_served(&restored, "trunks").await;
    let missing_ports: Vec<&String> = ports_before.difference(&ports).collect();
    let missing_trunks: Vec<&String> = trunks_before.difference(&trunks).collect();
    assert!(
        missing_ports.is_empty() && missing_trunks.is_empty(),
        "acknowledged before the backup, missing after the restore: {missing_ports:?} {missing_trunks:?}"
    );
    // Nothing in the copy that was never written, nor anything written after it was taken.
    assert!(
        ports.is_subset(&ports_all),
        "{:?}",
        ports.difference(&ports_all)
    );
    assert!(trunks.is_subset(&trunks_all));
    assert!(
        ports.is_disjoint(&after),
        "writes acknowledged after the backup finished are in it: {:?}",
        ports.intersection(&after).collect::<Vec<_>>()
    );
    check_invariants(&restored, "restored from a backup").await;

    // The restored store serves writes.
    let parent = restored.admin().port(&network, json!({})).await;
    let trunk: Value = restored
        .admin()
        .post(
            "/v2.0/trunks",
            json!({"trunk": {"port_id": parent, "name": "after-restore"}}),
        )
        .await
        .expect(201);
    assert_eq!(trunk["trunk"]["name"], "after-restore");
}

#[test]
fn backup_refuses_postgresql_and_names_pg_dump() {
    let output = kit::output_within(
        trunkd().args([
            "backup",
            "--database-url",
            "postgres://trunkd:secret@db.example.net/trunkd",
            "--to",
            "/tmp/never-written.db",
        ]),
        Duration::from_secs(30),
    )
    .unwrap_or_else(|output| panic!("trunkd backup hung: {}", stderr(&output)));
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("pg_dump"), "{text}");
    assert!(!text.contains("secret"), "the password leaked: {text}");
    assert!(!std::path::Path::new("/tmp/never-written.db").exists());
}
