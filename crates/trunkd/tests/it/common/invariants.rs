//! The store's invariants, read from the database itself (SQLite file or PostgreSQL) after a
//! race, a crash or a load run: no port in two trunks or in two roles, no duplicate
//! segmentation, subport bindings that agree with membership, for every trunk outbox events
//! of rising revisions ending at its current one (the change and its event commit together, or
//! neither does; undelivered events are folded into the next), no event for a change that
//! is not in the store, and IP addresses (issue 18) that agree: each port's `fixed_ips` are
//! exactly its allocation rows, no allocation outlives its port, and no free range holds an
//! allocated address or overlaps another. Statuses (issue 19): each member's copy of its
//! port's status agrees with the port, and every trunk's stored status is what the status
//! rule gives from its ports and its refusal.

use std::collections::HashMap;

use sqlx::Connection;
use trunkd::model::health::{derive_status, ParentState};
use trunkd::model::{PortStatus, SegmentationType, Subport};

use super::{DatabaseLocation, Server};

/// What the invariants are checked on, read in one snapshot.
pub struct Facts {
    ports_in_two_roles: i64,
    ports_in_two_trunks: i64,
    duplicate_segmentations: i64,
    unbound_subports: i64,
    /// (trunk id, revision) of trunk outbox events in commit order.
    trunk_events: Vec<(String, i64)>,
    /// trunk id -> current revision.
    trunk_revisions: HashMap<String, i64>,
    pub events: i64,
    pub undelivered_events: i64,
    /// Trunk ids with a `deleted` event.
    deleted_trunks: Vec<String>,
    /// (port id, fixed_ips JSON) of every port.
    port_addresses: Vec<(String, String)>,
    /// (port id, subnet id, address) of every allocation.
    allocations: Vec<(String, String, String)>,
    free_and_held: i64,
    overlapping_free_ranges: i64,
    stale_member_statuses: i64,
    /// (trunk id, stored status, refused, parent port status, parent host).
    trunk_statuses: Vec<(String, String, bool, String, String)>,
    /// (trunk id, subport's port status) of every subport.
    subport_statuses: Vec<(String, String)>,
}

const PORTS_IN_TWO_ROLES: &str = "SELECT COUNT(*) FROM trunks t \
    JOIN trunk_members m ON m.port_id = t.port_id AND m.role = 'subport'";
const PORTS_IN_TWO_TRUNKS: &str = "SELECT COUNT(*) FROM (SELECT port_id FROM trunk_members \
    GROUP BY port_id HAVING COUNT(*) > 1) d";
const DELETED_TRUNKS: &str =
    "SELECT resource_id FROM outbox WHERE resource_type = 'trunk' AND event = 'deleted'";
const DUPLICATE_SEGMENTATIONS: &str = "SELECT COUNT(*) FROM (SELECT trunk_id FROM trunk_members \
    WHERE role = 'subport' GROUP BY trunk_id, segmentation_type, segmentation_id \
    HAVING COUNT(*) > 1) d";
const UNBOUND_SUBPORTS: &str =
    "SELECT COUNT(*) FROM trunk_members m JOIN ports p ON p.id = m.port_id \
    WHERE m.role = 'subport' AND (p.device_owner <> 'trunk:subport' OR p.device_id <> m.trunk_id)";
const TRUNK_EVENTS: &str =
    "SELECT resource_id, revision_number FROM outbox WHERE resource_type = 'trunk' ORDER BY id";
const TRUNK_REVISIONS: &str = "SELECT id, revision_number FROM trunks";
const EVENTS: &str = "SELECT COUNT(*) FROM outbox";
const PORT_ADDRESSES: &str = "SELECT id, fixed_ips FROM ports";
const ALLOCATIONS: &str = "SELECT port_id, subnet_id, ip_address FROM ip_allocations";
const FREE_AND_HELD: &str = "SELECT COUNT(*) FROM ip_allocations a JOIN ip_free_ranges r \
    ON r.subnet_id = a.subnet_id AND r.first_key <= a.address_key AND a.address_key <= r.last_key";
