//! Every setting of every subcommand, declared once. Each group below is at the same time the
//! command line (its clap attributes), the environment (the `env` of the same attribute) and
//! the config file (its field names are the file's keys, through serde), and a setting's
//! built-in default is the `default_value` of that attribute (so `--help` shows it). A file key
//! is always the variable's name less `TRUNKD_`, lower-cased. `layers` reads the four sources
//! into a group; `config::resolve` and `config::resolve_agent` validate it.
//!
//! Adding a setting: a field here (doc line, flag, variable, default), its check or its
//! carrying in `config::resolve`, a row in the README's table.
//!
//! Groups are per subcommand, so that each `--help` lists only what it reads: `migrate` reads
//! [`MigrateSettings`] ([`DatabaseSettings`] and [`LogSettings`]); `serve` and `check-config` read [`ServerSettings`], which flattens it
//! and [`KeystoneSettings`]; `agent` reads [`AgentSettings`], which flattens the same Keystone
//! group.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};

use super::{
    Secret, DEFAULT_BIND, DEFAULT_MAX_BODY_BYTES, DEFAULT_OVN_RECONCILE_INTERVAL,
    DEFAULT_PAGINATION_MAX_LIMIT,
};
use crate::logging::LogFormat;
use crate::service::limits::{
    DEFAULT_MAX_BULK_ITEMS, DEFAULT_MAX_TAGS_PER_RESOURCE, DEFAULT_MAX_TAG_FILTER_TERMS,
};
use crate::service::quota::{DEFAULT_NETWORK_QUOTA, DEFAULT_PORT_QUOTA, DEFAULT_SUBNET_QUOTA};
use crate::store::postgres::DEFAULT_WRITE_SLOTS;

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "trunkd",
    version,
    about = "A Neutron v2.0 compatible trunk-port service"
)]
pub struct Cli {
    /// TOML file with settings; flags and TRUNKD_* variables override it.
    #[arg(long, global = true, env = "TRUNKD_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the API (creates and initialises a new database in the data directory).
    Serve(ServerSettings),
    /// Bring the database schema to this version.
    Migrate(MigrateSettings),
    /// Run every start-up check without serving or writing anything.
    CheckConfig(ServerSettings),
    /// Copy the embedded SQLite database, consistently, while it may be serving (for
    /// PostgreSQL use pg_dump).
    Backup(BackupArgs),
    /// Make a new token for the agent of one host: prints the token (give it to the agent)
    /// and the entry to add to the server's agent credentials file.
    AgentToken {
        /// The host the token will be bound to
        #[arg(long)]
        host: String,
        /// text for a person; json for a script: one object with host, token and entry
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Run the Open vSwitch agent of one host: wires the trunks bound to it.
    Agent(AgentSettings),
    /// Write the man pages or a shell's completion script (for packaging).
    #[command(hide = true)]
    Generate(crate::generate::GenerateArgs),
}

/// How a command that prints a result prints it.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

/// Where the server's data lives.
#[derive(Args, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct DatabaseSettings {
    /// Directory holding the embedded database [default: <user data dir>/trunkd]
    #[arg(long, env = "TRUNKD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// postgres://USER:PASSWORD@HOST/DB for the scaled-out store [default: SQLite in the data dir]
    #[arg(long, env = "TRUNKD_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

/// What `backup` reads: the database settings, and where the copy goes.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct BackupArgs {
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// The new file to write the copy to (never overwritten)
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
}

