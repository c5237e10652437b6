//! The .deb's parts, each checked against what it packs: the example `/etc/trunkd/trunkd.toml`
//! against the settings' clap definition (every key, every default) and `check-config`; the
//! systemd units against `systemd-analyze verify`; the man pages and completions `trunkd
//! generate` writes; `agent-token --format json`; the release profile; the LICENSE. CI then
//! builds the package, installs it and runs it (`.ci/run`, "== package").

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};
use trunkd::config::{defaults, AgentSettings, ServerSettings};

use crate::common::kit::{require_package, stdout_of};
use crate::common::trunkd;

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn packaging(file: &str) -> PathBuf {
    crate_dir().join("packaging").join(file)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every key a config file may hold: the id of each argument with a variable, in every
/// subcommand (`--config` names the file and is not in it).
fn file_keys() -> BTreeSet<String> {
    fn add(command: &clap::Command, keys: &mut BTreeSet<String>) {
        for arg in command.get_arguments() {
            if arg.get_env().is_some() && arg.get_id() != "config" {
                keys.insert(arg.get_id().to_string());
            }
        }
        for subcommand in command.get_subcommands() {
            add(subcommand, keys);
        }
    }
    let mut keys = BTreeSet::new();
    add(&trunkd::config::command(), &mut keys);
    keys
}

/// Each setting's built-in default, as the file would give it (`null`: none).
fn built_in_defaults() -> BTreeMap<String, Value> {
    let mut all = BTreeMap::new();
    for group in [
        serde_json::to_value(defaults::<ServerSettings>()),
        serde_json::to_value(defaults::<AgentSettings>()),
    ] {
        let Ok(Value::Object(map)) = group else {
            panic!("a settings group does not serialise to a map");
        };
        all.extend(map);
    }
    all
}

/// A line `# key = value` that shows a setting left unset.
fn commented_key(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("# ")?;
    let (key, _) = rest.split_once(" = ")?;
    key.chars()
        .all(|c| c.is_ascii_lowercase() || c == '_')
        .then_some((key, rest))
}

/// Keys left unset on purpose though they have no default: what the package decides.
const SET_BY_THE_PACKAGE: [&str; 1] = ["data_dir"];

#[test]
fn the_example_config_lists_every_setting_with_its_doc_line_and_default() {
    let text = read(&packaging("trunkd.toml"));
    let set: toml::Table = toml::from_str(&text).expect("trunkd.toml parses");
    // The same file with the commented-out settings in: their example values must parse too.
    let mut uncommented = String::new();
    let mut previous = "";
    let mut documented = BTreeSet::new();
    for line in text.lines() {
        let setting = match commented_key(line) {
            Some((key, rest)) => {
                uncommented.push_str(rest);
                Some(key)
            }
            None => {
                uncommented.push_str(line);
                line.split_once(" = ").map(|(key, _)| key)
            }
        };
        uncommented.push('\n');
        // Each setting has a doc line just above it: a comment that is not another setting.
        if let Some(key) = setting {
            if previous.starts_with("# ") && commented_key(previous).is_none() {
                documented.insert(key.to_string());
            }
        }
        previous = line;
    }
    let all: toml::Table = toml::from_str(&uncommented).expect("uncommented trunkd.toml parses");

    let keys = file_keys();
    assert!(keys.len() > 50, "too few settings found: {keys:?}");
    let in_file: BTreeSet<String> = all.keys().cloned().collect();
    assert_eq!(
        in_file.difference(&keys).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "trunkd.toml has keys that are no setting"
    );
    assert_eq!(
        keys.difference(&in_file).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "settings missing from packaging/trunkd.toml"
    );
    let undocumented: Vec<&String> = keys.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "no doc line above {undocumented:?}"
    );

    let defaults = built_in_defaults();
    for key in &keys {
        let default = defaults
            .get(key)
            .unwrap_or_else(|| panic!("{key}: in no settings group"));
        match (set.get(key), default) {
            (Some(value), Value::Null) => assert!(
                SET_BY_THE_PACKAGE.contains(&key.as_str()),
                "{key} has no default: it must be commented out, not = {value:?}"
            ),
            (Some(value), default) => assert_eq!(
                &serde_json::to_value(value).expect("a TOML value"),
                default,
                "{key}: the file's value is not the built-in default"
            ),
            (None, Value::Null) => {}
            (None, default) => panic!("{key} has a default ({default}): it must be set"),
        }
    }

    // Every example value has its setting's type.
    let all = serde_json::to_value(&all).expect("a TOML table");
    serde_json::from_value::<ServerSettings>(all.clone()).expect("the server reads the examples");
    serde_json::from_value::<AgentSettings>(all).expect("the agent reads the examples");
}

