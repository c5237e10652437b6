//! Fail-closed start-up (spec section 5): a bad setting stops `serve` and `check-config` with
//! a message naming it, before anything is served or written.

use crate::common;

use std::process::Output;

use common::{kit, trunkd, Server};

/// Runs trunkd to completion; one that is still running after 30 s has failed to refuse.
fn output_of(mut command: std::process::Command) -> Output {
    kit::output_within(&mut command, std::time::Duration::from_secs(30))
        .unwrap_or_else(|output| panic!("trunkd did not exit within 30 s: {}", stderr(&output)))
}

fn run(args: &[&str]) -> Output {
    let mut command = trunkd();
    command.args(args);
    output_of(command)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

fn assert_refused(output: &Output, naming: &str) {
    assert!(
        !output.status.success(),
        "should have failed: {}",
        stderr(output)
    );
    let text = stderr(output);
    assert!(
        text.contains(naming),
        "error does not name {naming}: {text}"
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).trim().is_empty()
            || !String::from_utf8_lossy(&output.stdout).contains("listening")
    );
}

#[test]
fn bad_settings_stop_serve_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8 path");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "get_trunk: 'role:admin and ('\n").expect("write policy");
    let agents = dir.path().join("agents.toml");
    std::fs::write(
        &agents,
        "[[agents]]\nhost = \"h\"\ntoken_sha256 = \"nope\"\n",
    )
    .expect("write agent credentials");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--driver", "warp-drive"], "drivers"),
        (
            vec!["--policy-file", policy.to_str().expect("path")],
            "policy_file",
        ),
        (
            vec!["--policy-file", "/nonexistent/policy.yaml"],
            "policy_file",
        ),
        (vec!["--bind", "not-an-address"], "bind"),
        (
            vec!["--network-vlan-range", "physnet1:5000:6000"],
            "network_vlan_ranges",
        ),
        (vec!["--max-body-bytes", "10"], "max_body_bytes"),
        (
            vec!["--agent-credentials-file", agents.to_str().expect("path")],
            "agent_credentials_file",
        ),
        (
            vec!["--agent-credentials-file", "/nonexistent/agents.toml"],
            "agent_credentials_file",
        ),
        (vec!["--auth", "kerberos"], "auth"),
        (
            vec![
                "--driver",
                "ovn",
                "--ovn-nb-connection",
                "ssl:127.0.0.1:6641",
            ],
            "ovn_nb_connection",
        ),
        (
            vec![
                "--driver",
                "ovn",
                "--ovn-nb-connection",
                "tcp:127.0.0.1:6641",
                "--ovn-nb-ca-cert",
                "/etc/ssl/certs/ca-certificates.crt",
            ],
            "ovn_nb_private_key",
        ),
        (
            vec![
                "--driver",
                "ovn",
                "--ovn-nb-connection",
                "ssl:127.0.0.1:6641",
                "--ovn-nb-private-key",
                policy.to_str().expect("path"),
                "--ovn-nb-certificate",
                policy.to_str().expect("path"),
                "--ovn-nb-ca-cert",
                policy.to_str().expect("path"),
            ],
            "ovn_nb_certificate",
        ),
        (vec!["--auth", "keystone"], "keystone_url"),
        (
            vec![
                "--auth",
                "keystone",
                "--keystone-url",
                "ftp://keystone:5000",
                "--keystone-username",
                "trunkd",
                "--keystone-password",
                "x",
            ],
            "keystone_url",
        ),
        (
            vec![
                "--auth",
                "keystone",
                "--keystone-url",
                "https://keystone:5000",
                "--keystone-cafile",
                "/nonexistent/ca.pem",
                "--keystone-username",
                "trunkd",
                "--keystone-password",
                "x",
            ],
            "keystone_cafile",
        ),
        (
            vec![
                "--auth",
                "keystone",
                "--keystone-url",
                "http://keystone:5000",
                "--keystone-cafile",
                agents.to_str().expect("path"),
                "--keystone-username",
                "trunkd",
                "--keystone-password",
                "x",
            ],
            "keystone_cafile",
        ),
        (
            vec![
                "--auth",
                "keystone",
                "--keystone-url",
                "http://keystone:5000",
            ],
            "keystone_username",
        ),
        (
            vec![
                "--auth",
                "keystone",
                "--keystone-url",
                "http://keystone:5000",
                "--keystone-username",
                "trunkd",
                "--keystone-password",
                "x",
                "--noauth-default-admin",
            ],
            "noauth_default_admin",
        ),
        (vec!["--driver", "ovs"], "rabbitmq_url"),
        (
            vec!["--driver", "ovs", "--rabbitmq-url", "http://broker:5672"],
            "rabbitmq_url",
        ),
        (
            vec!["--rabbitmq-url", "amqp://guest:guest@127.0.0.1:5672/%2f"],
            "rabbitmq_url",
        ),
        (vec!["--driver", "ovn"], "ovn_nb_connection"),
        (
            vec!["--driver", "ovn", "--ovn-nb-connection", "ssl:nb:6641"],
            "ovn_nb_connection",
        ),
        (
            vec!["--driver", "ovn", "--ovn-nb-connection", "tcp:nb"],
            "ovn_nb_connection",
        ),
        (
            vec!["--ovn-nb-connection", "tcp:127.0.0.1:6641"],
            "ovn_nb_connection",
        ),
        (
            vec!["--ovn-sb-connection", "tcp:127.0.0.1:6642"],
            "ovn_sb_connection",
        ),
        (
            vec![
                "--driver",
                "ovn",
                "--ovn-nb-connection",
                "unix:/run/nb.sock",
                "--ovn-sb-connection",
                "ssl:sb:6642",
            ],
            "ovn_sb_connection",
        ),
        (
            vec![
                "--driver",
                "ovn",
                "--ovn-nb-connection",
                "unix:/run/nb.sock",
                "--ovn-reconcile-interval",
                "0",
            ],
            "ovn_reconcile_interval",
        ),
    ];
    for (extra, naming) in cases {
        let mut args = vec!["serve", "--data-dir", data_arg];
        args.extend(extra);
        assert_refused(&run(&args), naming);
        assert!(!data.exists(), "{naming}: the data directory was created");
    }
}

