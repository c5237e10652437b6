//! Reads a settings group from its four sources, each replacing what the one before gave: the
//! group's built-in defaults, the config file, the `TRUNKD_*` variables, the flags. Every
//! problem is kept rather than the first returned, so that one run reports them all, and each
//! names its source: a bad variable by its name, a bad file key by its key and the file. A
//! variable or a file key that no subcommand of trunkd reads is refused, as a misspelt one
//! would otherwise be ignored.
//!
//! Everything is driven by the clap definition in `settings`: a setting is an argument with
//! an `env`; its id (the field's name) is its file key and its key in the serde maps merged
//! here. Clap parses the flags only (the variables are taken out of the command it parses),
//! so that it never reports a bad variable as a bad flag; each variable is parsed here by
//! clap's own parser of its flag, and `--help` is rendered from the command with the
//! variables in, so it still names each one.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::settings::Cli;
use super::ConfigError;

/// `TRUNKD_*` variables trunkd does not read but must not refuse: the test suite, CI and the
/// conformance script read these (ending in `_`: every variable of that prefix), and a shell
/// that exports them must still run trunkd.
const NOT_SETTINGS: [&str; 4] = [
    "TRUNKD_TEST_",
    "TRUNKD_CONFORMANCE_",
    "TRUNKD_BIN",
    "TRUNKD_UPDATE_OPENAPI",
];

/// The `TRUNKD_*` variables of the process, or of a test.
#[derive(Debug, Clone, Default)]
pub struct Environment(BTreeMap<String, OsString>);

impl Environment {
    pub fn from_process() -> Self {
        Self(
            std::env::vars_os()
                .filter_map(|(name, value)| {
                    let name = name.into_string().ok()?;
                    name.starts_with("TRUNKD_").then_some((name, value))
                })
                .collect(),
        )
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(name, value)| (name.to_string(), OsString::from(value)))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&OsString> {
        self.0.get(name)
    }
}

/// The command line as `--help` shows it: each flag names its variable, never its value.
pub fn command() -> clap::Command {
    fn hide_env_values(command: clap::Command) -> clap::Command {
        command
            .mut_args(|arg| arg.hide_env_values(true))
            .mut_subcommands(hide_env_values)
    }
    hide_env_values(Cli::command())
}

/// `command` without the variables: what clap parses, flags only.
fn flags_only(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| arg.env(None))
        .mut_subcommands(flags_only)
}

/// A parsed command line, its settings not yet read.
#[derive(Debug)]
pub struct Invocation {
    pub cli: Cli,
    matches: ArgMatches,
}

impl Invocation {
    /// Parses `args` (the program's name first). A usage error, `--help` and `--version` are
    /// errors to show with [`clap::Error::exit`].
    pub fn parse<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let matches = match flags_only(command()).try_get_matches_from(&args) {
            Ok(matches) => matches,
            // Help is shown as soon as clap meets `--help`, before any variable is read.
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                ) =>
            {
                return Err(command().try_get_matches_from(&args).err().unwrap_or(error))
            }
            Err(error) => return Err(error),
        };
        let cli = Cli::from_arg_matches(&matches)?;
        Ok(Self { cli, matches })
    }

    /// The config file: `--config`, else `TRUNKD_CONFIG`.
    fn config_path(&self, env: &Environment) -> Option<PathBuf> {
        self.cli
            .config
            .clone()
            .or_else(|| env.get("TRUNKD_CONFIG").map(PathBuf::from))
    }

    /// The sources of this run's settings, and what is wrong with them as a whole: variables
    /// and file keys that are not settings, a file that cannot be read.
    pub fn sources<'a>(&self, env: &'a Environment) -> (Sources<'a>, Vec<ConfigError>) {
        let known = Known::of(&command());
        let mut errors = known.unknown_variables(env);
        let file = match self.config_path(env) {
            Some(path) => match SettingsFile::load(&path, &known) {
                Ok((file, unknown)) => {
                    errors.extend(unknown);
                    Some(file)
                }
                Err(error) => {
                    errors.push(error);
                    None
                }
            },
            None => None,
        };
        let subcommand = self
            .matches
            .subcommand()
            .map(|(_, matches)| matches.clone())
            .unwrap_or_default();
        (
            Sources {
                env,
                file,
                flags: subcommand,
            },
            errors,
        )
    }
}

/// The variables and file keys some subcommand reads.
struct Known {
    variables: BTreeSet<String>,
    keys: BTreeSet<String>,
}

