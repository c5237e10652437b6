//! Start-up, fail closed: configuration, policy, drivers and the database schema are all
//! checked before anything is served or written (spec section 5). `check-config` runs the same
//! checks and stops.

use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::api::agent_auth::AgentCredentials;
use crate::api::keystone::KeystoneAuth;
use crate::api::{self, AppState, AuthMode};
use crate::config::{AuthConfig, DatabaseConfig};
use crate::config::{Config, ConfigError};
use crate::drivers::delivered::DeliveryFeed;
use crate::drivers::dispatcher::Dispatcher;
use crate::drivers::noop::{self, NoopDriver};
use crate::drivers::ovn::{self, OvnDriver, OvnSettings};
use crate::drivers::ovs::{self, OvsDriver};
use crate::drivers::port_state::{self, PortStateFeed, PortStateSink};
use crate::drivers::{shared_segmentation_types, DriverSet, StatusReporter, TrunkDriver};
use crate::http_server;
use crate::model::SegmentationType;
use crate::policy::{Policy, PolicyError};
use crate::readiness::Readiness;
use crate::service::Service;
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{SchemaState, Store};
use crate::supervisor::TaskHandle;
use crate::tls::ServerTls;

/// How long the exit waits for the database's connections to close.
const STORE_CLOSE_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Segmentation types the service can validate (spec 3.1 rule 5).
pub const VALIDATED_SEGMENTATION_TYPES: &[SegmentationType] =
    &[SegmentationType::Vlan, SegmentationType::Inherit];

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("setting policy_file: {0}")]
    Policy(#[from] PolicyError),
    #[error("setting drivers: {0}")]
    Drivers(String),
    #[error("setting agent_credentials_file: {0}")]
    AgentCredentials(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("database {path}: {message}")]
    Database { path: String, message: String },
    #[error("setting bind: cannot listen on {address}: {message}")]
    Bind { address: String, message: String },
    #[error("serving failed: {0}")]
    Serve(String),
    #[error("{0}")]
    Backup(String),
}

fn database_error(config: &Config, error: impl std::fmt::Display) -> StartupError {
    StartupError::Database {
        path: config.database.describe(),
        message: error.to_string(),
    }
}

/// A driver named in the configuration, before it is started.
#[derive(Debug, Clone)]
pub enum DriverKind {
    Noop,
    Ovn(OvnSettings),
    Ovs { broker: crate::notify::Broker },
}

impl DriverKind {
    fn segmentation_types(&self) -> &'static [SegmentationType] {
        match self {
            DriverKind::Noop => noop::SEGMENTATION_TYPES,
            DriverKind::Ovn(_) => ovn::SEGMENTATION_TYPES,
            DriverKind::Ovs { .. } => ovs::SEGMENTATION_TYPES,
        }
    }
}

/// Resolves the configured driver names and checks the drivers can work together.
pub fn driver_kinds(config: &Config) -> Result<Vec<DriverKind>, StartupError> {
    let mut kinds = Vec::new();
    for name in &config.drivers {
        match (name.as_str(), &config.ovn) {
            ("noop", _) => kinds.push(DriverKind::Noop),
            ("ovs", _) => match &config.rabbitmq_url {
                Some(url) => kinds.push(DriverKind::Ovs {
                    broker: crate::notify::Broker::new(url.clone(), config.rabbitmq_cafile.clone()),
                }),
                None => {
                    return Err(StartupError::Drivers(
                        "the ovs driver needs rabbitmq_url".into(),
                    ))
                }
            },
            ("ovn", Some(settings)) => kinds.push(DriverKind::Ovn(settings.clone())),
            ("ovn", None) => {
                return Err(StartupError::Drivers(
                    "the ovn driver needs ovn_nb_connection".into(),
                ))
            }
            (other, _) => {
                return Err(StartupError::Drivers(format!(
                    "unknown trunk driver '{other}' (known: noop, ovn, ovs)"
                )))
            }
        }
    }
    if kinds.is_empty() {
        return Err(StartupError::Drivers("no trunk driver configured".into()));
    }
    let shared = shared_segmentation_types(kinds.iter().map(DriverKind::segmentation_types));
    if shared.is_empty() {
        return Err(StartupError::Drivers(format!(
            "the drivers {:?} share no segmentation type",
            config.drivers
        )));
    }
    if let Some(unvalidated) = shared
        .iter()
        .find(|t| !VALIDATED_SEGMENTATION_TYPES.contains(t))
    {
        return Err(StartupError::Drivers(format!(
            "segmentation type '{unvalidated}' has no validator"
        )));
    }
    Ok(kinds)
}