/// How trunkd (the server, or an agent) authenticates itself to Keystone.
#[derive(Args, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct KeystoneSettings {
    /// Keystone's URL, e.g. https://keystone:5000 (the server's auth keystone; for the agent,
    /// instead of a token file)
    #[arg(long, env = "TRUNKD_KEYSTONE_URL")]
    pub keystone_url: Option<String>,
    /// PEM CA bundle that signs an https:// Keystone's certificate [default: the system's
    /// trusted CAs]
    #[arg(long, env = "TRUNKD_KEYSTONE_CAFILE")]
    pub keystone_cafile: Option<PathBuf>,
    /// The service user in Keystone (trunkd's, or the agent's host's)
    #[arg(long, env = "TRUNKD_KEYSTONE_USERNAME")]
    pub keystone_username: Option<String>,
    /// Its password (prefer the variable or the config file to a flag)
    #[arg(long, env = "TRUNKD_KEYSTONE_PASSWORD", hide_env_values = true)]
    pub keystone_password: Option<Secret>,
    /// Project of the service user
    #[arg(long, env = "TRUNKD_KEYSTONE_PROJECT_NAME", default_value = "service")]
    pub keystone_project_name: String,
    /// Domain of the service user
    #[arg(
        long,
        env = "TRUNKD_KEYSTONE_USER_DOMAIN_NAME",
        default_value = "Default"
    )]
    pub keystone_user_domain_name: String,
    /// Domain of its project
    #[arg(
        long,
        env = "TRUNKD_KEYSTONE_PROJECT_DOMAIN_NAME",
        default_value = "Default"
    )]
    pub keystone_project_domain_name: String,
    /// Application credential id, instead of a username and password
    #[arg(long, env = "TRUNKD_KEYSTONE_APPLICATION_CREDENTIAL_ID")]
    pub keystone_application_credential_id: Option<String>,
    /// Application credential secret
    #[arg(
        long,
        env = "TRUNKD_KEYSTONE_APPLICATION_CREDENTIAL_SECRET",
        hide_env_values = true
    )]
    pub keystone_application_credential_secret: Option<Secret>,
    /// Seconds a validated token is trusted before Keystone is asked again
    #[arg(long, env = "TRUNKD_KEYSTONE_CACHE_TTL", default_value_t = 300)]
    pub keystone_cache_ttl: u64,
    /// Most validated tokens kept
    #[arg(long, env = "TRUNKD_KEYSTONE_CACHE_SIZE", default_value_t = 10_000)]
    pub keystone_cache_size: usize,
}

/// How a long-running subcommand (`serve`, `agent`) logs.
#[derive(Args, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct LogSettings {
    /// Log line format: text, or json (one object a line, for a log collector)
    #[arg(
        long,
        env = "TRUNKD_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

/// What `migrate` reads.
#[derive(Args, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct MigrateSettings {
    #[command(flatten)]
    #[serde(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    #[serde(flatten)]
    pub log: LogSettings,
}