impl Known {
    fn of(command: &clap::Command) -> Self {
        let mut known = Known {
            variables: BTreeSet::new(),
            keys: BTreeSet::new(),
        };
        known.add(command);
        known
    }

    fn add(&mut self, command: &clap::Command) {
        for arg in command.get_arguments() {
            if let Some(variable) = arg.get_env() {
                self.variables
                    .insert(variable.to_string_lossy().into_owned());
                // `--config` names the file; it is not in it.
                if arg.get_id() != "config" {
                    self.keys.insert(arg.get_id().to_string());
                }
            }
        }
        for subcommand in command.get_subcommands() {
            self.add(subcommand);
        }
    }

    fn unknown_variables(&self, env: &Environment) -> Vec<ConfigError> {
        env.0
            .keys()
            .filter(|name| !self.variables.contains(*name))
            .filter(|name| {
                !NOT_SETTINGS.iter().any(|allowed| {
                    if allowed.ends_with('_') {
                        name.starts_with(allowed)
                    } else {
                        name == allowed
                    }
                })
            })
            .map(|name| ConfigError::Variable {
                name: name.clone(),
                message: "is not a trunkd setting (`trunkd <command> --help` lists them)".into(),
            })
            .collect()
    }
}

/// The config file's settings, as a map of key to value.
#[derive(Debug)]
struct SettingsFile {
    path: String,
    table: Map<String, Value>,
}

impl SettingsFile {
    /// The file, less its unknown keys, each of which is an error. A file that cannot be read
    /// or parsed is one error.
    fn load(path: &Path, known: &Known) -> Result<(Self, Vec<ConfigError>), ConfigError> {
        let shown = path.display().to_string();
        let error = |message: String| ConfigError::File {
            path: shown.clone(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| error(e.to_string()))?;
        let Value::Object(mut table) =
            serde_json::to_value(table).map_err(|e| error(e.to_string()))?
        else {
            return Err(error("is not a table of settings".into()));
        };
        let unknown: Vec<String> = table
            .keys()
            .filter(|key| !known.keys.contains(*key))
            .cloned()
            .collect();
        let errors = unknown
            .into_iter()
            .map(|key| {
                table.remove(&key);
                error(format!(
                    "unknown key `{key}`: not a trunkd setting (the README lists them)"
                ))
            })
            .collect();
        Ok((Self { path: shown, table }, errors))
    }
}

/// Where one run's settings come from.
pub struct Sources<'a> {
    env: &'a Environment,
    file: Option<SettingsFile>,
    /// The subcommand's flags (and the defaults clap filled in).
    flags: ArgMatches,
}

impl Sources<'_> {
    /// Reads group `T`. A value its source gives wrongly is an error and leaves the setting to
    /// the sources below it, so that the other settings are still read and checked.
    pub fn read<T>(&self) -> (T, Vec<ConfigError>)
    where
        T: Args + FromArgMatches + Serialize + DeserializeOwned,
    {
        let declared = T::augment_args(clap::Command::new("trunkd"));
        let parser = flags_only(declared.clone());
        let mut errors = Vec::new();
        let base = defaults::<T>();
        let mut merged = match serde_json::to_value(&base) {
            Ok(Value::Object(map)) => map,
            _ => return (base, errors),
        };
        let secret = |id: &str| {
            declared
                .get_arguments()
                .any(|arg| arg.get_id() == id && arg.is_hide_env_values_set())
        };

        if let Some(file) = &self.file {
            for (key, value) in &file.table {
                if !merged.contains_key(key) {
                    continue; // another subcommand's setting
                }
                let mut trial = merged.clone();
                trial.insert(key.clone(), value.clone());
                match serde_json::from_value::<T>(Value::Object(trial)) {
                    Ok(_) => {
                        merged.insert(key.clone(), value.clone());
                    }
                    Err(error) => errors.push(ConfigError::File {
                        path: file.path.clone(),
                        message: if secret(key) {
                            format!("key {key}: not a string")
                        } else {
                            format!("key {key}: {error}")
                        },
                    }),
                }
            }
        }

        for arg in declared.get_arguments() {
            let (Some(name), Some(long)) = (arg.get_env(), arg.get_long()) else {
                continue;
            };
            let name = name.to_string_lossy().into_owned();
            let Some(value) = self.env.get(&name) else {
                continue;
            };
            let problem = |message: String| ConfigError::Variable {
                name: name.clone(),
                message,
            };
            let Some(value) = value.to_str() else {
                errors.push(problem("is not UTF-8".into()));
                continue;
            };
            let given = parser
                .clone()
                .try_get_matches_from(["trunkd".to_string(), format!("--{long}={value}")])
                .and_then(|matches| given::<T>(&matches));
            match given {
                Ok(values) => merged.extend(values),
                Err(error) => {
                    let shown = (!secret(arg.get_id().as_str())).then_some(value);
                    errors.push(problem(invalid_value(&error, shown)));
                }
            }
        }

        match given::<T>(&self.flags) {
            Ok(values) => merged.extend(values),
            Err(error) => errors.push(ConfigError::Invalid {
                setting: "flags",
                message: error.to_string(),
            }),
        }

        match serde_json::from_value(Value::Object(merged)) {
            Ok(settings) => (settings, errors),
            Err(error) => {
                errors.push(ConfigError::Invalid {
                    setting: "settings",
                    message: error.to_string(),
                });
                (base, errors)
            }
        }
    }
}

