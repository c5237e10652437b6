//! Service-level tests for what the noop driver cannot show over HTTP: the ERROR state (spec
//! 3.1 rule 9), drivers that cannot touch bound ports (spec 3.1 rule 11), refusals by the state
//! machine, driver vetoes, and the outbox dispatcher's retries and ordering.

use crate::support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use support::{harness, vlan};
use trunkd::drivers::folding::fold_pending;
use trunkd::drivers::noop::NoopDriver;
use trunkd::drivers::port_state::{DataPlaneState, PortStateReport};
use trunkd::drivers::{DriverError, Settlement, StatusReporter, TrunkChange, TrunkDriver, Verdict};
use trunkd::model::{SegmentationType, TrunkStatus};
use trunkd::service::{GatewayRequest, PortUpdate, ServiceError, SubnetCreate, SubnetUpdate};
use trunkd::store::event::{Event, SubnetEvent, SubnetRef};
use trunkd::store::{PendingEvent, ResourceKey, ResourceKind};

/// A driver whose behaviour a test sets.
#[derive(Default)]
struct ScriptedDriver {
    bound_ok: bool,
    veto_deletes: bool,
    /// Fail this many deliveries before succeeding.
    failures_left: AtomicUsize,
    /// Panic on this many deliveries before behaving.
    panics_left: AtomicUsize,
    delivered: Mutex<Vec<(String, String, i64)>>,
}

#[async_trait]
impl TrunkDriver for ScriptedDriver {
    fn name(&self) -> &'static str {
        "scripted"
    }
    /// The test answers with the committed state and watches status move on its own.
    fn settlement(&self) -> Settlement {
        Settlement::Reported
    }
    fn segmentation_types(&self) -> &'static [SegmentationType] {
        &[SegmentationType::Vlan]
    }
    fn can_manage_bound_port(&self) -> bool {
        self.bound_ok
    }
    fn vif_type(&self) -> &'static str {
        "ovs"
    }
    fn precommit(&self, change: &TrunkChange<'_>) -> Result<(), DriverError> {
        match change {
            TrunkChange::Delete(_) if self.veto_deletes => {
                Err(DriverError::Refused("deletes are vetoed".into()))
            }
            _ => Ok(()),
        }
    }
    async fn deliver(
        &self,
        event: &PendingEvent,
        _status: &dyn StatusReporter,
    ) -> Result<(), DriverError> {
        if self.panics_left.load(Ordering::SeqCst) > 0 {
            self.panics_left.fetch_sub(1, Ordering::SeqCst);
            panic!("scripted driver panics on {}", event.id);
        }
        let left = self.failures_left.load(Ordering::SeqCst);
        if left > 0 {
            self.failures_left.store(left - 1, Ordering::SeqCst);
            return Err(DriverError::Failed("data plane unreachable".into()));
        }
        self.delivered
            .lock()
            .map_err(|_| DriverError::Failed("poisoned".into()))?
            .push((
                event.resource_id.clone(),
                event.event.name().to_string(),
                event.id,
            ));
        Ok(())
    }
}

fn kind(error: &ServiceError) -> &'static str {
    match error {
        ServiceError::Conflict { kind, .. } | ServiceError::NotFound { kind, .. } => kind.as_str(),
        ServiceError::BadRequest { .. } => "BadRequest",
        ServiceError::Forbidden { .. } => "Forbidden",
        ServiceError::PreconditionFailed { .. } => "PreconditionFailed",
        _ => "other",
    }
}

#[tokio::test]
async fn rule9_error_refuses_adds_and_allows_removes() {
    let h = harness(vec![Arc::new(NoopDriver)]).await;
    let net = h.network().await;
    let ports = h.ports(net, 3).await;
    let trunk = h.trunk(ports[0], vec![vlan(ports[1], 5)]).await;
    let ctx = h.ctx();
    let revision = h
        .service
        .get_trunk(&ctx, trunk)
        .await
        .expect("trunk")
        .std
        .revision_number;
    h.service
        .record_verdict(trunk, revision, Verdict::Refused("cannot carry it".into()))
        .await
        .expect("a refusal");
    let refused_trunk = h.service.get_trunk(&ctx, trunk).await.expect("trunk");
    assert_eq!(refused_trunk.status, TrunkStatus::Error);
    let refused = h
        .service
        .add_subports(&ctx, trunk, vec![vlan(ports[2], 6)], None)
        .await
        .expect_err("ERROR refuses adds");
    assert_eq!(kind(&refused), "TrunkInErrorState");
    let repaired = h
        .service
        .remove_subports(&ctx, trunk, vec![ports[1]], None)
        .await
        .expect("removal repairs");
    assert_eq!(
        (repaired.status, repaired.refusal),
        (TrunkStatus::Active, None),
        "the change clears the refusal and noop's ports are ACTIVE: ACTIVE in the \
         removal's own transaction"
    );
    assert!(repaired.sub_ports.is_empty());
}

