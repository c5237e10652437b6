//! PostgreSQL going away and coming back: meanwhile requests get a 503 NeutronError and
//! `/readyz` says not ready (naming the database, and answering at once), nothing is
//! half-written, and the server recovers by itself. Also connections the database ends while
//! they sit idle in the server's pool: replaced before a request gets one.
//! The test runs its own PostgreSQL cluster (initdb in a temp dir) so it can stop it without
//! disturbing anything else.

use crate::common;
use crate::readyz;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::kit::{self, settle};
use common::Identity;
use serde_json::json;

/// A private PostgreSQL cluster, run as the `postgres` OS user when we are root.
struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

fn postgres_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries in /usr/lib/postgresql (Debian package postgresql)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL version with pg_ctl")
}

fn as_postgres(bin: &Path, tool: &str) -> Command {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if is_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        command
    } else {
        Command::new(bin.join(tool))
    }
}

impl Cluster {
    fn create() -> Cluster {
        let bin = postgres_bin();
        let dir = tempfile::tempdir().expect("dir");
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status();
        let cluster = Cluster {
            dir,
            bin,
            port: kit::free_port(),
        };
        kit::stdout_of(
            as_postgres(&cluster.bin, "initdb")
                .args(["-A", "trust", "-U", "postgres", "-D"])
                .arg(cluster.data()),
            "initdb",
        );
        cluster.start();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        kit::stdout_of(
            as_postgres(&self.bin, "pg_ctl")
                .args(["-w", "-D"])
                .arg(self.data())
                .args(["-o", &options, "-l"])
                .arg(self.dir.path().join("log"))
                .arg("start"),
            "pg_ctl start",
        );
    }

    fn stop(&self) {
        kit::stdout_of(
            as_postgres(&self.bin, "pg_ctl")
                .args(["-w", "-m", "immediate", "-D"])
                .arg(self.data())
                .arg("stop"),
            "pg_ctl stop",
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin, "pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(self.data())
            .arg("stop")
            .output();
    }
}

async fn metrics_text(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

/// A server on the cluster's database.
fn server_on(cluster: &Cluster) -> common::Server {
    let data_dir = tempfile::tempdir().expect("dir");
    common::Server::start_in(
        common::Kept {
            data_dir,
            database: None,
        },
        &["--database-url", &cluster.url()],
    )
}

#[tokio::test]
async fn a_database_outage_is_503_and_heals_without_restart() {
    let cluster = Cluster::create();
    let server = server_on(&cluster);
    let admin = server.as_(Identity::admin());
    let before = admin.network(json!({"name": "before"})).await;
    admin.get("/readyz").await.expect(200);

    cluster.stop();
    admin
        .get("/v2.0/networks")
        .await
        .expect_error(503, "ServiceUnavailable");
    admin
        .post("/v2.0/networks", json!({"network": {"name": "during"}}))
        .await
        .expect_error(503, "ServiceUnavailable");
    let asked = Instant::now();
    let not_ready = admin
        .get("/readyz")
        .await
        .expect_error(503, "ServiceUnavailable");
    let first = asked.elapsed();
    assert!(first < readyz::ANSWER_WITHIN, "{first:?}");
    println!("database stopped: the first /readyz answered in {first:?}");
    assert_eq!(
        not_ready.body["dependencies"],
        json!({"database": "down"}),
        "{}",
        not_ready.body
    );
    // The first answer found the database gone; later ones know it is.
    let (status, _, took) = readyz::ask(&server.base).await;
    assert_eq!(status, 503);
    assert!(took < Duration::from_millis(600), "{took:?}");
    println!("database stopped: /readyz answered in {took:?}");
    let metrics = metrics_text(&server.base).await;
    let failed = "trunkd_dependency_state{dependency=\"database\",state=\"failed\"} 1";
    assert!(metrics.contains(failed), "no `{failed}` in {metrics}");

    cluster.start();
    let admin = &admin;
    settle(
        Duration::from_secs(30),
        "trunkd to recover",
        || async move {
            let reply = admin.get("/v2.0/networks").await;
            if reply.status.as_u16() != 200 {
                assert_eq!(reply.status.as_u16(), 503, "{}", reply.body);
                return Err(reply.status);
            }
            let names: Vec<String> = reply.body["networks"]
                .as_array()
                .expect("list")
                .iter()
                .map(|n| n["name"].as_str().unwrap_or_default().to_string())
                .collect();
            assert_eq!(names, ["before"], "nothing written during the outage");
            Ok(())
        },
    )
    .await;
    let ready = admin.get("/readyz").await.expect(200);
    assert_eq!(ready, json!({"status": "ready", "drivers": ["noop"]}));
    // Operators see the connection came back.
    let metrics = metrics_text(&server.base).await;
    for line in [
        "trunkd_dependency_state{dependency=\"database\",state=\"connected\"} 1",
        "trunkd_dependency_reconnects_total{dependency=\"database\"} 1",
    ] {
        assert!(metrics.contains(line), "no `{line}` in {metrics}");
    }
    admin
        .get(&format!("/v2.0/networks/{before}"))
        .await
        .expect(200);
    admin.network(json!({"name": "after"})).await;
}

/// Ends every client connection to the cluster but its own; returns how many it ended.
async fn drop_client_connections(cluster: &Cluster) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&cluster.url())
        .await
        .expect("connect");
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()) AS ended",
    )
    .fetch_one(&mut conn)
    .await
    .expect("terminate backends")
}

/// The server pings a pooled connection only when it sat idle for a while (not before every
/// transaction): connections the database dropped meanwhile (a restart, an idle timeout, an
/// operator ending sessions) are found and replaced before a request gets one, so the
/// requests that come next are answered as if nothing happened.
#[tokio::test]
async fn connections_dropped_while_idle_are_replaced_before_requests_get_them() {
    let cluster = Cluster::create();
    let server = server_on(&cluster);
    let admin = server.as_(Identity::admin());
    let network = admin.network(json!({"name": "kept"})).await;
    let path = format!("/v2.0/networks/{network}");
    // Concurrent reads leave several connections in the pool.
    let reads = || futures_util::future::join_all((0..8).map(|_| admin.get(&path)));
    for reply in reads().await {
        reply.expect(200);
    }
    let dropped = drop_client_connections(&cluster).await;
    assert!(dropped > 0, "the server held no connection to drop");
    // Longer than the idle time after which the server pings a connection (a second).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for reply in reads().await {
        reply.expect(200);
    }
    admin.network(json!({"name": "after"})).await;
}
