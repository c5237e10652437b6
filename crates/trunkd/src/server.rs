//! Start-up, fail closed: configuration, policy, drivers and the database schema are all
//! checked before anything is served or written (spec section 5). `check-config` runs the same
//! checks and stops.

use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::api::{self, AppState, AuthMode};
use crate::config::{Config, ConfigError};
use crate::drivers::dispatcher::Dispatcher;
use crate::drivers::noop::NoopDriver;
use crate::drivers::{DriverSet, StatusReporter, TrunkDriver};
use crate::policy::{Policy, PolicyError};
use crate::service::Service;
use crate::store::sqlite::{SchemaState, SqliteStore};
use crate::store::Store;

/// Segmentation types the service can validate (spec 3.1 rule 5).
pub const VALIDATED_SEGMENTATION_TYPES: &[&str] = &["vlan", "inherit"];

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("setting policy_file: {0}")]
    Policy(#[from] PolicyError),
    #[error("setting drivers: {0}")]
    Drivers(String),
    #[error("database {path}: {message}")]
    Database { path: String, message: String },
    #[error("setting bind: cannot listen on {address}: {message}")]
    Bind { address: String, message: String },
    #[error("serving failed: {0}")]
    Serve(String),
}

fn database_error(path: &Path, error: impl std::fmt::Display) -> StartupError {
    StartupError::Database {
        path: path.display().to_string(),
        message: error.to_string(),
    }
}

/// Builds the named drivers and checks they can work together.
pub fn load_drivers(names: &[String]) -> Result<DriverSet, StartupError> {
    let mut drivers: Vec<Arc<dyn TrunkDriver>> = Vec::new();
    for name in names {
        match name.as_str() {
            "noop" => drivers.push(Arc::new(NoopDriver)),
            other => {
                return Err(StartupError::Drivers(format!(
                    "unknown trunk driver '{other}' (known: noop)"
                )))
            }
        }
    }
    let set = DriverSet::new(drivers);
    let shared = set.segmentation_types();
    if shared.is_empty() {
        return Err(StartupError::Drivers(format!(
            "the drivers {:?} share no segmentation type",
            set.names()
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
    Ok(set)
}

pub fn load_policy(config: &Config) -> Result<Policy, StartupError> {
    Ok(match &config.policy_file {
        Some(path) => Policy::from_yaml_file(path)?,
        None => Policy::defaults(),
    })
}

/// Everything but the database, which the caller opens as it needs.
fn check_static(config: &Config) -> Result<(Policy, DriverSet), StartupError> {
    Ok((load_policy(config)?, load_drivers(&config.drivers)?))
}

/// `trunkd check-config`: every start-up check, writing nothing.
pub async fn check_config(config: &Config) -> Result<(), StartupError> {
    check_static(config)?;
    let path = config.database_path();
    if !path.exists() {
        return Err(database_error(
            &path,
            "does not exist; `trunkd migrate` or `trunkd serve` creates it",
        ));
    }
    let store = SqliteStore::open(&path)
        .await
        .map_err(|e| database_error(&path, e))?;
    let state = store
        .schema_state()
        .await
        .map_err(|e| database_error(&path, e));
    store.close().await;
    match state? {
        SchemaState::Current => Ok(()),
        other => Err(database_error(&path, schema_problem(&other))),
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

async fn open_store(config: &Config, create: bool) -> Result<SqliteStore, StartupError> {
    let path = config.database_path();
    let fresh = !path.exists();
    if fresh && !create {
        return Err(database_error(&path, "does not exist"));
    }
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        database_error(
            &config.data_dir,
            format!("cannot create data directory: {e}"),
        )
    })?;
    let store = SqliteStore::open(&path)
        .await
        .map_err(|e| database_error(&path, e))?;
    let state = store
        .schema_state()
        .await
        .map_err(|e| database_error(&path, e))?;
    match state {
        SchemaState::Current => Ok(store),
        SchemaState::Empty => {
            tracing::info!(path = %path.display(), "initialising a new database");
            store
                .migrate()
                .await
                .map_err(|e| database_error(&path, e))?;
            Ok(store)
        }
        other => {
            store.close().await;
            Err(database_error(&path, schema_problem(&other)))
        }
    }
}

/// `trunkd migrate`: brings the schema to this binary's version.
pub async fn migrate(config: &Config) -> Result<(), StartupError> {
    let path = config.database_path();
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        database_error(
            &config.data_dir,
            format!("cannot create data directory: {e}"),
        )
    })?;
    let store = SqliteStore::open(&path)
        .await
        .map_err(|e| database_error(&path, e))?;
    let result = match store.schema_state().await {
        Ok(SchemaState::Ahead { applied, expected }) => Err(database_error(
            &path,
            schema_problem(&SchemaState::Ahead { applied, expected }),
        )),
        Ok(_) => store.migrate().await.map_err(|e| database_error(&path, e)),
        Err(e) => Err(database_error(&path, e)),
    };
    store.close().await;
    result
}

/// `trunkd serve`: checks, then serves until SIGINT/SIGTERM.
pub async fn serve(config: Config) -> Result<(), StartupError> {
    let (policy, drivers) = check_static(&config)?;
    let store: Arc<dyn Store> = Arc::new(open_store(&config, true).await?);
    let listener = TcpListener::bind(config.bind)
        .await
        .map_err(|e| StartupError::Bind {
            address: config.bind.to_string(),
            message: e.to_string(),
        })?;
    let address = listener
        .local_addr()
        .map_err(|e| StartupError::Serve(e.to_string()))?;

    let wake = Arc::new(Notify::new());
    let service = Arc::new(Service::new(
        store.clone(),
        Arc::new(policy),
        drivers.clone(),
        config.service.clone(),
        wake.clone(),
    ));
    let reporter: Arc<dyn StatusReporter> = service.clone();
    let dispatcher = Dispatcher::new(store.clone(), drivers.clone(), reporter, wake);
    let metrics = Arc::new(api::metrics::Metrics::new(
        &dispatcher.stats,
        service.status_transitions(),
    ));
    let dispatcher_task = tokio::spawn(dispatcher.run());

    let state = AppState {
        service,
        auth: AuthMode::NoAuth {
            default_admin: config.noauth_default_admin,
        },
        max_body_bytes: config.max_body_bytes,
        metrics,
    };
    tracing::info!(
        %address,
        drivers = ?drivers.names(),
        data_dir = %config.data_dir.display(),
        "trunkd serving the Neutron v2.0 trunk API"
    );
    // A line for people and for test harnesses that bind port 0.
    println!("trunkd listening on http://{address}");
    let served = axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| StartupError::Serve(e.to_string()));
    dispatcher_task.abort();
    tracing::info!("trunkd stopped");
    served
}

async fn shutdown_signal() {
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
