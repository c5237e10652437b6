//! Persistence. The [`Store`] trait hands out transactions ([`StoreTx`]); the service layer runs
//! each user operation, with its rule checks, inside exactly one of them, so the change, the
//! revision bump and the outbox event commit together or not at all.
//!
//! Checks and writes see the same state, though no backend locks the rows it reads:
//! - SQLite serialises writers: a write transaction begins with `BEGIN IMMEDIATE`, which takes
//!   the database's write lock, so nothing else writes between a check and its write.
//! - PostgreSQL runs write transactions at SERIALIZABLE isolation, without `SELECT ... FOR
//!   UPDATE` or advisory locks: its predicate locks only detect, at a read or at commit, that a
//!   concurrent transaction invalidated what this one read, and abort it with a serialization
//!   failure ([`StoreError::Contention`]), which the service runs again (bounded). Unique keys
//!   back the rules that must hold whatever the isolation. Read transactions are REPEATABLE
//!   READ, READ ONLY: one snapshot.
//!
//! Both backends are one SQL store (`store/sql`) over a dialect each (`store/sqlite`,
//! `store/postgres`). Drivers read through [`DriverReads`], which cannot write.

pub mod audit;
pub mod event;
pub mod idempotency;
pub mod ipam;
pub mod pool;
pub mod postgres;
pub mod query;
pub mod sql;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;

use crate::ids::{NetworkId, PortId, ProjectId, SubnetId, TrunkId};
use crate::model::{Network, NetworkType, Port, Subnet, Subport, Trunk};
pub use query::{Filter, ListQuery, Scope, SortKey, TagFilter, Value};

/// A uniqueness rule the database enforced, named independently of the database's wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// A port is already a trunk member (parent or subport).
    TrunkMemberPort,
    /// A segmentation is already used within the trunk.
    TrunkSegmentation,
    /// A network segment (type, physical network, id) is taken.
    NetworkSegment,
    /// A MAC address is taken on the network.
    PortMac,
    /// An address of a subnet is held by a port.
    IpAllocation,
    /// A primary key or another unique rule.
    Other(String),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unique constraint violated: {0:?}")]
    Unique(Constraint),
    #[error("a referenced row does not exist or is still referenced")]
    ForeignKey,
    /// A concurrent transaction got in the way; running the operation again may succeed.
    #[error("transaction conflict: {0}")]
    Contention(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("marker {0} not found")]
    MarkerNotFound(String),
    #[error("database schema: {0}")]
    Schema(String),
    #[error("database error: {0}")]
    Internal(String),
}

/// The undelivered outbox events, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxBacklog {
    pub pending: i64,
    /// Those a driver failed on at least once, waiting for their retry.
    pub retrying: i64,
    /// Their payloads' size in bytes: what a data plane that is down costs the database.
    pub bytes: i64,
    /// Seconds since the oldest of them was committed (whole seconds); 0 when none is.
    pub oldest_age_seconds: i64,
}

/// A trunk seen from its parent port: what `trunk_details` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentTrunk {
    pub parent: PortId,
    pub trunk_id: TrunkId,
    /// Each subport with its port's MAC address, in the trunk's order.
    pub sub_ports: Vec<(Subport, String)>,
}

/// Which kind of resource an outbox event or a tag belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    Network,
    /// Subnets carry tags and count toward a quota; no outbox event names them (a subnet
    /// changes no data plane yet).
    Subnet,
    Port,
    Trunk,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Network => "network",
            ResourceKind::Subnet => "subnet",
            ResourceKind::Port => "port",
            ResourceKind::Trunk => "trunk",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "network" => Some(ResourceKind::Network),
            "subnet" => Some(ResourceKind::Subnet),
            "port" => Some(ResourceKind::Port),
            "trunk" => Some(ResourceKind::Trunk),
            _ => None,
        }
    }
}

/// An outbox event as written with a change.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub revision_number: i64,
    /// What happened, to which resource ([`event`]).
    pub event: event::Event,
}

