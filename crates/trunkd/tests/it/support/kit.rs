//! What every test harness needs and used to write again for itself: finding an outside tool
//! (or saying SKIPPED outside CI and failing under CI), a free port, running a command that
//! must succeed or must end in time, and waiting (for a socket, a port or any condition) with
//! a deadline.
//!
//! Test binaries that use the in-process harness get it as `support::kit`; those that use the
//! server harness as `common::kit` (common includes this file with `#[path]`, as it includes
//! pgdb). nbdb, vswitch and real_keystone take it from common, so a test binary that uses them
//! declares `mod common;` too (a file loaded twice into one binary would be two copies).
//!
//! A missing prerequisite: `.ci/run` sets `CI`, installs every tool, and fails the run when a
//! log says SKIPPED, so under CI a missing tool fails the test at once; elsewhere the test
//! prints `SKIPPED: …` and passes, so a developer without the tool can still run the suite.
#![allow(dead_code)]

use std::fmt::Display;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How often the waits below look again.
const POLL: Duration = Duration::from_millis(50);

/// Whether the tests run under CI, where everything a test needs must be there.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok()
}

/// Passes `found` on. When it is `None`, fails the test under CI ("CI must {ci_must}"), and
/// elsewhere prints `SKIPPED: {skipped}` for the caller to return.
pub fn needed<T>(found: Option<T>, ci_must: &str, skipped: &str) -> Option<T> {
    if found.is_none() {
        assert!(!under_ci(), "CI must {ci_must}");
        println!("SKIPPED: {skipped}");
    }
    found
}

/// An outside tool a test runs, found through an environment variable that holds its path.
pub struct Tool {
    /// The variable naming the tool (a program, or a virtualenv directory).
    pub env: &'static str,
    /// The program to look for on PATH when the variable is not set; `None`: only the variable.
    pub on_path: Option<&'static str>,
    /// What to install, as the messages say it.
    pub what: &'static str,
}

pub const OPENSTACK: Tool = Tool {
    env: "TRUNKD_TEST_OPENSTACK",
    on_path: Some("openstack"),
    what: "the openstack client",
};

pub const SCHEMATHESIS: Tool = Tool {
    env: "TRUNKD_TEST_SCHEMATHESIS",
    on_path: Some("schemathesis"),
    what: "schemathesis",
};

/// A virtualenv with `keystone` from PyPI.
pub const KEYSTONE: Tool = Tool {
    env: "TRUNKD_TEST_KEYSTONE",
    on_path: None,
    what: "keystone from PyPI",
};

/// A program's path on PATH, if there is one.
pub fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

/// The tool's path: its variable, else PATH. When neither has it: a failure under CI, else
/// `SKIPPED: {test}: …` and `None`.
pub fn require_tool(test: &str, tool: &Tool) -> Option<PathBuf> {
    let found = match std::env::var_os(tool.env).filter(|v| !v.is_empty()) {
        Some(path) => Some(PathBuf::from(path)),
        None => tool.on_path.and_then(on_path),
    };
    needed(
        found,
        &format!("install {} ({})", tool.what, tool.env),
        &format!("{test}: {} not installed (set {})", tool.what, tool.env),
    )
}

/// Whether a system package's programs (each answering `--version`) and files are installed.
/// When they are not: a failure under CI, else `SKIPPED: {test}: …` and `false`.
pub fn require_package(test: &str, package: &str, programs: &[&str], files: &[&str]) -> bool {
    let present = files.iter().all(|file| Path::new(file).exists())
        && programs.iter().all(|program| {
            Command::new(program)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    let needs = programs.iter().chain(files).copied().collect::<Vec<_>>();
    needed(
        present.then_some(()),
        &format!("install {package} ({})", needs.join(", ")),
        &format!("{test}: {package} not installed (apt-get install {package})"),
    )
    .is_some()
}

/// A TCP port on 127.0.0.1 that nothing listens on (at the moment of asking).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// Runs `command`, which must succeed, and returns its standard output, trimmed. A failure
/// panics with `what` and what the command printed.
pub fn stdout_of(command: &mut Command, what: &str) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Runs `command` (no input, output captured) to its end; when it is still running after
/// `limit` it is killed and what it printed comes back as the `Err`.
pub fn output_within(command: &mut Command, limit: Duration) -> Result<Output, Output> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?} cannot run: {e}"));
    let deadline = Instant::now() + limit;
    let mut killed = false;
    while child.try_wait().expect("wait for the child").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("the child's output");
    if killed {
        Err(output)
    } else {
        Ok(output)
    }
}

/// Polls `check` until it gives `Some`, for at most `limit`; then panics naming `what`.
pub fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(POLL);
    }
}

/// Polls `predicate` until it holds, for at most `limit`; then panics naming `what`.
pub fn wait_until(limit: Duration, what: &str, mut predicate: impl FnMut() -> bool) {
    wait_for(limit, what, || predicate().then_some(()))
}

/// Waits until something listens on `address` (TCP).
pub fn wait_for_tcp(address: std::net::SocketAddr, limit: Duration) {
    wait_until(limit, &format!("a listener on {address}"), || {
        std::net::TcpStream::connect_timeout(&address, POLL).is_ok()
    })
}

/// Waits until a server accepts connections on the unix socket at `path`.
pub fn wait_for_unix_socket(path: &Path, limit: Duration) {
    wait_until(limit, &format!("a listener on {}", path.display()), || {
        std::os::unix::net::UnixStream::connect(path).is_ok()
    })
}

/// The async form of [`wait_for`]: `check` gives `Ok` when done, else `Err` with what it saw
/// (shown when `limit` passes). Sleeps on the runtime between looks.
pub async fn settle<T, E: Display, F: Future<Output = Result<T, E>>>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match check().await {
            Ok(found) => return found,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}: {seen}"
            ),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The RabbitMQ tests use: `TRUNKD_TEST_RABBITMQ` (HOST:PORT, guest/guest) or 127.0.0.1:5672.
/// `None` (after printing SKIPPED) when it does not answer outside CI; CI requires it.
pub fn broker() -> Option<std::net::SocketAddr> {
    let address = std::env::var("TRUNKD_TEST_RABBITMQ").unwrap_or_else(|_| "127.0.0.1:5672".into());
    let address: std::net::SocketAddr = address.parse().expect("TRUNKD_TEST_RABBITMQ is HOST:PORT");
    let answers = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_ok();
    needed(
        answers.then_some(address),
        &format!("run RabbitMQ at {address}"),
        &format!("RabbitMQ is not running at {address}"),
    )
}
