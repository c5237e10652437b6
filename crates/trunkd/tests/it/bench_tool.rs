//! The benchmark tool still works: `trunkd-bench --quick` runs every workload against the
//! real server (on PostgreSQL too when the suite runs there) and prints a row for each, the
//! mixed workload's line on its waits for the store, and the outbox drain's line. This checks
//! the tool, not the speed: timings are reported by the bench, never asserted.

use crate::pgdb;

use std::process::Command;

const ROWS: &[&str] = &[
    "show the trunk extension (no store)",
    "create trunk (no subports)",
    "list 300 trunks, page of 100",
    "show trunk (100 subports)",
    "port show with trunk_details (100 subports)",
    "create trunk with 200 subports",
    "delete trunk with 200 subports",
    "add 200 subports in one call",
    "remove 200 subports in one call",
    "add 200 subports, one per call",
    "remove 200 subports, one per call",
    "add 200 subports with \"auto\" in one call",
    "add one subport with \"auto\" per call, 8 trunks",
    "mixed: all operations",
    "mixed: show trunk",
    "mixed: add or remove one subport",
];

#[test]
fn quick_run_reports_every_workload() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trunkd-bench"));
    command.args([
        "--quick",
        "--clients",
        "8",
        "--trunkd",
        env!("CARGO_BIN_EXE_trunkd"),
    ]);
    let on_postgres = std::env::var(pgdb::ENV).ok().filter(|url| !url.is_empty());
    if let Some(url) = &on_postgres {
        command.args(["--postgres-only", "--postgres", url]);
    }
    let output = command.output().expect("trunkd-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "trunkd-bench failed:\n{stderr}\n{stdout}"
    );
    let title = if on_postgres.is_some() {
        "### PostgreSQL"
    } else {
        "### Embedded SQLite"
    };
    assert!(stdout.contains(title), "no {title} table:\n{stdout}");
    for row in ROWS {
        let line = stdout
            .lines()
            .find(|line| line.starts_with(&format!("| {row} |")))
            .unwrap_or_else(|| panic!("no row for {row:?}:\n{stdout}"));
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | operation | clients | requests | p50 | p95 | p99 | requests/s |
        let requests: usize = cells[3].parse().expect("request count");
        assert!(requests > 0, "{row}: no requests measured");
        let p50: f64 = cells[4].parse().expect("p50");
        let p99: f64 = cells[6].parse().expect("p99");
        assert!(p50 > 0.0 && p50 <= p99, "{row}: p50 {p50} p99 {p99}");
    }
    // The mixed run, timed as a whole, says what a request cost the server and the client
    // in CPU (2 s of it cannot round to nothing).
    let mixed = stdout
        .lines()
        .find(|line| line.starts_with("| mixed: all operations |"))
        .unwrap_or_else(|| panic!("no mixed row:\n{stdout}"));
    let cells: Vec<&str> = mixed.split('|').map(str::trim).collect();
    // ... | requests/s | server CPU µs/request | bench CPU µs/request |
    for cell in &cells[8..=9] {
        let micros: f64 = cell.parse().unwrap_or_else(|_| panic!("{mixed}"));
        assert!(micros > 0.0, "{mixed}");
    }
    assert!(stdout.contains("Server peak RSS (VmHWM)"), "{stdout}");
    // The mixed run says how often and how long its writes waited for the store: its
    // writes (more than none in 2 s) each took the write pool once.
    let pool = stdout
        .lines()
        .find_map(|line| line.strip_prefix("mixed, the store: "))
        .unwrap_or_else(|| panic!("no line on the store's pool:\n{stdout}"));
    let expected = if on_postgres.is_some() {
        "`shared`"
    } else {
        "`writes`"
    };
    let takes: f64 = pool
        .split_once(" pool's ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no take count in {pool:?}"));
    assert!(takes > 0.0 && pool.contains(expected), "{pool}");
    assert!(pool.ends_with(" ms each on average"), "{pool}");
    // The quick drain creates 500 trunks, one event each; the line says how many were
    // delivered and how fast.
    let drain = stdout
        .lines()
        .find_map(|line| line.strip_prefix("outbox drain (noop driver): "))
        .unwrap_or_else(|| panic!("no outbox drain line:\n{stdout}"));
    let events: f64 = drain
        .split(' ')
        .next()
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no event count in {drain:?}"));
    assert_eq!(events, 500.0, "{drain}");
    assert!(drain.contains(" events/s"), "{drain}");
}