#[tokio::test]
async fn verdicts_are_checked_against_the_revision_and_the_ports_decide_the_rest() {
    // A driver with a data plane: ports wait in DOWN for a report (noop's are ACTIVE).
    let h = harness(vec![Arc::new(ScriptedDriver::default())]).await;
    let net = h.network().await;
    let ports = h.ports(net, 2).await;
    let trunk = h.trunk(ports[0], vec![vlan(ports[1], 7)]).await;
    let show = || async { h.service.get_trunk(&h.ctx(), trunk).await.expect("trunk") };
    let created = show().await;
    assert_eq!(created.status, TrunkStatus::Down, "the parent is not up");
    let r0 = created.std.revision_number;
    let r1 = h
        .service
        .record_verdict(trunk, r0, Verdict::Refused("no room".into()))
        .await
        .expect("a refusal");
    assert_eq!(r1, r0 + 1);
    assert_eq!(show().await.status, TrunkStatus::Error);
    let stale = h
        .service
        .record_verdict(trunk, r0, Verdict::Wired)
        .await
        .expect_err("stale");
    assert_eq!(kind(&stale), "StaleRevision");
    assert_eq!(
        h.service
            .record_verdict(trunk, r1, Verdict::Refused("no room".into()))
            .await
            .ok(),
        Some(r1),
        "the same verdict again changes nothing"
    );
    let r2 = h
        .service
        .record_verdict(trunk, r1, Verdict::Wired)
        .await
        .expect("wired after all");
    assert_eq!(
        show().await.status,
        TrunkStatus::Down,
        "wired, but the parent port is still not up"
    );
    // The data plane brings the parent up: DEGRADED (the subport is not up), in the
    // report's transaction, with a revision of its own.
    let report = |port, state| PortStateReport { port, state };
    h.service
        .record_port_states(&[report(ports[0], DataPlaneState::Up)])
        .await
        .expect("report");
    let degraded = show().await;
    assert_eq!(
        (degraded.status, degraded.std.revision_number),
        (TrunkStatus::Degraded, r2 + 1)
    );
    let reasons: Vec<_> = degraded.subport_health().collect();
    assert_eq!(
        reasons[0].reason.as_ref().map(|r| r.code.as_str()),
        Some("not_claimed")
    );
    h.service
        .record_port_states(&[report(ports[1], DataPlaneState::Up)])
        .await
        .expect("report");
    let active = show().await;
    assert_eq!(
        (active.status, active.status_reason()),
        (TrunkStatus::Active, None)
    );
    // A report that changes nothing writes nothing.
    h.service
        .record_port_states(&[report(ports[1], DataPlaneState::Up)])
        .await
        .expect("report");
    assert_eq!(show().await.std.revision_number, active.std.revision_number);
    let gone = h
        .service
        .record_verdict(trunkd::ids::TrunkId::new(), 0, Verdict::Wired)
        .await
        .expect_err("unknown trunk");
    assert_eq!(kind(&gone), "TrunkNotFound");
}

#[tokio::test]
async fn rule11_bound_parents_with_a_driver_that_cannot_untrunk() {
    let driver = Arc::new(ScriptedDriver {
        bound_ok: false,
        ..Default::default()
    });
    let h = harness(vec![driver]).await;
    let ctx = h.ctx();
    let net = h.network().await;
    let ports = h.ports(net, 3).await;
    let trunk = h.trunk(ports[0], vec![vlan(ports[1], 5)]).await;
    let bind = PortUpdate {
        host_id: Some("compute-1".into()),
        ..Default::default()
    };
    h.service
        .update_port(&ctx, ports[0], bind.clone(), None)
        .await
        .expect("bind");
    let refused = h
        .service
        .delete_trunk(&ctx, trunk, None)
        .await
        .expect_err("bound parent");
    assert_eq!(kind(&refused), "TrunkInUse");
    assert!(
        h.service.get_trunk(&ctx, trunk).await.is_ok(),
        "trunk still there"
    );
    // A bound port cannot become a parent either.
    h.service
        .update_port(&ctx, ports[2], bind, None)
        .await
        .expect("bind");
    let request = trunkd::service::TrunkCreate {
        port_id: Some(ports[2]),
        ..Default::default()
    };
    let refused = h
        .service
        .create_trunks(&ctx, vec![request])
        .await
        .expect_err("bound parent");
    assert_eq!(kind(&refused), "ParentPortInUse");
    // Unbound, the delete goes through.
    let unbind = PortUpdate {
        host_id: Some(String::new()),
        ..Default::default()
    };
    h.service
        .update_port(&ctx, ports[0], unbind, None)
        .await
        .expect("unbind");
    h.service
        .delete_trunk(&ctx, trunk, None)
        .await
        .expect("delete");
}

