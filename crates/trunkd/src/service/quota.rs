//! Per-project quotas. A quota is checked inside the write transaction that creates the
//! resources, so concurrent creates cannot overshoot it: SQLite runs one writer at a time,
//! and on PostgreSQL the count and the insert conflict at SERIALIZABLE, so the later writer
//! runs again and sees the earlier one's trunk.

use std::collections::BTreeMap;

use crate::ids::ProjectId;
use crate::store::StoreTx;

use super::ServiceError;

/// Neutron's error type for a create beyond a quota.
pub const OVER_QUOTA: &str = "OverQuota";

/// Refuses the create when a project would own more than `quota` trunks after it;
/// `creating` holds the owning project of each trunk being created. `None` is no limit.
pub(super) async fn check_trunks<'a>(
    tx: &mut dyn StoreTx,
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
        let owned = tx.count_trunks_of_project(project).await?;
        if owned.saturating_add(more) > quota {
            return Err(ServiceError::conflict(
                OVER_QUOTA,
                "Quota exceeded for resources: ['trunk'].",
            ));
        }
    }
    Ok(())
}