/// Starts the drivers (the ovn driver connects in the background), their background tasks and
/// dependencies under `readiness`.
fn start_drivers(
    kinds: &[DriverKind],
    store: &Arc<dyn Store>,
    readiness: &Readiness,
    port_states: &PortStateFeed,
) -> DriverSet {
    let drivers: Vec<Arc<dyn TrunkDriver>> = kinds
        .iter()
        .map(|kind| -> Arc<dyn TrunkDriver> {
            match kind {
                DriverKind::Noop => Arc::new(NoopDriver),
                DriverKind::Ovs { broker } => Arc::new(OvsDriver::start(
                    broker.clone(),
                    store.clone().driver_reads(),
                    readiness,
                )),
                DriverKind::Ovn(settings) => Arc::new(OvnDriver::start(
                    settings.clone(),
                    store.clone().driver_reads(),
                    readiness,
                    port_states.clone(),
                )),
            }
        })
        .collect();
    DriverSet::new(drivers)
}

/// The policy to serve with, warning about rules of the policy file trunkd does not know.
pub fn load_policy(config: &Config) -> Result<Policy, StartupError> {
    let (policy, warnings) =
        crate::policy::load_for_server(config.policy_file.as_deref(), config.policy_strict)?;
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    Ok(policy)
}

/// How callers are authenticated. With Keystone, Keystone is the dependency `keystone`.
fn auth_mode(config: &Config, readiness: &Readiness) -> Result<AuthMode, StartupError> {
    Ok(match &config.auth {
        AuthConfig::NoAuth => AuthMode::NoAuth {
            default_admin: config.noauth_default_admin,
        },
        AuthConfig::Keystone(keystone) => AuthMode::Keystone(Arc::new(
            KeystoneAuth::new(keystone.clone())
                .map_err(StartupError::Serve)?
                .with_dependency(readiness.dependencies.register("keystone")),
        )),
    })
}

/// The probers of the dependencies the server itself owns: the database, and Keystone in
/// keystone auth mode.
fn probe_dependencies(
    readiness: &Readiness,
    store: &Arc<dyn Store>,
    auth: &AuthMode,
) -> Vec<TaskHandle> {
    let database = readiness.dependencies.register("database");
    // Start-up has just read the schema.
    database.set_up();
    let pinged = store.clone();
    let mut probers = vec![readiness.probe("database-probe", database, move || {
        let store = pinged.clone();
        async move { store.ping().await.map_err(|e| e.to_string()) }
    })];
    if let AuthMode::Keystone(keystone) = auth {
        if let Some(dependency) = readiness.dependencies.handle("keystone") {
            let keystone = keystone.clone();
            probers.push(readiness.probe("keystone-probe", dependency, move || {
                let keystone = keystone.clone();
                async move { keystone.probe().await }
            }));
        }
    }
    probers
}

/// Host agents' credentials; none configured means no agent may call.
pub fn load_agent_credentials(config: &Config) -> Result<AgentCredentials, StartupError> {
    match &config.agent_credentials_file {
        Some(path) => AgentCredentials::load(path)
            .map_err(|e| StartupError::AgentCredentials(format!("{}: {e}", path.display()))),
        None => Ok(AgentCredentials::default()),
    }
}

/// The API listener's certificate and key, read and checked; none: plain HTTP.
fn load_tls(config: &Config) -> Result<Option<Arc<ServerTls>>, StartupError> {
    match &config.tls {
        Some(files) => Ok(Some(Arc::new(ServerTls::load(files.clone())?))),
        None => Ok(None),
    }
}

