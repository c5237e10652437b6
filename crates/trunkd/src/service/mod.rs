//! The service layer: one function per user operation. Each builds its policy target, checks
//! policy, validates input against the spec's rules and runs exactly one store transaction, so
//! the change, its revision bump and its outbox event commit together or not at all.

mod addressing;
mod agents;
pub mod audit;
mod context;
mod error;
mod guest_config;
pub mod idempotency;
pub mod ipam;
pub mod limits;
mod memberships;
mod networks;
pub(crate) mod outbox;
mod port_status;
mod ports;
mod pruning;
pub mod quota;
mod settle;
pub mod status;
mod subnets;
mod subports;
pub mod tags;
mod teardown;
mod trunks;
mod vlan_pool;
pub mod waiting;

use std::sync::Arc;

use tokio::sync::Notify;

pub use agents::{
    AgentPort, AgentPortState, AgentPortStates, AgentSubport, AgentTrunk, AgentVerdict,
    AgentVerdictKind,
};
pub use context::Context;
pub(crate) use context::{owned_target, Guard};
pub use error::{ErrorKind, ServiceError};
pub use limits::{ListRules, RequestLimits};
pub use networks::{NetworkCreate, NetworkUpdate};
pub use ports::{PortCreate, PortUpdate, PortView, TrunkDetails};
pub use subnets::{GatewayRequest, SubnetCreate, SubnetUpdate};
pub use subports::{SegmentationIdRequest, SubportRequest};
pub use teardown::BoundParent;
pub use trunks::{TrunkCreate, TrunkUpdate};

use crate::drivers::delivered::DeliveryFeed;
use crate::drivers::DriverSet;
use crate::model::NetworkType;
use crate::policy::Policy;
use crate::store::idempotency::IdempotencyClaim;
use crate::store::{OneRead, Store, StoreTx};

/// How many times a write is run before a transaction conflict gives up with 503. On
/// PostgreSQL, SERIALIZABLE's predicate locks cover index pages, and while tables are small
/// one page holds every key, so concurrent trunk creates conflict about half the time. Each
/// conflict commits one of the pair, and a retry conflicts again less often (trunkd-bench
/// with 8 clients: 300 creates, 160 retried once, 30 twice, at most 5 times), yet with 8
/// attempts a request ran out now and then. With 16 the pauses add up to at most about 1.5 s.
const MAX_WRITE_ATTEMPTS: u32 = 16;

/// A short random pause before running a conflicted transaction again, growing with the
/// attempt, so that writers that collided do not collide again in lockstep.
pub(crate) fn retry_pause(attempt: u32) -> std::time::Duration {
    use rand::Rng;
    let ceiling_ms = 2u64 << attempt.min(6);
    std::time::Duration::from_millis(rand::thread_rng().gen_range(1..=ceiling_ms))
}

/// A segmentation id range for network allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRange {
    pub physical_network: Option<String>,
    pub first: i64,
    pub last: i64,
}