const OVERLAPPING_FREE_RANGES: &str = "SELECT COUNT(*) FROM ip_free_ranges a \
    JOIN ip_free_ranges b ON a.subnet_id = b.subnet_id AND a.first_key < b.first_key \
    AND b.first_key <= a.last_key";
const STALE_MEMBER_STATUSES: &str = "SELECT COUNT(*) FROM trunk_members m \
    JOIN ports p ON p.id = m.port_id WHERE m.port_status <> p.status";
const TRUNK_STATUSES: &str = "SELECT t.id, t.status, t.refusal IS NOT NULL, p.status, p.host_id \
    FROM trunks t JOIN ports p ON p.id = t.port_id";
const SUBPORT_STATUSES: &str = "SELECT m.trunk_id, p.status FROM trunk_members m \
    JOIN ports p ON p.id = m.port_id WHERE m.role = 'subport'";
const UNDELIVERED_EVENTS: &str = "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL";

macro_rules! read_facts {
    ($conn:expr) => {{
        let conn = $conn;
        Facts {
            ports_in_two_roles: sqlx::query_scalar(PORTS_IN_TWO_ROLES)
                .fetch_one(&mut *conn)
                .await
                .expect("query"),
            ports_in_two_trunks: sqlx::query_scalar(PORTS_IN_TWO_TRUNKS)
                .fetch_one(&mut *conn)
                .await
                .expect("query"),
            deleted_trunks: sqlx::query_scalar(DELETED_TRUNKS)
                .fetch_all(&mut *conn)
                .await
                .expect("query"),
            duplicate_segmentations: sqlx::query_scalar(DUPLICATE_SEGMENTATIONS)
                .fetch_one(&mut *conn)
                .await
                .expect("query"),
            unbound_subports: sqlx::query_scalar(UNBOUND_SUBPORTS)
                .fetch_one(&mut *conn)
                .await
                .expect("query"),
            trunk_events: sqlx::query_as(TRUNK_EVENTS)
                .fetch_all(&mut *conn)
                .await
                .expect("query"),
            trunk_revisions: sqlx::query_as::<_, (String, i64)>(TRUNK_REVISIONS)
                .fetch_all(&mut *conn)
                .await
                .expect("query")
                .into_iter()
                .collect(),
            events: sqlx::query_scalar(EVENTS)
                .fetch_one(&mut *conn)
                .await
                .expect("query"),
            undelivered_events: sqlx::query_scalar(UNDELIVERED_EVENTS)
                .fetch_one(&mut *conn)
                .await
                .expect("query"),
            port_addresses: sqlx::query_as(PORT_ADDRESSES)
                .fetch_all(&mut *conn)
                .await
                .expect("query"),
            allocations: sqlx::query_as(ALLOCATIONS)
                .fetch_all(&mut *conn)
                .await
                .expect("query"),
            free_and_held: sqlx::query_scalar(FREE_AND_HELD)
                .fetch_one(&mut *conn)
                .await
                .expect("query"),
            overlapping_free_ranges: sqlx::query_scalar(OVERLAPPING_FREE_RANGES)
                .fetch_one(&mut *conn)
                .await
                .expect("query"),
            stale_member_statuses: sqlx::query_scalar(STALE_MEMBER_STATUSES)
                .fetch_one(&mut *conn)
                .await
                .expect("query"),
            trunk_statuses: sqlx::query_as(TRUNK_STATUSES)
                .fetch_all(&mut *conn)
                .await
                .expect("query"),
            subport_statuses: sqlx::query_as(SUBPORT_STATUSES)
                .fetch_all(&mut *conn)
                .await
                .expect("query"),
        }
    }};
}

pub async fn facts(location: &DatabaseLocation) -> Facts {
    match location {
        DatabaseLocation::Sqlite(path) => {
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                .await
                .expect("open sqlite");
            // One transaction: all facts from one snapshot, while servers keep committing.
            let mut tx = conn.begin().await.expect("begin");
            read_facts!(&mut *tx)
        }
        DatabaseLocation::Postgres(url) => {
            let mut conn = sqlx::PgConnection::connect(url)
                .await
                .expect("connect postgres");
            let mut tx = conn.begin().await.expect("begin");
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await
                .expect("snapshot");
            read_facts!(&mut *tx)
        }
    }
}