/// What the server loads besides the database.
struct Loaded {
    policy: Policy,
    drivers: Vec<DriverKind>,
    agents: AgentCredentials,
    tls: Option<Arc<ServerTls>>,
}

/// Everything but the database, which the caller opens as it needs.
fn check_static(config: &Config) -> Result<Loaded, StartupError> {
    Ok(Loaded {
        policy: load_policy(config)?,
        drivers: driver_kinds(config)?,
        agents: load_agent_credentials(config)?,
        tls: load_tls(config)?,
    })
}

/// Connects to the configured database. A SQLite file that does not exist yet is created only
/// when `create` is set (serve and migrate); check-config never creates anything.
async fn connect(config: &Config, create: bool) -> Result<Arc<dyn Store>, StartupError> {
    match &config.database {
        DatabaseConfig::Sqlite(path) => {
            if !path.exists() {
                if !create {
                    return Err(database_error(
                        config,
                        "does not exist; `trunkd migrate` or `trunkd serve` creates it",
                    ));
                }
                let parent = path.parent().unwrap_or(Path::new("."));
                std::fs::create_dir_all(parent).map_err(|e| {
                    database_error(config, format!("cannot create its directory: {e}"))
                })?;
            }
            let store = SqliteStore::open(path)
                .await
                .map_err(|e| database_error(config, e))?;
            Ok(Arc::new(store))
        }
        DatabaseConfig::Postgres(url) => {
            let store = PgStore::connect(url, config.postgres_write_slots)
                .map_err(|e| database_error(config, e))?;
            Ok(Arc::new(store))
        }
    }
}

/// What `check-config` found of the database, when nothing is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseCheck {
    /// It exists and is at this binary's schema.
    Current,
    /// The SQLite file is not there yet: `serve` or `migrate` creates it.
    Missing(String),
    /// It exists and holds nothing yet: `serve` or `migrate` initialises it.
    Empty(String),
}

impl std::fmt::Display for DatabaseCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseCheck::Current => f.write_str("the database is at this trunkd's schema"),
            DatabaseCheck::Missing(database) => write!(
                f,
                "database {database} does not exist yet; `trunkd serve` (or `trunkd migrate`) \
                 creates it"
            ),
            DatabaseCheck::Empty(database) => write!(
                f,
                "database {database} holds no schema yet; `trunkd serve` (or `trunkd migrate`) \
                 initialises it"
            ),
        }
    }
}

/// `trunkd check-config`: every start-up check, writing nothing; every failure, not only the
/// first. A database that does not exist yet, or is empty, is no failure: serve creates it.
pub async fn check_config(config: &Config) -> Result<DatabaseCheck, Vec<StartupError>> {
    let (database, database_error) = match check_database(config).await {
        Ok(found) => (Some(found), None),
        Err(error) => (None, Some(error)),
    };
    let errors: Vec<StartupError> = [
        load_policy(config).err(),
        driver_kinds(config).err(),
        load_agent_credentials(config).err(),
        load_tls(config).err(),
        database_error,
    ]
    .into_iter()
    .flatten()
    .collect();
    match database {
        Some(found) if errors.is_empty() => Ok(found),
        _ => Err(errors),
    }
}

/// The database, if it exists, is one this binary can serve (now, or after it initialises it).
async fn check_database(config: &Config) -> Result<DatabaseCheck, StartupError> {
    if let DatabaseConfig::Sqlite(path) = &config.database {
        if !path.exists() {
            return Ok(DatabaseCheck::Missing(config.database.describe()));
        }
    }
    let store = connect(config, false).await?;
    let state = schema_state(config, store.as_ref()).await;
    store.close().await;
    match state? {
        SchemaState::Current => Ok(DatabaseCheck::Current),
        SchemaState::Empty => Ok(DatabaseCheck::Empty(config.database.describe())),
        other => Err(database_error(config, schema_problem(&other))),
    }
}