/// Network defaults (spec section 2).
#[derive(Debug, Clone)]
pub struct NetworkSettings {
    pub tenant_network_type: NetworkType,
    pub vlan_ranges: Vec<SegmentRange>,
    pub vxlan_range: SegmentRange,
    pub geneve_range: SegmentRange,
    pub physical_mtu: i64,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        Self {
            tenant_network_type: NetworkType::Vxlan,
            vlan_ranges: vec![SegmentRange {
                physical_network: Some("physnet1".into()),
                first: 1000,
                last: 2999,
            }],
            vxlan_range: SegmentRange {
                physical_network: None,
                first: 1,
                last: 10_000,
            },
            geneve_range: SegmentRange {
                physical_network: None,
                first: 1,
                last: 10_000,
            },
            physical_mtu: 1500,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServiceSettings {
    pub networks: NetworkSettings,
    /// Most subports one request may carry.
    pub max_subports_per_request: usize,
    /// Most trunks one project may own; `None` is no limit.
    pub trunk_quota: Option<u64>,
    /// Most networks one project may own; `None` is no limit.
    pub network_quota: Option<u64>,
    /// Most subnets one project may own; `None` is no limit.
    pub subnet_quota: Option<u64>,
    /// Most ports one project may own; `None` is no limit.
    pub port_quota: Option<u64>,
    /// How long a trunk write waits for drivers that wire on delivery before it answers
    /// (zero: it does not wait).
    pub driver_wait: std::time::Duration,
    /// Caps on tags, list filters and bulk creates.
    pub limits: RequestLimits,
    /// Server-side VLAN allocation for subports.
    pub vlans: VlanAllocation,
    /// How long an idempotency key holds its answer (`idempotency`).
    pub idempotency_retention: std::time::Duration,
    /// How long audit rows are kept (`audit`); zero keeps them forever.
    pub audit_retention: std::time::Duration,
}

/// How the server picks VLAN IDs for subports that ask for one (`vlan_pool`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VlanAllocation {
    /// How long an ID freed by a removal is not handed out again on its trunk (zero: at once).
    pub reuse_cooldown: std::time::Duration,
    /// A vlan subport without `segmentation_id` is allocated one, as for `"auto"`; off, it is a
    /// 400 as in Neutron.
    pub allocate_missing: bool,
}

/// Default of [`VlanAllocation::reuse_cooldown`].
pub const DEFAULT_VLAN_REUSE_COOLDOWN: std::time::Duration = std::time::Duration::from_secs(60);

impl Default for VlanAllocation {
    fn default() -> Self {
        Self {
            reuse_cooldown: DEFAULT_VLAN_REUSE_COOLDOWN,
            allocate_missing: false,
        }
    }
}

/// Default of [`ServiceSettings::driver_wait`].
pub const DEFAULT_DRIVER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            networks: NetworkSettings::default(),
            max_subports_per_request: 4094,
            trunk_quota: None,
            network_quota: Some(quota::DEFAULT_NETWORK_QUOTA),
            subnet_quota: Some(quota::DEFAULT_SUBNET_QUOTA),
            port_quota: Some(quota::DEFAULT_PORT_QUOTA),
            driver_wait: DEFAULT_DRIVER_WAIT,
            limits: RequestLimits::default(),
            vlans: VlanAllocation::default(),
            idempotency_retention: idempotency::DEFAULT_RETENTION,
            audit_retention: audit::DEFAULT_RETENTION,
        }
    }
}

pub struct Service {
    store: Arc<dyn Store>,
    policy: Arc<Policy>,
    drivers: DriverSet,
    settings: ServiceSettings,
    /// Woken after every commit so the dispatcher delivers the new events at once.
    outbox_wake: Arc<Notify>,
    /// Deliveries the dispatcher made, for writes that wait for theirs.
    deliveries: DeliveryFeed,
    transitions: status::TransitionCounter,
    /// How write transactions fared (runs, conflicts), for `/metrics`.
    writes: WriteStats,
    /// Bumped after every commit, for long polls (`waiting`).
    commits: tokio::sync::watch::Sender<u64>,
    /// Long polls this server may hold at once.
    waiters: Arc<tokio::sync::Semaphore>,
}

/// How write transactions fared, on `/metrics`: the share of runs that ended in a conflict
/// (PostgreSQL's serialization failures, SQLite's busy lock) is what concurrency costs.
#[derive(Debug, Clone, Default)]
pub struct WriteStats {
    /// Runs of write bodies: each request's first, and every run again after a conflict.
    pub runs: prometheus_client::metrics::counter::Counter,
    /// Runs that ended in a transaction conflict (each is run again, or given up on).
    pub conflicts: prometheus_client::metrics::counter::Counter,
    /// Requests that ran out of attempts (answered 503).
    pub exhausted: prometheus_client::metrics::counter::Counter,
}

/// The future of one run of a [`Service::write`] body.
pub(crate) type WriteBody<'t, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ServiceError>> + Send + 't>>;

/// The write transaction a [`Service::write`] body runs in. The lifetime ties it to the call,
/// which is what lets the body's future borrow the caller's locals (a bare
/// `&mut dyn StoreTx` argument would make the boxed future outlive them).
pub(crate) struct WriteTx<'s> {
    inner: Box<dyn StoreTx>,
    _scope: std::marker::PhantomData<&'s ()>,
}