/// Checks every invariant; `label` names the situation in failures.
pub async fn check_invariants(server: &Server, label: &str) {
    check_invariants_at(&server.database_location(), label).await;
}

/// Checks every invariant of the database at `location` (no server needs to run).
pub async fn check_invariants_at(location: &DatabaseLocation, label: &str) {
    let facts = facts(location).await;
    assert_eq!(
        facts.ports_in_two_roles, 0,
        "{label}: a parent is also a subport"
    );
    assert_eq!(
        facts.ports_in_two_trunks, 0,
        "{label}: a port is a member of two trunks"
    );
    assert_eq!(
        facts.duplicate_segmentations, 0,
        "{label}: duplicate segmentation in a trunk"
    );
    assert_eq!(
        facts.unbound_subports, 0,
        "{label}: subport bindings disagree with membership"
    );
    // Every change of a trunk bumps its revision and writes its event in one transaction;
    // recording an event folds the trunk's undelivered ones into it. So a trunk's events, in
    // commit order, carry rising revisions, and the last is the trunk's current revision.
    let mut revisions: HashMap<&str, Vec<i64>> = HashMap::new();
    for (trunk, revision) in &facts.trunk_events {
        revisions.entry(trunk).or_default().push(*revision);
    }
    for (trunk, current) in &facts.trunk_revisions {
        let seen = revisions.get(trunk.as_str()).cloned().unwrap_or_default();
        assert!(
            seen.windows(2).all(|pair| pair[0] < pair[1]) && seen.last() == Some(current),
            "{label}: trunk {trunk} at revision {current} has events for revisions {seen:?}"
        );
    }
    // An event without its change: a trunk that has events but is neither in the store nor
    // deleted by a committed change.
    for (trunk, _) in &facts.trunk_events {
        assert!(
            facts.trunk_revisions.contains_key(trunk) || facts.deleted_trunks.contains(trunk),
            "{label}: events for trunk {trunk}, which was never committed"
        );
    }
    // Addresses: a port's fixed IPs that name a subnet are its allocation rows, one for one.
    let mut from_ports: Vec<(String, String, String)> = Vec::new();
    for (port, fixed_ips) in &facts.port_addresses {
        let entries: Vec<serde_json::Value> =
            serde_json::from_str(fixed_ips).expect("fixed_ips is JSON");
        for entry in entries {
            if let (Some(subnet), Some(ip)) =
                (entry["subnet_id"].as_str(), entry["ip_address"].as_str())
            {
                from_ports.push((port.clone(), subnet.to_string(), ip.to_string()));
            }
        }
    }
    let mut allocations = facts.allocations.clone();
    from_ports.sort();
    allocations.sort();
    assert_eq!(
        from_ports, allocations,
        "{label}: ports' fixed_ips and the allocation rows disagree"
    );
    assert_eq!(
        facts.free_and_held, 0,
        "{label}: a free range holds an allocated address"
    );
    assert_eq!(
        facts.overlapping_free_ranges, 0,
        "{label}: free ranges overlap"
    );
    assert_eq!(
        facts.stale_member_statuses, 0,
        "{label}: a member's copy of its port's status disagrees with the port"
    );
    // Every trunk's stored status is the rule's answer from its ports, as stored.
    let status = |text: &str| PortStatus::parse(text).expect("a port status");
    let mut subports: HashMap<&str, Vec<Subport>> = HashMap::new();
    for (trunk, port_status) in &facts.subport_statuses {
        subports.entry(trunk).or_default().push(Subport {
            port_id: trunkd::ids::PortId::new(),
            segmentation_type: SegmentationType::Vlan,
            segmentation_id: 1,
            port_status: status(port_status),
        });
    }
    for (trunk, stored, refused, parent_status, parent_host) in &facts.trunk_statuses {
        let parent = ParentState {
            status: status(parent_status),
            bound: !parent_host.is_empty(),
        };
        let members = subports
            .get(trunk.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let derived = derive_status(refused.then_some("refused"), parent, members);
        assert_eq!(
            stored.as_str(),
            derived.as_str(),
            "{label}: trunk {trunk} is stored {stored}, but its ports make it {derived}"
        );
    }
}
