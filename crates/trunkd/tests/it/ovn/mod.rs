//! The whole of OVN for tests, as one chassis: NB and SB `ovsdb-server`, `ovn-northd`, an Open
//! vSwitch (`ovsdb-server` + userspace `ovs-vswitchd` with `br-int`) and `ovn-controller`, each
//! in one temp dir and all inside a network namespace of their own.
//!
//! Why a namespace: the userspace datapath opens one `ovs-netdev` device, and two `ovs-vswitchd`
//! in one namespace clash on it; with a namespace per [`Ovn`] each test that needs a switch may
//! run beside the others (and beside [`crate::vswitch`]). Why every path in the temp dir
//! (`OVS_RUNDIR` and friends): the bridge's management socket, which `ovn-controller` opens,
//! lives in the run directory, which the namespaces share.
//!
//! VIFs are plugged as os-vif plugs them for Nova: an internal interface on `br-int` whose
//! `external_ids` carry `iface-id` (the port's ID, the logical port `ovn-controller` claims),
//! `attached-mac`, `iface-status=active` and `vm-uuid`. Frames are followed with
//! `ovs-appctl ofproto/trace` through the flows `ovn-controller` installed ([`Ovn::trace`]).
//!
//! Needs root (`ip netns add`), `ovn-central`, `ovn-host` and `openvswitch-switch`: outside CI
//! [`Ovn::start`] prints SKIPPED and returns `None` without them; under CI it fails.
#![allow(dead_code)]

pub use crate::common::kit;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const NB_SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";
const SB_SCHEMA: &str = "/usr/share/ovn/ovn-sb.ovsschema";
const OVS_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// How long a process gets to open its socket, and OVN to claim or release a port.
const STARTUP: Duration = Duration::from_secs(15);
const CLAIM: Duration = Duration::from_secs(20);

/// Makes namespace names unique within this test binary (the process ID makes them unique
/// between binaries).
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// One chassis of OVN with its databases; everything stops, and the namespace goes, on drop.
pub struct Ovn {
    dir: TempDir,
    namespace: String,
    chassis: String,
    /// Started processes, by name, in start order (stopped in reverse).
    children: Vec<(&'static str, Child)>,
}

/// Where a traced frame leaves the switch: the interface, and its VLAN tag there (`None`:
/// untagged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub interface: String,
    pub vlan: Option<u16>,
}

/// A port's row in the SB Port_Binding table, as far as claiming goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The UUID of the claiming Chassis row; `None` while unclaimed.
    pub chassis: Option<String>,
    pub up: bool,
}

impl Ovn {
    /// OVN running with the chassis registered in SB, or `None` (after SKIPPED) outside CI
    /// when a package or root is missing.
    pub fn start(test: &str) -> Option<Ovn> {
        let central = [
            "ovsdb-server",
            "ovsdb-tool",
            "ovn-nbctl",
            "ovn-sbctl",
            "ovn-northd",
        ];
        let switch = ["ovs-vswitchd", "ovs-vsctl", "ovs-appctl"];
        if !kit::require_package(test, "ovn-central", &central, &[NB_SCHEMA, SB_SCHEMA])
            || !kit::require_package(test, "openvswitch-switch", &switch, &[OVS_SCHEMA])
            || !kit::require_package(test, "ovn-host", &["ovn-controller"], &[])
            || kit::needed(
                kit::on_path("ip"),
                "install iproute2 (ip)",
                &format!("{test}: iproute2 not installed (apt-get install iproute2)"),
            )
            .is_none()
        {
            return None;
        }
        let unique = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let namespace = format!("trunkd-{unique}");
        let dir = tempfile::tempdir().expect("temp dir");
        // A namespace left by a killed run of a process with the same ID.
        let _ = Command::new("ip")
            .args(["netns", "delete", &namespace])
            .stderr(Stdio::null())
            .status();
        let added = Command::new("ip")
            .args(["netns", "add", &namespace])
            .output()
            .expect("run ip netns add");
        kit::needed(
            added.status.success().then_some(()),
            &format!(
                "be able to add a network namespace (run as root): {}",
                String::from_utf8_lossy(&added.stderr).trim()
            ),
            &format!("{test}: cannot add a network namespace (needs root)"),
        )?;
        // From here on, dropping `ovn` stops what started and deletes the namespace.
        let mut ovn = Ovn {
            dir,
            namespace,
            chassis: format!("chassis-{unique}"),
            children: Vec::new(),
        };
        ovn.boot();
        Some(ovn)
    }

