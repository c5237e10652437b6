//! The `trunkd` binary: `serve`, `migrate` and `check-config`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use trunkd::config::{self, FileSettings};
use trunkd::server;

/// mimalloc instead of glibc's allocator: request handling allocates many small, short-lived
/// objects across threads, and glibc's consolidation and free-list work was a tenth of the
/// server's CPU under load (a profile of the server under `trunkd-bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "trunkd",
    version,
    about = "A Neutron v2.0 compatible trunk-port service"
)]
struct Cli {
    /// TOML file with settings; flags and TRUNKD_* variables override it.
    #[arg(long, global = true, env = "TRUNKD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (creates and initialises a new database in the data directory).
    Serve(Settings),
    /// Bring the database schema to this version.
    Migrate(Settings),
    /// Run every start-up check without serving or writing anything.
    CheckConfig(Settings),
    /// Make a new token for the agent of one host: prints the token (give it to the agent)
    /// and the entry to add to the server's agent credentials file.
    AgentToken {
        /// The host the token will be bound to
        #[arg(long)]
        host: String,
    },
    /// Run the Open vSwitch agent of one host: wires the trunks bound to it.
    Agent(AgentArgs),
}

#[derive(Args, Clone)]
struct AgentArgs {
    /// This host's name, as ports' binding:host_id give it
    #[arg(long, env = "TRUNKD_AGENT_HOST")]
    host: String,
    /// Base URL of a trunkd server, e.g. http://controller:9696
    #[arg(long, env = "TRUNKD_AGENT_SERVER")]
    server: String,
    /// File holding this host's agent token (from `trunkd agent-token`); or use Keystone
    #[arg(long, env = "TRUNKD_AGENT_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Keystone's URL, to authenticate as this host's service user instead of with a token file
    #[arg(long, env = "TRUNKD_KEYSTONE_URL")]
    keystone_url: Option<String>,
    /// This host's service user in Keystone
    #[arg(long, env = "TRUNKD_KEYSTONE_USERNAME")]
    keystone_username: Option<String>,
    /// Its password (prefer the variable to a flag)
    #[arg(long, env = "TRUNKD_KEYSTONE_PASSWORD", hide_env_values = true)]
    keystone_password: Option<String>,
    /// Project of the service user [default: service]
    #[arg(long, env = "TRUNKD_KEYSTONE_PROJECT_NAME")]
    keystone_project_name: Option<String>,
    /// The local Open vSwitch database
    #[arg(
        long,
        env = "TRUNKD_AGENT_OVSDB",
        default_value = "unix:/var/run/openvswitch/db.sock"
    )]
    ovsdb: String,
    /// The integration bridge trunk bridges connect to
    #[arg(
        long,
        env = "TRUNKD_AGENT_INTEGRATION_BRIDGE",
        default_value = "br-int"
    )]
    integration_bridge: String,
    /// datapath_type of the trunk bridges it creates (netdev for a userspace switch)
    #[arg(long, env = "TRUNKD_AGENT_DATAPATH_TYPE", default_value = "system")]
    datapath_type: String,
    /// Seconds between full resyncs
    #[arg(long, env = "TRUNKD_AGENT_RESYNC_INTERVAL", default_value_t = 30)]
    resync_interval: u64,
    /// RabbitMQ to hear of changes at once: amqp://USER:PASSWORD@HOST:PORT/VHOST [default: none,
    /// periodic resync only]
    #[arg(long, env = "TRUNKD_RABBITMQ_URL")]
    rabbitmq_url: Option<String>,
}

impl AgentArgs {
    fn settings(self) -> Result<trunkd::agent::AgentSettings, String> {
        let credential =
            match (&self.token_file, &self.keystone_url) {
                (Some(path), None) => {
                    let token = std::fs::read_to_string(path)
                        .map_err(|e| format!("setting token_file: {}: {e}", path.display()))?
                        .trim()
                        .to_string();
                    if token.is_empty() {
                        return Err(format!("setting token_file: {} is empty", path.display()));
                    }
                    trunkd::agent::AgentCredential::Token(config::Secret(token))
                }
                (None, Some(_)) => {
                    let settings = FileSettings {
                        auth: Some("keystone".into()),
                        keystone_url: self.keystone_url.clone(),
                        keystone_username: self.keystone_username.clone(),
                        keystone_password: self.keystone_password.clone(),
                        keystone_project_name: self.keystone_project_name.clone(),
                        ..FileSettings::default()
                    };
                    match config::resolve(settings).map_err(|e| e.to_string())?.auth {
                        config::AuthConfig::Keystone(keystone) => {
                            trunkd::agent::AgentCredential::Keystone(keystone)
                        }
                        config::AuthConfig::NoAuth => {
                            return Err("setting keystone_url: unusable".into())
                        }
                    }
                }
                _ => return Err(
                    "setting token_file: give either --token-file or --keystone-url (with a user)"
                        .into(),
                ),
            };
        let ovsdb = self
            .ovsdb
            .parse()
            .map_err(|e: String| format!("setting ovsdb: {e}"))?;
        if self.resync_interval == 0 {
            return Err("setting resync_interval: must be at least 1 second".into());
        }
        if self.host.trim().is_empty() {
            return Err("setting host: must not be empty".into());
        }
        Ok(trunkd::agent::AgentSettings {
            host: self.host,
            server: self.server,
            credential,
            ovsdb,
            layout: trunkd::agent::wiring::Layout {
                integration_bridge: self.integration_bridge,
                datapath_type: self.datapath_type,
            },
            resync_interval: std::time::Duration::from_secs(self.resync_interval),
            rabbitmq_url: self.rabbitmq_url,
        })
    }
}

