//! A real Open vSwitch for tests, all in userspace: `ovsdb-server` with the vswitch schema and
//! `ovs-vswitchd --disable-system` in a temp dir, an integration bridge with
//! `datapath_type=netdev`. Tests read the wiring with `ovs-vsctl` and follow frames with
//! `ovs-appctl ofproto/trace`.
//!
//! The userspace datapath opens one `ovs-netdev` device per machine, so only one of these may
//! run at a time: keep every test that needs one in a single test function.
//!
//! Without Open vSwitch (outside CI) [`Vswitch::start`] prints SKIPPED and returns `None`;
//! under CI it is required.
#![allow(dead_code)]

pub use super::common::kit;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

pub struct Vswitch {
    dir: TempDir,
    children: Vec<Child>,
}

impl Vswitch {
    pub fn start(test: &str) -> Option<Vswitch> {
        let tools = ["ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl"];
        if !kit::require_package(test, "openvswitch-switch", &tools, &[SCHEMA]) {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        kit::stdout_of(
            Command::new("ovsdb-tool")
                .arg("create")
                .arg(dir.path().join("conf.db"))
                .arg(SCHEMA),
            "ovsdb-tool create",
        );
        let mut switch = Vswitch {
            dir,
            children: Vec::new(),
        };
        let path = |name: &str| switch.dir.path().join(name).display().to_string();
        let server = Command::new("ovsdb-server")
            .arg(format!("--remote=punix:{}", path("db.sock")))
            .arg(format!("--unixctl={}", path("db.ctl")))
            .arg(format!("--log-file={}", path("ovsdb-server.log")))
            .arg("--no-chdir")
            .arg(path("conf.db"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ovsdb-server");
        switch.children.push(server);
        kit::wait_for_unix_socket(&switch.socket(), Duration::from_secs(10));
        switch.vsctl(&["--no-wait", "init"]);
        let vswitchd = Command::new("ovs-vswitchd")
            .arg(format!("unix:{}", path("db.sock")))
            .arg("--disable-system")
            .arg(format!("--unixctl={}", path("vswitchd.ctl")))
            .arg(format!("--log-file={}", path("ovs-vswitchd.log")))
            .arg("--no-chdir")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ovs-vswitchd");
        switch.children.push(vswitchd);
        let control = switch.dir.path().join("vswitchd.ctl");
        kit::wait_for_unix_socket(&control, Duration::from_secs(10));
        switch.vsctl(&[
            "add-br",
            "br-int",
            "--",
            "set",
            "bridge",
            "br-int",
            "datapath_type=netdev",
        ]);
        Some(switch)
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("db.sock")
    }

    /// The agent's `--ovsdb` value.
    pub fn connection(&self) -> String {
        format!("unix:{}", self.socket().display())
    }

    fn vsctl_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("ovs-vsctl");
        command
            .arg(format!("--db={}", self.connection()))
            .arg("--timeout=10")
            .args(args);
        command
    }

    pub fn vsctl(&self, args: &[&str]) -> String {
        kit::stdout_of(
            &mut self.vsctl_command(args),
            &format!("ovs-vsctl {args:?}"),
        )
    }

    /// `ovs-vsctl` that may fail (a row that is not there yet): `None` then.
    pub fn try_vsctl(&self, args: &[&str]) -> Option<String> {
        let output = self.vsctl_command(args).output().expect("run ovs-vsctl");
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    pub fn appctl(&self, args: &[&str]) -> String {
        let output = Command::new("ovs-appctl")
            .arg(format!(
                "--target={}",
                self.dir.path().join("vswitchd.ctl").display()
            ))
            .args(args)
            .output()
            .expect("run ovs-appctl");
        assert!(
            output.status.success(),
            "ovs-appctl {args:?}: {}\nswitch log tail:\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.log_tail()
        );
        String::from_utf8_lossy(&output.stdout).to_string()
    }

    /// The last lines of ovs-vswitchd's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log =
            std::fs::read_to_string(self.dir.path().join("ovs-vswitchd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Ports of a bridge, sorted (empty when the bridge does not exist).
    pub fn ports(&self, bridge: &str) -> Vec<String> {
        let listed = self.try_vsctl(&["list-ports", bridge]).unwrap_or_default();
        let mut ports: Vec<String> = listed.lines().map(str::to_string).collect();
        ports.sort();
        ports
    }

    pub fn bridges(&self) -> Vec<String> {
        let mut bridges: Vec<String> = self
            .vsctl(&["list-br"])
            .lines()
            .map(str::to_string)
            .collect();
        bridges.sort();
        bridges
    }
}

impl Drop for Vswitch {
    fn drop(&mut self) {
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