#[test]
fn check_config_accepts_the_example_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = packaging("trunkd.toml");
    let data_dir = dir.path().display().to_string();
    let run = |command: &str| {
        stdout_of(
            trunkd()
                .args([command, "--config"])
                .arg(&config)
                .env("TRUNKD_DATA_DIR", &data_dir),
            &format!("trunkd {command} with packaging/trunkd.toml"),
        )
    };
    // A fresh install: no database yet, which check-config says and does not hold against it.
    let said = run("check-config");
    assert!(said.contains("does not exist yet"), "{said}");
    assert!(said.ends_with("trunkd: configuration OK"), "{said}");
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
    run("migrate");
    assert_eq!(
        run("check-config"),
        "trunkd: the database is at this trunkd's schema\ntrunkd: configuration OK"
    );
}

/// The units with `/usr/bin/trunkd` (where the package puts it) replaced by the binary under
/// test, in `dir`.
fn units_in(dir: &Path) -> Vec<PathBuf> {
    let binary = env!("CARGO_BIN_EXE_trunkd");
    ["trunkd.service", "trunkd-agent.service"]
        .iter()
        .map(|name| {
            let text = read(&packaging(name));
            let exec = text
                .lines()
                .find_map(|line| line.strip_prefix("ExecStart="))
                .unwrap_or_else(|| panic!("{name}: no ExecStart"));
            assert!(exec.starts_with("/usr/bin/trunkd "), "{name}: {exec}");
            // The command line it runs parses (`--help` stops it there).
            let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
            stdout_of(
                trunkd().args(&args).arg("--help"),
                &format!("{name}: {exec}"),
            );
            let path = dir.join(name);
            std::fs::write(&path, text.replace("/usr/bin/trunkd", binary)).expect("write unit");
            path
        })
        .collect()
}

fn verify(units: &[PathBuf]) -> (bool, String) {
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(units)
        .output()
        .expect("run systemd-analyze");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

#[test]
fn the_systemd_units_verify_clean() {
    let test = "the_systemd_units_verify_clean";
    if !require_package(test, "systemd", &["systemd-analyze"], &[]) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let units = units_in(dir.path());
    let (ok, printed) = verify(&units);
    assert!(ok && printed.trim().is_empty(), "{printed}");

    for (name, user) in [("trunkd.service", true), ("trunkd-agent.service", false)] {
        let text = read(&packaging(name));
        for needed in [
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "--config /etc/trunkd/trunkd.toml",
        ] {
            assert!(text.contains(needed), "{name} lacks {needed}");
        }
        assert_eq!(text.contains("User=trunkd"), user, "{name}: User=");
    }
    let server = read(&packaging("trunkd.service"));
    for needed in ["StateDirectory=trunkd", "ReadWritePaths=/var/lib/trunkd"] {
        assert!(server.contains(needed), "trunkd.service lacks {needed}");
    }

    // The check finds a fault here, without systemd running: a misspelt setting fails it.
    let broken = dir.path().join("broken.service");
    std::fs::write(
        &broken,
        read(&units[0]).replace("ProtectSystem=strict", "ProtectSystem=strictest"),
    )
    .expect("write unit");
    let (ok, printed) = verify(&[broken]);
    assert!(!(ok && printed.trim().is_empty()), "the broken unit passed");
    assert!(printed.contains("strictest"), "{printed}");
}

#[test]
fn agent_token_prints_one_json_object_with_format_json() {
    let output = stdout_of(
        trunkd().args(["agent-token", "--host", "compute-1", "--format", "json"]),
        "trunkd agent-token --format json",
    );
    assert_eq!(output.lines().count(), 1, "one line: {output}");
    let answer: Value = serde_json::from_str(&output).expect("JSON");
    let object = answer.as_object().expect("an object");
    assert_eq!(
        object.keys().collect::<Vec<_>>(),
        ["entry", "host", "token"],
        "{answer}"
    );
    assert_eq!(answer["host"], "compute-1");
    let token = answer["token"].as_str().expect("token");
    assert_eq!(token.len(), 64, "{token}");
    // The entry is the credentials file's, bound to the host, holding the token's digest.
    let entry: toml::Table =
        toml::from_str(answer["entry"].as_str().expect("entry")).expect("TOML");
    let agent = &entry["agents"].as_array().expect("[[agents]]")[0];
    assert_eq!(agent["host"].as_str(), Some("compute-1"));
    assert_eq!(
        agent["token_sha256"].as_str(),
        Some(hex::encode(Sha256::digest(token.as_bytes())).as_str())
    );

    // The text stays the default, and another format is refused by name.
    let text = stdout_of(
        trunkd().args(["agent-token", "--host", "compute-1"]),
        "trunkd agent-token",
    );
    assert!(text.contains("(keep it secret): "), "{text}");
    let refused = trunkd()
        .args(["agent-token", "--host", "h", "--format", "yaml"])
        .output()
        .expect("run trunkd");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--format") && stderr.contains("json"),
        "{stderr}"
    );
}