impl WriteTx<'_> {
    /// The transaction, for functions that take `&mut dyn StoreTx`.
    pub(crate) fn as_mut(&mut self) -> &mut dyn StoreTx {
        &mut *self.inner
    }
}

impl std::ops::Deref for WriteTx<'_> {
    type Target = dyn StoreTx;
    fn deref(&self) -> &Self::Target {
        &*self.inner
    }
}

impl std::ops::DerefMut for WriteTx<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut *self.inner
    }
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        policy: Arc<Policy>,
        drivers: DriverSet,
        settings: ServiceSettings,
        outbox_wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            policy,
            drivers,
            settings,
            outbox_wake,
            deliveries: DeliveryFeed::new(),
            transitions: status::TransitionCounter::default(),
            writes: WriteStats::default(),
            commits: tokio::sync::watch::Sender::new(0),
            waiters: Arc::new(tokio::sync::Semaphore::new(waiting::MAX_WAITERS)),
        }
    }

    /// Listens to `feed`, where the dispatcher publishes what it delivered (without it, writes
    /// that would wait for a delivery wait out `driver_wait` looking at the outbox).
    pub fn with_delivery_feed(mut self, feed: DeliveryFeed) -> Self {
        self.deliveries = feed;
        self
    }

    /// Trunk status transitions made so far, by edge.
    pub fn status_transitions(&self) -> &status::TransitionCounter {
        &self.transitions
    }

    /// Write transactions run and retried so far.
    pub fn write_stats(&self) -> &WriteStats {
        &self.writes
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn drivers(&self) -> &DriverSet {
        &self.drivers
    }

    pub fn settings(&self) -> &ServiceSettings {
        &self.settings
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub(crate) fn guard<'a>(&'a self, ctx: &'a Context) -> Guard<'a> {
        Guard {
            policy: &self.policy,
            ctx,
        }
    }

    /// Runs `body` in a write transaction and commits it; runs it again (bounded) when the
    /// store reports a transaction conflict, so `body` may be called more than once and must
    /// compute everything it writes from what it reads through `tx`. An error drops the
    /// transaction, which rolls it back. After a commit the dispatcher is woken for the new
    /// outbox events.
    ///
    /// `body` is a closure returning a boxed future (`|tx| Box::pin(async { let tx = tx; ... })`)
    /// rather than an `async` closure: rustc cannot yet prove the future of a generic `async`
    /// closure `Send` for every lifetime of its argument, which axum's handlers need. The
    /// `let tx = tx;` moves the transaction into the future, which then borrows the rest.
    ///
    /// The write is `ctx`'s: when the caller sent an idempotency key, the key is claimed in
    /// this transaction (`idempotency`), so the work never commits without its key or the
    /// reverse. Writes no caller asked for (data-plane reports) use [`Service::write_internal`].
    pub(crate) async fn write<'s, T>(
        &'s self,
        ctx: &Context,
        body: impl for<'t> FnMut(&'t mut WriteTx<'s>) -> WriteBody<'t, T>,
    ) -> Result<T, ServiceError> {
        self.write_claiming(ctx.idempotency.as_ref(), body).await
    }

    /// [`Service::write`] for changes that come from the data plane, not from a request.
    pub(crate) async fn write_internal<'s, T>(
        &'s self,
        body: impl for<'t> FnMut(&'t mut WriteTx<'s>) -> WriteBody<'t, T>,
    ) -> Result<T, ServiceError> {
        self.write_claiming(None, body).await
    }

    async fn write_claiming<'s, T>(
        &'s self,
        claim: Option<&IdempotencyClaim>,
        mut body: impl for<'t> FnMut(&'t mut WriteTx<'s>) -> WriteBody<'t, T>,
    ) -> Result<T, ServiceError> {
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            self.writes.runs.inc();
            let outcome = async {
                let mut tx = WriteTx {
                    inner: self.store.begin_write().await?,
                    _scope: std::marker::PhantomData,
                };
                let ran = async {
                    // First, so a request that lost the race for its key stops before its rule
                    // checks, which would judge the state the winner's work left.
                    if let Some(claim) = claim {
                        idempotency::claim(tx.as_mut(), claim, self.settings.idempotency_retention)
                            .await?;
                    }
                    body(&mut tx).await
                }
                .await;
                match ran {
                    Ok(value) => {
                        tx.inner.commit().await?;
                        Ok(value)
                    }
                    // The refusal may rest on writes not committed yet (SQLite's group
                    // commit): it is answered once they are.
                    Err(error) => {
                        tx.inner.roll_back().await?;
                        Err(error)
                    }
                }
            }
            .await;
            match outcome {
                Err(ServiceError::Retry(reason)) if attempt < MAX_WRITE_ATTEMPTS => {
                    self.writes.conflicts.inc();
                    tracing::debug!(%reason, attempt, "transaction conflict; running again");
                    tokio::time::sleep(retry_pause(attempt)).await;
                }
                Err(ServiceError::Retry(reason)) => {
                    self.writes.conflicts.inc();
                    self.writes.exhausted.inc();
                    break Err(ServiceError::Unavailable {
                        message: format!("The database stayed busy: {reason}"),
                    });
                }
                Ok(value) => {
                    self.outbox_wake.notify_one();
                    self.commits
                        .send_modify(|count| *count = count.wrapping_add(1));
                    break Ok(value);
                }
                Err(error) => break Err(error),
            }
        }
    }

    async fn read(&self) -> Result<Box<dyn StoreTx>, ServiceError> {
        Ok(self.store.begin_read().await?)
    }

    /// A read of one statement, outside a transaction.
    async fn read_once(&self) -> Result<Box<dyn OneRead>, ServiceError> {
        Ok(self.store.read_once().await?)
    }
}

