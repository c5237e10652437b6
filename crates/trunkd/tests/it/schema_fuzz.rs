//! Schema-driven fuzzing with schemathesis against `/openapi.json`: a bounded number of
//! generated requests per operation; none may get a 5xx, and every response must match the
//! document (status code, content type, body). schemathesis comes from
//! `TRUNKD_TEST_SCHEMATHESIS` (a path) or PATH; CI installs it and requires this test to run.

use crate::common;

use std::process::Command;

use common::{kit, Server};

/// Generated examples per operation and phase.
const EXAMPLES: &str = "30";

#[test]
fn generated_requests_get_no_5xx_and_documented_responses() {
    let test = "generated_requests_get_no_5xx_and_documented_responses";
    let Some(binary) = kit::require_tool(test, &kit::SCHEMATHESIS) else {
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
