//! A real OVN northbound database for tests: `ovsdb-server` with the OVN_Northbound schema
//! from the `ovn-central` package, listening on a unix socket in its own temp dir. Tests read
//! what trunkd wrote with `ovn-nbctl` and count committed transactions in the database log.
//!
//! [`NbDatabase::start_southbound`] is the same server with the OVN_Southbound schema, for
//! trunkd's `--ovn-sb-connection`.
//!
//! Without the OVN tools (outside CI) [`NbDatabase::start`] returns `None` and the test prints
//! SKIPPED; under CI the tools are required, so a missing package fails the run.
#![allow(dead_code)]

pub use super::common::kit;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

/// Where Debian's `ovn-central` puts the schema.
const NB_SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";
const SB_SCHEMA: &str = "/usr/share/ovn/ovn-sb.ovsschema";

pub struct NbDatabase {
    dir: TempDir,
    /// `nb` or `sb`: names the database file and socket.
    kind: &'static str,
    server: Option<Child>,
    /// More `ovsdb-server` arguments (an `ssl:` listener and its files).
    extra: Vec<String>,
}

impl NbDatabase {
    /// A fresh NB database with its server running, or `None` (after printing SKIPPED) when the
    /// OVN tools are not installed outside CI.
    pub fn start(test: &str) -> Option<NbDatabase> {
        Self::start_kind(test, "nb", NB_SCHEMA, "ovn-nbctl")
    }

    /// A fresh southbound database (no ovn-northd writes to it), or `None` as [`Self::start`].
    pub fn start_southbound(test: &str) -> Option<NbDatabase> {
        Self::start_kind(test, "sb", SB_SCHEMA, "ovn-sbctl")
    }

    fn start_kind(test: &str, kind: &'static str, schema: &str, ctl: &str) -> Option<NbDatabase> {
        let tools = ["ovsdb-server", "ovsdb-tool", ctl];
        if !kit::require_package(test, "ovn-central", &tools, &[schema]) {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        kit::stdout_of(
            Command::new("ovsdb-tool")
                .arg("create")
                .arg(dir.path().join(format!("{kind}.db")))
                .arg(schema),
            "ovsdb-tool create",
        );
        let mut database = NbDatabase {
            dir,
            kind,
            server: None,
            extra: Vec::new(),
        };
        database.up();
        Some(database)
    }

    /// A fresh NB database that also listens with TLS on 127.0.0.1 (`pssl:`), with the server's
    /// `key`/`certificate` and requiring clients' certificates signed by `ca` (as OVN deploys
    /// it); the unix socket stays for the test's own `ovn-nbctl`. Returns the TLS port too.
    pub fn start_ssl(
        test: &str,
        key: &std::path::Path,
        certificate: &std::path::Path,
        ca: &std::path::Path,
    ) -> Option<(NbDatabase, u16)> {
        let mut database = Self::start(test)?;
        database.down();
        let port = kit::free_port();
        database.extra = vec![
            format!("--remote=pssl:{port}:127.0.0.1"),
            format!("--private-key={}", key.display()),
            format!("--certificate={}", certificate.display()),
            format!("--ca-cert={}", ca.display()),
        ];
        database.up();
        kit::wait_for_tcp(([127, 0, 0, 1], port).into(), Duration::from_secs(10));
        Some((database, port))
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join(format!("{}.sock", self.kind))
    }

    /// The `--ovn-nb-connection` (or, for a southbound one, `--ovn-sb-connection`) value for
    /// trunkd.
    pub fn connection(&self) -> String {
        format!("unix:{}", self.socket().display())
    }

    pub fn is_up(&self) -> bool {
        self.server.is_some()
    }

    /// Starts the server on the same database file and socket.
    pub fn up(&mut self) {
        assert!(
            self.server.is_none(),
            "the {} server is already running",
            self.kind
        );
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
            .args(&self.extra)
            .arg(dir.join(format!("{}.db", self.kind)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ovsdb-server");
        self.server = Some(child);
        kit::wait_for_unix_socket(&self.socket(), Duration::from_secs(10));
    }

    /// Stops the server (as a crash would: SIGKILL); the database file stays.
    pub fn down(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(self.socket());
    }

    /// Runs `ovn-sbctl` against this (southbound) database; its standard output, trimmed.
    pub fn sbctl(&self, args: &[&str]) -> String {
        kit::stdout_of(
            Command::new("ovn-sbctl")
                .arg(format!("--db={}", self.connection()))
                .arg("--timeout=10")
                .args(args),
            &format!("ovn-sbctl {args:?}"),
        )
    }

    /// Runs `ovn-nbctl` against this database and returns its standard output, trimmed.
    pub fn nbctl(&self, args: &[&str]) -> String {
        kit::stdout_of(
            Command::new("ovn-nbctl")
                .arg(format!("--db={}", self.connection()))
                .arg("--timeout=10")
                .args(args),
            &format!("ovn-nbctl {args:?}"),
        )
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
        let log = kit::stdout_of(
            Command::new("ovsdb-tool")
                .arg("show-log")
                .arg(self.dir.path().join(format!("{}.db", self.kind))),
            "ovsdb-tool show-log",
        );
        log.lines()
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