fn schema_problem(state: &SchemaState) -> String {
    match state {
        SchemaState::Current => "schema is current".into(),
        SchemaState::Empty => "has no schema; run `trunkd migrate`".into(),
        SchemaState::Behind { applied, expected } => format!(
            "schema is at version {applied}, this trunkd needs {expected}; run `trunkd migrate`"
        ),
        SchemaState::Ahead { applied, expected } => format!(
            "schema is at version {applied}, newer than this trunkd knows ({expected}); upgrade trunkd"
        ),
    }
}

/// Where the schema stands, with the root cause of an unreachable database.
async fn schema_state(config: &Config, store: &dyn Store) -> Result<SchemaState, StartupError> {
    match store.schema_state().await {
        Ok(state) => Ok(state),
        Err(error) => Err(database_error(
            config,
            store.explain_unavailable(error).await,
        )),
    }
}

/// For serve: a new (empty) database is initialised, any other schema must be current.
async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartupError> {
    let store = connect(config, true).await?;
    let state = schema_state(config, store.as_ref()).await;
    let state = match state {
        Ok(state) => state,
        Err(error) => {
            store.close().await;
            return Err(error);
        }
    };
    match state {
        SchemaState::Current => Ok(store),
        SchemaState::Empty => {
            tracing::info!(database = %config.database.describe(), "initialising a new database");
            store
                .migrate()
                .await
                .map_err(|e| database_error(config, e))?;
            Ok(store)
        }
        other => {
            store.close().await;
            Err(database_error(config, schema_problem(&other)))
        }
    }
}

/// What `trunkd migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Migrated {
    /// The database was new (or empty): its schema was created.
    Created {
        database: String,
        version: i64,
    },
    Upgraded {
        database: String,
        from: i64,
        to: i64,
    },
    AlreadyCurrent {
        database: String,
        version: i64,
    },
}

impl std::fmt::Display for Migrated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Migrated::Created { database, version } => write!(
                f,
                "created the schema of database {database} (a new database), at version {version}"
            ),
            Migrated::Upgraded { database, from, to } => {
                write!(
                    f,
                    "migrated database {database} from schema version {from} to {to}"
                )
            }
            Migrated::AlreadyCurrent { database, version } => write!(
                f,
                "database {database} is already at schema version {version}; nothing to do"
            ),
        }
    }
}

/// `trunkd migrate`: brings the schema to this binary's version.
pub async fn migrate(config: &Config) -> Result<Migrated, StartupError> {
    let store = connect(config, true).await?;
    let result = migrate_store(config, store.as_ref()).await;
    store.close().await;
    result
}

async fn migrate_store(config: &Config, store: &dyn Store) -> Result<Migrated, StartupError> {
    let database = config.database.describe();
    let version = store.expected_schema_version();
    let done = match schema_state(config, store).await? {
        state @ SchemaState::Ahead { .. } => {
            return Err(database_error(config, schema_problem(&state)))
        }
        SchemaState::Current => {
            return Ok(Migrated::AlreadyCurrent { database, version });
        }
        SchemaState::Empty => Migrated::Created { database, version },
        SchemaState::Behind { applied, expected } => Migrated::Upgraded {
            database,
            from: applied,
            to: expected,
        },
    };
    store
        .migrate()
        .await
        .map_err(|e| database_error(config, e))?;
    Ok(done)
}

/// `trunkd backup --to FILE`: a consistent copy of the embedded database, taken while it may be
/// serving. PostgreSQL has its own tools (pg_dump).
pub async fn backup(
    config: &Config,
    target: &Path,
) -> Result<crate::store::sqlite::backup::BackupSummary, StartupError> {
    match &config.database {
        DatabaseConfig::Sqlite(path) => crate::store::sqlite::backup::backup(path, target)
            .await
            .map_err(|e| StartupError::Backup(e.to_string())),
        DatabaseConfig::Postgres(_) => Err(database_error(
            config,
            "trunkd backup copies the embedded SQLite database; back PostgreSQL up with \
             pg_dump (README: Backups)",
        )),
    }
}