#[test]
fn generate_writes_a_man_page_per_command_and_completions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let man = dir.path().join("man");
    stdout_of(
        trunkd().args(["generate", "man", "--out"]).arg(&man),
        "trunkd generate man",
    );
    let command = trunkd::config::command();
    let mut pages: Vec<String> = std::fs::read_dir(&man)
        .expect("man dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    pages.sort();
    let mut expected: Vec<String> = command
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| format!("trunkd-{}.1", c.get_name()))
        .chain(["trunkd.1".to_string()])
        .collect();
    expected.sort();
    assert_eq!(pages, expected);
    assert!(!pages.iter().any(|p| p.contains("generate")));

    // Each page names its command's every flag and variable, and the global --config.
    for subcommand in command.get_subcommands().filter(|c| !c.is_hide_set()) {
        let page = read(&man.join(format!("trunkd-{}.1", subcommand.get_name())));
        for arg in subcommand.get_arguments() {
            if let Some(long) = arg.get_long() {
                // roff escapes each dash of a flag.
                let flag = format!("\\-\\-{}", long.replace('-', "\\-"));
                assert!(page.contains(&flag), "{}: no {flag}", subcommand.get_name());
            }
            if let Some(variable) = arg.get_env() {
                let variable = variable.to_string_lossy();
                assert!(
                    page.contains(&*variable),
                    "{}: no {variable}",
                    subcommand.get_name()
                );
            }
        }
        assert!(page.contains("\\-\\-config"), "{}", subcommand.get_name());
    }
    let top = read(&man.join("trunkd.1"));
    assert!(
        top.contains("agent\\-token") && !top.contains("generate"),
        "{top}"
    );

    let completions = dir.path().join("completions");
    for (shell, file) in [
        ("bash", "trunkd.bash"),
        ("zsh", "_trunkd"),
        ("fish", "trunkd.fish"),
    ] {
        stdout_of(
            trunkd()
                .args(["generate", "completions", shell, "--out"])
                .arg(&completions),
            &format!("trunkd generate completions {shell}"),
        );
        let script = read(&completions.join(file));
        for word in ["check-config", "agent-token", "max-body-bytes"] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
        assert!(
            !script.contains("generate"),
            "{shell} offers the hidden command"
        );
    }

    // A directory it cannot make is an error naming it, not a panic.
    let blocked = dir.path().join("file");
    std::fs::write(&blocked, "").expect("write");
    let output = trunkd()
        .args(["generate", "man", "--out"])
        .arg(blocked.join("man"))
        .output()
        .expect("run trunkd");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("trunkd: error: cannot write ") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn release_builds_are_stripped_and_profiling_builds_keep_line_tables() {
    let manifest: toml::Table =
        toml::from_str(&read(&crate_dir().join("../../Cargo.toml"))).expect("Cargo.toml");
    let profile = |name: &str| {
        manifest["profile"][name]
            .as_table()
            .unwrap_or_else(|| panic!("no [profile.{name}]"))
            .clone()
    };
    let release = profile("release");
    assert_eq!(release.get("debug"), Some(&toml::Value::Boolean(false)));
    assert_eq!(release.get("strip"), Some(&toml::Value::Boolean(true)));
    let profiling = profile("profiling");
    assert_eq!(profiling["inherits"].as_str(), Some("release"));
    assert_eq!(profiling["debug"].as_str(), Some("line-tables-only"));
    assert_eq!(profiling.get("strip"), Some(&toml::Value::Boolean(false)));
}

#[test]
fn the_package_ships_every_part_and_the_apache_license() {
    let license = read(&crate_dir().join("../../LICENSE"));
    let words: Vec<&str> = license.split_whitespace().take(4).collect();
    assert_eq!(words, ["Apache", "License", "Version", "2.0,"]);
    assert!(license.contains("END OF TERMS AND CONDITIONS"));
    let workspace: toml::Table =
        toml::from_str(&read(&crate_dir().join("../../Cargo.toml"))).expect("Cargo.toml");
    assert_eq!(
        workspace["workspace"]["package"]["license"].as_str(),
        Some("Apache-2.0")
    );

    let manifest: toml::Table =
        toml::from_str(&read(&crate_dir().join("Cargo.toml"))).expect("Cargo.toml");
    let deb = &manifest["package"]["metadata"]["deb"];
    assert_eq!(deb["license-file"][0].as_str(), Some("../../LICENSE"));
    let assets: BTreeMap<&str, &str> = deb["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .map(|asset| {
            (
                asset[0].as_str().expect("source"),
                asset[1].as_str().expect("destination"),
            )
        })
        .collect();
    for (source, destination) in [
        ("target/release/trunkd", "usr/bin/"),
        ("packaging/trunkd.toml", "etc/trunkd/trunkd.toml"),
        ("packaging/trunkd.service", "usr/lib/systemd/system/"),
        ("packaging/trunkd-agent.service", "usr/lib/systemd/system/"),
        ("target/release/packaging/man/*.1.gz", "usr/share/man/man1/"),
    ] {
        assert_eq!(assets.get(source), Some(&destination), "{source}");
    }
    // What is not built is committed.
    for source in assets.keys().filter(|s| !s.starts_with("target/")) {
        assert!(crate_dir().join(source).is_file(), "{source} is missing");
    }
    let scripts = crate_dir().join(deb["maintainer-scripts"].as_str().expect("scripts"));
    let postinst = read(&scripts.join("postinst"));
    assert!(postinst.contains("adduser --system") && postinst.contains("/var/lib/trunkd"));
}