impl NewEvent {
    pub fn new(revision_number: i64, event: impl Into<event::Event>) -> Self {
        Self {
            revision_number,
            event: event.into(),
        }
    }

    pub fn resource(&self) -> ResourceKind {
        self.event.resource()
    }

    pub fn resource_id(&self) -> String {
        self.event.resource_id()
    }
}

/// An outbox event as the dispatcher reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEvent {
    pub id: i64,
    pub resource_id: String,
    pub revision_number: i64,
    pub event: event::Event,
    pub attempts: i64,
    /// Not to be delivered before this time (milliseconds since the Unix epoch).
    pub next_attempt_ms: i64,
}

impl PendingEvent {
    pub fn resource(&self) -> ResourceKind {
        self.event.resource()
    }
}

/// A port's membership in a trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub port_id: PortId,
    pub trunk_id: TrunkId,
    pub is_parent: bool,
}

/// Fields written to ports when they join or leave a trunk as subports (rule 12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubportBinding {
    pub device_id: String,
    pub device_owner: String,
    pub host_id: String,
    pub vif_type: String,
    pub updated_at: String,
}

/// Where the schema of a database stands relative to this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// No trunkd tables at all: a new database.
    Empty,
    Current,
    /// Migrations this binary has are not applied yet.
    Behind {
        applied: i64,
        expected: i64,
    },
    /// The database was migrated by a newer binary.
    Ahead {
        applied: i64,
        expected: i64,
    },
}

impl SchemaState {
    /// Compares the newest applied migration with the newest this binary knows.
    pub fn compare(applied: i64, expected: i64) -> Self {
        match applied.cmp(&expected) {
            std::cmp::Ordering::Equal => SchemaState::Current,
            std::cmp::Ordering::Less => SchemaState::Behind { applied, expected },
            std::cmp::Ordering::Greater => SchemaState::Ahead { applied, expected },
        }
    }
}

/// A resource whose outbox events are delivered in order, under one lease.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceKey {
    pub kind: ResourceKind,
    pub id: String,
}

impl ResourceKey {
    pub fn new(kind: ResourceKind, id: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
        }
    }
}

/// An event a driver failed to handle, and when to try it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedDelivery {
    /// The row that carries the attempt (the newest of those folded into the delivery).
    pub id: i64,
    /// Attempts made so far, this one included.
    pub attempts: i64,
    pub error: String,
    pub retry_in_ms: i64,
}

/// A resource's undelivered rows written back as the one event they fold into: `event` goes
/// into the newest row, `keep`, with the attempts made so far and the retry time of the oldest
/// (whose error it takes too), and the older ones, `absorbed`, are deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactedRows {
    pub keep: i64,
    pub revision_number: i64,
    pub event: event::Event,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    /// Oldest first.
    pub absorbed: Vec<i64>,
}

/// What the dispatcher did with the events of the resources it leased, recorded together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Deliveries {
    /// Events every driver accepted.
    pub delivered: Vec<i64>,
    pub failed: Vec<FailedDelivery>,
    /// Undelivered rows folded into one (for a failed delivery, or rows not yet due).
    pub compacted: Vec<CompactedRows>,
    /// Resources whose leases this dispatcher gives up.
    pub released: Vec<ResourceKey>,
}

impl Deliveries {
    pub fn is_empty(&self) -> bool {
        self.delivered.is_empty()
            && self.failed.is_empty()
            && self.compacted.is_empty()
            && self.released.is_empty()
    }

    /// Adds `other`'s outcomes to these.
    pub fn absorb(&mut self, other: Deliveries) {
        self.delivered.extend(other.delivered);
        self.failed.extend(other.failed);
        self.compacted.extend(other.compacted);
        self.released.extend(other.released);
    }
}

