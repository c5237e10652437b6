//! The server under test: a real `trunkd serve` child process on an ephemeral loopback port,
//! with its own data directory (and its own PostgreSQL database when asked), so the bench
//! measures the binary an operator runs and can read that process's peak RSS.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sqlx::Connection;

use crate::BenchError;

/// Which store the server runs on.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite,
    /// An admin URL of a PostgreSQL server; the bench creates a database there and drops it.
    Postgres {
        admin_url: String,
    },
}

pub struct BenchServer {
    child: Child,
    pub base: String,
    data_dir: PathBuf,
    database: Option<Database>,
}

struct Database {
    admin_url: String,
    name: String,
}

impl BenchServer {
    pub async fn start(
        trunkd: &Path,
        store: &Store,
        extra_args: &[String],
    ) -> Result<BenchServer, BenchError> {
        let unique = unique_name();
        let database = match store {
            Store::Sqlite => None,
            Store::Postgres { admin_url } => {
                Some(Database::create(admin_url, &unique.replace('-', "_")).await?)
            }
        };
        let url = database.as_ref().map(Database::url).transpose();
        let url = match url {
            Ok(url) => url,
            Err(error) => {
                if let Some(database) = database {
                    database.drop_it().await?;
                }
                return Err(error);
            }
        };
        Self::launch(trunkd, &unique, url.as_deref(), database, extra_args).await
    }

    /// Another server on `first`'s database (PostgreSQL), as several API servers share one;
    /// `first` drops the database when it stops.
    pub async fn start_sharing(
        trunkd: &Path,
        first: &BenchServer,
        extra_args: &[String],
    ) -> Result<BenchServer, BenchError> {
        let url = first.database.as_ref().map(Database::url).transpose()?;
        let Some(url) = url else {
            return Err(BenchError::Server(
                "only servers on PostgreSQL share a database".into(),
            ));
        };
        Self::launch(trunkd, &unique_name(), Some(&url), None, extra_args).await
    }

    /// Spawns the server and waits for the address it reports.
    async fn launch(
        trunkd: &Path,
        unique: &str,
        database_url: Option<&str>,
        database: Option<Database>,
        extra_args: &[String],
    ) -> Result<BenchServer, BenchError> {
        let data_dir = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&data_dir)?;
        let spawned = spawn(trunkd, &data_dir, database_url, extra_args);
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => {
                if let Some(database) = database {
                    database.drop_it().await?;
                }
                return Err(error);
            }
        };
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BenchError::Server("no stdout from trunkd".into()))?;
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("trunkd listening on ") {
                    let _ = sender.send(url.to_string());
                }
            }
        });
        crate::cpu::watch(child.id());
        let mut server = BenchServer {
            child,
            base: String::new(),
            data_dir,
            database,
        };
        let reported =
            tokio::task::spawn_blocking(move || receiver.recv_timeout(Duration::from_secs(60)))
                .await;
        match reported {
            Ok(Ok(base)) => {
                server.base = base;
                Ok(server)
            }
            _ => {
                server.stop(true).await?;
                Err(BenchError::Server(
                    "trunkd did not report its address within 60 s".into(),
                ))
            }
        }
    }

    /// The server's peak resident set so far (Linux `VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// The process id, for a profiler to attach to.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server and removes what it left behind, except its log if `keep_log`.
    pub async fn stop(mut self, keep_log: bool) -> Result<(), BenchError> {
        crate::cpu::forget(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
        if keep_log {
            eprintln!(
                "trunkd-bench: the server's log is kept in {}",
                self.data_dir.join("server.log").display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
        if let Some(database) = self.database.take() {
            database.drop_it().await?;
        }
        Ok(())
    }
}

/// A name no other bench run uses (data directory, database).
fn unique_name() -> String {
    format!(
        "trunkd-bench-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Runs `trunkd serve` on an ephemeral port with its own data directory (and database), its
/// log in the data directory, and none of the caller's `TRUNKD_*` settings.
fn spawn(
    trunkd: &Path,
    data_dir: &Path,
    database_url: Option<&str>,
    extra_args: &[String],
) -> Result<Child, BenchError> {
    let log = std::fs::File::create(data_dir.join("server.log"))?;
    let mut command = Command::new(trunkd);
    for (key, _) in std::env::vars() {
        if key.starts_with("TRUNKD_") {
            command.env_remove(key);
        }
    }
    command
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir);
    // The workloads create thousands of ports (and the bench's networks) in one project: no
    // per-project quota applies, unless a --server-arg sets one (a flag given twice is an error).
    for flag in ["--network-quota", "--port-quota"] {
        if !extra_args.iter().any(|arg| arg.starts_with(flag)) {
            command.args([flag, "-1"]);
        }
    }
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    command
        .args(extra_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .map_err(|e| BenchError::Server(format!("cannot run {}: {e}", trunkd.display())))
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        crate::cpu::forget(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Database {
    async fn create(admin_url: &str, name: &str) -> Result<Database, BenchError> {
        let mut conn = sqlx::PgConnection::connect(admin_url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        Ok(Database {
            admin_url: admin_url.to_string(),
            name: name.to_string(),
        })
    }

    fn url(&self) -> Result<String, BenchError> {
        let mut url = reqwest::Url::parse(&self.admin_url)
            .map_err(|e| BenchError::Server(format!("--postgres {}: {e}", self.admin_url)))?;
        url.set_path(&format!("/{}", self.name));
        Ok(url.to_string())
    }

    async fn drop_it(self) -> Result<(), BenchError> {
        let mut conn = sqlx::PgConnection::connect(&self.admin_url).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await?;
        Ok(())
    }
}
