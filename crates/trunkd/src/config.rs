//! Configuration: command-line flags, `TRUNKD_*` environment variables and an optional TOML
//! file, in that order of precedence, over built-in defaults. Everything is validated before
//! the server touches the database (spec section 5).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::drivers::ovn::OvnSettings;
use crate::model::NetworkType;
use crate::service::limits::TAG_SETTING_CEILING;
use crate::service::quota::{DEFAULT_NETWORK_QUOTA, DEFAULT_PORT_QUOTA, DEFAULT_SUBNET_QUOTA};
use crate::service::{NetworkSettings, RequestLimits, SegmentRange, ServiceSettings};

/// Neutron's port.
pub const DEFAULT_BIND: &str = "127.0.0.1:9696";
/// Default time between full OVN reconciliations, in seconds.
pub const DEFAULT_OVN_RECONCILE_INTERVAL: u64 = 60;
/// Default cap on request bodies: room for 4,094 subports with long ids.
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Default most items in one list answer. Neutron's default is no limit; a list of 30,000
/// ports is 18 MB, held in memory until the client has read it, so trunkd caps it.
pub const DEFAULT_PAGINATION_MAX_LIMIT: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    File { path: String, message: String },
    #[error("setting {setting}: {message}")]
    Invalid {
        setting: &'static str,
        message: String,
    },
}

fn invalid(setting: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        message: message.into(),
    }
}

/// Settings as they may appear in the config file; every one optional.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub bind: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub noauth_default_admin: Option<bool>,
    pub drivers: Option<Vec<String>>,
    pub policy_file: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    pub max_subports_per_request: Option<usize>,
    pub max_tags_per_resource: Option<usize>,
    pub max_tag_filter_terms: Option<usize>,
    pub max_bulk_items: Option<usize>,
    pub trunk_quota: Option<i64>,
    pub network_quota: Option<i64>,
    pub subnet_quota: Option<i64>,
    pub port_quota: Option<i64>,
    pub client_timeout: Option<u64>,
    pub driver_wait: Option<u64>,
    pub outbox_retention: Option<u64>,
    pub tenant_network_type: Option<String>,
    pub network_vlan_ranges: Option<Vec<String>>,
    pub vxlan_range: Option<String>,
    pub geneve_range: Option<String>,
    pub physical_mtu: Option<i64>,
    pub ovn_nb_connection: Option<String>,
    pub ovn_reconcile_interval: Option<u64>,
    pub agent_credentials_file: Option<PathBuf>,
    pub rabbitmq_url: Option<String>,
    pub auth: Option<String>,
    pub keystone_url: Option<String>,
    pub keystone_username: Option<String>,
    pub keystone_password: Option<String>,
    pub keystone_project_name: Option<String>,
    pub keystone_user_domain_name: Option<String>,
    pub keystone_project_domain_name: Option<String>,
    pub keystone_application_credential_id: Option<String>,
    pub keystone_application_credential_secret: Option<String>,
    pub keystone_cache_ttl: Option<u64>,
    pub keystone_cache_size: Option<usize>,
    pub pagination_max_limit: Option<i64>,
    pub network_link_prefix: Option<String>,
}