/// The Unix time in milliseconds `span` before now: the cut-off of a retention or a rest
/// (idempotency keys, audit rows, VLAN IDs freed by a removal).
pub(crate) fn millis_before_now(span: std::time::Duration) -> i64 {
    chrono::Utc::now()
        .timestamp_millis()
        .saturating_sub(i64::try_from(span.as_millis()).unwrap_or(i64::MAX))
}

/// `If-Match: revision_number=N` against the stored revision.
pub(crate) fn check_revision(expected: Option<i64>, current: i64) -> Result<(), ServiceError> {
    match expected {
        Some(expected) if expected != current => Err(ServiceError::PreconditionFailed {
            message: format!("Constrained to {expected}, but current revision is {current}"),
        }),
        _ => Ok(()),
    }
}

/// Checks a free-text attribute against Neutron's length limit.
pub(crate) fn check_length(field: &str, value: &str, max: usize) -> Result<(), ServiceError> {
    if value.chars().count() > max {
        Err(ServiceError::invalid_input(
            field,
            format!("'{value}' exceeds maximum length of {max}"),
        ))
    } else {
        Ok(())
    }
}

/// Limit on names and descriptions.
pub const NAME_MAX: usize = 255;

/// A resource as one caller may see it: `hidden` lists attributes policy keeps from them.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown<T> {
    pub item: T,
    pub hidden: Vec<&'static str>,
}

/// Attributes of the family `A` the caller may not read, by their `get_<resource>:<attr>` rules.
pub(crate) fn hidden_fields<A: crate::policy::GuardedRead>(
    guard: &Guard<'_>,
    target: &crate::policy::Target,
) -> Vec<&'static str> {
    A::EVERY
        .iter()
        .filter(|attr| !guard.allows(attr.read_action(), target))
        .map(|attr| attr.attribute())
        .collect()
}

/// Which rows a list call reads before per-item policy checks: every project's when the
/// caller's `get_<resource>` rule admits a resource of a project that is not theirs (admins,
/// or roles an operator's policy grants), else their own project's (plus shared ones).
pub(crate) fn list_scope(
    guard: &Guard<'_>,
    get_action: crate::policy::Action,
    include_shared: bool,
) -> Option<crate::store::Scope> {
    // No real project id contains a NUL character.
    let foreign = owned_target(&crate::ids::ProjectId::new("\u{0}another project"));
    if guard.allows(get_action, &foreign) {
        return Some(crate::store::Scope::All);
    }
    guard
        .ctx
        .project_id()
        .map(|project_id| crate::store::Scope::Project {
            project_id,
            include_shared,
        })
}
