//! Configuration: command-line flags, `TRUNKD_*` environment variables and an optional TOML
//! file, in that order of precedence, over built-in defaults. Everything is validated before
//! the server touches the database (spec section 5), and every problem is reported, not only
//! the first.
//!
//! The settings are declared once, in `settings` (one group per subcommand, each at the same
//! time the flags, the variables and the file format, defaults included); `layers` reads a
//! group from its sources; this module turns a group into the validated configuration the
//! server or the agent runs with. Declared with clap + serde and layered by hand rather than
//! with figment: clap already owns the flags, the variables' names, the defaults and
//! `--help`, and serde the file's types; figment would be a third copy of the layering, names
//! a bad variable by its prefix only, and cannot tell a flag clap defaulted from one given.

mod layers;
pub mod settings;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::drivers::ovn::OvnSettings;
use crate::model::NetworkType;
use crate::ovsdb::Remote;
use crate::service::limits::TAG_SETTING_CEILING;
use crate::service::{
    NetworkSettings, RequestLimits, SegmentRange, ServiceSettings, VlanAllocation,
};

pub use layers::{command, defaults, Environment, Invocation, Sources};
pub use settings::{
    AgentSettings, BackupArgs, Cli, Command, DatabaseSettings, KeystoneSettings, LogSettings,
    MigrateSettings, ServerSettings,
};

/// Neutron's port.
pub const DEFAULT_BIND: &str = "127.0.0.1:9696";
/// Default time between full OVN reconciliations, in seconds.
pub const DEFAULT_OVN_RECONCILE_INTERVAL: u64 = 60;
/// Default cap on request bodies: room for 4,094 subports with long ids.
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Default most items in one list answer. Neutron's default is no limit; a list of 30,000
/// ports is 18 MB, held in memory until the client has read it, so trunkd caps it.
pub const DEFAULT_PAGINATION_MAX_LIMIT: i64 = 1000;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    File { path: String, message: String },
    #[error("setting {setting}: {message}")]
    Invalid {
        setting: &'static str,
        message: String,
    },
    #[error("variable {name}: {message}")]
    Variable { name: String, message: String },
}

fn invalid(setting: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        message: message.into(),
    }
}

/// Every problem found in one run's settings, in the order found; shown one per line.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects the errors of independent checks, so that all of them are reported at once.
#[derive(Default)]
struct Checks(Vec<ConfigError>);

impl Checks {
    /// The value, or `None` with its error kept.
    fn ok<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        result.map_err(|error| self.0.push(error)).ok()
    }

    /// `value` if no check failed.
    fn finish<T>(mut self, value: Option<T>) -> Result<T, ConfigErrors> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => {
                if self.0.is_empty() {
                    self.0.push(invalid("settings", "incomplete"));
                }
                Err(ConfigErrors(self.0))
            }
        }
    }
}

/// The validated configuration a server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    /// The API listener's certificate and key; none: plain HTTP.
    pub tls: Option<crate::tls::KeyPairFiles>,
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    /// Write transactions run at once on PostgreSQL (unused on SQLite, which has one writer).
    pub postgres_write_slots: usize,
    pub noauth_default_admin: bool,
    pub drivers: Vec<String>,
    pub policy_file: Option<PathBuf>,
    /// Refuse a policy file that names rules trunkd does not know.
    pub policy_strict: bool,
    pub max_body_bytes: usize,
    /// Time a client gets to send a request's headers, and again its body.
    pub client_timeout: Duration,
    /// How long delivered outbox events are kept before they are deleted.
    pub outbox_retention: Duration,
    pub service: ServiceSettings,
    /// Settings of the `ovn` driver, when it is loaded.
    pub ovn: Option<OvnSettings>,
    /// Host agents' credentials (see `api::agent_auth`); none: no agent may call.
    pub agent_credentials_file: Option<PathBuf>,
    /// The broker the `ovs` driver notifies agents through (`amqp://` or `amqps://`).
    pub rabbitmq_url: Option<String>,
    /// CAs trusted for an `amqps://` broker; none: the system's.
    pub rabbitmq_cafile: Option<PathBuf>,
    /// How callers are authenticated.
    pub auth: AuthConfig,
    /// Most items in one list answer; none: no limit.
    pub pagination_max_limit: Option<usize>,
    /// What links start with instead of `http://<address the client reached>`.
    pub network_link_prefix: Option<String>,
}

/// A secret from the configuration: never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