#[tokio::test]
async fn driver_veto_writes_nothing() {
    let driver = Arc::new(ScriptedDriver {
        bound_ok: true,
        veto_deletes: true,
        ..Default::default()
    });
    let h = harness(vec![driver]).await;
    let ctx = h.ctx();
    let net = h.network().await;
    let ports = h.ports(net, 2).await;
    let trunk = h.trunk(ports[0], vec![vlan(ports[1], 5)]).await;
    let events_before = h.store.pending_event_count().await.expect("count");
    let refused = h
        .service
        .delete_trunk(&ctx, trunk, None)
        .await
        .expect_err("vetoed");
    assert_eq!(kind(&refused), "TrunkDriverRefused");
    assert_eq!(
        h.service
            .get_trunk(&ctx, trunk)
            .await
            .expect("still there")
            .sub_ports
            .len(),
        1
    );
    assert_eq!(
        h.store.pending_event_count().await.expect("count"),
        events_before,
        "no event for a refused change"
    );
}

#[tokio::test]
async fn every_change_appends_one_outbox_event_and_the_dispatcher_folds_them() {
    let h = harness(vec![Arc::new(NoopDriver)]).await;
    let ctx = h.ctx();
    let net = h.network().await; // 1
    let ports = h.ports(net, 3).await; // 3
    let trunk = h.trunk(ports[0], vec![]).await; // 1
    h.service
        .add_subports(&ctx, trunk, vec![vlan(ports[1], 2)], None)
        .await
        .expect("add"); // 1
    h.service
        .remove_subports(&ctx, trunk, vec![ports[1]], None)
        .await
        .expect("remove"); // 1
    let failed = h
        .service
        .add_subports(&ctx, trunk, vec![vlan(ports[0], 2)], None)
        .await; // 0
    assert!(failed.is_err());
    h.service
        .delete_trunk(&ctx, trunk, None)
        .await
        .expect("delete"); // 1
    assert_eq!(h.store.pending_event_count().await.expect("count"), 8);
    let trunk_rows = h
        .store
        .pending_events_of(ResourceKind::Trunk, &trunk.to_string())
        .await
        .expect("events");
    assert_eq!(
        trunk_rows.len(),
        4,
        "one row per change, none for the refused one"
    );
    // Delivered, the trunk's four rows are one event: the last, naming what left before it.
    let deliveries = fold_pending(trunk_rows.clone());
    assert_eq!(deliveries.len(), 1);
    let folded = &deliveries[0].event;
    assert_eq!(folded.event.name(), "deleted");
    assert_eq!(folded.revision_number, 3);
    assert_eq!(
        folded.event.sub_ports(),
        [ports[1]],
        "the port that left is still named"
    );
    assert_eq!(
        deliveries[0].rows,
        trunk_rows.iter().map(|e| e.id).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn subnet_changes_fold_into_one_event_naming_the_network() {
    let h = harness(vec![Arc::new(NoopDriver)]).await;
    let ctx = h.ctx();
    let net = h.network().await;
    let before = h.store.pending_event_count().await.expect("count");
    let request = SubnetCreate {
        project_id: None,
        network_id: Some(net),
        name: None,
        description: None,
        ip_version: Some(4),
        cidr: Some("10.7.0.0/24".into()),
        gateway_ip: GatewayRequest::Absent,
        allocation_pools: None,
        enable_dhcp: None,
        dns_nameservers: None,
        host_routes: None,
        ipv6_address_mode: None,
        ipv6_ra_mode: None,
        tags: Vec::new(),
    };
    let created = h
        .service
        .create_subnets(&ctx, vec![request])
        .await
        .expect("subnet");
    let subnet = created[0].item.id;
    let events_of = || async {
        h.store
            .pending_events_of(ResourceKind::Subnet, &subnet.to_string())
            .await
            .expect("events")
    };
    let events = events_of().await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].event,
        Event::Subnet(SubnetEvent::Created(SubnetRef {
            id: subnet,
            network_id: net
        }))
    );
    let update = SubnetUpdate {
        name: None,
        description: None,
        gateway_ip: GatewayRequest::Absent,
        allocation_pools: None,
        enable_dhcp: None,
        dns_nameservers: Some(vec!["10.7.0.53".into()]),
        host_routes: None,
    };
    let updated = h
        .service
        .update_subnet(&ctx, subnet, update, None)
        .await
        .expect("update");
    let events = fold_pending(events_of().await);
    assert_eq!(events.len(), 1, "the update is folded over the creation");
    assert_eq!(events[0].rows.len(), 2);
    assert_eq!(events[0].event.event.name(), "updated");
    assert_eq!(
        events[0].event.revision_number, updated.item.std.revision_number,
        "the update's revision"
    );
    h.service
        .delete_subnet(&ctx, subnet, None)
        .await
        .expect("delete");
    let events = fold_pending(events_of().await);
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].event.event,
        Event::Subnet(SubnetEvent::Deleted(SubnetRef {
            id: subnet,
            network_id: net
        }))
    );
    assert_eq!(
        h.store.pending_event_count().await.expect("count"),
        before + 3
    );
}