#[test]
fn a_reader_that_stops_reading_the_report_is_no_failure() {
    // `trunkd check-config | grep -q OK`: grep exits at its match and the next line meets a
    // closed pipe. Here the pipe is closed before trunkd writes anything.
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().to_str().expect("utf-8 path");
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut command = trunkd();
    command
        .args(["check-config", "--data-dir", data])
        .stdout(writer)
        .stderr(std::process::Stdio::piped());
    let output = command.output().expect("run trunkd");
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn check_config_runs_the_same_checks_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().to_str().expect("utf-8 path");
    // A fresh install: no database yet is no failure, and check-config says so.
    let fresh = run(&["check-config", "--data-dir", data]);
    assert!(fresh.status.success(), "{}", stderr(&fresh));
    let said = String::from_utf8_lossy(&fresh.stdout);
    assert!(said.contains("does not exist yet"), "{said}");
    assert!(said.contains("configuration OK"), "{said}");
    assert!(!dir.path().join("trunkd.db").exists());
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
    assert_refused(
        &run(&["check-config", "--data-dir", data, "--driver", "nope"]),
        "drivers",
    );
    // The southbound database without the ovn driver, from the file or the environment.
    let file = dir.path().join("sb.toml");
    std::fs::write(&file, "ovn_sb_connection = \"tcp:127.0.0.1:6642\"\n").expect("write");
    let path = file.to_str().expect("utf-8 path");
    assert_refused(
        &run(&["check-config", "--config", path, "--data-dir", data]),
        "ovn_sb_connection",
    );
    let mut command = trunkd();
    command
        .args(["check-config", "--data-dir", data])
        .env("TRUNKD_OVN_SB_CONNECTION", "tcp:127.0.0.1:6642");
    assert_refused(&output_of(command), "ovn_sb_connection");
    let migrated = run(&["migrate", "--data-dir", data]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let checked = run(&["check-config", "--data-dir", data]);
    assert!(checked.status.success(), "{}", stderr(&checked));
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(said.contains("at this trunkd's schema"), "{said}");
    assert!(said.contains("configuration OK"), "{said}");
}

#[test]
fn migrate_says_what_it_did() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().to_str().expect("utf-8 path");
    let first = run(&["migrate", "--data-dir", data]);
    assert!(first.status.success(), "{}", stderr(&first));
    let said = String::from_utf8_lossy(&first.stdout);
    assert!(
        said.contains("created the schema of database") && said.contains("a new database"),
        "{said}"
    );
    let again = run(&["migrate", "--data-dir", data]);
    assert!(again.status.success(), "{}", stderr(&again));
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(said.contains("already at schema version"), "{said}");
    assert!(said.contains("nothing to do"), "{said}");

    // A database one migration behind is migrated from its version to this one's.
    let db = dir.path().join("trunkd.db");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let newest: i64 = runtime.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("open");
        let (newest, description): (i64, String) = sqlx::query_as(
            "SELECT version, description FROM _sqlx_migrations ORDER BY version DESC LIMIT 1",
        )
        .fetch_one(&mut conn)
        .await
        .expect("newest");
        // The newest migration puts the project's ids into two indexes: the older indexes
        // back, and the migration forgotten, undo it.
        assert_eq!(
            description, "list pages in project order",
            "this test undoes the newest migration by hand: teach it the new one"
        );
        for (table, index) in [("trunks", "trunks_project"), ("ports", "ports_project")] {
            sqlx::query(&format!("DROP INDEX {index}"))
                .execute(&mut conn)
                .await
                .expect("drop the new index");
            sqlx::query(&format!("CREATE INDEX {index} ON {table} (project_id)"))
                .execute(&mut conn)
                .await
                .expect("the old index");
        }
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = ?")
            .bind(newest)
            .execute(&mut conn)
            .await
            .expect("forget");
        newest
    });
    let upgraded = run(&["migrate", "--data-dir", data]);
    assert!(upgraded.status.success(), "{}", stderr(&upgraded));
    let said = String::from_utf8_lossy(&upgraded.stdout);
    let previous = runtime.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("open");
        sqlx::query_scalar::<_, i64>("SELECT MAX(version) FROM _sqlx_migrations WHERE version < ?")
            .bind(newest)
            .fetch_one(&mut conn)
            .await
            .expect("previous")
    });
    assert!(
        said.contains(&format!("from schema version {previous} to {newest}")),
        "{said}"
    );
}

