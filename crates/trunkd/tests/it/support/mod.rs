//! In-process test support: a service with chosen drivers on a fresh database (SQLite, or
//! PostgreSQL when the tests run on it); and, in [`kit`], what every harness shares (a tool or
//! SKIPPED, waiting for sockets and conditions).
#![allow(dead_code)]

pub mod kit;
pub use crate::pgdb;

use std::sync::Arc;

use tempfile::TempDir;
use tokio::sync::Notify;
use trunkd::drivers::dispatcher::Dispatcher;
use trunkd::drivers::{DriverSet, StatusReporter, TrunkDriver};
use trunkd::ids::{NetworkId, PortId, TrunkId};
use trunkd::policy::{Credentials, Policy};
use trunkd::service::{
    Context, NetworkCreate, PortCreate, Service, ServiceSettings, SubportRequest, TrunkCreate,
};
use trunkd::store::postgres::{PgStore, DEFAULT_WRITE_SLOTS};
use trunkd::store::sqlite::SqliteStore;
use trunkd::store::Store;

pub struct Harness {
    pub service: Arc<Service>,
    pub store: Arc<dyn Store>,
    pub wake: Arc<Notify>,
    _dir: TempDir,
    _database: Option<pgdb::TempDatabase>,
}

/// A service on a new database: PostgreSQL when the tests run on it, else SQLite.
pub async fn harness(drivers: Vec<Arc<dyn TrunkDriver>>) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = pgdb::TempDatabase::create();
    let store: Arc<dyn Store> = match &database {
        Some(database) => {
            Arc::new(PgStore::connect(&database.url, DEFAULT_WRITE_SLOTS).expect("connect"))
        }
        None => Arc::new(
            SqliteStore::open(&dir.path().join("t.db"))
                .await
                .expect("open"),
        ),
    };
    store.migrate().await.expect("migrate");
    let wake = Arc::new(Notify::new());
    let service = Arc::new(Service::new(
        store.clone(),
        Arc::new(Policy::defaults()),
        DriverSet::new(drivers),
        ServiceSettings::default(),
        wake.clone(),
    ));
    Harness {
        service,
        store,
        wake,
        _dir: dir,
        _database: database,
    }
}

pub fn admin(policy: &Policy) -> Context {
    Context::new(
        Credentials::new(
            Some("admin".into()),
            Some("p1".into()),
            ["admin", "member", "reader"],
        ),
        policy,
        "req-test",
    )
}

impl Harness {
    pub fn ctx(&self) -> Context {
        admin(self.service.policy())
    }

    /// A dispatcher over this harness's store and drivers, reporting to its service.
    pub fn dispatcher(&self) -> Dispatcher {
        let reporter: Arc<dyn StatusReporter> = self.service.clone();
        Dispatcher::new(
            self.store.clone(),
            self.service.drivers().clone(),
            reporter,
            self.wake.clone(),
        )
    }

    pub async fn network(&self) -> NetworkId {
        let created = self
            .service
            .create_networks(&self.ctx(), vec![NetworkCreate::default()])
            .await
            .expect("network");
        created[0].item.id
    }

    pub async fn ports(&self, network: NetworkId, count: usize) -> Vec<PortId> {
        let requests = (0..count)
            .map(|_| PortCreate {
                network_id: Some(network),
                ..Default::default()
            })
            .collect();
        self.service
            .create_ports(&self.ctx(), requests)
            .await
            .expect("ports")
            .into_iter()
            .map(|p| p.port.id)
            .collect()
    }

    pub async fn trunk(&self, parent: PortId, subports: Vec<SubportRequest>) -> TrunkId {
        let request = TrunkCreate {
            port_id: Some(parent),
            sub_ports: subports,
            ..Default::default()
        };
        self.service
            .create_trunks(&self.ctx(), vec![request])
            .await
            .expect("trunk")[0]
            .id
    }
}

pub fn vlan(port: PortId, id: i64) -> SubportRequest {
    SubportRequest {
        port_id: port,
        segmentation_type: Some("vlan".into()),
        segmentation_id: Some(trunkd::service::SegmentationIdRequest::Id(id)),
    }
}