    fn boot(&mut self) {
        self.run_in_namespace(&["ip", "link", "set", "lo", "up"]);
        for (name, schema) in [("nb", NB_SCHEMA), ("sb", SB_SCHEMA), ("conf", OVS_SCHEMA)] {
            kit::stdout_of(
                self.command("ovsdb-tool")
                    .arg("create")
                    .arg(self.path(&format!("{name}.db")))
                    .arg(schema),
                "ovsdb-tool create",
            );
        }
        for name in ["nb", "sb", "conf"] {
            self.spawn(
                "ovsdb-server",
                &[
                    format!("--remote=punix:{}", self.socket(name).display()),
                    format!("--unixctl={}", self.control(name).display()),
                    format!("--log-file={}", self.log(name).display()),
                    "--no-chdir".into(),
                    self.path(&format!("{name}.db")).display().to_string(),
                ],
            );
            kit::wait_for_unix_socket(&self.socket(name), STARTUP);
        }
        self.spawn(
            "ovn-northd",
            &[
                format!("--ovnnb-db={}", self.nb_connection()),
                format!("--ovnsb-db={}", self.sb_connection()),
                format!("--unixctl={}", self.control("northd").display()),
                format!("--log-file={}", self.log("northd").display()),
                "--no-chdir".into(),
            ],
        );
        kit::wait_for_unix_socket(&self.control("northd"), STARTUP);

        self.vsctl(&["--no-wait", "init"]);
        self.spawn(
            "ovs-vswitchd",
            &[
                self.ovs_connection(),
                "--disable-system".into(),
                format!("--unixctl={}", self.control("vswitchd").display()),
                format!("--log-file={}", self.log("vswitchd").display()),
                "--no-chdir".into(),
            ],
        );
        kit::wait_for_unix_socket(&self.control("vswitchd"), STARTUP);
        self.vsctl(&[
            "add-br",
            "br-int",
            "--",
            "set",
            "Bridge",
            "br-int",
            "datapath_type=netdev",
            "fail-mode=secure",
        ]);
        let settings = [
            ("system-id", self.chassis.clone()),
            ("ovn-remote", self.sb_connection()),
            ("ovn-encap-type", "geneve".into()),
            ("ovn-encap-ip", "127.0.0.1".into()),
            ("ovn-bridge", "br-int".into()),
        ];
        let mut args = vec!["set".to_string(), "Open_vSwitch".into(), ".".into()];
        args.extend(
            settings
                .iter()
                .map(|(k, v)| format!("external_ids:{k}={v}")),
        );
        self.vsctl(&args.iter().map(String::as_str).collect::<Vec<_>>());

        // ovn-controller has no --unixctl: it names its socket after its PID in OVN_RUNDIR.
        self.spawn(
            "ovn-controller",
            &[
                self.ovs_connection(),
                format!("--log-file={}", self.log("controller").display()),
                "--no-chdir".into(),
            ],
        );
        let chassis = self.chassis.clone();
        self.wait(STARTUP, &format!("Chassis {chassis} in SB"), |ovn| {
            ovn.sbctl(&["--bare", "--columns=name", "list", "Chassis"])
                .lines()
                .any(|name| name.trim() == chassis)
        });
    }

    // where things are

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn socket(&self, name: &str) -> PathBuf {
        self.path(&format!("{name}.sock"))
    }

    fn control(&self, name: &str) -> PathBuf {
        self.path(&format!("{name}.ctl"))
    }

    fn log(&self, name: &str) -> PathBuf {
        self.path(&format!("{name}.log"))
    }

    /// trunkd's `--ovn-nb-connection`.
    pub fn nb_connection(&self) -> String {
        format!("unix:{}", self.socket("nb").display())
    }

    pub fn sb_connection(&self) -> String {
        format!("unix:{}", self.socket("sb").display())
    }

    /// The local Open vSwitch database, as `ovn-controller` and `ovs-vsctl` reach it.
    pub fn ovs_connection(&self) -> String {
        format!("unix:{}", self.socket("conf").display())
    }

