//! Watching `/readyz` from a test: wait until it says ready, or not ready naming a
//! dependency, and check every answer came quickly (a load balancer's health check has a short
//! time limit, and readiness must not hang on a dependency that does).
#![allow(dead_code)]

use std::time::{Duration, Instant};

use serde_json::Value;

/// Longest a `/readyz` answer may take, whatever the dependencies do.
pub const ANSWER_WITHIN: Duration = Duration::from_millis(1500);

/// One `/readyz`: its status, body, and how long it took (asserted under [`ANSWER_WITHIN`]).
pub async fn ask(base: &str) -> (u16, Value, Duration) {
    let started = Instant::now();
    let response = reqwest::Client::new()
        .get(format!("{base}/readyz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("/readyz answers");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("/readyz answers JSON");
    let took = started.elapsed();
    assert!(
        took < ANSWER_WITHIN,
        "/readyz took {took:?} (status {status}, {body})"
    );
    (status, body, took)
}

/// Polls `/readyz` until it answers 200 with the ready body; returns that body.
pub async fn until_ready(base: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let (status, body, _) = ask(base).await;
        if status == 200 {
            assert_eq!(body["status"], "ready", "{body}");
            return body;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            Instant::now() < deadline,
            "not ready within {limit:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `/readyz` until it answers 503 naming `dependency` as down; returns the body and the
/// slowest answer seen meanwhile.
pub async fn until_down(base: &str, dependency: &str, limit: Duration) -> (Value, Duration) {
    let deadline = Instant::now() + limit;
    let mut slowest = Duration::ZERO;
    loop {
        let (status, body, took) = ask(base).await;
        slowest = slowest.max(took);
        if status == 503 && body["dependencies"][dependency] == "down" {
            assert_eq!(body["NeutronError"]["type"], "ServiceUnavailable", "{body}");
            assert_eq!(body["status"], "not ready", "{body}");
            let message = body["NeutronError"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains(&format!("dependency {dependency} is down")),
                "{body}"
            );
            return (body, slowest);
        }
        assert!(
            Instant::now() < deadline,
            "{dependency} not reported down within {limit:?}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
