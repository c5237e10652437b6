//! The README's PostgreSQL recipe (Several servers on PostgreSQL), run as written against the
//! machine's PostgreSQL: only the host and the role and database names change. On PostgreSQL
//! 15 a database `postgres` created is not one another role may create tables in, so a recipe
//! that forgets `createdb -O` fails here at `trunkd migrate`.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::{kit, Kept, Server};
use serde_json::json;

/// The README's first `sh` block after `heading`.
fn readme_block(heading: &str) -> String {
    let readme = include_str!("../../../../README.md");
    let (_, section) = readme
        .split_once(heading)
        .unwrap_or_else(|| panic!("README has no {heading}"));
    let (_, block) = section.split_once("```sh\n").expect("a sh block");
    let (block, _) = block.split_once("```").expect("the block ends");
    block.to_string()
}

/// The admin URL of the machine's PostgreSQL: the suite's, or the local service.
fn postgres_admin_url() -> Option<String> {
    let url = std::env::var(common::pgdb::ENV)
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let host = url::Url::parse(&url).ok()?;
    let address = format!("{}:{}", host.host_str()?, host.port().unwrap_or(5432));
    let reachable =
        std::net::TcpStream::connect_timeout(&address.parse().ok()?, Duration::from_secs(2))
            .is_ok();
    kit::needed(
        reachable.then_some(url),
        "reach PostgreSQL (the machine's service on 127.0.0.1:5432, or TRUNKD_TEST_DATABASE_URL)",
        "the_readme_postgresql_recipe_works_as_written: no PostgreSQL reachable",
    )
}

/// `line` with each whole word `word` after the command (the role, the database, the URL's user
/// and path) as `name`; a command `word` at the start stays.
fn rename_word(line: &str, word: &str, name: &str) -> String {
    let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let mut renamed = String::new();
    let mut remaining = rest;
    while let Some(at) = remaining.find(word) {
        let before = remaining[..at].chars().next_back();
        let after = remaining[at + word.len()..].chars().next();
        renamed.push_str(&remaining[..at]);
        if before.is_some_and(is_name_char) || after.is_some_and(is_name_char) {
            renamed.push_str(word);
        } else {
            renamed.push_str(name);
        }
        remaining = &remaining[at + word.len()..];
    }
    renamed.push_str(remaining);
    if rest.is_empty() {
        command.to_string()
    } else {
        format!("{command} {renamed}")
    }
}

fn run_sql(admin_url: &str, sql: &str) {
    let output = Command::new("psql")
        .args([admin_url, "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(
        output.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_readme_postgresql_recipe_works_as_written() {
    let Some(admin_url) = postgres_admin_url() else {
        return;
    };
    let parsed = url::Url::parse(&admin_url).expect("a URL");
    let host = parsed.host_str().expect("a host").to_string();
    let port = parsed.port().unwrap_or(5432);
    let name = format!("trunkd_readme_{}", uuid::Uuid::new_v4().simple());

    let block = readme_block("## Several servers on PostgreSQL");
    let commands: Vec<&str> = block
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    assert_eq!(
        commands.len(),
        5,
        "the recipe changed; this test runs it: {block}"
    );
    // Everything up to serving, with this machine's server and fresh names in place of the
    // README's; `serve` is started below on the URL the recipe exported.
    let (serve, setup) = commands.split_last().expect("commands");
    assert!(serve.starts_with("trunkd serve "), "{serve}");
    let script: Vec<String> = setup
        .iter()
        .map(|line| {
            let line = line
                .replace("db.example.net:5432", &format!("{host}:{port}"))
                .replace("db.example.net", &format!("{host} -p {port}"));
            rename_word(&line, "trunkd", &name)
        })
        .collect();
    let script = format!(
        "set -eu\ntrunkd() {{ \"$TRUNKD_TEST_BINARY\" \"$@\"; }}\n{}\necho \"url=$TRUNKD_DATABASE_URL\"\n",
        script.join("\n")
    );

    let output = kit::output_within(
        Command::new("bash")
            .args(["-c", &script])
            .env("TRUNKD_TEST_BINARY", env!("CARGO_BIN_EXE_trunkd"))
            .env_remove("TRUNKD_DATABASE_URL")
            .env_remove(common::pgdb::ENV)
            .env("RUST_LOG", "warn"),
        Duration::from_secs(60),
    );
    let cleanup = || {
        run_sql(
            &admin_url,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
        run_sql(&admin_url, &format!("DROP ROLE IF EXISTS {name}"));
    };
    let output = match output {
        Ok(output) => output,
        Err(output) => {
            cleanup();
            panic!(
                "the recipe hung: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        cleanup();
        panic!("the README's recipe failed:\n{script}\n{stdout}\n{stderr}");
    }
    assert!(
        stdout.contains("created the schema of database"),
        "migrate does not say it created the schema: {stdout}"
    );
    let url = stdout
        .lines()
        .find_map(|line| line.strip_prefix("url="))
        .expect("the exported URL")
        .to_string();

    // A server as the recipe's role serves and writes.
    let outcome = std::panic::catch_unwind(|| {
        let server = Server::start_in(
            Kept {
                data_dir: tempfile::tempdir().expect("dir"),
                database: None,
            },
            &["--database-url", &url],
        );
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let admin = server.admin();
            let network = admin.network(json!({"name": "recipe"})).await;
            let parent = admin.port(&network, json!({})).await;
            admin.trunk(&parent, json!([])).await;
        });
        drop(server);
    });
    cleanup();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