#[derive(Args, Clone, Default)]
struct Settings {
    /// ADDRESS:PORT to listen on [default: 127.0.0.1:9696]
    #[arg(long, env = "TRUNKD_BIND")]
    bind: Option<String>,
    /// Directory holding the embedded database [default: <user data dir>/trunkd]
    #[arg(long, env = "TRUNKD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// postgres://USER:PASSWORD@HOST/DB for the scaled-out store [default: SQLite in the data dir]
    #[arg(long, env = "TRUNKD_DATABASE_URL")]
    database_url: Option<String>,
    /// Treat calls without identity headers as an admin (noauth only)
    #[arg(long, env = "TRUNKD_NOAUTH_DEFAULT_ADMIN", num_args = 0..=1, default_missing_value = "true")]
    noauth_default_admin: Option<bool>,
    /// Trunk driver to load (repeat or comma-separate) [default: noop]
    #[arg(long = "driver", env = "TRUNKD_DRIVERS", value_delimiter = ',')]
    drivers: Option<Vec<String>>,
    /// oslo.policy YAML file overriding default rules
    #[arg(long, env = "TRUNKD_POLICY_FILE")]
    policy_file: Option<PathBuf>,
    /// Largest request body in bytes [default: 2097152]
    #[arg(long, env = "TRUNKD_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Most subports in one request [default: 4094]
    #[arg(long, env = "TRUNKD_MAX_SUBPORTS_PER_REQUEST")]
    max_subports_per_request: Option<usize>,
    /// Most tags one network, port or trunk may carry [default: 50]
    #[arg(long, env = "TRUNKD_MAX_TAGS_PER_RESOURCE")]
    max_tags_per_resource: Option<usize>,
    /// Most terms of the tag filters (tags, tags-any, not-tags, not-tags-any) of one list
    /// call [default: 50]
    #[arg(long, env = "TRUNKD_MAX_TAG_FILTER_TERMS")]
    max_tag_filter_terms: Option<usize>,
    /// Most resources in one bulk create [default: 4094]
    #[arg(long, env = "TRUNKD_MAX_BULK_ITEMS")]
    max_bulk_items: Option<usize>,
    /// Seconds a client gets to send a request's headers, and again its body [default: 30]
    #[arg(long, env = "TRUNKD_CLIENT_TIMEOUT")]
    client_timeout: Option<u64>,
    /// Seconds a trunk write waits for drivers that wire on delivery (ovn) before it answers;
    /// 0 answers at once with the committed state [default: 5]
    #[arg(long, env = "TRUNKD_DRIVER_WAIT")]
    driver_wait: Option<u64>,
    /// Seconds delivered outbox events are kept before they are deleted [default: 300]
    #[arg(long, env = "TRUNKD_OUTBOX_RETENTION")]
    outbox_retention: Option<u64>,
    /// Most trunks one project may own; -1 for no limit [default: -1]
    #[arg(long, env = "TRUNKD_TRUNK_QUOTA", allow_negative_numbers = true)]
    trunk_quota: Option<i64>,
    /// Most networks one project may own; -1 for no limit [default: 100]
    #[arg(long, env = "TRUNKD_NETWORK_QUOTA", allow_negative_numbers = true)]
    network_quota: Option<i64>,
    /// Most subnets one project may own, once subnets are served; -1 for no limit [default: 100]
    #[arg(long, env = "TRUNKD_SUBNET_QUOTA", allow_negative_numbers = true)]
    subnet_quota: Option<i64>,
    /// Most ports one project may own; -1 for no limit [default: 500]
    #[arg(long, env = "TRUNKD_PORT_QUOTA", allow_negative_numbers = true)]
    port_quota: Option<i64>,
    /// Network type of networks created without provider attributes [default: vxlan]
    #[arg(long, env = "TRUNKD_TENANT_NETWORK_TYPE")]
    tenant_network_type: Option<String>,
    /// VLAN allocation ranges PHYSNET:FIRST:LAST [default: physnet1:1000:2999]
    #[arg(
        long = "network-vlan-range",
        env = "TRUNKD_NETWORK_VLAN_RANGES",
        value_delimiter = ','
    )]
    network_vlan_ranges: Option<Vec<String>>,
    /// VXLAN allocation range FIRST:LAST [default: 1:10000]
    #[arg(long, env = "TRUNKD_VXLAN_RANGE")]
    vxlan_range: Option<String>,
    /// Geneve allocation range FIRST:LAST [default: 1:10000]
    #[arg(long, env = "TRUNKD_GENEVE_RANGE")]
    geneve_range: Option<String>,
    /// MTU of the physical network [default: 1500]
    #[arg(long, env = "TRUNKD_PHYSICAL_MTU")]
    physical_mtu: Option<i64>,
    /// OVN northbound database for the ovn driver: unix:PATH or tcp:HOST:PORT
    #[arg(long, env = "TRUNKD_OVN_NB_CONNECTION")]
    ovn_nb_connection: Option<String>,
    /// Seconds between full OVN reconciliations [default: 60]
    #[arg(long, env = "TRUNKD_OVN_RECONCILE_INTERVAL")]
    ovn_reconcile_interval: Option<u64>,
    /// TOML file of host agents' token digests (`trunkd agent-token` makes entries)
    #[arg(long, env = "TRUNKD_AGENT_CREDENTIALS_FILE")]
    agent_credentials_file: Option<PathBuf>,
    /// RabbitMQ the ovs driver notifies agents through: amqp://USER:PASSWORD@HOST:PORT/VHOST
    #[arg(long, env = "TRUNKD_RABBITMQ_URL")]
    rabbitmq_url: Option<String>,
    /// How callers authenticate: noauth or keystone [default: noauth]
    #[arg(long, env = "TRUNKD_AUTH")]
    auth: Option<String>,
    /// Keystone's URL, e.g. http://keystone:5000 (auth keystone)
    #[arg(long, env = "TRUNKD_KEYSTONE_URL")]
    keystone_url: Option<String>,
    /// trunkd's service user in Keystone
    #[arg(long, env = "TRUNKD_KEYSTONE_USERNAME")]
    keystone_username: Option<String>,
    /// Its password (prefer the variable or the config file to a flag)
    #[arg(long, env = "TRUNKD_KEYSTONE_PASSWORD", hide_env_values = true)]
    keystone_password: Option<String>,
    /// Project of the service user [default: service]
    #[arg(long, env = "TRUNKD_KEYSTONE_PROJECT_NAME")]
    keystone_project_name: Option<String>,
    /// Domain of the service user [default: Default]
    #[arg(long, env = "TRUNKD_KEYSTONE_USER_DOMAIN_NAME")]
    keystone_user_domain_name: Option<String>,
    /// Domain of its project [default: Default]
    #[arg(long, env = "TRUNKD_KEYSTONE_PROJECT_DOMAIN_NAME")]
    keystone_project_domain_name: Option<String>,
    /// Application credential id, instead of a username and password
    #[arg(long, env = "TRUNKD_KEYSTONE_APPLICATION_CREDENTIAL_ID")]
    keystone_application_credential_id: Option<String>,
    /// Application credential secret
    #[arg(
        long,
        env = "TRUNKD_KEYSTONE_APPLICATION_CREDENTIAL_SECRET",
        hide_env_values = true
    )]
    keystone_application_credential_secret: Option<String>,
    /// Seconds a validated token is trusted before Keystone is asked again [default: 300]
    #[arg(long, env = "TRUNKD_KEYSTONE_CACHE_TTL")]
    keystone_cache_ttl: Option<u64>,
    /// Most validated tokens kept [default: 10000]
    #[arg(long, env = "TRUNKD_KEYSTONE_CACHE_SIZE")]
    keystone_cache_size: Option<usize>,
    /// Most items in one list answer (more: links to the next page); -1 for no limit
    /// [default: 1000]
    #[arg(
        long,
        env = "TRUNKD_PAGINATION_MAX_LIMIT",
        allow_negative_numbers = true
    )]
    pagination_max_limit: Option<i64>,
    /// URL links in answers start with, e.g. https://network.example.net (behind a proxy or load
    /// balancer) [default: http:// and the address the client connected to]
    #[arg(long, env = "TRUNKD_NETWORK_LINK_PREFIX")]
    network_link_prefix: Option<String>,
}