#[test]
fn an_unreachable_postgresql_is_reported_with_its_root_cause() {
    // Nothing listens on a port just freed: the pool retries a refused connection until its
    // timeout, and the message must still say it was refused.
    let port = kit::free_port();
    let url = format!("postgres://trunkd:secret@127.0.0.1:{port}/trunkd");
    for command in ["migrate", "check-config"] {
        let output = run(&[command, "--database-url", &url]);
        let text = stderr(&output);
        assert!(!output.status.success(), "{command}: {text}");
        assert!(
            text.to_lowercase().contains("connection refused"),
            "{command} does not give the root cause: {text}"
        );
        assert!(
            !text.contains("secret"),
            "{command} leaked the password: {text}"
        );
    }
}

#[test]
fn noauth_beyond_loopback_needs_to_be_allowed_and_always_warns() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8 path");
    for bind in ["0.0.0.0:0", "[::]:0"] {
        let refused = run(&["serve", "--data-dir", data_arg, "--bind", bind]);
        assert_refused(&refused, "allow_insecure_remote");
        assert!(
            stderr(&refused).contains("setting bind"),
            "{}",
            stderr(&refused)
        );
        assert!(!data.exists(), "{bind}: the data directory was created");
        assert_refused(
            &run(&["check-config", "--data-dir", data_arg, "--bind", bind]),
            "allow_insecure_remote",
        );
    }
    // Allowed: it serves, and says at start that noauth trusts its callers.
    let log = dir.path().join("serve.log");
    let mut child = trunkd()
        .args(["serve", "--data-dir", data_arg, "--bind", "0.0.0.0:0"])
        .arg("--allow-insecure-remote")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("trunkd starts");
    let base = common::listening_address(&mut child);
    let port = base.rsplit(':').next().expect("a port");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let answer = runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/v2.0/networks"))
            .header("X-Project-Id", "p")
            .header("X-Roles", "member")
            .send()
            .await
            .expect("an answer")
            .status()
    });
    assert_eq!(answer, 200);
    let status = common::terminate(&mut child, std::time::Duration::from_secs(30));
    assert!(status.success());
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        text.lines()
            .any(|l| l.contains("WARN") && l.contains("noauth")),
        "no warning about noauth: {text}"
    );
}

