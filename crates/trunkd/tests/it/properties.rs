//! Property tests: random sequences of subport additions and removals against a model. Every
//! operation must succeed exactly when the model says the rules allow it, and afterwards the
//! store must equal the model: no port in two trunks, no duplicate segmentation in a trunk,
//! subport bindings set exactly on member ports.

use crate::support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use proptest::prelude::*;
use support::{harness, vlan};
use trunkd::drivers::noop::NoopDriver;
use trunkd::ids::{PortId, TrunkId};

const TRUNKS: usize = 3;
const SPARE_PORTS: usize = 8;
const VLANS: i64 = 4;

#[derive(Debug, Clone)]
enum Op {
    /// (trunk, [(port index, vlan)]); port indexes may point at parents too.
    Add(usize, Vec<(usize, i64)>),
    Remove(usize, Vec<usize>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            0..TRUNKS,
            prop::collection::vec((0..SPARE_PORTS + TRUNKS, 1..=VLANS), 0..4)
        )
            .prop_map(|(t, e)| Op::Add(t, e)),
        (
            0..TRUNKS,
            prop::collection::vec(0..SPARE_PORTS + TRUNKS, 1..3)
        )
            .prop_map(|(t, p)| Op::Remove(t, p)),
    ]
}

/// Subports of each trunk: port index -> vlan.
type Model = Vec<HashMap<usize, i64>>;

fn model_allows(model: &Model, op: &Op) -> bool {
    match op {
        Op::Add(t, entries) => {
            let mut ports = HashSet::new();
            let mut vlans: HashSet<i64> = model[*t].values().copied().collect();
            entries.iter().all(|(p, v)| {
                *p >= TRUNKS // not a parent
                    && ports.insert(*p)
                    && model.iter().all(|m| !m.contains_key(p))
                    && vlans.insert(*v)
            })
        }
        Op::Remove(t, ports) => {
            let unique: HashSet<_> = ports.iter().collect();
            unique.len() == ports.len() && ports.iter().all(|p| model[*t].contains_key(p))
        }
    }
}

fn apply(model: &mut Model, op: &Op) {
    match op {
        Op::Add(t, entries) => model[*t].extend(entries.iter().copied()),
        Op::Remove(t, ports) => ports.iter().for_each(|p| {
            model[*t].remove(p);
        }),
    }
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let h = harness(vec![Arc::new(NoopDriver)]).await;
    let ctx = h.ctx();
    let net = h.network().await;
    // Ports 0..TRUNKS are parents, the rest spare.
    let ports: Vec<PortId> = h.ports(net, TRUNKS + SPARE_PORTS).await;
    let mut trunks: Vec<TrunkId> = Vec::new();
    for parent in &ports[..TRUNKS] {
        trunks.push(h.trunk(*parent, vec![]).await);
    }
    let mut model: Model = vec![HashMap::new(); TRUNKS];
    for op in &ops {
        let allowed = model_allows(&model, op);
        let result = match op {
            Op::Add(t, entries) => {
                let requests = entries.iter().map(|(p, v)| vlan(ports[*p], *v)).collect();
                h.service
                    .add_subports(&ctx, trunks[*t], requests, None)
                    .await
                    .map(|_| ())
            }
            Op::Remove(t, idx) => {
                let ids = idx.iter().map(|p| ports[*p]).collect();
                h.service
                    .remove_subports(&ctx, trunks[*t], ids, None)
                    .await
                    .map(|_| ())
            }
        };
        prop_assert_eq!(result.is_ok(), allowed, "{:?} gave {:?}", op, result);
        if allowed {
            apply(&mut model, op);
        }
    }
    // The store equals the model.
    let mut owner_of: HashMap<PortId, TrunkId> = HashMap::new();
    for (t, trunk_id) in trunks.iter().enumerate() {
        let trunk = h
            .service
            .get_trunk(&ctx, *trunk_id)
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let stored: HashMap<PortId, i64> = trunk
            .sub_ports
            .iter()
            .map(|s| (s.port_id, s.segmentation_id))
            .collect();
        prop_assert_eq!(
            stored.len(),
            trunk.sub_ports.len(),
            "a port twice in one trunk"
        );
        let vlans: HashSet<i64> = stored.values().copied().collect();
        prop_assert_eq!(vlans.len(), stored.len(), "duplicate segmentation");
        let expected: HashMap<PortId, i64> =
            model[t].iter().map(|(p, v)| (ports[*p], *v)).collect();
        prop_assert_eq!(&stored, &expected);
        for port in stored.keys() {
            prop_assert!(
                owner_of.insert(*port, *trunk_id).is_none(),
                "port in two trunks"
            );
        }
    }
    for port in &ports[TRUNKS..] {
        let view = h
            .service
            .get_port(&ctx, *port)
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        match owner_of.get(port) {
            Some(trunk) => {
                prop_assert_eq!(&view.port.device_owner, "trunk:subport");
                prop_assert_eq!(view.port.device_id.clone(), trunk.to_string());
            }
            None => prop_assert_eq!(&view.port.device_owner, ""),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn subport_operations_match_the_model(ops in prop::collection::vec(op(), 1..25)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(run(ops))?;
    }
}