    /// The chassis name (`system-id`) this OVN registers in SB.
    pub fn chassis(&self) -> &str {
        &self.chassis
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    // running things

    /// A command whose run, log and database directories are the temp dir.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        for variable in [
            "OVS_RUNDIR",
            "OVS_LOGDIR",
            "OVS_DBDIR",
            "OVN_RUNDIR",
            "OVN_LOGDIR",
            "OVN_DBDIR",
        ] {
            command.env(variable, self.dir.path());
        }
        command
    }

    /// `ip netns exec <namespace> program …`: the program replaces `ip`, so the child is it.
    fn in_namespace(&self, program: &str) -> Command {
        let mut command = self.command("ip");
        command.args(["netns", "exec", &self.namespace, program]);
        command
    }

    fn run_in_namespace(&self, argv: &[&str]) -> String {
        kit::stdout_of(
            self.in_namespace(argv[0]).args(&argv[1..]),
            &format!("{argv:?} in {}", self.namespace),
        )
    }

    fn spawn(&mut self, program: &'static str, args: &[String]) {
        let child = self
            .in_namespace(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"));
        self.children.push((program, child));
    }

    /// Polls `check` until it holds, for at most `limit`; then panics naming `what`, with the
    /// tails of the OVN logs.
    pub fn wait(&self, limit: Duration, what: &str, mut check: impl FnMut(&Ovn) -> bool) {
        let deadline = Instant::now() + limit;
        while !check(self) {
            if Instant::now() > deadline {
                panic!(
                    "timed out after {limit:?} waiting for {what}\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last lines of each daemon's log, for failure messages.
    pub fn logs(&self) -> String {
        ["northd", "vswitchd", "controller"]
            .iter()
            .map(|name| {
                let log = std::fs::read_to_string(self.log(name)).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                format!(
                    "--- {name}.log\n{}",
                    lines[lines.len().saturating_sub(15)..].join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn client(&self, program: &str, connection: String, args: &[&str]) -> String {
        kit::stdout_of(
            self.command(program)
                .arg(format!("--db={connection}"))
                .arg("--timeout=10")
                .args(args),
            &format!("{program} {args:?}"),
        )
    }

    pub fn nbctl(&self, args: &[&str]) -> String {
        self.client("ovn-nbctl", self.nb_connection(), args)
    }

    pub fn sbctl(&self, args: &[&str]) -> String {
        self.client("ovn-sbctl", self.sb_connection(), args)
    }

    pub fn vsctl(&self, args: &[&str]) -> String {
        self.client("ovs-vsctl", self.ovs_connection(), args)
    }

    /// `ovs-appctl` to `ovs-vswitchd`.
    pub fn appctl(&self, args: &[&str]) -> String {
        self.appctl_to(&self.control("vswitchd"), args)
    }

    /// `ovn-appctl` to `ovn-controller`.
    pub fn controller_appctl(&self, args: &[&str]) -> String {
        let pid = self
            .children
            .iter()
            .find(|(name, _)| *name == "ovn-controller")
            .map(|(_, child)| child.id())
            .expect("ovn-controller started");
        self.appctl_to(&self.path(&format!("ovn-controller.{pid}.ctl")), args)
    }

    fn appctl_to(&self, target: &Path, args: &[&str]) -> String {
        let output = self
            .command("ovs-appctl")
            .arg(format!("--target={}", target.display()))
            .args(args)
            .output()
            .expect("run ovs-appctl");
        assert!(
            output.status.success(),
            "ovs-appctl {args:?}: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.logs()
        );
        String::from_utf8_lossy(&output.stdout).to_string()
    }

    // VIFs

    /// Plugs a VIF for `port_id` as os-vif does for Nova (`tap` + the port ID's first 11
    /// characters, an internal interface on br-int) and returns the interface's name.
    pub fn plug_vif(&self, port_id: &str, mac: &str) -> String {
        let name: String = format!("tap{port_id}").chars().take(14).collect();
        let iface_id = format!("external_ids:iface-id={port_id}");
        let attached_mac = format!("external_ids:attached-mac={mac}");
        let vm_uuid = format!("external_ids:vm-uuid=vm-{port_id}");
        self.vsctl(&[
            "--may-exist",
            "add-port",
            "br-int",
            &name,
            "--",
            "set",
            "Interface",
            &name,
            "type=internal",
            &iface_id,
            &attached_mac,
            "external_ids:iface-status=active",
            &vm_uuid,
        ]);
        name
    }

    /// Removes the VIF `plug_vif` returned, as os-vif does when the VM goes.
    pub fn unplug_vif(&self, interface: &str) {
        self.vsctl(&["--if-exists", "del-port", "br-int", interface]);
    }

    // claims

    /// The port's Port_Binding, or `None` while ovn-northd has not made one.
    pub fn binding(&self, port_id: &str) -> Option<Binding> {
        let row = format!("logical_port={port_id}");
        // The row's UUID first: the optional columns after it print as empty lines.
        let found = self.sbctl(&[
            "--bare",
            "--columns=_uuid,up,chassis",
            "find",
            "Port_Binding",
            &row,
        ]);
        let fields: Vec<&str> = found.lines().map(str::trim).collect();
        fields.first().filter(|uuid| !uuid.is_empty())?;
        let field = |i: usize| fields.get(i).copied().filter(|f| !f.is_empty());
        Some(Binding {
            up: field(1) == Some("true"),
            chassis: field(2).map(str::to_string),
        })
    }

    /// The UUID of this OVN's Chassis row.
    pub fn chassis_uuid(&self) -> String {
        let row = format!("name={}", self.chassis);
        self.sbctl(&["--bare", "--columns=_uuid", "find", "Chassis", &row])
    }

    /// Waits until this chassis has claimed the port (Port_Binding `chassis` is this chassis
    /// and `up` is true).
    pub fn wait_for_claim(&self, port_id: &str) {
        let chassis = self.chassis_uuid();
        self.wait(CLAIM, &format!("{port_id} claimed"), |ovn| {
            ovn.binding(port_id)
                .is_some_and(|b| b.up && b.chassis.as_deref() == Some(chassis.as_str()))
        });
    }

    /// Waits until no chassis holds the port.
    pub fn wait_for_release(&self, port_id: &str) {
        self.wait(CLAIM, &format!("{port_id} released"), |ovn| {
            ovn.binding(port_id)
                .is_some_and(|b| !b.up && b.chassis.is_none())
        });
    }

    // frames

    /// Follows a frame entering br-int on `interface` (tagged with `vlan`, with the rest of
    /// the flow in ovs-ofctl syntax, e.g. `dl_src=…,dl_dst=…,dl_type=0x0806`) through
    /// `ofproto/trace` and returns where it leaves, with its tag there.
    pub fn trace(&self, interface: &str, vlan: Option<u16>, flow: &str) -> Vec<Delivery> {
        let tag = vlan.map(|v| format!(",dl_vlan={v}")).unwrap_or_default();
        let flow = format!("in_port={interface}{tag},{flow}");
        let trace = self.appctl(&["ofproto/trace", "br-int", &flow]);
        let actions = trace
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("Datapath actions: "))
            .unwrap_or_else(|| panic!("no datapath actions in the trace of {flow}:\n{trace}"));
        let names = self.datapath_ports();
        let mut tagged = vlan;
        let mut deliveries = Vec::new();
        for action in split_actions(actions) {
            if action == "pop_vlan" {
                tagged = None;
            } else if let Some(args) = action.strip_prefix("push_vlan(") {
                let vid = args
                    .split(',')
                    .find_map(|a| a.strip_prefix("vid="))
                    .and_then(|v| v.parse().ok());
                tagged = vid;
            } else if let Ok(number) = action.parse::<u32>() {
                let interface = names
                    .iter()
                    .find(|(n, _)| *n == number)
                    .map(|(_, name)| name.clone())
                    .unwrap_or_else(|| format!("datapath port {number}"));
                deliveries.push(Delivery {
                    interface,
                    vlan: tagged,
                });
            }
        }
        deliveries
    }

    /// The datapath's port numbers and the interface names they stand for (`dpif/show`:
    /// `    tap1 1/2: (tap)` is OpenFlow port 1, datapath port 2).
    fn datapath_ports(&self) -> Vec<(u32, String)> {
        self.appctl(&["dpif/show"])
            .lines()
            .filter_map(|line| {
                let (name, rest) = line.trim().split_once(' ')?;
                let (_, number) = rest.split_once(':')?.0.split_once('/')?;
                Some((number.parse().ok()?, name.to_string()))
            })
            .collect()
    }
}

/// Splits datapath actions at the commas outside parentheses: `pop_vlan,set(eth(src=…,dst=…)),3`.
fn split_actions(actions: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in actions.trim().chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts.into_iter().map(|p| p.trim().to_string()).collect()
}

impl Drop for Ovn {
    fn drop(&mut self) {
        for (_, child) in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.namespace])
            .stderr(Stdio::null())
            .status();
    }
}