#[test]
fn unknown_policy_rules_are_warned_about_not_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().to_str().expect("utf-8 path");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "get_trunks: role:admin\nget_trunk: rule:my_readers\nmy_readers: role:auditor\ncreate_router: '@'\n",
    )
    .expect("write policy");
    let migrated = run(&["migrate", "--data-dir", data]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let checked = run(&[
        "check-config",
        "--data-dir",
        data,
        "--policy-file",
        policy.to_str().expect("path"),
    ]);
    let text = stderr(&checked);
    assert!(checked.status.success(), "{text}");
    let warned: Vec<&str> = text.lines().filter(|l| l.contains("WARN")).collect();
    assert!(
        warned.iter().any(|l| l.contains("'get_trunks'")),
        "no warning names the typo: {text}"
    );
    assert!(
        warned.iter().any(|l| l.contains("'create_router'")),
        "no warning names the Neutron rule: {text}"
    );
    assert!(
        !text.contains("'my_readers'"),
        "a used helper was reported: {text}"
    );

    // With policy_strict the typo is refused, by name, before anything starts; the Neutron
    // rule alone would still load (an operator's whole Neutron policy.yaml may carry it).
    let strict = run(&[
        "check-config",
        "--data-dir",
        data,
        "--policy-file",
        policy.to_str().expect("path"),
        "--policy-strict",
    ]);
    let text = stderr(&strict);
    assert!(!strict.status.success(), "a strict check passed: {text}");
    assert!(
        text.contains("get_trunks"),
        "the refusal does not name the rule: {text}"
    );
    std::fs::write(
        &policy,
        "get_trunk: rule:my_readers\nmy_readers: role:auditor\ncreate_router: '@'\n",
    )
    .expect("write policy");
    let strict = run(&[
        "check-config",
        "--data-dir",
        data,
        "--policy-file",
        policy.to_str().expect("path"),
        "--policy-strict",
    ]);
    assert!(strict.status.success(), "{}", stderr(&strict));
}

#[test]
fn a_schema_from_the_future_or_unknown_tables_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().to_str().expect("utf-8 path");
    assert!(run(&["migrate", "--data-dir", data]).status.success());
    let db = dir.path().join("trunkd.db");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.expect("open");
        sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (999, 'future', 1, x'00', 0)")
            .execute(&mut conn)
            .await
            .expect("insert");
    });
    assert_refused(
        &run(&["serve", "--data-dir", data, "--bind", "127.0.0.1:0"]),
        "newer than this trunkd",
    );
    assert_refused(
        &run(&["check-config", "--data-dir", data]),
        "newer than this trunkd",
    );

    let other = tempfile::tempdir().expect("dir");
    runtime.block_on(async {
        use sqlx::Connection;
        let path = other.path().join("trunkd.db");
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
                .await
                .expect("open");
        sqlx::query("CREATE TABLE stranger (x)")
            .execute(&mut conn)
            .await
            .expect("create");
    });
    assert_refused(
        &run(&[
            "serve",
            "--data-dir",
            other.path().to_str().expect("path"),
            "--bind",
            "127.0.0.1:0",
        ]),
        "no trunkd migration history",
    );
}