#[tokio::test]
async fn dispatcher_retries_failures_and_keeps_per_trunk_order() {
    let driver = Arc::new(ScriptedDriver {
        bound_ok: true,
        failures_left: AtomicUsize::new(1),
        ..Default::default()
    });
    let h = harness(vec![driver.clone()]).await;
    let ctx = h.ctx();
    let net = h.network().await;
    let ports = h.ports(net, 4).await;
    let a = h.trunk(ports[0], vec![]).await;
    h.service
        .add_subports(&ctx, a, vec![vlan(ports[1], 7)], None)
        .await
        .expect("add");
    let b = h.trunk(ports[2], vec![]).await;
    let dispatcher = h.dispatcher();
    let rows = h.store.pending_event_count().await.expect("count");
    // The first event (the network's) fails once; it and the later events of the same
    // resource wait, events of other resources go through.
    dispatcher.pass().await.expect("pass");
    assert_eq!(h.store.pending_event_count().await.expect("count"), 1);
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    dispatcher.pass().await.expect("pass");
    assert_eq!(h.store.pending_event_count().await.expect("count"), 0);
    let delivered = driver.delivered.lock().expect("lock").clone();
    let order_of = |id: String| -> Vec<(String, i64)> {
        delivered
            .iter()
            .filter(|(r, _, _)| *r == id)
            .map(|(_, e, n)| (e.clone(), *n))
            .collect()
    };
    // a's create was still undelivered when its subport was added: one folded event.
    let a_events = order_of(a.to_string());
    assert_eq!(
        a_events.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>(),
        ["subports_added"]
    );
    assert_eq!(order_of(b.to_string()).len(), 1);
    assert_eq!(dispatcher.stats.failed.get(), 1);
    assert_eq!(
        delivered.len() as i64,
        rows - 1,
        "a's two rows went in one delivery"
    );
    assert_eq!(
        dispatcher.stats.delivered.get(),
        rows as u64,
        "every row counts as delivered"
    );

    // Delivered events are pruned after their retention; pending ones never are.
    h.service
        .add_subports(&ctx, b, vec![vlan(ports[3], 8)], None)
        .await
        .expect("add");
    let pruned = h
        .store
        .prune_delivered_events("9999-01-01T00:00:00Z")
        .await
        .expect("prune");
    assert_eq!(pruned, rows as u64);
    assert_eq!(h.store.pending_event_count().await.expect("count"), 1);
    assert_eq!(
        h.store
            .prune_delivered_events("2000-01-01T00:00:00Z")
            .await
            .expect("prune"),
        0
    );
}