/// What `serve` and `check-config` read.
#[derive(Args, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ServerSettings {
    #[command(flatten)]
    #[serde(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    #[serde(flatten)]
    pub log: LogSettings,
    /// Write transactions this server runs at once on PostgreSQL: more let one server write
    /// faster, and make several servers retry more of them for serialization conflicts
    #[arg(
        long,
        env = "TRUNKD_POSTGRES_WRITE_SLOTS",
        default_value_t = DEFAULT_WRITE_SLOTS
    )]
    pub postgres_write_slots: usize,
    /// ADDRESS:PORT to listen on
    #[arg(long, env = "TRUNKD_BIND", default_value = DEFAULT_BIND)]
    pub bind: String,
    /// PEM certificate (chain) to serve the API over TLS with; needs tls_key_file. SIGHUP
    /// reloads both [default: plain HTTP]
    #[arg(long, env = "TRUNKD_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of tls_cert_file
    #[arg(long, env = "TRUNKD_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// Treat calls without identity headers as an admin (noauth only)
    #[arg(
        long,
        env = "TRUNKD_NOAUTH_DEFAULT_ADMIN",
        action = ArgAction::Set,
        num_args = 0..=1,
        default_value_t = false,
        default_missing_value = "true"
    )]
    pub noauth_default_admin: bool,
    /// Let auth noauth listen on an address other than loopback (noauth trusts whatever
    /// identity a caller's headers claim)
    #[arg(
        long,
        env = "TRUNKD_ALLOW_INSECURE_REMOTE",
        action = ArgAction::Set,
        num_args = 0..=1,
        default_value_t = false,
        default_missing_value = "true"
    )]
    pub allow_insecure_remote: bool,
    /// Trunk driver to load (repeat or comma-separate)
    #[arg(
        long = "driver",
        env = "TRUNKD_DRIVERS",
        value_delimiter = ',',
        default_value = "noop"
    )]
    pub drivers: Vec<String>,
    /// oslo.policy YAML file overriding default rules
    #[arg(long, env = "TRUNKD_POLICY_FILE")]
    pub policy_file: Option<PathBuf>,
    /// Refuse a policy file that names rules trunkd does not know
    #[arg(
        long,
        env = "TRUNKD_POLICY_STRICT",
        action = ArgAction::Set,
        num_args = 0..=1,
        default_value_t = false,
        default_missing_value = "true"
    )]
    pub policy_strict: bool,
    /// Largest request body in bytes
    #[arg(long, env = "TRUNKD_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Most subports in one request
    #[arg(long, env = "TRUNKD_MAX_SUBPORTS_PER_REQUEST", default_value_t = 4094)]
    pub max_subports_per_request: usize,
    /// Seconds a VLAN ID freed by a subport removal rests before server-side allocation hands
    /// it out again on the same trunk; 0 turns the rest off
    #[arg(long, env = "TRUNKD_VLAN_REUSE_COOLDOWN", default_value_t = 60)]
    pub vlan_reuse_cooldown: u64,
    /// Allocate a VLAN ID for a vlan subport given without segmentation_id, as for
    /// segmentation_id "auto" (off: such a subport is a 400, as in Neutron)
    #[arg(
        long,
        env = "TRUNKD_VLAN_ALLOCATE_MISSING",
        action = ArgAction::Set,
        num_args = 0..=1,
        default_value_t = false,
        default_missing_value = "true"
    )]
    pub vlan_allocate_missing: bool,
    /// Seconds an Idempotency-Key holds its request's answer; a retry with the key within it
    /// gets that answer, after it the key is free and pruned
    #[arg(
        long,
        env = "TRUNKD_IDEMPOTENCY_RETENTION",
        default_value_t = crate::service::idempotency::DEFAULT_RETENTION.as_secs()
    )]
    pub idempotency_retention: u64,
    /// Seconds a trunk's audit rows are kept; 0 keeps them forever
    #[arg(
        long,
        env = "TRUNKD_AUDIT_RETENTION",
        default_value_t = crate::service::audit::DEFAULT_RETENTION.as_secs()
    )]
    pub audit_retention: u64,
    /// Most tags one network, port or trunk may carry
    #[arg(
        long,
        env = "TRUNKD_MAX_TAGS_PER_RESOURCE",
        default_value_t = DEFAULT_MAX_TAGS_PER_RESOURCE
    )]
    pub max_tags_per_resource: usize,
    /// Most terms of the tag filters (tags, tags-any, not-tags, not-tags-any) of one list call
    #[arg(
        long,
        env = "TRUNKD_MAX_TAG_FILTER_TERMS",
        default_value_t = DEFAULT_MAX_TAG_FILTER_TERMS
    )]
    pub max_tag_filter_terms: usize,
    /// Most resources in one bulk create
    #[arg(long, env = "TRUNKD_MAX_BULK_ITEMS", default_value_t = DEFAULT_MAX_BULK_ITEMS)]
    pub max_bulk_items: usize,
    /// Seconds a client gets to send a request's headers, and again its body
    #[arg(long, env = "TRUNKD_CLIENT_TIMEOUT", default_value_t = 30)]
    pub client_timeout: u64,
    /// Seconds a trunk write waits for drivers that wire on delivery (ovn) before it answers;
    /// 0 answers at once with the committed state
    #[arg(
        long,
        env = "TRUNKD_DRIVER_WAIT",
        default_value_t = crate::service::DEFAULT_DRIVER_WAIT.as_secs()
    )]
    pub driver_wait: u64,
    /// Seconds delivered outbox events are kept before they are deleted
    #[arg(
        long,
        env = "TRUNKD_OUTBOX_RETENTION",
        default_value_t = crate::drivers::dispatcher::DEFAULT_RETENTION.as_secs()
    )]
    pub outbox_retention: u64,
    /// Most trunks one project may own; -1 for no limit
    #[arg(
        long,
        env = "TRUNKD_TRUNK_QUOTA",
        allow_negative_numbers = true,
        default_value_t = -1
    )]
    pub trunk_quota: i64,
    /// Most networks one project may own; -1 for no limit
    #[arg(
        long,
        env = "TRUNKD_NETWORK_QUOTA",
        allow_negative_numbers = true,
        default_value_t = DEFAULT_NETWORK_QUOTA as i64
    )]
    pub network_quota: i64,
    /// Most subnets one project may own; -1 for no limit
    #[arg(
        long,
        env = "TRUNKD_SUBNET_QUOTA",
        allow_negative_numbers = true,
        default_value_t = DEFAULT_SUBNET_QUOTA as i64
    )]
    pub subnet_quota: i64,
    /// Most ports one project may own; -1 for no limit
    #[arg(
        long,
        env = "TRUNKD_PORT_QUOTA",
        allow_negative_numbers = true,
        default_value_t = DEFAULT_PORT_QUOTA as i64
    )]
    pub port_quota: i64,
    /// Network type of networks created without provider attributes
    #[arg(long, env = "TRUNKD_TENANT_NETWORK_TYPE", default_value = "vxlan")]
    pub tenant_network_type: String,
    /// VLAN allocation ranges PHYSNET:FIRST:LAST
    #[arg(
        long = "network-vlan-range",
        env = "TRUNKD_NETWORK_VLAN_RANGES",
        value_delimiter = ',',
        default_value = "physnet1:1000:2999"
    )]
    pub network_vlan_ranges: Vec<String>,
    /// VXLAN allocation range FIRST:LAST
    #[arg(long, env = "TRUNKD_VXLAN_RANGE", default_value = "1:10000")]
    pub vxlan_range: String,
    /// Geneve allocation range FIRST:LAST
    #[arg(long, env = "TRUNKD_GENEVE_RANGE", default_value = "1:10000")]
    pub geneve_range: String,
    /// MTU of the physical network
    #[arg(long, env = "TRUNKD_PHYSICAL_MTU", default_value_t = 1500)]
    pub physical_mtu: i64,
    /// OVN northbound database for the ovn driver: unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT
    #[arg(long, env = "TRUNKD_OVN_NB_CONNECTION")]
    pub ovn_nb_connection: Option<String>,
    /// PEM private key trunkd presents to an ssl: northbound database
    #[arg(long, env = "TRUNKD_OVN_NB_PRIVATE_KEY")]
    pub ovn_nb_private_key: Option<PathBuf>,
    /// PEM certificate of ovn_nb_private_key
    #[arg(long, env = "TRUNKD_OVN_NB_CERTIFICATE")]
    pub ovn_nb_certificate: Option<PathBuf>,
    /// PEM CA certificate that signed an ssl: northbound database's certificate
    #[arg(long, env = "TRUNKD_OVN_NB_CA_CERT")]
    pub ovn_nb_ca_cert: Option<PathBuf>,
    /// OVN southbound database for the ovn driver (optional): unix:PATH, tcp:HOST:PORT or
    /// ssl:HOST:PORT
    #[arg(long, env = "TRUNKD_OVN_SB_CONNECTION")]
    pub ovn_sb_connection: Option<String>,
    /// PEM private key trunkd presents to an ssl: southbound database
    #[arg(long, env = "TRUNKD_OVN_SB_PRIVATE_KEY")]
    pub ovn_sb_private_key: Option<PathBuf>,
    /// PEM certificate of ovn_sb_private_key
    #[arg(long, env = "TRUNKD_OVN_SB_CERTIFICATE")]
    pub ovn_sb_certificate: Option<PathBuf>,
    /// PEM CA certificate that signed an ssl: southbound database's certificate
    #[arg(long, env = "TRUNKD_OVN_SB_CA_CERT")]
    pub ovn_sb_ca_cert: Option<PathBuf>,
    /// Seconds between full OVN reconciliations
    #[arg(
        long,
        env = "TRUNKD_OVN_RECONCILE_INTERVAL",
        default_value_t = DEFAULT_OVN_RECONCILE_INTERVAL
    )]
    pub ovn_reconcile_interval: u64,
    /// TOML file of host agents' token digests (`trunkd agent-token` makes entries)
    #[arg(long, env = "TRUNKD_AGENT_CREDENTIALS_FILE")]
    pub agent_credentials_file: Option<PathBuf>,
    /// RabbitMQ the ovs driver notifies agents through: amqp(s)://USER:PASSWORD@HOST:PORT/VHOST
    #[arg(long, env = "TRUNKD_RABBITMQ_URL", hide_env_values = true)]
    pub rabbitmq_url: Option<String>,
    /// PEM CA bundle that signs an amqps:// broker's certificate [default: the system's trusted
    /// CAs]
    #[arg(long, env = "TRUNKD_RABBITMQ_CAFILE")]
    pub rabbitmq_cafile: Option<PathBuf>,
    /// How callers authenticate: noauth or keystone
    #[arg(long, env = "TRUNKD_AUTH", default_value = "noauth")]
    pub auth: String,
    #[command(flatten)]
    #[serde(flatten)]
    pub keystone: KeystoneSettings,
    /// Most items in one list answer (more: links to the next page); -1 for no limit
    #[arg(
        long,
        env = "TRUNKD_PAGINATION_MAX_LIMIT",
        allow_negative_numbers = true,
        default_value_t = DEFAULT_PAGINATION_MAX_LIMIT
    )]
    pub pagination_max_limit: i64,
    /// URL links in answers start with, e.g. https://network.example.net (behind a proxy or load
    /// balancer) [default: http:// and the address the client connected to]
    #[arg(long, env = "TRUNKD_NETWORK_LINK_PREFIX")]
    pub network_link_prefix: Option<String>,
}