/// The outbox as the dispatcher sees it: pending events, delivery leases, outcomes. Leases and
/// outcomes are taken and recorded for many resources in one transaction each, since every
/// write waits its turn for the database (on SQLite, for the one writer).
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Undelivered outbox events, oldest first.
    async fn pending_events(&self, limit: i64) -> Result<Vec<PendingEvent>, StoreError>;
    /// Undelivered outbox events of one resource, oldest first.
    async fn pending_events_of(
        &self,
        resource: ResourceKind,
        resource_id: &str,
    ) -> Result<Vec<PendingEvent>, StoreError>;
    /// Undelivered outbox events of each of `resources` (a page of each), oldest first, read
    /// in one snapshot.
    async fn pending_events_of_each(
        &self,
        resources: &[ResourceKey],
    ) -> Result<Vec<PendingEvent>, StoreError>;
    /// Takes or renews the lease to deliver each resource's events for `lease_ms`, unless
    /// another owner holds an unexpired one; all in one transaction. Returns the resources
    /// `owner` holds now, in the order given.
    async fn take_leases(
        &self,
        resources: &[ResourceKey],
        owner: &str,
        lease_ms: i64,
    ) -> Result<Vec<ResourceKey>, StoreError>;
    /// Records compactions, deliveries and failures and gives up leases, in one transaction.
    /// Returns how many of the delivered rows were still there to mark (another server may
    /// have compacted or marked them meanwhile).
    async fn record_deliveries(
        &self,
        owner: &str,
        deliveries: &Deliveries,
    ) -> Result<u64, StoreError>;
    /// Number of undelivered events (outbox lag, for metrics and tests).
    async fn pending_event_count(&self) -> Result<i64, StoreError>;
    /// Undelivered events, and how many of them wait for a retry, counted together.
    async fn outbox_backlog(&self) -> Result<OutboxBacklog, StoreError>;
    /// Deletes events delivered before `before` (a timestamp as `now_timestamp` renders it).
    /// Returns how many went.
    async fn prune_delivered_events(&self, before: &str) -> Result<u64, StoreError>;
}

/// The database as the service sees it.
#[async_trait]
pub trait Store: Outbox + Send + Sync + 'static {
    /// Where the schema stands; reads only.
    async fn schema_state(&self) -> Result<SchemaState, StoreError>;
    /// Applies every pending migration.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Closes the connections, leaving the database whole in its file (see
    /// `Dialect::checkpoint`).
    async fn close(&self);
    /// The schema version this binary's migrations end at.
    fn expected_schema_version(&self) -> i64;
    /// `error`, with its root cause added when it is the database being unreachable and the
    /// error alone does not say why ("connection refused" beside "pool timed out").
    async fn explain_unavailable(&self, error: StoreError) -> StoreError;
    /// Deletes audit rows recorded before `before_ms`; returns how many.
    async fn prune_audit(&self, before_ms: i64) -> Result<u64, StoreError>;
    /// Deletes idempotency keys claimed before `before_ms`; returns how many.
    async fn prune_idempotency_keys(&self, before_ms: i64) -> Result<u64, StoreError>;
    /// A transaction for a user operation that writes.
    async fn begin_write(&self) -> Result<Box<dyn StoreTx>, StoreError>;
    /// A read-only transaction: a consistent snapshot for reads and lists.
    async fn begin_read(&self) -> Result<Box<dyn StoreTx>, StoreError>;
    /// A read that runs one statement outside any transaction ([`OneRead`]).
    async fn read_once(&self) -> Result<Box<dyn OneRead>, StoreError>;
    /// Whether the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
    /// The store as drivers see it: reads only.
    fn driver_reads(self: Arc<Self>) -> Arc<dyn DriverReads>;
    /// Its connection pools' occupancy, waits and timeouts (for `/metrics`).
    fn pools(&self) -> Vec<pool::PoolStats>;
}