/// While a resource's data plane fails, its rows are written back as one (on the failed
/// attempt, and again as changes arrive before the retry), keeping the attempt count and the
/// retry time; the retry delivers the one folded event.
#[tokio::test]
async fn a_failing_resources_rows_fold_into_one_that_keeps_its_backoff() {
    let driver = Arc::new(ScriptedDriver {
        bound_ok: true,
        ..Default::default()
    });
    let h = harness(vec![driver.clone()]).await;
    let ctx = h.ctx();
    let net = h.network().await;
    let ports = h.ports(net, 4).await;
    let trunk = h.trunk(ports[0], vec![]).await;
    let dispatcher = h.dispatcher();
    dispatcher.pass().await.expect("pass");
    assert_eq!(h.store.pending_event_count().await.expect("count"), 0);
    let rows_of_trunk = || async {
        h.store
            .pending_events_of(ResourceKind::Trunk, &trunk.to_string())
            .await
            .expect("events")
    };

    driver.failures_left.store(1, Ordering::SeqCst);
    for (port, vlan_id) in [(ports[1], 11), (ports[2], 12)] {
        h.service
            .add_subports(&ctx, trunk, vec![vlan(port, vlan_id)], None)
            .await
            .expect("add");
    }
    assert_eq!(rows_of_trunk().await.len(), 2);
    dispatcher
        .pass()
        .await
        .expect("a failed attempt is no error");
    let rows = rows_of_trunk().await;
    assert_eq!(
        rows.len(),
        1,
        "the failed delivery's rows are written back as one"
    );
    let failed = rows[0].clone();
    assert_eq!(failed.attempts, 1);
    assert!(failed.next_attempt_ms > chrono::Utc::now().timestamp_millis());
    assert_eq!(failed.event.name(), "subports_added");
    assert_eq!(failed.event.sub_ports(), [ports[1], ports[2]]);

    // Changes before the retry is due are folded into that row's successor at the next pass,
    // which leaves the retry time and the attempts as they were.
    h.service
        .remove_subports(&ctx, trunk, vec![ports[1]], None)
        .await
        .expect("remove");
    h.service
        .add_subports(&ctx, trunk, vec![vlan(ports[3], 13)], None)
        .await
        .expect("add");
    assert_eq!(rows_of_trunk().await.len(), 3);
    dispatcher.pass().await.expect("pass");
    let rows = rows_of_trunk().await;
    assert_eq!(
        rows.len(),
        1,
        "rows waiting for a retry are folded into one"
    );
    assert!(rows[0].id > failed.id, "the newest row carries the fold");
    assert_eq!(rows[0].attempts, 1);
    assert_eq!(rows[0].next_attempt_ms, failed.next_attempt_ms);
    assert_eq!(rows[0].event.name(), "subports_added");
    assert_eq!(rows[0].event.sub_ports(), [ports[1], ports[2], ports[3]]);
    assert_eq!(
        dispatcher.stats.failed.get(),
        1,
        "not tried again before it is due"
    );

    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    dispatcher.pass().await.expect("pass");
    assert_eq!(h.store.pending_event_count().await.expect("count"), 0);
    let delivered = driver.delivered.lock().expect("lock").clone();
    assert_eq!(
        delivered.last(),
        Some(&(trunk.to_string(), "subports_added".to_string(), rows[0].id)),
        "one delivery for the four changes"
    );
}

#[tokio::test]
async fn a_panicking_driver_fails_the_attempt_not_the_dispatcher() {
    let driver = Arc::new(ScriptedDriver {
        bound_ok: true,
        panics_left: AtomicUsize::new(1),
        ..Default::default()
    });
    let h = harness(vec![driver.clone()]).await;
    let net = h.network().await;
    h.ports(net, 1).await;
    let dispatcher = h.dispatcher();
    dispatcher
        .pass()
        .await
        .expect("a panic is a failed attempt");
    assert_eq!(dispatcher.stats.failed.get(), 1);
    // The network's event waits for its retry; the port's, another resource, went through.
    assert_eq!(
        h.store.pending_event_count().await.expect("count"),
        1,
        "nothing lost"
    );
    assert_eq!(driver.delivered.lock().expect("lock").len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    dispatcher.pass().await.expect("pass");
    assert_eq!(h.store.pending_event_count().await.expect("count"), 0);
    assert_eq!(driver.delivered.lock().expect("lock").len(), 2);
}

#[tokio::test]
async fn a_lease_left_by_a_dead_server_is_taken_over_when_it_expires() {
    let driver = Arc::new(ScriptedDriver {
        bound_ok: true,
        ..Default::default()
    });
    let h = harness(vec![driver.clone()]).await;
    let net = h.network().await;
    // Another server took the network's lease and died.
    let network = ResourceKey::new(ResourceKind::Network, net.to_string());
    let taken = h
        .store
        .take_leases(std::slice::from_ref(&network), "dead-server", 300)
        .await
        .expect("lease");
    assert_eq!(taken, vec![network]);
    let dispatcher = h.dispatcher();
    dispatcher.pass().await.expect("pass");
    assert_eq!(
        h.store.pending_event_count().await.expect("count"),
        1,
        "the lease holds"
    );
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    dispatcher.pass().await.expect("pass");
    assert_eq!(
        h.store.pending_event_count().await.expect("count"),
        0,
        "taken over"
    );
    assert_eq!(driver.delivered.lock().expect("lock").len(), 1);
}