/// What `agent` reads. Its own settings' keys start with `agent_`, as their variables do, so
/// that one file can hold a host's agent and server settings.
#[derive(Args, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct AgentSettings {
    /// This host's name, as ports' binding:host_id give it
    #[arg(long = "host", value_name = "HOST", env = "TRUNKD_AGENT_HOST")]
    pub agent_host: Option<String>,
    /// Base URL of a trunkd server, e.g. http://controller:9696
    #[arg(long = "server", value_name = "SERVER", env = "TRUNKD_AGENT_SERVER")]
    pub agent_server: Option<String>,
    /// PEM CA bundle that signs an https:// server's certificate [default: the system's trusted
    /// CAs]
    #[arg(
        long = "server-cafile",
        value_name = "SERVER_CAFILE",
        env = "TRUNKD_AGENT_SERVER_CAFILE"
    )]
    pub agent_server_cafile: Option<PathBuf>,
    /// File holding this host's agent token (from `trunkd agent-token`); or use Keystone
    #[arg(
        long = "token-file",
        value_name = "TOKEN_FILE",
        env = "TRUNKD_AGENT_TOKEN_FILE"
    )]
    pub agent_token_file: Option<PathBuf>,
    #[command(flatten)]
    #[serde(flatten)]
    pub keystone: KeystoneSettings,
    #[command(flatten)]
    #[serde(flatten)]
    pub log: LogSettings,
    /// The local Open vSwitch database
    #[arg(
        long = "ovsdb",
        value_name = "OVSDB",
        env = "TRUNKD_AGENT_OVSDB",
        default_value = "unix:/var/run/openvswitch/db.sock"
    )]
    pub agent_ovsdb: String,
    /// The integration bridge trunk bridges connect to
    #[arg(
        long = "integration-bridge",
        value_name = "INTEGRATION_BRIDGE",
        env = "TRUNKD_AGENT_INTEGRATION_BRIDGE",
        default_value = "br-int"
    )]
    pub agent_integration_bridge: String,
    /// datapath_type of the trunk bridges it creates (netdev for a userspace switch)
    #[arg(
        long = "datapath-type",
        value_name = "DATAPATH_TYPE",
        env = "TRUNKD_AGENT_DATAPATH_TYPE",
        default_value = "system"
    )]
    pub agent_datapath_type: String,
    /// Seconds between full resyncs
    #[arg(
        long = "resync-interval",
        value_name = "RESYNC_INTERVAL",
        env = "TRUNKD_AGENT_RESYNC_INTERVAL",
        default_value_t = 30
    )]
    pub agent_resync_interval: u64,
    /// RabbitMQ to hear of changes at once: amqp(s)://USER:PASSWORD@HOST:PORT/VHOST [default: none,
    /// periodic resync only]
    #[arg(long, env = "TRUNKD_RABBITMQ_URL", hide_env_values = true)]
    pub rabbitmq_url: Option<String>,
    /// PEM CA bundle that signs an amqps:// broker's certificate [default: the system's trusted
    /// CAs]
    #[arg(long, env = "TRUNKD_RABBITMQ_CAFILE")]
    pub rabbitmq_cafile: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// The rows of the README's configuration table.
    fn readme_rows() -> Vec<&'static str> {
        let readme = include_str!("../../../../README.md");
        let table = readme
            .split_once("| flag | variable | file key | default |")
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        table
            .lines()
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .collect()
    }

    #[test]
    fn the_readme_table_lists_every_server_setting_and_no_other() {
        let rows = readme_rows();
        assert!(rows.len() > 30, "no table found");
        let serve = super::Cli::command();
        let serve = serve.find_subcommand("serve").expect("serve");
        let mut variables = 0;
        for arg in serve.get_arguments() {
            let (Some(variable), Some(long)) = (arg.get_env(), arg.get_long()) else {
                continue;
            };
            let variable = variable.to_string_lossy();
            let row = rows
                .iter()
                .find(|row| row.contains(&format!("`{variable}`")))
                .unwrap_or_else(|| panic!("no README row for {variable}"));
            assert!(row.contains(&format!("`--{long}`")), "{row}: --{long}");
            assert!(row.contains(&format!("`{}`", arg.get_id())), "{row}");
            variables += 1;
        }
        let in_table = rows
            .iter()
            .map(|row| row.matches("`TRUNKD_").count())
            .sum::<usize>();
        assert_eq!(
            in_table, variables,
            "the table names a variable serve lacks"
        );
    }
}