/// A read of one statement, outside any transaction: a single statement sees one snapshot of
/// its own, so it needs no BEGIN, and on PostgreSQL none is sent (a show took three round
/// trips, BEGIN, SELECT and ROLLBACK; now one). Each method consumes the read, so a second
/// statement, which would see another snapshot, cannot be run on it: reads of more than one
/// statement take [`Store::begin_read`].
#[async_trait]
pub trait OneRead: Send {
    /// The trunk `id`, in one statement.
    async fn trunk(self: Box<Self>, id: TrunkId) -> Result<Option<Trunk>, StoreError>;
    /// The memberships of `ports`: one statement for up to 4,096 ports; more are read
    /// 4,096 per statement, each chunk in a snapshot of its own. Callers use it to choose
    /// an error before a write, whose keys enforce the rule itself.
    async fn memberships(self: Box<Self>, ports: &[PortId]) -> Result<Vec<Membership>, StoreError>;
    /// Whether the database answers: `SELECT 1`.
    async fn ping(self: Box<Self>) -> Result<(), StoreError>;
}

/// What a driver may do with the store: read one consistent snapshot. A driver turns stored
/// state into data-plane state and reports back through the service; it never writes here.
#[async_trait]
pub trait DriverReads: Send + Sync {
    async fn snapshot(&self) -> Result<Box<dyn Snapshot>, StoreError>;
}

/// A transaction handed out as a [`Snapshot`]: only its reads can be reached.
pub(crate) struct ReadOnly(pub(crate) Box<dyn StoreTx>);

#[async_trait]
impl Snapshot for ReadOnly {
    async fn get_networks(&mut self, ids: &[NetworkId]) -> Result<Vec<Network>, StoreError> {
        self.0.get_networks(ids).await
    }

    async fn list_networks(&mut self, query: &ListQuery) -> Result<Vec<Network>, StoreError> {
        self.0.list_networks(query).await
    }

    async fn get_port(&mut self, id: PortId) -> Result<Option<Port>, StoreError> {
        self.0.get_port(id).await
    }

    async fn get_ports(&mut self, ids: &[PortId]) -> Result<Vec<Port>, StoreError> {
        self.0.get_ports(ids).await
    }

    async fn list_ports(&mut self, query: &ListQuery) -> Result<Vec<Port>, StoreError> {
        self.0.list_ports(query).await
    }

    async fn memberships(&mut self, ports: &[PortId]) -> Result<Vec<Membership>, StoreError> {
        self.0.memberships(ports).await
    }

    async fn get_trunk(&mut self, id: TrunkId) -> Result<Option<Trunk>, StoreError> {
        self.0.get_trunk(id).await
    }

    async fn list_trunks(&mut self, query: &ListQuery) -> Result<Vec<Trunk>, StoreError> {
        self.0.list_trunks(query).await
    }

    async fn subnets_of_network(&mut self, network: NetworkId) -> Result<Vec<Subnet>, StoreError> {
        self.0.subnets_of_network(network).await
    }

    async fn list_subnets(&mut self, query: &ListQuery) -> Result<Vec<Subnet>, StoreError> {
        self.0.list_subnets(query).await
    }
}

/// A read-only transaction: the reads drivers make, nothing that writes. Dropping it ends it.
#[async_trait]
pub trait Snapshot: Send {
    async fn get_networks(&mut self, ids: &[NetworkId]) -> Result<Vec<Network>, StoreError>;
    async fn list_networks(&mut self, query: &ListQuery) -> Result<Vec<Network>, StoreError>;
    async fn get_port(&mut self, id: PortId) -> Result<Option<Port>, StoreError>;
    async fn get_ports(&mut self, ids: &[PortId]) -> Result<Vec<Port>, StoreError>;
    async fn list_ports(&mut self, query: &ListQuery) -> Result<Vec<Port>, StoreError>;
    /// Trunk memberships of the given ports (those that have one).
    async fn memberships(&mut self, ports: &[PortId]) -> Result<Vec<Membership>, StoreError>;
    async fn get_trunk(&mut self, id: TrunkId) -> Result<Option<Trunk>, StoreError>;
    async fn list_trunks(&mut self, query: &ListQuery) -> Result<Vec<Trunk>, StoreError>;
    /// The subnets of one network (its DHCP settings, for the data plane).
    async fn subnets_of_network(&mut self, network: NetworkId) -> Result<Vec<Subnet>, StoreError>;
    async fn list_subnets(&mut self, query: &ListQuery) -> Result<Vec<Subnet>, StoreError>;
}

