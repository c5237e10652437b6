//! The `trunkd` binary: `serve`, `migrate`, `check-config`, `backup`, `agent-token` and the
//! host `agent` (and the hidden `generate`, for packaging). Its settings are declared and read
//! in `trunkd::config`.

use std::process::ExitCode;

use trunkd::config::settings::OutputFormat;
use trunkd::config::{self, Command, ConfigErrors, Environment, Invocation};
use trunkd::logging::{self, LogFormat};
use trunkd::server;

/// mimalloc instead of glibc's allocator: request handling allocates many small, short-lived
/// objects across threads, and glibc's consolidation and free-list work was a tenth of the
/// server's CPU under load (a profile of the server under `trunkd-bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What this run does, its settings read and checked.
enum Run {
    Serve(config::Config),
    Migrate(config::Config),
    CheckConfig(config::Config),
    Backup {
        config: config::Config,
        to: std::path::PathBuf,
    },
    AgentToken {
        host: String,
        format: OutputFormat,
    },
    Agent(trunkd::agent::AgentSettings),
    Generate(trunkd::generate::GenerateArgs),
}

/// Reads the settings of the subcommand `invocation` names from all their sources, with the
/// log format they give; every problem found, not only the first.
fn settings(invocation: &Invocation) -> Result<(Run, LogFormat), ConfigErrors> {
    let env = Environment::from_process();
    let (sources, mut errors) = invocation.sources(&env);
    // Subcommands without the setting log as text.
    let mut format = LogFormat::Text;
    let mut server = || {
        let (settings, found) = sources.read::<config::ServerSettings>();
        errors.extend(found);
        format = settings.log.log_format;
        config::resolve(settings)
    };
    let resolved = match &invocation.cli.command {
        Command::Serve(_) => server().map(Run::Serve),
        Command::CheckConfig(_) => server().map(Run::CheckConfig),
        Command::Migrate(_) => {
            let (settings, found) = sources.read::<config::MigrateSettings>();
            errors.extend(found);
            format = settings.log.log_format;
            config::resolve_database(settings.database).map(Run::Migrate)
        }
        Command::Backup(args) => {
            let (settings, found) = sources.read::<config::DatabaseSettings>();
            errors.extend(found);
            config::resolve_database(settings).map(|config| Run::Backup {
                config,
                to: args.to.clone(),
            })
        }
        Command::Agent(_) => {
            let (settings, found) = sources.read::<config::AgentSettings>();
            errors.extend(found);
            format = settings.log.log_format;
            config::resolve_agent(settings).map(Run::Agent)
        }
        Command::AgentToken { host, format } => Ok(Run::AgentToken {
            host: host.clone(),
            format: *format,
        }),
        Command::Generate(args) => Ok(Run::Generate(args.clone())),
    };
    match resolved {
        Ok(run) if errors.is_empty() => Ok((run, format)),
        Ok(_) => Err(ConfigErrors(errors)),
        Err(ConfigErrors(more)) => {
            errors.extend(more);
            Err(ConfigErrors(errors))
        }
    }
}

/// Prints a command's report line to stdout, as `println!` does, except that a reader that has
/// stopped reading (`trunkd check-config | grep -q OK`) ends the output quietly: `println!`
/// panics on the broken pipe, and the command's exit status would then say it failed.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(error) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if error.kind() != std::io::ErrorKind::BrokenPipe {
                eprintln!("trunkd: cannot write to standard output: {error}");
            }
        }
    }};
}

/// Runs it; the errors that stopped it, one per line.
async fn run(run: Run) -> Result<(), Vec<String>> {
    let lines = |error: server::StartupError| vec![error.to_string()];
    match run {
        Run::AgentToken { host, format } => {
            let (token, entry) = trunkd::api::agent_auth::new_token(&host);
            match format {
                OutputFormat::Text => {
                    say!("token for the agent of {host} (keep it secret): {token}");
                    say!("\nadd to the server's agent credentials file:\n\n{entry}");
                }
                OutputFormat::Json => say!(
                    "{}",
                    serde_json::json!({"host": host, "token": token, "entry": entry})
                ),
            }
            Ok(())
        }
        Run::Generate(args) => trunkd::generate::run(&args)
            .map(|written| {
                for path in written {
                    say!("{}", path.display());
                }
            })
            .map_err(|error| vec![error.to_string()]),
        Run::Agent(settings) => {
            // The agent's tasks stop with its future, dropped here on SIGINT or SIGTERM.
            let outcome = tokio::select! {
                outcome = trunkd::agent::run(settings) => outcome,
                () = server::shutdown_signal() => Ok(()),
            };
            tracing::info!("trunkd agent stopped");
            outcome.map_err(|message| vec![message])
        }
        Run::Serve(config) => server::serve(config).await.map_err(lines),
        Run::Migrate(config) => server::migrate(&config)
            .await
            .map(|done| say!("trunkd: {done}"))
            .map_err(lines),
        Run::CheckConfig(config) => server::check_config(&config)
            .await
            .map(|database| {
                say!("trunkd: {database}");
                say!("trunkd: configuration OK")
            })
            .map_err(|errors| errors.iter().map(ToString::to_string).collect()),
        Run::Backup { config, to } => server::backup(&config, &to)
            .await
            .map(|summary| say!("trunkd: backed up to {summary}"))
            .map_err(lines),
    }
}

fn main() -> ExitCode {
    let invocation = Invocation::parse(std::env::args_os()).unwrap_or_else(|error| error.exit());
    // Bad settings are told on stderr as they are, before (and without) any logger.
    let (settings, format) = match settings(&invocation) {
        Ok(settings) => settings,
        Err(errors) => {
            for error in &errors.0 {
                eprintln!("trunkd: error: {error}");
            }
            return ExitCode::FAILURE;
        }
    };
    logging::init(format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("trunkd: error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(lines) => {
            for line in lines {
                eprintln!("trunkd: error: {line}");
            }
            ExitCode::FAILURE
        }
    }
}