/// What clap makes of a secret flag's value.
impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// How the server authenticates its own calls to Keystone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeystoneCredential {
    Password {
        username: String,
        password: Secret,
        user_domain_name: String,
        project_name: String,
        project_domain_name: String,
    },
    ApplicationCredential {
        id: String,
        secret: Secret,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeystoneConfig {
    /// Keystone's base URL, as in the catalog (`http://keystone:5000`, with or without `/v3`).
    pub url: String,
    /// CA bundle for an `https://` Keystone; none: the system's trusted CAs.
    pub cafile: Option<PathBuf>,
    pub credential: KeystoneCredential,
    /// Validated tokens are trusted this long at most (revocation takes effect within it).
    pub cache_ttl: std::time::Duration,
    pub cache_size: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthConfig {
    NoAuth,
    Keystone(KeystoneConfig),
}

/// Which database the server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseConfig {
    /// The embedded default: a SQLite file in the data directory.
    Sqlite(PathBuf),
    /// A `postgres://` URL.
    Postgres(String),
}

impl DatabaseConfig {
    /// How to name the database in messages, without a password.
    pub fn describe(&self) -> String {
        match self {
            DatabaseConfig::Sqlite(path) => path.display().to_string(),
            DatabaseConfig::Postgres(url) => redact_password(url),
        }
    }
}

/// A URL fit for messages and logs: the password in its userinfo and the values of query
/// parameters that hold secrets (`?password=`, `sslpassword=`, ...; PostgreSQL URLs accept
/// them) become `***`. Parsed with a URL parser, so a password holding `@`, `:` or `/`,
/// percent-encoded or not, is found whole. Text that does not parse as a URL shows as its
/// scheme only.
/// `postgres://user:secret@host/db?password=x` -> `postgres://user:***@host/db?password=***`.
pub fn redact_password(text: &str) -> String {
    const HIDDEN: &str = "***";
    let Ok(mut url) = url::Url::parse(text) else {
        return match text.split_once("://") {
            Some((scheme, _)) if !scheme.is_empty() && !scheme.contains(['@', '/', '?']) => {
                format!("{scheme}://{HIDDEN}")
            }
            _ => HIDDEN.to_string(),
        };
    };
    if url.cannot_be_a_base() {
        // `user:secret@host` parses as scheme `user` and an opaque path: no URL we expect.
        return HIDDEN.to_string();
    }
    if url.password().is_some() && url.set_password(Some(HIDDEN)).is_err() {
        return format!("{}://{HIDDEN}", url.scheme());
    }
    let secret = |key: &str| {
        let key = key.to_ascii_lowercase();
        ["pass", "secret", "token"]
            .iter()
            .any(|word| key.contains(word))
    };
    if url.query_pairs().any(|(key, _)| secret(&key)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if secret(&key) {
                    HIDDEN.into()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

fn database_config(
    url: Option<String>,
    data_dir: &std::path::Path,
) -> Result<DatabaseConfig, ConfigError> {
    match url {
        None => Ok(DatabaseConfig::Sqlite(data_dir.join("trunkd.db"))),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(DatabaseConfig::Postgres(url))
        }
        Some(url) => match url.strip_prefix("sqlite://") {
            Some(path) if !path.is_empty() => Ok(DatabaseConfig::Sqlite(PathBuf::from(path))),
            _ => Err(invalid(
                "database_url",
                format!(
                    "'{}' is neither postgres://... nor sqlite://PATH",
                    redact_password(&url)
                ),
            )),
        },
    }
}

/// The default data directory: `trunkd` under the user's data directory.
pub fn default_data_dir() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("trunkd")
}

/// A per-project quota: `-1` is no limit (`None`).
fn quota(setting: &'static str, value: i64) -> Result<Option<u64>, ConfigError> {
    match value {
        -1 => Ok(None),
        quota => u64::try_from(quota)
            .map(Some)
            .map_err(|_| invalid(setting, "must be -1 (no limit) or at least 0")),
    }
}

/// `value` if it lies within `range`, else an error naming `setting`.
fn within<T: PartialOrd + std::fmt::Display + Copy>(
    setting: &'static str,
    value: T,
    range: std::ops::RangeInclusive<T>,
    unit: &str,
) -> Result<T, ConfigError> {
    if range.contains(&value) {
        return Ok(value);
    }
    let (low, high) = (range.start(), range.end());
    Err(invalid(
        setting,
        format!("must be within {low}..{high}{unit}"),
    ))
}

/// `value` if it is at least `least`.
fn at_least<T: PartialOrd + std::fmt::Display + Copy>(
    setting: &'static str,
    value: T,
    least: T,
    unit: &str,
) -> Result<T, ConfigError> {
    if value >= least {
        Ok(value)
    } else {
        Err(invalid(setting, format!("must be at least {least}{unit}")))
    }
}

/// `first:last` or `physnet:first:last`.
fn parse_range(
    setting: &'static str,
    text: &str,
    with_physnet: bool,
    max: i64,
) -> Result<SegmentRange, ConfigError> {
    let parts: Vec<&str> = text.split(':').collect();
    let (physical_network, first, last) = match (with_physnet, parts.as_slice()) {
        (true, [physnet, first, last]) if !physnet.is_empty() => {
            (Some(physnet.to_string()), *first, *last)
        }
        (false, [first, last]) => (None, *first, *last),
        _ => {
            let form = if with_physnet {
                "PHYSNET:FIRST:LAST"
            } else {
                "FIRST:LAST"
            };
            return Err(invalid(
                setting,
                format!("'{text}' is not of the form {form}"),
            ));
        }
    };
    let first: i64 = first
        .parse()
        .map_err(|_| invalid(setting, format!("'{first}' is not an integer")))?;
    let last: i64 = last
        .parse()
        .map_err(|_| invalid(setting, format!("'{last}' is not an integer")))?;
    if first < 1 || last > max || first > last {
        return Err(invalid(
            setting,
            format!("range {first}:{last} must lie within 1:{max} and not be empty"),
        ));
    }
    Ok(SegmentRange {
        physical_network,
        first,
        last,
    })
}

/// Turns the server's settings into a validated configuration, or every reason it cannot.
pub fn resolve(settings: ServerSettings) -> Result<Config, ConfigErrors> {
    let mut checks = Checks::default();
    let config = server_config(settings, &mut checks);
    checks.finish(config)
}

/// The configuration `migrate` runs with: the database settings given, every other at its
/// default.
pub fn resolve_database(database: DatabaseSettings) -> Result<Config, ConfigErrors> {
    resolve(ServerSettings {
        database,
        ..defaults()
    })
}

/// Runs every check of `resolve` (each records its error in `checks`), then assembles the
/// configuration if all passed.
fn server_config(s: ServerSettings, checks: &mut Checks) -> Option<Config> {
    let auth = checks.ok(auth_config(&s));
    let limits = request_limits(&s, checks);
    let bind = checks.ok(s
        .bind
        .parse::<SocketAddr>()
        .map_err(|_| invalid("bind", format!("'{}' is not an ADDRESS:PORT", s.bind))));
    if let (Some(AuthConfig::NoAuth), Some(bind)) = (&auth, &bind) {
        checks.ok(noauth_reach(*bind, s.allow_insecure_remote));
    }
    let tls = checks.ok(tls_files(&s));
    let drivers = checks.ok(if s.drivers.is_empty() {
        Err(invalid(
            "drivers",
            "at least one trunk driver must be loaded",
        ))
    } else {
        Ok(s.drivers.clone())
    });
    let max_body_bytes = checks.ok(at_least("max_body_bytes", s.max_body_bytes, 1024, ""));
    let max_subports = checks.ok(at_least(
        "max_subports_per_request",
        s.max_subports_per_request,
        1,
        "",
    ));
    let client_timeout = checks.ok(within(
        "client_timeout",
        s.client_timeout,
        1..=3600,
        " seconds",
    ));
    let driver_wait = checks.ok(within("driver_wait", s.driver_wait, 0..=300, " seconds"));
    // Reads need a connection of the pool too.
    let postgres_write_slots = checks.ok(within(
        "postgres_write_slots",
        s.postgres_write_slots,
        1..=crate::store::postgres::POOL_SIZE - 1,
        "",
    ));
    let outbox_retention = checks.ok(within(
        "outbox_retention",
        s.outbox_retention,
        0..=7 * 24 * 3600,
        " seconds",
    ));
    let vlan_reuse_cooldown = checks.ok(within(
        "vlan_reuse_cooldown",
        s.vlan_reuse_cooldown,
        0..=24 * 3600,
        " seconds",
    ));
    let idempotency_retention = checks.ok(within(
        "idempotency_retention",
        s.idempotency_retention,
        1..=7 * 24 * 3600,
        " seconds",
    ));
    let audit_retention = checks.ok(within(
        "audit_retention",
        s.audit_retention,
        0..=10 * 366 * 24 * 3600,
        " seconds",
    ));
    let trunk_quota = checks.ok(quota("trunk_quota", s.trunk_quota));
    let network_quota = checks.ok(quota("network_quota", s.network_quota));
    let subnet_quota = checks.ok(quota("subnet_quota", s.subnet_quota));
    let port_quota = checks.ok(quota("port_quota", s.port_quota));
    let tenant_network_type =
        checks.ok(NetworkType::parse(&s.tenant_network_type).ok_or_else(|| {
            invalid(
                "tenant_network_type",
                format!(
                    "'{}' is not one of vlan, vxlan, geneve, flat, local",
                    s.tenant_network_type
                ),
            )
        }));
    let vlan_ranges = checks.ok(s
        .network_vlan_ranges
        .iter()
        .map(|r| parse_range("network_vlan_ranges", r, true, 4094))
        .collect::<Result<Vec<_>, _>>());
    let vxlan_range = checks.ok(parse_range(
        "vxlan_range",
        &s.vxlan_range,
        false,
        16_777_215,
    ));
    let geneve_range = checks.ok(parse_range(
        "geneve_range",
        &s.geneve_range,
        false,
        16_777_215,
    ));
    let physical_mtu = checks.ok(within("physical_mtu", s.physical_mtu, 576..=9216, ""));
    let ovn = checks.ok(ovn_settings(
        &s.drivers,
        s.ovn_nb_connection.clone(),
        s.ovn_reconcile_interval,
    ));
    let ovn_sb = checks.ok(ovn_sb_connection(&s.drivers, s.ovn_sb_connection.clone()));
    let nb_tls = checks.ok(ovsdb_tls(OVN_NB_TLS, &s, s.ovn_nb_connection.as_deref()));
    let sb_tls = checks.ok(ovsdb_tls(OVN_SB_TLS, &s, s.ovn_sb_connection.as_deref()));
    let rabbitmq_url = checks.ok(rabbitmq_url(&s.drivers, s.rabbitmq_url.clone()));
    let rabbitmq_cafile = checks.ok(rabbitmq_cafile(
        s.rabbitmq_url.as_deref(),
        s.rabbitmq_cafile.clone(),
    ));
    let pagination_max_limit = checks.ok(match s.pagination_max_limit {
        -1 => Ok(None),
        limit => usize::try_from(limit)
            .ok()
            .filter(|l| *l >= 1)
            .map(Some)
            .ok_or_else(|| {
                invalid(
                    "pagination_max_limit",
                    "must be -1 (no limit) or at least 1",
                )
            }),
    });
    let network_link_prefix = checks.ok(s
        .network_link_prefix
        .as_deref()
        .map(link_prefix)
        .transpose());
    let data_dir = s.database.data_dir.clone().unwrap_or_else(default_data_dir);
    let database = checks.ok(database_config(s.database.database_url.clone(), &data_dir));
    Some(Config {
        bind: bind?,
        tls: tls?,
        database: database?,
        postgres_write_slots: postgres_write_slots?,
        data_dir,
        noauth_default_admin: s.noauth_default_admin,
        drivers: drivers?,
        policy_file: s.policy_file,
        policy_strict: s.policy_strict,
        max_body_bytes: max_body_bytes?,
        client_timeout: Duration::from_secs(client_timeout?),
        outbox_retention: Duration::from_secs(outbox_retention?),
        service: ServiceSettings {
            networks: NetworkSettings {
                tenant_network_type: tenant_network_type?,
                vlan_ranges: vlan_ranges?,
                vxlan_range: vxlan_range?,
                geneve_range: geneve_range?,
                physical_mtu: physical_mtu?,
            },
            max_subports_per_request: max_subports?,
            trunk_quota: trunk_quota?,
            network_quota: network_quota?,
            subnet_quota: subnet_quota?,
            port_quota: port_quota?,
            driver_wait: Duration::from_secs(driver_wait?),
            limits: limits?,
            idempotency_retention: Duration::from_secs(idempotency_retention?),
            audit_retention: Duration::from_secs(audit_retention?),
            vlans: VlanAllocation {
                reuse_cooldown: Duration::from_secs(vlan_reuse_cooldown?),
                allocate_missing: s.vlan_allocate_missing,
            },
        },
        ovn: match (ovn?, ovn_sb?, nb_tls?, sb_tls?) {
            (Some(settings), sb_connection, nb_tls, sb_tls) => Some(OvnSettings {
                nb_connection: with_tls(settings.nb_connection, nb_tls),
                sb_connection: sb_connection.map(|remote| with_tls(remote, sb_tls)),
                ..settings
            }),
            (None, ..) => None,
        },
        agent_credentials_file: s.agent_credentials_file,
        rabbitmq_url: rabbitmq_url?,
        rabbitmq_cafile: rabbitmq_cafile?,
        auth: auth?,
        pagination_max_limit: pagination_max_limit?,
        network_link_prefix: network_link_prefix?,
    })
}

/// Turns the agent's settings into what it runs with, or every reason it cannot. Reads its
/// token file.
pub fn resolve_agent(settings: AgentSettings) -> Result<crate::agent::AgentSettings, ConfigErrors> {
    let mut checks = Checks::default();
    let agent = agent_config(settings, &mut checks);
    checks.finish(agent)
}

fn agent_config(s: AgentSettings, checks: &mut Checks) -> Option<crate::agent::AgentSettings> {
    use crate::agent::AgentCredential;
    let credential = checks.ok(match (&s.agent_token_file, &s.keystone.keystone_url) {
        (Some(path), None) => std::fs::read_to_string(path)
            .map_err(|e| invalid("agent_token_file", format!("{}: {e}", path.display())))
            .and_then(|token| match token.trim() {
                "" => Err(invalid(
                    "agent_token_file",
                    format!("{} is empty", path.display()),
                )),
                token => Ok(AgentCredential::Token(Secret(token.to_string()))),
            }),
        (None, Some(_)) => keystone_config(&s.keystone).map(AgentCredential::Keystone),
        _ => Err(invalid(
            "agent_token_file",
            "give either --token-file or --keystone-url (with a user)",
        )),
    });
    let host = checks.ok(match s.agent_host {
        Some(host) if !host.trim().is_empty() => Ok(host),
        Some(_) => Err(invalid("agent_host", "must not be empty")),
        None => Err(invalid(
            "agent_host",
            "is required: --host, TRUNKD_AGENT_HOST or agent_host in the config file",
        )),
    });
    let server = checks.ok(s.agent_server.ok_or_else(|| {
        invalid(
            "agent_server",
            "is required: --server, TRUNKD_AGENT_SERVER or agent_server in the config file",
        )
    }));
    let server_cafile = checks.ok(match &s.agent_server_cafile {
        Some(path) => crate::tls::certificates("agent_server_cafile", path)
            .map(|_| Some(path.clone()))
            .map_err(|e| invalid("agent_server_cafile", format!("{}: {}", e.path, e.message))),
        None => Ok(None),
    });
    let ovsdb = checks.ok(s
        .agent_ovsdb
        .parse::<Remote>()
        .map_err(|e: String| invalid("agent_ovsdb", e))
        .and_then(|remote| match remote.is_ssl() {
            true => Err(invalid(
                "agent_ovsdb",
                "ssl: is not supported for the local Open vSwitch database: use unix:PATH",
            )),
            false => Ok(remote),
        }));
    let rabbitmq = checks.ok(agent_rabbitmq_url(s.rabbitmq_url.clone()));
    let rabbitmq_cafile = checks.ok(rabbitmq_cafile(
        s.rabbitmq_url.as_deref(),
        s.rabbitmq_cafile.clone(),
    ));
    let resync_interval = checks.ok(at_least(
        "agent_resync_interval",
        s.agent_resync_interval,
        1,
        " second",
    ));
    Some(crate::agent::AgentSettings {
        host: host?,
        server: server?,
        server_cafile: server_cafile?,
        credential: credential?,
        ovsdb: ovsdb?,
        layout: crate::agent::wiring::Layout {
            integration_bridge: s.agent_integration_bridge,
            datapath_type: s.agent_datapath_type,
        },
        resync_interval: Duration::from_secs(resync_interval?),
        rabbitmq_url: rabbitmq?,
        rabbitmq_cafile: rabbitmq_cafile?,
    })
}

/// `tls_cert_file` and `tls_key_file`: both or neither (their contents are checked by
/// `server`, at start-up and by check-config).
fn tls_files(s: &ServerSettings) -> Result<Option<crate::tls::KeyPairFiles>, ConfigError> {
    match (&s.tls_cert_file, &s.tls_key_file) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(crate::tls::KeyPairFiles {
            cert: cert.clone(),
            key: key.clone(),
            cert_setting: "tls_cert_file",
            key_setting: "tls_key_file",
        })),
        (Some(_), None) => Err(invalid(
            "tls_key_file",
            "tls_cert_file is set: give the certificate's private key too",
        )),
        (None, Some(_)) => Err(invalid(
            "tls_cert_file",
            "tls_key_file is set: give the certificate it belongs to too",
        )),
    }
}