/// `trunkd serve`: checks, then serves until SIGINT/SIGTERM.
pub async fn serve(config: Config) -> Result<(), StartupError> {
    let Loaded {
        policy,
        drivers: driver_kinds,
        agents,
        tls,
    } = check_static(&config)?;
    let readiness = Readiness::default();
    let auth = auth_mode(&config, &readiness)?;
    if let AuthMode::NoAuth { default_admin } = &auth {
        tracing::warn!(
            default_admin,
            "auth noauth: every caller is who its identity headers say (an admin too); use \
             auth = \"keystone\" wherever anyone but you can reach {}",
            config.bind
        );
    }
    // The port before the database: a server that cannot listen must not have created or
    // migrated anything.
    let listener = TcpListener::bind(config.bind)
        .await
        .map_err(|e| StartupError::Bind {
            address: config.bind.to_string(),
            message: e.to_string(),
        })?;
    let address = listener
        .local_addr()
        .map_err(|e| StartupError::Serve(e.to_string()))?;
    let store = open_store(&config).await?;
    let (port_states, port_state_reports) = port_state::port_state_feed();
    let drivers = start_drivers(&driver_kinds, &store, &readiness, &port_states);
    let probers = probe_dependencies(&readiness, &store, &auth);

    let wake = Arc::new(Notify::new());
    let deliveries = DeliveryFeed::new();
    let service = Arc::new(
        Service::new(
            store.clone(),
            Arc::new(policy),
            drivers.clone(),
            config.service.clone(),
            wake.clone(),
        )
        .with_delivery_feed(deliveries.clone()),
    );
    let reporter: Arc<dyn StatusReporter> = service.clone();
    let dispatcher = Dispatcher::new(store.clone(), drivers.clone(), reporter, wake)
        .with_feed(deliveries)
        .with_retention(config.outbox_retention);
    let metrics = Arc::new(
        api::metrics::Metrics::new(
            &dispatcher.stats,
            service.status_transitions(),
            service.write_stats(),
        )
        .with_readiness(&readiness),
    );
    // The data plane's word on ports, written by the service (restarts take the receiver
    // back from the task that panicked).
    let port_state_reports = Arc::new(tokio::sync::Mutex::new(port_state_reports));
    let port_state_sink: Arc<dyn PortStateSink> = service.clone();
    let port_state_task = readiness.tasks.spawn("port-states", move || {
        let (reports, sink) = (port_state_reports.clone(), port_state_sink.clone());
        async move { port_state::apply_forever(&mut *reports.lock().await, sink).await }
    });
    let pruning_service = service.clone();
    let pruning_task = readiness.tasks.spawn("pruning", move || {
        let service = pruning_service.clone();
        async move { service.prune_forever().await }
    });
    let dispatcher = Arc::new(dispatcher);
    let dispatcher_task = readiness.tasks.spawn("dispatcher", move || {
        let dispatcher = dispatcher.clone();
        async move { dispatcher.serve().await }
    });

    let state = AppState::new(api::Shared {
        service,
        auth,
        max_body_bytes: config.max_body_bytes,
        body_timeout: config.client_timeout,
        metrics,
        agents: Arc::new(agents),
        link_prefix: config.network_link_prefix.clone(),
        max_page: config.pagination_max_limit,
        readiness: readiness.clone(),
    });
    tracing::info!(
        %address,
        drivers = ?drivers.names(),
        database = %config.database.describe(),
        "trunkd serving the Neutron v2.0 trunk API"
    );
    // A line for people and for test harnesses that bind port 0.
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("trunkd listening on {scheme}://{address}");
    http_server::serve(
        listener,
        api::router(state),
        config.client_timeout,
        tls,
        shutdown_signal(),
    )
    .await;
    // Every background task (the dispatcher, the probers, the drivers' tasks) is aborted.
    drop((dispatcher_task, port_state_task, pruning_task, probers));
    readiness.tasks.shutdown().await;
    // Then the database's connections, so that "stopped" is the last thing done (bounded: a
    // connection still checked out somewhere must not hold the exit). The SQLite store
    // checkpoints here: after a clean stop `trunkd.db` alone holds every commit.
    if tokio::time::timeout(STORE_CLOSE_LIMIT, store.close())
        .await
        .is_err()
    {
        tracing::warn!("database connections still in use at exit; left to the operating system");
    }
    tracing::info!("trunkd stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM (logging "shutting down").
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}