/// One open transaction. Dropping it without [`StoreTx::commit`] rolls it back.
#[async_trait]
pub trait StoreTx: Send {
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;

    /// Ends the transaction without its writes, once what it read is durable: a refusal
    /// answered after it stands (on SQLite a write may have read the uncommitted writes of the
    /// requests before it in its batch; this waits for that batch). An error says that what it
    /// read did not commit after all.
    async fn roll_back(self: Box<Self>) -> Result<(), StoreError>;

    /// The same transaction's IP address management.
    fn ipam(&mut self) -> &mut dyn ipam::IpamTx;

    // networks
    async fn get_network(&mut self, id: NetworkId) -> Result<Option<Network>, StoreError>;
    async fn get_networks(&mut self, ids: &[NetworkId]) -> Result<Vec<Network>, StoreError>;
    async fn list_networks(&mut self, query: &ListQuery) -> Result<Vec<Network>, StoreError>;
    async fn insert_network(&mut self, network: &Network) -> Result<(), StoreError>;
    async fn update_network(&mut self, network: &Network) -> Result<(), StoreError>;
    async fn delete_network(&mut self, id: NetworkId) -> Result<(), StoreError>;
    async fn network_has_ports(&mut self, id: NetworkId) -> Result<bool, StoreError>;
    /// Whether a network of `network_type` (on `physical_network`, for VLAN) holds
    /// segmentation id `id`.
    async fn segment_in_use(
        &mut self,
        network_type: NetworkType,
        physical_network: Option<&str>,
        id: i64,
    ) -> Result<bool, StoreError>;
    /// The lowest segmentation id in `from..=to` that no network of the type (and physical
    /// network) holds, if any: one statement, which walks the segment index from `from` to
    /// the first gap and returns one row, however many ids are in use.
    async fn lowest_free_segment(
        &mut self,
        network_type: NetworkType,
        physical_network: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Option<i64>, StoreError>;

    // subnets
    async fn get_subnet(&mut self, id: SubnetId) -> Result<Option<Subnet>, StoreError>;
    async fn list_subnets(&mut self, query: &ListQuery) -> Result<Vec<Subnet>, StoreError>;
    /// Every subnet of a network (for the overlapping-CIDR rule), on the network's index.
    async fn subnets_of_network(&mut self, network: NetworkId) -> Result<Vec<Subnet>, StoreError>;
    async fn insert_subnet(&mut self, subnet: &Subnet) -> Result<(), StoreError>;
    /// Writes every attribute an update may change, the revision and updated_at.
    async fn update_subnet(&mut self, subnet: &Subnet) -> Result<(), StoreError>;
    async fn delete_subnet(&mut self, id: SubnetId) -> Result<(), StoreError>;

    // ports
    async fn get_port(&mut self, id: PortId) -> Result<Option<Port>, StoreError>;
    async fn get_ports(&mut self, ids: &[PortId]) -> Result<Vec<Port>, StoreError>;
    async fn list_ports(&mut self, query: &ListQuery) -> Result<Vec<Port>, StoreError>;
    async fn insert_port(&mut self, port: &Port) -> Result<(), StoreError>;
    async fn update_port(&mut self, port: &Port) -> Result<(), StoreError>;
    async fn delete_port(&mut self, id: PortId) -> Result<(), StoreError>;
    /// Sets the status of `ports` (those that exist) to `status`; nothing else changes.
    async fn set_port_status(
        &mut self,
        ports: &[PortId],
        status: crate::model::PortStatus,
    ) -> Result<(), StoreError>;
    /// Writes subport binding fields to many ports at once, bumping each revision.
    async fn set_subport_bindings(
        &mut self,
        ports: &[PortId],
        binding: &SubportBinding,
    ) -> Result<(), StoreError>;
    /// Trunk memberships of the given ports (those that have one).
    async fn memberships(&mut self, ports: &[PortId]) -> Result<Vec<Membership>, StoreError>;
    /// The trunks whose parents are among `parents`, with their subports' MAC addresses
    /// (`trunk_details`), in one query per chunk of ports.
    async fn trunks_of_parents(
        &mut self,
        parents: &[PortId],
    ) -> Result<Vec<ParentTrunk>, StoreError>;

    // trunks
    async fn get_trunk(&mut self, id: TrunkId) -> Result<Option<Trunk>, StoreError>;
    async fn list_trunks(&mut self, query: &ListQuery) -> Result<Vec<Trunk>, StoreError>;
    /// Inserts the trunk row, its parent membership and its subports.
    async fn insert_trunk(&mut self, trunk: &Trunk) -> Result<(), StoreError>;
    /// Writes name, description, admin state, status, revision and updated_at.
    async fn update_trunk(&mut self, trunk: &Trunk) -> Result<(), StoreError>;
    async fn delete_trunk(&mut self, id: TrunkId) -> Result<(), StoreError>;
    /// How many resources of `kind` `project` owns (for its quota), counted on the
    /// table's project index.
    async fn count_of_project(
        &mut self,
        kind: ResourceKind,
        project: &ProjectId,
    ) -> Result<u64, StoreError>;
    async fn insert_subports(
        &mut self,
        trunk: TrunkId,
        subports: &[Subport],
    ) -> Result<(), StoreError>;
    async fn delete_subports(&mut self, trunk: TrunkId, ports: &[PortId])
        -> Result<(), StoreError>;
    // audit trail
    /// Records an audit row, inserted when the transaction commits (with its outbox events):
    /// this transaction's own reads do not see it.
    async fn insert_audit(&mut self, row: &audit::NewAuditRow) -> Result<(), StoreError>;
    async fn list_audit(
        &mut self,
        query: &audit::AuditQuery,
    ) -> Result<Vec<audit::AuditRow>, StoreError>;
    // idempotency keys
    /// Claims `claim`'s key at `now_ms`, taking over a claim made before `expired_before_ms`;
    /// `false` when the key is held by a live claim.
    async fn claim_idempotency_key(
        &mut self,
        claim: &idempotency::IdempotencyClaim,
        now_ms: i64,
        expired_before_ms: i64,
    ) -> Result<bool, StoreError>;
    async fn idempotency_record(
        &mut self,
        scope: &str,
        key: &str,
    ) -> Result<Option<idempotency::IdempotencyRecord>, StoreError>;
    /// Records the answer of the request that claimed (scope, key) with `fingerprint`.
    async fn record_idempotent_answer(
        &mut self,
        claim: &idempotency::IdempotencyClaim,
        answer: &idempotency::StoredAnswer,
    ) -> Result<(), StoreError>;
    /// VLAN IDs freed from `trunk` at or after `since_ms` (Unix milliseconds), which
    /// allocation must not hand out yet; older records are deleted on the way.
    async fn cooling_vlans(
        &mut self,
        trunk: TrunkId,
        since_ms: i64,
    ) -> Result<Vec<i64>, StoreError>;
    /// Records VLAN `ids` as freed from `trunk` at `at_ms` (a later removal of the same ID
    /// moves its time forward).
    async fn cool_vlans(
        &mut self,
        trunk: TrunkId,
        ids: &[i64],
        at_ms: i64,
    ) -> Result<(), StoreError>;

    // tags and events
    async fn replace_tags(
        &mut self,
        kind: ResourceKind,
        id: &str,
        tags: &[String],
    ) -> Result<(), StoreError>;
    /// Appends an outbox event (the dispatcher folds a resource's rows, `drivers::folding`),
    /// inserted when the transaction commits: this transaction's own reads do not see it.
    async fn insert_event(&mut self, event: &NewEvent) -> Result<(), StoreError>;
}