/// `network_link_prefix`: an absolute http(s) URL, links are it plus `/v2.0/...` (a path in it
/// is kept, as behind a proxy that serves the API under one).
fn link_prefix(text: &str) -> Result<String, ConfigError> {
    let url = url::Url::parse(text)
        .map_err(|e| invalid("network_link_prefix", format!("'{text}' is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(invalid(
            "network_link_prefix",
            format!("'{text}' is not an http:// or https:// URL with a host"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid(
            "network_link_prefix",
            format!("'{text}' may hold a scheme, host, port and path only"),
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// The caps on tags, tag filters and bulk creates: each at least 1; the tag caps at most
/// [`TAG_SETTING_CEILING`], which keeps every tag statement within database limits.
fn request_limits(s: &ServerSettings, checks: &mut Checks) -> Option<RequestLimits> {
    let tag_cap =
        |setting: &'static str, value: usize| within(setting, value, 1..=TAG_SETTING_CEILING, "");
    let max_tags_per_resource =
        checks.ok(tag_cap("max_tags_per_resource", s.max_tags_per_resource));
    let max_tag_filter_terms = checks.ok(tag_cap("max_tag_filter_terms", s.max_tag_filter_terms));
    let max_bulk_items = checks.ok(at_least("max_bulk_items", s.max_bulk_items, 1, ""));
    Some(RequestLimits {
        max_tags_per_resource: max_tags_per_resource?,
        max_tag_filter_terms: max_tag_filter_terms?,
        max_bulk_items: max_bulk_items?,
    })
}

/// noauth takes every caller at the word of its identity headers: anyone who can reach the
/// port is an admin. So it listens on loopback only, unless the operator says in so many words
/// that the network in front of it is trusted.
fn noauth_reach(bind: SocketAddr, allow_insecure_remote: bool) -> Result<(), ConfigError> {
    if bind.ip().is_loopback() || allow_insecure_remote {
        return Ok(());
    }
    Err(invalid(
        "bind",
        format!(
            "{bind} is not a loopback address, and auth noauth trusts any caller's identity \
             headers: use auth = \"keystone\", or set allow_insecure_remote = true if only \
             trusted clients can reach it"
        ),
    ))
}

/// `auth`: `noauth` (default) or `keystone`, which needs Keystone's URL and one complete
/// service credential (a password, or an application credential).
fn auth_config(s: &ServerSettings) -> Result<AuthConfig, ConfigError> {
    match s.auth.as_str() {
        "noauth" => Ok(AuthConfig::NoAuth),
        "keystone" if s.noauth_default_admin => Err(invalid(
            "noauth_default_admin",
            "applies to auth noauth only; with keystone every call needs a token",
        )),
        "keystone" => keystone_config(&s.keystone).map(AuthConfig::Keystone),
        other => Err(invalid(
            "auth",
            format!("'{other}' is neither noauth nor keystone"),
        )),
    }
}

/// How trunkd (the server or an agent) calls Keystone: its URL and one complete service
/// credential.
fn keystone_config(k: &KeystoneSettings) -> Result<KeystoneConfig, ConfigError> {
    let url = k.keystone_url.clone().ok_or_else(|| {
        invalid(
            "keystone_url",
            "auth keystone needs Keystone's URL, e.g. http://keystone:5000",
        )
    })?;
    let https = url.starts_with("https://");
    if !https && !url.starts_with("http://") {
        return Err(invalid(
            "keystone_url",
            format!("'{url}' is not an http:// or https:// URL"),
        ));
    }
    if let Some(cafile) = &k.keystone_cafile {
        if !https {
            return Err(invalid(
                "keystone_cafile",
                "is set but keystone_url is http://: give Keystone's https:// URL",
            ));
        }
        crate::tls::certificates("keystone_cafile", cafile)
            .map_err(|e| invalid("keystone_cafile", format!("{}: {}", e.path, e.message)))?;
    }
    let credential = match (
        &k.keystone_application_credential_id,
        &k.keystone_application_credential_secret,
        &k.keystone_username,
        &k.keystone_password,
    ) {
        (Some(id), Some(secret), None, None) => KeystoneCredential::ApplicationCredential {
            id: id.clone(),
            secret: secret.clone(),
        },
        (None, None, Some(username), Some(password)) => KeystoneCredential::Password {
            username: username.clone(),
            password: password.clone(),
            user_domain_name: k.keystone_user_domain_name.clone(),
            project_name: k.keystone_project_name.clone(),
            project_domain_name: k.keystone_project_domain_name.clone(),
        },
        _ => {
            return Err(invalid(
                "keystone_username",
                "give keystone_username and keystone_password, or \
                 keystone_application_credential_id and _secret (exactly one pair)",
            ))
        }
    };
    let ttl = at_least("keystone_cache_ttl", k.keystone_cache_ttl, 1, " second")?;
    let size = at_least("keystone_cache_size", k.keystone_cache_size, 1, "")?;
    Ok(KeystoneConfig {
        url: url
            .trim_end_matches('/')
            .trim_end_matches("/v3")
            .to_string(),
        cafile: k.keystone_cafile.clone(),
        credential,
        cache_ttl: Duration::from_secs(ttl),
        cache_size: size,
    })
}

/// The broker URL: required by the `ovs` driver, refused without it.
fn rabbitmq_url(drivers: &[String], url: Option<String>) -> Result<Option<String>, ConfigError> {
    let loaded = drivers.iter().any(|d| d == "ovs");
    match url {
        None if loaded => Err(invalid(
            "rabbitmq_url",
            "the ovs driver notifies agents through RabbitMQ: give amqp://USER:PASSWORD@HOST:PORT/VHOST",
        )),
        None => Ok(None),
        Some(_) if !loaded => Err(invalid(
            "rabbitmq_url",
            "is set but the ovs driver is not loaded (add --driver ovs)",
        )),
        Some(url) => broker_url(url).map(Some),
    }
}

/// The agent's broker URL: optional, an amqp:// or amqps:// URL when given.
fn agent_rabbitmq_url(url: Option<String>) -> Result<Option<String>, ConfigError> {
    url.map(broker_url).transpose()
}

fn broker_url(url: String) -> Result<String, ConfigError> {
    if url.starts_with("amqp://") || url.starts_with("amqps://") {
        Ok(url)
    } else {
        Err(invalid(
            "rabbitmq_url",
            format!(
                "'{}' is not an amqp:// or amqps:// URL",
                redact_password(&url)
            ),
        ))
    }
}

/// `rabbitmq_cafile`: only with an amqps:// broker, and a readable PEM bundle.
fn rabbitmq_cafile(
    url: Option<&str>,
    cafile: Option<PathBuf>,
) -> Result<Option<PathBuf>, ConfigError> {
    let Some(path) = cafile else {
        return Ok(None);
    };
    if !url.is_some_and(|url| url.starts_with("amqps://")) {
        return Err(invalid(
            "rabbitmq_cafile",
            "is set but rabbitmq_url is not an amqps:// URL (the CAs are for TLS only)",
        ));
    }
    crate::tls::certificates("rabbitmq_cafile", &path)
        .map(|_| Some(path))
        .map_err(|e| invalid("rabbitmq_cafile", format!("{}: {}", e.path, e.message)))
}

/// The `ovn` driver's settings: required when it is loaded, refused when it is not (a
/// connection given for a driver that is not running is a mistake worth stopping for).
fn ovn_settings(
    drivers: &[String],
    connection: Option<String>,
    seconds: u64,
) -> Result<Option<OvnSettings>, ConfigError> {
    let loaded = drivers.iter().any(|d| d == "ovn");
    let Some(connection) = connection else {
        if loaded {
            return Err(invalid(
                "ovn_nb_connection",
                "the ovn driver needs the northbound database, as unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT",
            ));
        }
        return Ok(None);
    };
    if !loaded {
        return Err(invalid(
            "ovn_nb_connection",
            "is set but the ovn driver is not loaded (add --driver ovn)",
        ));
    }
    let nb_connection = connection
        .parse()
        .map_err(|message: String| invalid("ovn_nb_connection", message))?;
    if seconds == 0 {
        return Err(invalid(
            "ovn_reconcile_interval",
            "must be at least 1 second",
        ));
    }
    Ok(Some(OvnSettings {
        nb_connection,
        sb_connection: None,
        reconcile_interval: std::time::Duration::from_secs(seconds),
    }))
}

/// The settings of one OVN database's client TLS (Neutron's `[ovn]` names).
struct OvsdbTlsSettings {
    connection: &'static str,
    private_key: &'static str,
    certificate: &'static str,
    ca_cert: &'static str,
    files: fn(&ServerSettings) -> [&Option<PathBuf>; 3],
}

const OVN_NB_TLS: OvsdbTlsSettings = OvsdbTlsSettings {
    connection: "ovn_nb_connection",
    private_key: "ovn_nb_private_key",
    certificate: "ovn_nb_certificate",
    ca_cert: "ovn_nb_ca_cert",
    files: |s| {
        [
            &s.ovn_nb_private_key,
            &s.ovn_nb_certificate,
            &s.ovn_nb_ca_cert,
        ]
    },
};

const OVN_SB_TLS: OvsdbTlsSettings = OvsdbTlsSettings {
    connection: "ovn_sb_connection",
    private_key: "ovn_sb_private_key",
    certificate: "ovn_sb_certificate",
    ca_cert: "ovn_sb_ca_cert",
    files: |s| {
        [
            &s.ovn_sb_private_key,
            &s.ovn_sb_certificate,
            &s.ovn_sb_ca_cert,
        ]
    },
};

/// The client TLS of an `ssl:` OVN database, read and checked: all three files for an `ssl:`
/// connection, none for another.
fn ovsdb_tls(
    names: OvsdbTlsSettings,
    s: &ServerSettings,
    connection: Option<&str>,
) -> Result<Option<crate::tls::OvsdbTls>, ConfigError> {
    let ssl = connection.is_some_and(|c| c.starts_with("ssl:"));
    let [key, certificate, ca] = (names.files)(s);
    match (key, certificate, ca) {
        (None, None, None) if !ssl => Ok(None),
        (Some(key), Some(certificate), Some(ca)) if ssl => {
            let files = crate::tls::KeyPairFiles {
                cert: certificate.clone(),
                key: key.clone(),
                cert_setting: names.certificate,
                key_setting: names.private_key,
            };
            crate::tls::OvsdbTls::load(&files, ca, names.ca_cert)
                .map(Some)
                .map_err(|e| invalid(e.setting, format!("{}: {}", e.path, e.message)))
        }
        _ if ssl => Err(invalid(
            names.connection,
            format!(
                "an ssl: connection needs {}, {} and {}",
                names.private_key, names.certificate, names.ca_cert
            ),
        )),
        _ => Err(invalid(
            names.private_key,
            format!(
                "{}, {} and {} apply to an ssl: {} only",
                names.private_key, names.certificate, names.ca_cert, names.connection
            ),
        )),
    }
}

fn with_tls(remote: Remote, tls: Option<crate::tls::OvsdbTls>) -> Remote {
    match tls {
        Some(tls) => remote.with_tls(tls),
        None => remote,
    }
}

/// The southbound database of the `ovn` driver: optional, refused without the driver (checked
/// apart from [`ovn_settings`], so that a bad value names this key whatever the NB one is).
fn ovn_sb_connection(
    drivers: &[String],
    connection: Option<String>,
) -> Result<Option<Remote>, ConfigError> {
    let Some(connection) = connection else {
        return Ok(None);
    };
    if !drivers.iter().any(|d| d == "ovn") {
        return Err(invalid(
            "ovn_sb_connection",
            "is set but the ovn driver is not loaded (add --driver ovn)",
        ));
    }
    connection
        .parse()
        .map(Some)
        .map_err(|message: String| invalid("ovn_sb_connection", message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amqps_is_accepted_and_a_cafile_needs_it() {
        let dir = tempfile::tempdir().expect("dir");
        let cafile = dir.path().join("ca.pem");
        let key = rcgen::KeyPair::generate().expect("key");
        let ca = rcgen::CertificateParams::new(vec!["ca".into()])
            .expect("params")
            .self_signed(&key)
            .expect("ca");
        std::fs::write(&cafile, ca.pem()).expect("write");
        let with = |url: &str, cafile: Option<&std::path::Path>| ServerSettings {
            drivers: vec!["ovs".into()],
            rabbitmq_url: Some(url.into()),
            rabbitmq_cafile: cafile.map(std::path::Path::to_path_buf),
            ..defaults()
        };
        let config = resolve(with("amqps://u:secret@rabbit:5671/%2f", Some(&cafile)))
            .expect("amqps with a cafile");
        assert_eq!(config.rabbitmq_cafile.as_deref(), Some(cafile.as_path()));
        resolve(with("amqps://u:secret@rabbit:5671/%2f", None)).expect("amqps, system CAs");

        for (url, cafile) in [
            ("amqp://u:secret@rabbit:5672/%2f", Some(cafile.as_path())),
            (
                "amqps://u:secret@rabbit:5671/%2f",
                Some(dir.path().join("none.pem").as_path()),
            ),
        ] {
            let error = resolve(with(url, cafile)).expect_err("refused").to_string();
            assert!(error.contains("rabbitmq_cafile"), "{error}");
            assert!(!error.contains("secret"), "{error}");
        }
        let error = resolve(with("http://u:secret@rabbit/", None))
            .expect_err("not amqp")
            .to_string();
        assert!(error.contains("rabbitmq_url"), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn defaults_resolve() {
        let config = resolve(defaults()).expect("defaults are valid");
        assert_eq!(config.bind.to_string(), DEFAULT_BIND);
        assert_eq!(config.drivers, vec!["noop"]);
        assert_eq!(config.service.networks.vlan_ranges[0].first, 1000);
        assert_eq!(
            config.postgres_write_slots,
            crate::store::postgres::DEFAULT_WRITE_SLOTS
        );
    }

    #[test]
    fn bad_settings_name_themselves() {
        let cases = [
            ServerSettings {
                bind: "nowhere".into(),
                ..defaults()
            },
            ServerSettings {
                drivers: vec![],
                ..defaults()
            },
            ServerSettings {
                network_vlan_ranges: vec!["physnet1:0:5000".into()],
                ..defaults()
            },
            ServerSettings {
                vxlan_range: "9:1".into(),
                ..defaults()
            },
            ServerSettings {
                tenant_network_type: "ethernet".into(),
                ..defaults()
            },
            ServerSettings {
                postgres_write_slots: 0,
                ..defaults()
            },
            ServerSettings {
                postgres_write_slots: crate::store::postgres::POOL_SIZE,
                ..defaults()
            },
        ];
        let names = [
            "bind",
            "drivers",
            "network_vlan_ranges",
            "vxlan_range",
            "tenant_network_type",
            "postgres_write_slots",
            "postgres_write_slots",
        ];
        for (case, name) in cases.into_iter().zip(names) {
            let error = resolve(case).expect_err("invalid setting accepted");
            assert!(
                error.to_string().contains(name),
                "{error} does not name {name}"
            );
        }
    }

    #[test]
    fn noauth_listens_beyond_loopback_only_when_told_to() {
        let at = |bind: &str, auth: &str, allow: bool| ServerSettings {
            bind: bind.into(),
            auth: auth.into(),
            allow_insecure_remote: allow,
            keystone: KeystoneSettings {
                keystone_url: Some("http://keystone:5000".into()),
                keystone_username: Some("trunkd".into()),
                keystone_password: Some(Secret::from("secret".to_string())),
                ..defaults::<ServerSettings>().keystone
            },
            ..defaults()
        };
        for loopback in ["127.0.0.1:9696", "[::1]:9696", "127.0.0.2:1"] {
            assert!(resolve(at(loopback, "noauth", false)).is_ok(), "{loopback}");
        }
        for remote in ["0.0.0.0:9696", "[::]:9696", "192.0.2.7:9696"] {
            let error = resolve(at(remote, "noauth", false)).expect_err(remote);
            let text = error.to_string();
            assert!(text.starts_with("setting bind:"), "{text}");
            assert!(text.contains("allow_insecure_remote"), "{text}");
            assert!(resolve(at(remote, "noauth", true)).is_ok(), "{remote}");
            assert!(resolve(at(remote, "keystone", false)).is_ok(), "{remote}");
        }
    }

    #[test]
    fn the_southbound_connection_is_optional_and_needs_the_ovn_driver() {
        let ovn = |sb: Option<&str>| ServerSettings {
            drivers: vec!["ovn".into()],
            ovn_nb_connection: Some("unix:/run/nb.sock".into()),
            ovn_sb_connection: sb.map(str::to_string),
            ..defaults()
        };
        let settings = |config: Config| config.ovn.expect("ovn settings");
        let without = settings(resolve(ovn(None)).expect("no SB is valid"));
        assert_eq!(without.sb_connection, None);
        let with = settings(resolve(ovn(Some("tcp:10.0.0.10:6642"))).expect("SB is valid"));
        assert_eq!(
            with.sb_connection.map(|r| r.to_string()).as_deref(),
            Some("tcp:10.0.0.10:6642")
        );
        for bad in [
            ovn(Some("ssl:sb:6642")),
            ServerSettings {
                ovn_sb_connection: Some("tcp:127.0.0.1:6642".into()),
                ..defaults()
            },
        ] {
            let error = resolve(bad).expect_err("refused");
            assert!(error.to_string().contains("ovn_sb_connection"), "{error}");
        }
    }

    #[test]
    fn database_urls_choose_the_store() {
        let dir = PathBuf::from("/tmp/d");
        assert_eq!(
            database_config(None, &dir).ok(),
            Some(DatabaseConfig::Sqlite(dir.join("trunkd.db")))
        );
        assert!(matches!(
            database_config(Some("postgres://u:p@h/db".into()), &dir),
            Ok(DatabaseConfig::Postgres(_))
        ));
        let error = database_config(Some("mysql://u:secret@h/db".into()), &dir).expect_err("mysql");
        assert!(error.to_string().contains("database_url"), "{error}");
        assert!(!error.to_string().contains("secret"), "{error}");
    }

    #[test]
    fn passwords_are_redacted_wherever_a_url_holds_them() {
        let cases = [
            (
                "postgres://u:secret@h:5432/db",
                "postgres://u:***@h:5432/db",
            ),
            ("postgres://h/db", "postgres://h/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            // An `@` in the password, raw or percent-encoded: the host follows the last one.
            (
                "postgres://u:p@ss@word@h:5432/db",
                "postgres://u:***@h:5432/db",
            ),
            ("postgres://u:p%40ss@h/db", "postgres://u:***@h/db"),
            ("postgresql://u:a:b@h/db", "postgresql://u:***@h/db"),
            // A raw `/` ends the host part, so this is no valid URL: the scheme only.
            ("postgresql://u:a/b@h/db", "postgresql://***"),
            // Passwords in the query string.
            (
                "postgres://u@h/db?password=secret&sslmode=require",
                "postgres://u@h/db?password=***&sslmode=require",
            ),
            (
                "postgres://u:one@h/db?sslpassword=two&PASSWORD=three",
                "postgres://u:***@h/db?sslpassword=***&PASSWORD=***",
            ),
            (
                "postgres:///db?host=/run/postgresql",
                "postgres:///db?host=/run/postgresql",
            ),
            (
                "amqp://guest:secret@rabbit:5672/%2f",
                "amqp://guest:***@rabbit:5672/%2f",
            ),
            // Not a URL at all: nothing of it but the scheme.
            ("postgres://u:secret@h:port/db", "postgres://***"),
            ("u:secret@h", "***"),
        ];
        for (url, expected) in cases {
            let redacted = redact_password(url);
            assert_eq!(redacted, expected, "{url}");
            for secret in [
                "secret", "p@ss", "@word", "p%40ss", "a:b", "a/b", "two", "three", "one",
            ] {
                assert!(!redacted.contains(secret), "{url} -> {redacted}");
            }
        }
    }

    #[test]
    fn quotas_default_to_neutrons_and_minus_one_is_no_limit() {
        let config = resolve(defaults()).expect("defaults are valid");
        assert_eq!(config.service.network_quota, Some(100));
        assert_eq!(config.service.subnet_quota, Some(100));
        assert_eq!(config.service.port_quota, Some(500));
        assert_eq!(config.service.trunk_quota, None);
        let config = resolve(ServerSettings {
            network_quota: -1,
            subnet_quota: 0,
            port_quota: 7,
            ..defaults()
        })
        .expect("valid quotas");
        assert_eq!(config.service.network_quota, None);
        assert_eq!(config.service.subnet_quota, Some(0));
        assert_eq!(config.service.port_quota, Some(7));
        for (settings, name) in [
            (
                ServerSettings {
                    network_quota: -2,
                    ..defaults()
                },
                "network_quota",
            ),
            (
                ServerSettings {
                    subnet_quota: -5,
                    ..defaults()
                },
                "subnet_quota",
            ),
            (
                ServerSettings {
                    port_quota: i64::MIN,
                    ..defaults()
                },
                "port_quota",
            ),
        ] {
            let error = resolve(settings).expect_err("negative quota accepted");
            assert!(
                error.to_string().contains(name),
                "{error} does not name {name}"
            );
        }
    }

    #[test]
    fn every_invalid_setting_is_reported_at_once() {
        let errors = resolve(ServerSettings {
            bind: "nowhere".into(),
            max_body_bytes: 10,
            trunk_quota: -5,
            physical_mtu: 1,
            auth: "kerberos".into(),
            max_tags_per_resource: 0,
            ..defaults()
        })
        .expect_err("invalid settings accepted");
        let text = errors.to_string();
        let names = [
            "bind",
            "max_body_bytes",
            "trunk_quota",
            "physical_mtu",
            "auth",
            "max_tags_per_resource",
        ];
        assert_eq!(errors.0.len(), names.len(), "{text}");
        assert_eq!(text.lines().count(), names.len(), "{text}");
        for name in names {
            assert!(
                text.lines()
                    .any(|line| line.contains(&format!("setting {name}:"))),
                "{name} not reported: {text}"
            );
        }
    }

    #[test]
    fn policy_strict_is_carried_and_off_by_default() {
        assert!(!resolve(defaults()).expect("defaults").policy_strict);
        let config = resolve(ServerSettings {
            policy_strict: true,
            ..defaults()
        })
        .expect("valid");
        assert!(config.policy_strict);
    }

    #[test]
    fn the_agent_and_the_server_share_one_keystone_group() {
        let keystone = KeystoneSettings {
            keystone_url: Some("http://keystone:5000/v3/".into()),
            keystone_username: Some("compute-1".into()),
            keystone_password: Some(Secret("pw".into())),
            ..defaults()
        };
        let agent = resolve_agent(AgentSettings {
            agent_host: Some("compute-1".into()),
            agent_server: Some("http://controller:9696".into()),
            keystone: keystone.clone(),
            ..defaults()
        })
        .expect("valid agent settings");
        let crate::agent::AgentCredential::Keystone(from_agent) = agent.credential else {
            panic!("the agent does not use Keystone");
        };
        let server = resolve(ServerSettings {
            auth: "keystone".into(),
            keystone,
            ..defaults()
        })
        .expect("valid server settings");
        assert_eq!(server.auth, AuthConfig::Keystone(from_agent.clone()));
        assert_eq!(from_agent.url, "http://keystone:5000");
        // An agent without a host, a server or a credential: all three reported.
        let errors = resolve_agent(defaults()).expect_err("empty agent settings accepted");
        for name in ["agent_host", "agent_server", "agent_token_file"] {
            assert!(errors.to_string().contains(name), "{errors}");
        }
    }
}