impl FileSettings {
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Fills every unset field of `self` from `lower`.
    pub fn or(self, lower: FileSettings) -> FileSettings {
        FileSettings {
            bind: self.bind.or(lower.bind),
            data_dir: self.data_dir.or(lower.data_dir),
            database_url: self.database_url.or(lower.database_url),
            noauth_default_admin: self.noauth_default_admin.or(lower.noauth_default_admin),
            drivers: self.drivers.or(lower.drivers),
            policy_file: self.policy_file.or(lower.policy_file),
            max_body_bytes: self.max_body_bytes.or(lower.max_body_bytes),
            max_subports_per_request: self
                .max_subports_per_request
                .or(lower.max_subports_per_request),
            max_tags_per_resource: self.max_tags_per_resource.or(lower.max_tags_per_resource),
            max_tag_filter_terms: self.max_tag_filter_terms.or(lower.max_tag_filter_terms),
            max_bulk_items: self.max_bulk_items.or(lower.max_bulk_items),
            trunk_quota: self.trunk_quota.or(lower.trunk_quota),
            network_quota: self.network_quota.or(lower.network_quota),
            subnet_quota: self.subnet_quota.or(lower.subnet_quota),
            port_quota: self.port_quota.or(lower.port_quota),
            client_timeout: self.client_timeout.or(lower.client_timeout),
            driver_wait: self.driver_wait.or(lower.driver_wait),
            outbox_retention: self.outbox_retention.or(lower.outbox_retention),
            tenant_network_type: self.tenant_network_type.or(lower.tenant_network_type),
            network_vlan_ranges: self.network_vlan_ranges.or(lower.network_vlan_ranges),
            vxlan_range: self.vxlan_range.or(lower.vxlan_range),
            geneve_range: self.geneve_range.or(lower.geneve_range),
            physical_mtu: self.physical_mtu.or(lower.physical_mtu),
            ovn_nb_connection: self.ovn_nb_connection.or(lower.ovn_nb_connection),
            ovn_reconcile_interval: self.ovn_reconcile_interval.or(lower.ovn_reconcile_interval),
            agent_credentials_file: self.agent_credentials_file.or(lower.agent_credentials_file),
            rabbitmq_url: self.rabbitmq_url.or(lower.rabbitmq_url),
            auth: self.auth.or(lower.auth),
            keystone_url: self.keystone_url.or(lower.keystone_url),
            keystone_username: self.keystone_username.or(lower.keystone_username),
            keystone_password: self.keystone_password.or(lower.keystone_password),
            keystone_project_name: self.keystone_project_name.or(lower.keystone_project_name),
            keystone_user_domain_name: self
                .keystone_user_domain_name
                .or(lower.keystone_user_domain_name),
            keystone_project_domain_name: self
                .keystone_project_domain_name
                .or(lower.keystone_project_domain_name),
            keystone_application_credential_id: self
                .keystone_application_credential_id
                .or(lower.keystone_application_credential_id),
            keystone_application_credential_secret: self
                .keystone_application_credential_secret
                .or(lower.keystone_application_credential_secret),
            keystone_cache_ttl: self.keystone_cache_ttl.or(lower.keystone_cache_ttl),
            keystone_cache_size: self.keystone_cache_size.or(lower.keystone_cache_size),
            pagination_max_limit: self.pagination_max_limit.or(lower.pagination_max_limit),
            network_link_prefix: self.network_link_prefix.or(lower.network_link_prefix),
        }
    }
}

/// The validated configuration a server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub noauth_default_admin: bool,
    pub drivers: Vec<String>,
    pub policy_file: Option<PathBuf>,
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
    /// The broker the `ovs` driver notifies agents through (`amqp://`).
    pub rabbitmq_url: Option<String>,
    /// How callers are authenticated.
    pub auth: AuthConfig,
    /// Most items in one list answer; none: no limit.
    pub pagination_max_limit: Option<usize>,
    /// What links start with instead of `http://<address the client reached>`.
    pub network_link_prefix: Option<String>,
}

/// A secret from the configuration: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

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