impl From<Settings> for FileSettings {
    fn from(s: Settings) -> Self {
        FileSettings {
            bind: s.bind,
            data_dir: s.data_dir,
            database_url: s.database_url,
            noauth_default_admin: s.noauth_default_admin,
            drivers: s.drivers,
            policy_file: s.policy_file,
            max_body_bytes: s.max_body_bytes,
            max_subports_per_request: s.max_subports_per_request,
            max_tags_per_resource: s.max_tags_per_resource,
            max_tag_filter_terms: s.max_tag_filter_terms,
            max_bulk_items: s.max_bulk_items,
            trunk_quota: s.trunk_quota,
            network_quota: s.network_quota,
            subnet_quota: s.subnet_quota,
            port_quota: s.port_quota,
            client_timeout: s.client_timeout,
            driver_wait: s.driver_wait,
            outbox_retention: s.outbox_retention,
            tenant_network_type: s.tenant_network_type,
            network_vlan_ranges: s.network_vlan_ranges,
            vxlan_range: s.vxlan_range,
            geneve_range: s.geneve_range,
            physical_mtu: s.physical_mtu,
            ovn_nb_connection: s.ovn_nb_connection,
            ovn_reconcile_interval: s.ovn_reconcile_interval,
            agent_credentials_file: s.agent_credentials_file,
            rabbitmq_url: s.rabbitmq_url,
            auth: s.auth,
            keystone_url: s.keystone_url,
            keystone_username: s.keystone_username,
            keystone_password: s.keystone_password,
            keystone_project_name: s.keystone_project_name,
            keystone_user_domain_name: s.keystone_user_domain_name,
            keystone_project_domain_name: s.keystone_project_domain_name,
            keystone_application_credential_id: s.keystone_application_credential_id,
            keystone_application_credential_secret: s.keystone_application_credential_secret,
            keystone_cache_ttl: s.keystone_cache_ttl,
            keystone_cache_size: s.keystone_cache_size,
            pagination_max_limit: s.pagination_max_limit,
            network_link_prefix: s.network_link_prefix,
        }
    }
}

