//! Per-project quotas. A quota is checked inside the write transaction that creates the
//! resources, so concurrent creates cannot overshoot it: SQLite runs one writer at a time,
//! and on PostgreSQL the count and the insert conflict at SERIALIZABLE, so the later writer
//! runs again and sees the earlier one's rows. Without quotas on networks and ports one
//! project could take every tenant segment (and fill the database) for all the others.

use std::collections::BTreeMap;

use crate::ids::ProjectId;
use crate::store::{ResourceKind, StoreTx};

use super::{ErrorKind, ServiceError};

/// Neutron's default `quota_network`.
pub const DEFAULT_NETWORK_QUOTA: u64 = 100;
/// Neutron's default `quota_subnet`.
pub const DEFAULT_SUBNET_QUOTA: u64 = 100;
/// Neutron's default `quota_port`.
pub const DEFAULT_PORT_QUOTA: u64 = 500;

/// Refuses the create when a project would own more than `quota` trunks after it;
/// `creating` holds the owning project of each trunk being created. `None` is no limit.
pub(super) async fn check_trunks<'a>(
    tx: &mut dyn StoreTx,
    quota: Option<u64>,
    creating: impl Iterator<Item = &'a ProjectId>,
) -> Result<(), ServiceError> {
    check(tx, ResourceKind::Trunk, quota, creating).await
}

/// Refuses the create when a project would own more than `quota` resources of `kind` after
/// it; `creating` holds the owning project of each resource being created, so a bulk create
/// is counted whole (and refused whole). `None` is no limit.
pub(super) async fn check<'a>(
    tx: &mut dyn StoreTx,
    kind: ResourceKind,
    quota: Option<u64>,
    creating: impl Iterator<Item = &'a ProjectId>,
) -> Result<(), ServiceError> {
    let Some(quota) = quota else {
        return Ok(());
    };
    let mut wanted: BTreeMap<&ProjectId, u64> = BTreeMap::new();
    for project in creating {
        *wanted.entry(project).or_default() += 1;
    }
    for (project, more) in wanted {
        // A bulk beyond the quota on its own needs no count.
        let over = more > quota || {
            let owned = tx.count_of_project(kind, project).await?;
            owned.saturating_add(more) > quota
        };
        if over {
            return Err(over_quota(kind));
        }
    }
    Ok(())
}

/// Neutron's `OverQuota` message, which lists the resources as a Python list.
fn over_quota(kind: ResourceKind) -> ServiceError {
    ServiceError::conflict(
        ErrorKind::OverQuota,
        format!("Quota exceeded for resources: ['{}'].", kind.as_str()),
    )
}