/// A per-project quota: `-1` is no limit (`None`), unset is `default`.
fn quota(
    setting: &'static str,
    value: Option<i64>,
    default: Option<u64>,
) -> Result<Option<u64>, ConfigError> {
    match value {
        None => Ok(default),
        Some(-1) => Ok(None),
        Some(quota) => u64::try_from(quota)
            .map(Some)
            .map_err(|_| invalid(setting, "must be -1 (no limit) or at least 0")),
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

/// Turns merged settings into a validated configuration.
pub fn resolve(settings: FileSettings) -> Result<Config, ConfigError> {
    let auth = auth_config(&settings)?;
    let limits = request_limits(&settings)?;
    let bind_text = settings.bind.unwrap_or_else(|| DEFAULT_BIND.to_string());
    let bind: SocketAddr = bind_text
        .parse()
        .map_err(|_| invalid("bind", format!("'{bind_text}' is not an ADDRESS:PORT")))?;
    let drivers = settings.drivers.unwrap_or_else(|| vec!["noop".to_string()]);
    if drivers.is_empty() {
        return Err(invalid(
            "drivers",
            "at least one trunk driver must be loaded",
        ));
    }
    let max_body_bytes = settings.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    if max_body_bytes < 1024 {
        return Err(invalid("max_body_bytes", "must be at least 1024"));
    }
    let max_subports = settings.max_subports_per_request.unwrap_or(4094);
    if max_subports == 0 {
        return Err(invalid("max_subports_per_request", "must be at least 1"));
    }
    let client_timeout = settings.client_timeout.unwrap_or(30);
    if !(1..=3600).contains(&client_timeout) {
        return Err(invalid("client_timeout", "must be within 1..3600 seconds"));
    }
    let driver_wait = settings
        .driver_wait
        .map_or(crate::service::DEFAULT_DRIVER_WAIT, Duration::from_secs);
    if driver_wait > Duration::from_secs(300) {
        return Err(invalid("driver_wait", "must be within 0..300 seconds"));
    }
    let outbox_retention = settings.outbox_retention.map_or(
        crate::drivers::dispatcher::DEFAULT_RETENTION,
        Duration::from_secs,
    );
    if outbox_retention > Duration::from_secs(7 * 24 * 3600) {
        return Err(invalid(
            "outbox_retention",
            "must be within 0..604800 seconds",
        ));
    }
    let trunk_quota = quota("trunk_quota", settings.trunk_quota, None)?;
    let network_quota = quota(
        "network_quota",
        settings.network_quota,
        Some(DEFAULT_NETWORK_QUOTA),
    )?;
    let subnet_quota = quota(
        "subnet_quota",
        settings.subnet_quota,
        Some(DEFAULT_SUBNET_QUOTA),
    )?;
    let port_quota = quota("port_quota", settings.port_quota, Some(DEFAULT_PORT_QUOTA))?;
    let tenant_type_text = settings
        .tenant_network_type
        .unwrap_or_else(|| "vxlan".to_string());
    let tenant_network_type = NetworkType::parse(&tenant_type_text).ok_or_else(|| {
        invalid(
            "tenant_network_type",
            format!("'{tenant_type_text}' is not one of vlan, vxlan, geneve, flat, local"),
        )
    })?;
    let vlan_ranges = settings
        .network_vlan_ranges
        .unwrap_or_else(|| vec!["physnet1:1000:2999".to_string()])
        .iter()
        .map(|r| parse_range("network_vlan_ranges", r, true, 4094))
        .collect::<Result<Vec<_>, _>>()?;
    let vxlan_range = parse_range(
        "vxlan_range",
        settings.vxlan_range.as_deref().unwrap_or("1:10000"),
        false,
        16_777_215,
    )?;
    let geneve_range = parse_range(
        "geneve_range",
        settings.geneve_range.as_deref().unwrap_or("1:10000"),
        false,
        16_777_215,
    )?;
    let physical_mtu = settings.physical_mtu.unwrap_or(1500);
    if !(576..=9216).contains(&physical_mtu) {
        return Err(invalid("physical_mtu", "must be within 576..9216"));
    }
    let ovn = ovn_settings(
        &drivers,
        settings.ovn_nb_connection,
        settings.ovn_reconcile_interval,
    )?;
    let rabbitmq_url = rabbitmq_url(&drivers, settings.rabbitmq_url)?;
    let pagination_max_limit = match settings
        .pagination_max_limit
        .unwrap_or(DEFAULT_PAGINATION_MAX_LIMIT)
    {
        -1 => None,
        limit => Some(
            usize::try_from(limit)
                .ok()
                .filter(|l| *l >= 1)
                .ok_or_else(|| {
                    invalid(
                        "pagination_max_limit",
                        "must be -1 (no limit) or at least 1",
                    )
                })?,
        ),
    };
    let network_link_prefix = settings
        .network_link_prefix
        .map(|prefix| link_prefix(&prefix))
        .transpose()?;
    let data_dir = settings.data_dir.unwrap_or_else(default_data_dir);
    Ok(Config {
        bind,
        database: database_config(settings.database_url, &data_dir)?,
        data_dir,
        noauth_default_admin: settings.noauth_default_admin.unwrap_or(false),
        drivers,
        policy_file: settings.policy_file,
        max_body_bytes,
        client_timeout: Duration::from_secs(client_timeout),
        outbox_retention,
        service: ServiceSettings {
            networks: NetworkSettings {
                tenant_network_type,
                vlan_ranges,
                vxlan_range,
                geneve_range,
                physical_mtu,
            },
            max_subports_per_request: max_subports,
            trunk_quota,
            network_quota,
            subnet_quota,
            port_quota,
            driver_wait,
            limits,
        },
        ovn,
        agent_credentials_file: settings.agent_credentials_file,
        rabbitmq_url,
        auth,
        pagination_max_limit,
        network_link_prefix,
    })
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
fn request_limits(settings: &FileSettings) -> Result<RequestLimits, ConfigError> {
    let defaults = RequestLimits::default();
    let tag_cap = |setting: &'static str, value: Option<usize>, default: usize| {
        let value = value.unwrap_or(default);
        if (1..=TAG_SETTING_CEILING).contains(&value) {
            Ok(value)
        } else {
            Err(invalid(
                setting,
                format!("must be within 1..{TAG_SETTING_CEILING}"),
            ))
        }
    };
    let max_bulk_items = settings.max_bulk_items.unwrap_or(defaults.max_bulk_items);
    if max_bulk_items == 0 {
        return Err(invalid("max_bulk_items", "must be at least 1"));
    }
    Ok(RequestLimits {
        max_tags_per_resource: tag_cap(
            "max_tags_per_resource",
            settings.max_tags_per_resource,
            defaults.max_tags_per_resource,
        )?,
        max_tag_filter_terms: tag_cap(
            "max_tag_filter_terms",
            settings.max_tag_filter_terms,
            defaults.max_tag_filter_terms,
        )?,
        max_bulk_items,
    })
}

/// `auth`: `noauth` (default) or `keystone`, which needs Keystone's URL and one complete
/// service credential (a password, or an application credential).
fn auth_config(settings: &FileSettings) -> Result<AuthConfig, ConfigError> {
    match settings.auth.as_deref().unwrap_or("noauth") {
        "noauth" => Ok(AuthConfig::NoAuth),
        "keystone" => {
            if settings.noauth_default_admin == Some(true) {
                return Err(invalid(
                    "noauth_default_admin",
                    "applies to auth noauth only; with keystone every call needs a token",
                ));
            }
            let url = settings.keystone_url.clone().ok_or_else(|| {
                invalid(
                    "keystone_url",
                    "auth keystone needs Keystone's URL, e.g. http://keystone:5000",
                )
            })?;
            if url.starts_with("https://") {
                // No TLS stack is built in yet (it would be the largest dependency of all).
                return Err(invalid(
                    "keystone_url",
                    "https is not supported yet: reach Keystone's internal http endpoint",
                ));
            }
            if !url.starts_with("http://") {
                return Err(invalid(
                    "keystone_url",
                    format!("'{url}' is not an http:// URL"),
                ));
            }
            let credential = match (
                &settings.keystone_application_credential_id,
                &settings.keystone_application_credential_secret,
                &settings.keystone_username,
                &settings.keystone_password,
            ) {
                (Some(id), Some(secret), None, None) => KeystoneCredential::ApplicationCredential {
                    id: id.clone(),
                    secret: Secret(secret.clone()),
                },
                (None, None, Some(username), Some(password)) => KeystoneCredential::Password {
                    username: username.clone(),
                    password: Secret(password.clone()),
                    user_domain_name: settings
                        .keystone_user_domain_name
                        .clone()
                        .unwrap_or_else(|| "Default".into()),
                    project_name: settings
                        .keystone_project_name
                        .clone()
                        .unwrap_or_else(|| "service".into()),
                    project_domain_name: settings
                        .keystone_project_domain_name
                        .clone()
                        .unwrap_or_else(|| "Default".into()),
                },
                _ => {
                    return Err(invalid(
                        "keystone_username",
                        "give keystone_username and keystone_password, or \
                         keystone_application_credential_id and _secret (exactly one pair)",
                    ))
                }
            };
            let ttl = settings.keystone_cache_ttl.unwrap_or(300);
            if ttl == 0 {
                return Err(invalid("keystone_cache_ttl", "must be at least 1 second"));
            }
            let size = settings.keystone_cache_size.unwrap_or(10_000);
            if size == 0 {
                return Err(invalid("keystone_cache_size", "must be at least 1"));
            }
            Ok(AuthConfig::Keystone(KeystoneConfig {
                url: url
                    .trim_end_matches('/')
                    .trim_end_matches("/v3")
                    .to_string(),
                credential,
                cache_ttl: std::time::Duration::from_secs(ttl),
                cache_size: size,
            }))
        }
        other => Err(invalid(
            "auth",
            format!("'{other}' is neither noauth nor keystone"),
        )),
    }
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
        Some(url) if !url.starts_with("amqp://") => Err(invalid(
            "rabbitmq_url",
            format!("'{}' is not an amqp:// URL (amqps is not supported)", redact_password(&url)),
        )),
        Some(url) => Ok(Some(url)),
    }
}

/// The `ovn` driver's settings: required when it is loaded, refused when it is not (a
/// connection given for a driver that is not running is a mistake worth stopping for).
fn ovn_settings(
    drivers: &[String],
    connection: Option<String>,
    interval: Option<u64>,
) -> Result<Option<OvnSettings>, ConfigError> {
    let loaded = drivers.iter().any(|d| d == "ovn");
    let Some(connection) = connection else {
        if loaded {
            return Err(invalid(
                "ovn_nb_connection",
                "the ovn driver needs the northbound database, as unix:PATH or tcp:HOST:PORT",
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
    let seconds = interval.unwrap_or(DEFAULT_OVN_RECONCILE_INTERVAL);
    if seconds == 0 {
        return Err(invalid(
            "ovn_reconcile_interval",
            "must be at least 1 second",
        ));
    }
    Ok(Some(OvnSettings {
        nb_connection,
        reconcile_interval: std::time::Duration::from_secs(seconds),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_resolve() {
        let config = resolve(FileSettings::default()).expect("defaults are valid");
        assert_eq!(config.bind.to_string(), DEFAULT_BIND);
        assert_eq!(config.drivers, vec!["noop"]);
        assert_eq!(config.service.networks.vlan_ranges[0].first, 1000);
    }

    #[test]
    fn bad_settings_name_themselves() {
        let cases = [
            FileSettings {
                bind: Some("nowhere".into()),
                ..Default::default()
            },
            FileSettings {
                drivers: Some(vec![]),
                ..Default::default()
            },
            FileSettings {
                network_vlan_ranges: Some(vec!["physnet1:0:5000".into()]),
                ..Default::default()
            },
            FileSettings {
                vxlan_range: Some("9:1".into()),
                ..Default::default()
            },
            FileSettings {
                tenant_network_type: Some("ethernet".into()),
                ..Default::default()
            },
        ];
        let names = [
            "bind",
            "drivers",
            "network_vlan_ranges",
            "vxlan_range",
            "tenant_network_type",
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
        let config = resolve(FileSettings::default()).expect("defaults are valid");
        assert_eq!(config.service.network_quota, Some(100));
        assert_eq!(config.service.subnet_quota, Some(100));
        assert_eq!(config.service.port_quota, Some(500));
        assert_eq!(config.service.trunk_quota, None);
        let config = resolve(FileSettings {
            network_quota: Some(-1),
            subnet_quota: Some(0),
            port_quota: Some(7),
            ..Default::default()
        })
        .expect("valid quotas");
        assert_eq!(config.service.network_quota, None);
        assert_eq!(config.service.subnet_quota, Some(0));
        assert_eq!(config.service.port_quota, Some(7));
        for (settings, name) in [
            (
                FileSettings {
                    network_quota: Some(-2),
                    ..Default::default()
                },
                "network_quota",
            ),
            (
                FileSettings {
                    subnet_quota: Some(-5),
                    ..Default::default()
                },
                "subnet_quota",
            ),
            (
                FileSettings {
                    port_quota: Some(i64::MIN),
                    ..Default::default()
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
    fn higher_layers_win() {
        let cli = FileSettings {
            bind: Some("127.0.0.1:1".into()),
            ..Default::default()
        };
        let file = FileSettings {
            bind: Some("127.0.0.1:2".into()),
            physical_mtu: Some(9000),
            ..Default::default()
        };
        let merged = cli.or(file);
        assert_eq!(merged.bind.as_deref(), Some("127.0.0.1:1"));
        assert_eq!(merged.physical_mtu, Some(9000));
    }
}
