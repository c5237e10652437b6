//! Secrets: `--help` prints which variable sets each flag, never its value,
//! and the database and broker URLs are named in messages and logs with their passwords (in the
//! userinfo or in the query string) replaced by `***`.

use crate::common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{kit, pgdb, trunkd};

/// Runs `command`, killing it if it has not ended within `limit`.
fn output_within(mut command: Command, limit: Duration) -> Output {
    kit::output_within(&mut command, limit).unwrap_or_else(|killed| killed)
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The variables `--help` of `args` names.
fn variables_named(help: &str) -> Vec<String> {
    help.split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split([']', '=']).next())
        .map(str::to_string)
        .collect()
}

#[test]
fn help_names_the_variables_but_never_shows_their_values() {
    for args in [
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["check-config", "--help"],
        vec!["agent", "--help"],
        vec!["--help"],
    ] {
        let mut plain = trunkd();
        plain.args(&args);
        let help = text(&output_within(plain, Duration::from_secs(10)));
        let names = variables_named(&help);
        if args[0] == "serve" {
            for expected in [
                "TRUNKD_DATABASE_URL",
                "TRUNKD_RABBITMQ_URL",
                "TRUNKD_CONFIG",
            ] {
                assert!(names.iter().any(|n| n == expected), "{expected} in {help}");
            }
        }
        // Every variable set, the URLs with passwords in them.
        let mut command = trunkd();
        command.args(&args);
        for name in &names {
            command.env(name, format!("hunter2-{name}"));
        }
        command
            .env(
                "TRUNKD_DATABASE_URL",
                "postgres://trunkd:hunter2@db.example:5432/trunkd?password=hunter2",
            )
            .env(
                "TRUNKD_RABBITMQ_URL",
                "amqp://trunkd:hunter2@rabbit.example:5672/%2f",
            );
        let output = output_within(command, Duration::from_secs(10));
        let shown = text(&output);
        assert!(output.status.success(), "{args:?}: {shown}");
        assert!(
            !shown.contains("hunter2"),
            "{args:?} shows a value: {shown}"
        );
        assert_eq!(variables_named(&shown), names, "{args:?}");
    }
}

#[test]
fn a_database_that_cannot_be_reached_is_named_without_its_password() {
    let data = tempfile::tempdir().expect("dir");
    // The password holds an `@` (raw, and percent-encoded) and is given again in the query.
    let url = "postgres://trunkd:p%40ss@w0rd@127.0.0.1:1/trunkd?password=qu3ry&sslmode=disable";
    for subcommand in ["serve", "migrate", "check-config"] {
        let mut command = trunkd();
        command
            .env("RUST_LOG", "info")
            .env("TRUNKD_DATABASE_URL", url)
            .arg(subcommand);
        if subcommand != "migrate" {
            // `migrate` takes the database settings only.
            command.args(["--bind", "127.0.0.1:0"]);
        }
        command.arg("--data-dir").arg(data.path());
        let output = output_within(command, Duration::from_secs(60));
        let shown = text(&output);
        assert!(!output.status.success(), "{subcommand}: {shown}");
        assert!(
            shown.contains("postgres://trunkd:***@127.0.0.1:1/trunkd?password=***&sslmode=disable"),
            "{subcommand} names the database: {shown}"
        );
        for secret in ["p%40ss", "p@ss", "w0rd", "qu3ry"] {
            assert!(
                !shown.contains(secret),
                "{subcommand} shows {secret}: {shown}"
            );
        }
    }
}

/// The server's start-up and delivery logs at INFO name the database and the broker without
/// their passwords. The broker is unreachable, so its delivery attempts log failures too.
#[tokio::test]
async fn a_serving_server_logs_no_password() {
    let data = tempfile::tempdir().expect("dir");
    let database = pgdb::TempDatabase::create();
    let mut command = trunkd();
    command
        .env("RUST_LOG", "info")
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .args(["--driver", "noop", "--driver", "ovs"])
        .args(["--rabbitmq-url", "amqp://guest:hunter2@127.0.0.1:1/%2f"]);
    if let Some(database) = &database {
        // PostgreSQL on the test machine trusts local users, so a password is not checked.
        let mut url = url::Url::parse(&database.url).expect("database url");
        url.set_password(Some("hunter2")).expect("a password fits");
        command.args(["--database-url", url.as_str()]);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("trunkd starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(base) = line.strip_prefix("trunkd listening on ") {
                    break base.to_string();
                }
            }
            _ => {
                let _ = child.kill();
                let mut log = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = stderr.read_to_string(&mut log);
                }
                panic!("trunkd did not start: {log}");
            }
        }
    };
    // A change of a trunk bound to a host makes the ovs driver try the broker.
    let client = reqwest::Client::new();
    let admin = |request: reqwest::RequestBuilder| {
        request
            .header("X-Project-Id", "p")
            .header("X-Roles", "admin,member,reader")
            .header("X-User-Id", "u")
    };
    let net: serde_json::Value = admin(client.post(format!("{base}/v2.0/networks")))
        .json(&serde_json::json!({"network": {}}))
        .send()
        .await
        .expect("network")
        .json()
        .await
        .expect("json");
    let port: serde_json::Value = admin(client.post(format!("{base}/v2.0/ports")))
        .json(&serde_json::json!({"port": {"network_id": net["network"]["id"]}}))
        .send()
        .await
        .expect("port")
        .json()
        .await
        .expect("json");
    let trunk = admin(client.post(format!("{base}/v2.0/trunks")))
        .json(&serde_json::json!({"trunk": {"port_id": port["port"]["id"]}}))
        .send()
        .await
        .expect("trunk");
    assert_eq!(trunk.status().as_u16(), 201);
    // Binding the parent to a host gives the driver an agent to notify.
    let bound = admin(client.put(format!(
        "{base}/v2.0/ports/{}",
        port["port"]["id"].as_str().unwrap_or_default()
    )))
    .json(&serde_json::json!({"port": {"binding:host_id": "compute-1"}}))
    .send()
    .await
    .expect("bind");
    assert_eq!(bound.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Not ready, naming the broker, and without its password.
    let ready = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status().as_u16(), 503);
    let body = ready.text().await.expect("body");
    assert!(body.contains("\"broker\":\"down\""), "{body}");
    assert!(!body.contains("hunter2"), "{body}");
    let _ = child.kill();
    let output = child.wait_with_output().expect("output");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("trunkd serving"), "{log}");
    assert!(log.contains("amqp://guest:***@127.0.0.1:1"), "{log}");
    if database.is_some() {
        assert!(log.contains("postgres://postgres:***@"), "{log}");
    }
    assert!(!log.contains("hunter2"), "{log}");
}
