//! The trunk memberships of the ports a write names, read just before its transaction.
//!
//! Spec 3.1 rule 2 (a port serves at most one trunk, in one role) is the `trunk_members`
//! primary key. The service also looks memberships up first, to answer with the rule's own
//! error (which trunk holds the port, in which role) ahead of the checks that follow it. Looked
//! up inside the write transaction, on PostgreSQL at SERIALIZABLE, that read locked the index
//! page other writes insert their members into, and creates of unrelated trunks on two servers
//! aborted each other (issue 22, two servers: 2.47 % of create runs retried with the read in the
//! transaction, 0.10 % with it here). So it is read in a snapshot of its own just before. A
//! port that joins a trunk in between makes the write's insert fail on the key, answered as
//! `TrunkPortInUse`; ports a request itself puts into a trunk are added as the write goes
//! ([`join`]).
//!
//! [`join`]: KnownMemberships::join

use std::collections::HashMap;

use crate::ids::PortId;
use crate::model::Trunk;
use crate::store::Membership;

use super::{Service, ServiceError};

/// Memberships by port, as last read or written by this request.
#[derive(Debug, Clone, Default)]
pub(crate) struct KnownMemberships {
    by_port: HashMap<PortId, Membership>,
}

impl KnownMemberships {
    /// The memberships of `ports`, read outside a transaction (one statement for all but the
    /// largest requests; the write's keys, not this read, enforce the rule).
    pub(crate) async fn read(service: &Service, ports: &[PortId]) -> Result<Self, ServiceError> {
        if ports.is_empty() {
            return Ok(Self::default());
        }
        let found = service.read_once().await?.memberships(ports).await?;
        Ok(Self {
            by_port: found.into_iter().map(|m| (m.port_id, m)).collect(),
        })
    }

    /// The first of `ports`, in their order, that serves a trunk.
    pub(crate) fn first_of(&self, ports: &[PortId]) -> Option<&Membership> {
        ports.iter().find_map(|port| self.by_port.get(port))
    }

    /// Records the ports `trunk` holds, written earlier in the same write.
    pub(crate) fn join(&mut self, trunk: &Trunk) {
        let parent = Membership {
            port_id: trunk.port_id,
            trunk_id: trunk.id,
            is_parent: true,
        };
        self.by_port.insert(trunk.port_id, parent);
        for subport in &trunk.sub_ports {
            let member = Membership {
                port_id: subport.port_id,
                trunk_id: trunk.id,
                is_parent: false,
            };
            self.by_port.insert(subport.port_id, member);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_taken_port_in_request_order_is_named() {
        let (a, b, c) = (PortId::new(), PortId::new(), PortId::new());
        let trunk = crate::ids::TrunkId::new();
        let mut known = KnownMemberships::default();
        assert!(known.first_of(&[a, b]).is_none());
        known.by_port.insert(
            c,
            Membership {
                port_id: c,
                trunk_id: trunk,
                is_parent: false,
            },
        );
        known.by_port.insert(
            b,
            Membership {
                port_id: b,
                trunk_id: trunk,
                is_parent: true,
            },
        );
        assert_eq!(known.first_of(&[a, c, b]).map(|m| m.port_id), Some(c));
        assert_eq!(known.first_of(&[b, c]).map(|m| m.is_parent), Some(true));
    }
}