/// The log filter unless `RUST_LOG` says otherwise. sqlx's own messages from WARN up; the
/// exception is the notices PostgreSQL sends at WARNING: when a SERIALIZABLE commit fails
/// (and the write is run again), sqlx still sends a ROLLBACK, and PostgreSQL's "there is no
/// transaction in progress" for it would read like a fault to an operator.
const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,sqlx::postgres::notice=error";

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn run(cli: Cli) -> Result<(), String> {
    let file = match &cli.config {
        Some(path) => FileSettings::load(path).map_err(|e| e.to_string())?,
        None => FileSettings::default(),
    };
    let (command, settings) = match cli.command {
        Command::AgentToken { host } => {
            let (token, entry) = trunkd::api::agent_auth::new_token(&host);
            println!("token for the agent of {host} (keep it secret): {token}");
            println!("\nadd to the server's agent credentials file:\n\n{entry}");
            return Ok(());
        }
        Command::Agent(args) => {
            let settings = args.settings()?;
            return tokio::select! {
                outcome = trunkd::agent::run(settings) => outcome,
                _ = tokio::signal::ctrl_c() => Ok(()),
            };
        }
        Command::Serve(s) => ("serve", s),
        Command::Migrate(s) => ("migrate", s),
        Command::CheckConfig(s) => ("check-config", s),
    };
    let config =
        config::resolve(FileSettings::from(settings).or(file)).map_err(|e| e.to_string())?;
    let result = match command {
        "serve" => server::serve(config).await,
        "migrate" => server::migrate(&config).await.inspect(|()| {
            println!(
                "trunkd: database {} is at the current schema",
                config.database.describe()
            )
        }),
        _ => server::check_config(&config)
            .await
            .inspect(|()| println!("trunkd: configuration OK")),
    };
    result.map_err(|e| e.to_string())
}

/// The command line with the value of every variable hidden from `--help`. clap shows the
/// values of the variables that are set (`[env: TRUNKD_DATABASE_URL=postgres://u:secret@…]`),
/// and several hold passwords; hiding all of them, flags added later included, leaves no flag
/// to forget.
fn command() -> clap::Command {
    fn hide_env_values(command: clap::Command) -> clap::Command {
        command
            .mut_args(|arg| arg.hide_env_values(true))
            .mut_subcommands(hide_env_values)
    }
    hide_env_values(Cli::command())
}

fn main() -> ExitCode {
    let cli = Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|error| error.exit());
    init_logging();
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
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("trunkd: error: {message}");
            ExitCode::FAILURE
        }
    }
}