/// Group `T` with nothing given: every setting at its `default_value`.
pub fn defaults<T: Args + FromArgMatches>() -> T {
    let parser = flags_only(T::augment_args(clap::Command::new("trunkd")));
    parser
        .try_get_matches_from(["trunkd"])
        .and_then(|matches| T::from_arg_matches(&matches))
        .expect("the built-in defaults of every setting parse (a unit test checks them)")
}

/// The settings of `T` that `matches` holds from its command line, not from defaults.
fn given<T>(matches: &ArgMatches) -> Result<Map<String, Value>, clap::Error>
where
    T: FromArgMatches + Serialize,
{
    let settings = T::from_arg_matches(matches)?;
    let Ok(Value::Object(mut values)) = serde_json::to_value(&settings) else {
        return Err(clap::Error::raw(
            ErrorKind::InvalidValue,
            "settings do not serialise to a map",
        ));
    };
    let given: BTreeSet<&str> = matches
        .ids()
        .map(clap::Id::as_str)
        .filter(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
        .collect();
    values.retain(|key, _| given.contains(key.as_str()));
    Ok(values)
}

/// Why clap refused a variable's value, without naming its flag; the value itself only when
/// it is not a secret.
fn invalid_value(error: &clap::Error, value: Option<&str>) -> String {
    let reason = match std::error::Error::source(error) {
        Some(source) => source.to_string(),
        None => match error.get(ContextKind::ValidValue) {
            Some(ContextValue::Strings(valid)) => format!("expected {}", valid.join(" or ")),
            _ => error.kind().as_str().unwrap_or("invalid value").to_string(),
        },
    };
    match value {
        Some(value) => format!("invalid value '{value}': {reason}"),
        None => format!("invalid value: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AgentSettings, DatabaseSettings, ServerSettings};

    /// Reads `T` for `args` with `env` and, when given, a config file holding `file`.
    fn read<T>(args: &[&str], env: &[(&str, &str)], file: Option<&str>) -> (T, Vec<String>)
    where
        T: Args + FromArgMatches + Serialize + DeserializeOwned,
    {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("trunkd.toml");
        let mut argv = vec!["trunkd".to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        if let Some(text) = file {
            std::fs::write(&path, text).expect("write the file");
            argv.extend(["--config".to_string(), path.display().to_string()]);
        }
        let env = Environment::from_pairs(env.iter().copied());
        let invocation = Invocation::parse(argv).expect("the command line parses");
        let (sources, mut errors) = invocation.sources(&env);
        let (settings, found) = sources.read::<T>();
        errors.extend(found);
        (settings, errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn a_bad_variable_is_named_by_its_variable_not_its_flag() {
        let (_, errors) = read::<ServerSettings>(
            &["check-config"],
            &[
                ("TRUNKD_TRUNK_QUOTA", "ten"),
                ("TRUNKD_POLICY_STRICT", "maybe"),
            ],
            None,
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("TRUNKD_POLICY_STRICT"), "{errors:?}");
        assert!(errors[1].contains("TRUNKD_TRUNK_QUOTA"), "{errors:?}");
        assert!(errors[1].contains("'ten'"), "{errors:?}");
        assert!(errors.iter().all(|e| !e.contains("--")), "{errors:?}");
    }

    #[test]
    fn the_log_format_comes_from_any_source_and_a_bad_one_is_named() {
        use crate::logging::LogFormat;
        let (server, errors) =
            read::<ServerSettings>(&["serve"], &[], Some("log_format = \"json\"\n"));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(server.log.log_format, LogFormat::Json);
        let (agent, errors) = read::<AgentSettings>(
            &["agent", "--log-format", "json"],
            &[("TRUNKD_LOG_FORMAT", "text")],
            None,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(agent.log.log_format, LogFormat::Json, "the flag wins");
        let (migrate, errors) = read::<crate::config::MigrateSettings>(
            &["migrate"],
            &[("TRUNKD_LOG_FORMAT", "json")],
            None,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(migrate.log.log_format, LogFormat::Json);
        let (server, errors) =
            read::<ServerSettings>(&["serve"], &[("TRUNKD_LOG_FORMAT", "xml")], None);
        assert_eq!(server.log.log_format, LogFormat::Text);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("TRUNKD_LOG_FORMAT"), "{errors:?}");
        assert!(errors[0].contains("'xml'"), "{errors:?}");
        let (_, errors) = read::<ServerSettings>(&["serve"], &[], Some("log_format = \"yaml\"\n"));
        assert!(
            errors.len() == 1 && errors[0].contains("log_format"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_variable_no_subcommand_reads_is_refused_by_name() {
        let env = [
            ("TRUNKD_TRUNK_QOUTA", "10"),
            // Read by `serve` and `agent`, not by `migrate`: still a setting.
            ("TRUNKD_RABBITMQ_URL", "amqp://guest:guest@h/%2f"),
            // Set around the binary by the test suite, CI and the conformance script.
            ("TRUNKD_TEST_DATABASE_URL", "postgres://postgres@h/db"),
            ("TRUNKD_CONFORMANCE_KEEP", "1"),
            ("TRUNKD_BIN", "/bin/trunkd"),
        ];
        let (_, errors) = read::<DatabaseSettings>(&["migrate"], &env, None);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("TRUNKD_TRUNK_QOUTA"), "{errors:?}");
        assert!(!errors[0].contains("10"), "{errors:?}");
    }

    #[test]
    fn an_unknown_file_key_is_refused_naming_it_and_the_file() {
        let (settings, errors) = read::<ServerSettings>(
            &["serve"],
            &[],
            Some("colour = \"red\"\nbind = \"127.0.0.1:1\"\n"),
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("`colour`"), "{errors:?}");
        assert!(errors[0].contains("trunkd.toml"), "{errors:?}");
        assert_eq!(settings.bind, "127.0.0.1:1");
        // Another subcommand's key is no error: one file may serve a host's server and agent.
        let (_, errors) =
            read::<ServerSettings>(&["serve"], &[], Some("agent_host = \"compute-1\"\n"));
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn every_problem_of_every_source_is_reported() {
        let (settings, errors) = read::<ServerSettings>(
            &["check-config", "--bind", "127.0.0.1:5"],
            &[("TRUNKD_MAX_BODY_BYTES", "lots"), ("TRUNKD_COLOUR", "red")],
            Some("physical_mtu = \"big\"\nshape = 1\nclient_timeout = 7\n"),
        );
        assert_eq!(errors.len(), 4, "{errors:?}");
        for expected in [
            "TRUNKD_COLOUR",
            "`shape`",
            "physical_mtu",
            "TRUNKD_MAX_BODY_BYTES",
        ] {
            assert!(
                errors.iter().any(|e| e.contains(expected)),
                "{expected} not reported: {errors:?}"
            );
        }
        // What was good was read all the same.
        assert_eq!(settings.bind, "127.0.0.1:5");
        assert_eq!(settings.client_timeout, 7);
        assert_eq!(
            settings.max_body_bytes,
            crate::config::DEFAULT_MAX_BODY_BYTES
        );
    }

    #[test]
    fn flags_beat_variables_which_beat_the_file_which_beats_defaults() {
        let file = Some("max_subports_per_request = 1\ndrivers = [\"noop\", \"ovs\"]\n");
        let env = [("TRUNKD_MAX_SUBPORTS_PER_REQUEST", "2")];
        let flag = ["serve", "--max-subports-per-request", "3"];
        let subports = |s: ServerSettings| s.max_subports_per_request;
        assert_eq!(subports(read(&flag, &env, file).0), 3);
        assert_eq!(subports(read(&["serve"], &env, file).0), 2);
        assert_eq!(subports(read(&["serve"], &[], file).0), 1);
        assert_eq!(subports(read(&["serve"], &[], None).0), 4094);
        // A setting one source leaves alone keeps the lower source's value.
        let (settings, _) = read::<ServerSettings>(&flag, &env, file);
        assert_eq!(settings.drivers, ["noop", "ovs"]);
        let (settings, _) =
            read::<ServerSettings>(&["serve"], &[("TRUNKD_DRIVERS", "ovn,ovs")], file);
        assert_eq!(settings.drivers, ["ovn", "ovs"]);
        // A boolean flag alone is true; the variable takes true or false.
        let (settings, _) = read::<ServerSettings>(&["serve", "--policy-strict"], &[], None);
        assert!(settings.policy_strict);
        let (settings, _) =
            read::<ServerSettings>(&["serve"], &[("TRUNKD_POLICY_STRICT", "true")], None);
        assert!(settings.policy_strict);
        // TRUNKD_CONFIG names the file when --config does not.
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "bind = \"127.0.0.1:9\"\n").expect("write");
        let path = path.display().to_string();
        let (settings, errors) =
            read::<ServerSettings>(&["serve"], &[("TRUNKD_CONFIG", path.as_str())], None);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(settings.bind, "127.0.0.1:9");
    }

    #[test]
    fn secrets_are_not_shown_in_errors() {
        let (_, errors) = read::<AgentSettings>(
            &["agent"],
            &[("TRUNKD_KEYSTONE_PASSWURD", "hunter2")],
            Some("keystone_password = 12345\n"),
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("keystone_password")));
        assert!(errors
            .iter()
            .any(|e| e.contains("TRUNKD_KEYSTONE_PASSWURD")));
        for error in &errors {
            assert!(
                !error.contains("12345") && !error.contains("hunter2"),
                "{error}"
            );
        }
    }

    /// The long flags `--help` of `subcommand` lists, as the user sees it.
    fn flags_in_help(subcommand: &str) -> Vec<String> {
        let error = Invocation::parse(["trunkd", subcommand, "--help"])
            .expect_err("--help is shown, not run");
        assert_eq!(error.kind(), ErrorKind::DisplayHelp);
        error
            .to_string()
            .split_whitespace()
            .filter(|word| word.starts_with("--"))
            .map(|word| word.trim_end_matches(',').to_string())
            .collect()
    }

    #[test]
    fn migrate_help_lists_the_database_and_log_flags_only() {
        let mut flags = flags_in_help("migrate");
        flags.sort();
        assert_eq!(
            flags,
            [
                "--config",
                "--data-dir",
                "--database-url",
                "--help",
                "--log-format"
            ]
        );
        let serve = flags_in_help("serve");
        for flag in ["--bind", "--driver", "--keystone-url", "--policy-strict"] {
            assert!(serve.iter().any(|f| f == flag), "{flag} not in {serve:?}");
        }
    }

    #[test]
    fn help_names_each_variable_but_clap_reads_none() {
        let error = Invocation::parse(["trunkd", "serve", "--help"]).expect_err("help");
        let help = error.to_string();
        for variable in [
            "[env: TRUNKD_BIND]",
            "[env: TRUNKD_CONFIG]",
            "[env: TRUNKD_POLICY_STRICT]",
        ] {
            assert!(help.contains(variable), "{variable} not in {help}");
        }
        // A value clap would refuse in TRUNKD_BIND's place is no concern of its parse.
        let parsed = Invocation::parse(["trunkd", "serve", "--max-body-bytes", "5"]);
        assert!(parsed.is_ok());
    }

    #[test]
    fn the_agent_and_the_server_take_the_same_keystone_flags() {
        let keystone: Vec<String> = flags_in_help("serve")
            .into_iter()
            .filter(|flag| flag.starts_with("--keystone-"))
            .collect();
        assert_eq!(keystone.len(), 11, "{keystone:?}");
        let agent = flags_in_help("agent");
        for flag in &keystone {
            assert!(agent.contains(flag), "the agent lacks {flag}");
        }
    }

    #[test]
    fn every_group_has_valid_defaults_and_keys_named_after_variables() {
        let _ = defaults::<ServerSettings>();
        let _ = defaults::<AgentSettings>();
        let known = Known::of(&command());
        for key in &known.keys {
            let variable = format!("TRUNKD_{}", key.to_uppercase());
            assert!(known.variables.contains(&variable), "{key}: no {variable}");
        }
        assert_eq!(known.keys.len() + 1, known.variables.len());
    }
}
