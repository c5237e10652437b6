//! A real OVN northbound database for tests: `ovsdb-server` with the OVN_Northbound schema
//! from the `ovn-central` package, listening on a unix socket in its own temp dir. Tests read
//! what trunkd wrote with `ovn-nbctl` and count committed transactions in the database log.
//!
//! Without the OVN tools (outside CI) [`NbDatabase::start`] returns `None` and the test prints
//! SKIPPED; under CI the tools are required, so a missing package fails the run.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Where Debian's `ovn-central` puts the schema.
const NB_SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";

pub struct NbDatabase {
    dir: TempDir,
    server: Option<Child>,
}

fn tools_present() -> bool {
    Path::new(NB_SCHEMA).exists()
        && ["ovsdb-server", "ovsdb-tool", "ovn-nbctl"]
            .iter()
            .all(|tool| {
                Command::new(tool)
                    .arg("--version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
}

impl NbDatabase {
    /// A fresh NB database with its server running, or `None` (after printing SKIPPED) when the
    /// OVN tools are not installed outside CI.
    pub fn start(test: &str) -> Option<NbDatabase> {
        if !tools_present() {
            assert!(
                std::env::var("CI").is_err(),
                "CI must install ovn-central (ovsdb-server, ovn-nbctl, {NB_SCHEMA})"
            );
            println!("SKIPPED: {test}: OVN tools not installed (apt-get install ovn-central)");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let created = Command::new("ovsdb-tool")
            .arg("create")
            .arg(dir.path().join("nb.db"))
            .arg(NB_SCHEMA)
            .status()
            .expect("run ovsdb-tool");
        assert!(created.success(), "ovsdb-tool create failed");
        let mut database = NbDatabase { dir, server: None };
        database.up();
        Some(database)
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("nb.sock")
    }

    /// The `--ovn-nb-connection` value for trunkd.
    pub fn connection(&self) -> String {
        format!("unix:{}", self.socket().display())
    }

    pub fn is_up(&self) -> bool {
        self.server.is_some()
    }

    /// Starts the server on the same database file and socket.
    pub fn up(&mut self) {
        assert!(self.server.is_none(), "the NB server is already running");
        let _ = std::fs::remove_file(self.socket());
        let dir = self.dir.path();
        let child = Command::new("ovsdb-server")
            .arg(format!("--remote=punix:{}", self.socket().display()))
            .arg(format!("--unixctl={}", dir.join("ctl").display()))
            .arg(format!(
                "--log-file={}",
                dir.join("ovsdb-server.log").display()
            ))
            .arg("--no-chdir")
            .arg(dir.join("nb.db"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ovsdb-server");
        self.server = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(self.socket()).is_err() {
            assert!(Instant::now() < deadline, "ovsdb-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server (as a crash would: SIGKILL); the database file stays.
    pub fn down(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(self.socket());
    }

    /// Runs `ovn-nbctl` against this database and returns its standard output, trimmed.
    pub fn nbctl(&self, args: &[&str]) -> String {
        let output = Command::new("ovn-nbctl")
            .arg(format!("--db={}", self.connection()))
            .arg("--timeout=10")
            .args(args)
            .output()
            .expect("run ovn-nbctl");
        assert!(
            output.status.success(),
            "ovn-nbctl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// One column of one row, as `ovn-nbctl get` prints it (`[]` for an empty set).
    pub fn get(&self, table: &str, record: &str, column: &str) -> String {
        self.nbctl(&["get", table, record, column])
    }

    /// Names of the rows of `table` (sorted).
    pub fn names(&self, table: &str) -> Vec<String> {
        let listed = self.nbctl(&["--bare", "--columns=name", "list", table]);
        let mut names: Vec<String> = listed
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }

    /// The committed transactions in the database log: one comment line each (the first
    /// record is the schema). Read from the file, so it counts what reached the disk.
    pub fn transactions(&self) -> Vec<String> {
        let output = Command::new("ovsdb-tool")
            .arg("show-log")
            .arg(self.dir.path().join("nb.db"))
            .output()
            .expect("run ovsdb-tool show-log");
        assert!(output.status.success(), "ovsdb-tool show-log failed");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| l.starts_with("record ") && !l.contains(" schema,"))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for NbDatabase {
    fn drop(&mut self) {
        self.down();
    }
}

/// Polls `check` until it returns `Some` or `limit` passes.
pub fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