#[test]
fn a_port_in_use_is_reported() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = holder.local_addr().expect("address").to_string();
    let dir = tempfile::tempdir().expect("dir");
    assert_refused(
        &run(&[
            "serve",
            "--data-dir",
            dir.path().to_str().expect("path"),
            "--bind",
            &address,
        ]),
        "bind",
    );
    // It listens before it opens the database: nothing was created.
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("list").count(),
        0,
        "a serve that could not listen created files"
    );
}

#[test]
fn config_file_environment_and_flags_layer() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("trunkd.toml");
    std::fs::write(&file, "max_subports_per_request = 0\n").expect("write");
    let mut command = trunkd();
    command.args(["check-config", "--config", file.to_str().expect("path")]);
    let output = output_of(command);
    assert_refused(&output, "max_subports_per_request");
    // The environment overrides the file, and a flag overrides the environment.
    let mut command = trunkd();
    command
        .args([
            "check-config",
            "--config",
            file.to_str().expect("path"),
            "--data-dir",
            dir.path().to_str().expect("path"),
        ])
        .env("TRUNKD_MAX_SUBPORTS_PER_REQUEST", "7");
    let output = output_of(command);
    assert!(output.status.success(), "{}", stderr(&output));
    let mut command = trunkd();
    command
        .args([
            "check-config",
            "--config",
            file.to_str().expect("path"),
            "--max-subports-per-request",
            "0",
        ])
        .env("TRUNKD_MAX_SUBPORTS_PER_REQUEST", "7");
    let output = output_of(command);
    assert_refused(&output, "max_subports_per_request");
    std::fs::write(&file, "colour = \"red\"\n").expect("write");
    let mut command = trunkd();
    command.args(["check-config", "--config", file.to_str().expect("path")]);
    let output = output_of(command);
    assert_refused(&output, "colour");
}

#[test]
fn check_config_reports_every_problem_at_once_naming_each_source() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("trunkd.toml");
    std::fs::write(&file, "colour = \"red\"\nphysical_mtu = 100000\n").expect("write");
    let mut command = trunkd();
    command
        .args(["check-config", "--config", file.to_str().expect("path")])
        .args(["--data-dir", dir.path().to_str().expect("path")])
        .args(["--bind", "nowhere"])
        .env("TRUNKD_TRUNK_QUOTA", "ten")
        .env("TRUNKD_TRUNK_QOUTA", "10");
    let output = output_of(command);
    assert!(!output.status.success());
    let text = stderr(&output);
    let lines: Vec<&str> = text.lines().collect();
    for expected in [
        "TRUNKD_TRUNK_QUOTA: invalid value 'ten'",
        "TRUNKD_TRUNK_QOUTA: is not a trunkd setting",
        "trunkd.toml: unknown key `colour`",
        "setting physical_mtu",
        "setting bind",
    ] {
        assert_eq!(
            lines.iter().filter(|line| line.contains(expected)).count(),
            1,
            "{expected} not on one line: {text}"
        );
    }
    assert_eq!(lines.len(), 5, "{text}");
    assert!(!text.contains("--trunk-quota"), "{text}");
    // With the settings right, the checks beyond them report together too.
    let mut command = trunkd();
    command.args([
        "check-config",
        "--data-dir",
        dir.path().to_str().expect("path"),
        "--policy-file",
        "/nonexistent/policy.yaml",
        "--agent-credentials-file",
        "/nonexistent/agents.toml",
    ]);
    let text = stderr(&output_of(command));
    for expected in ["policy_file", "agent_credentials_file"] {
        assert!(text.contains(expected), "{expected} not in {text}");
    }
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[test]
fn a_restarted_server_keeps_its_data() {
    let server = Server::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let network = runtime.block_on(server.admin().network(serde_json::json!({"name": "kept"})));
    let kept = server.stop();
    let again = Server::start_in(kept, &[]);
    let body = runtime
        .block_on(again.admin().get(&format!("/v2.0/networks/{network}")))
        .expect(200);
    assert_eq!(body["network"]["name"], "kept");
}
