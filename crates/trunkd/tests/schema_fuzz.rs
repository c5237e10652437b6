//! Schema-driven fuzzing with schemathesis against `/openapi.json`: a bounded number of
//! generated requests per operation; none may get a 5xx, and every response must match the
//! document (status code, content type, body). schemathesis comes from
//! `TRUNKD_TEST_SCHEMATHESIS` (a path) or PATH; CI installs it and requires this test to run.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Server;

/// Generated examples per operation and phase.
const EXAMPLES: &str = "30";

fn schemathesis() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("TRUNKD_TEST_SCHEMATHESIS") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("schemathesis"))
            .find(|candidate| candidate.is_file())
    })
}

#[test]
fn generated_requests_get_no_5xx_and_documented_responses() {
    let Some(binary) = schemathesis() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install schemathesis (TRUNKD_TEST_SCHEMATHESIS)"
        );
        println!("SKIPPED: schemathesis not installed (set TRUNKD_TEST_SCHEMATHESIS)");
        return;
    };
    let server = Server::start();
    let output = Command::new(binary)
        .arg("run")
        .arg(format!("{}/openapi.json", server.base))
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            EXAMPLES,
            "--seed",
            "20261125",
            "--header",
            "X-Project-Id: fuzz-project",
            "--header",
            "X-Roles: admin,member,reader",
            "--header",
            "X-User-Id: fuzzer",
        ])
        .env("NO_COLOR", "1")
        .output()
        .expect("schemathesis runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{report}"
    );
    assert!(report.contains("generated"), "no summary in:\n{report}");
}
