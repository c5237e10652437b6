//! Translation of PostgreSQL errors into [`StoreError`], by SQLSTATE and constraint name.

use crate::store::{Constraint, StoreError};

pub(crate) fn map_err(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            let message = db.message().to_string();
            match code.as_str() {
                // serialization_failure, deadlock_detected: run the transaction again.
                "40001" | "40P01" => StoreError::Contention(message),
                "23505" => StoreError::Unique(constraint_of(db.constraint().unwrap_or(""))),
                "23503" => StoreError::ForeignKey,
                // admin_shutdown, crash_shutdown, cannot_connect_now, and connection exceptions.
                "57P01" | "57P02" | "57P03" => StoreError::Unavailable(message),
                c if c.starts_with("08") => StoreError::Unavailable(message),
                _ => StoreError::Internal(format!("{code}: {message}")),
            }
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => StoreError::Unavailable(error.to_string()),
        other => StoreError::Internal(other.to_string()),
    }
}

fn constraint_of(name: &str) -> Constraint {
    match name {
        "trunk_members_pkey" | "trunks_port_id_key" => Constraint::TrunkMemberPort,
        "trunk_members_segmentation" => Constraint::TrunkSegmentation,
        "networks_segment" => Constraint::NetworkSegment,
        "ports_network_mac" => Constraint::PortMac,
        "ip_allocations_pkey" => Constraint::IpAllocation,
        other => Constraint::Other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraint_names_map_to_rules() {
        assert_eq!(
            constraint_of("trunk_members_pkey"),
            Constraint::TrunkMemberPort
        );
        assert_eq!(
            constraint_of("trunks_port_id_key"),
            Constraint::TrunkMemberPort
        );
        assert_eq!(
            constraint_of("trunk_members_segmentation"),
            Constraint::TrunkSegmentation
        );
        assert_eq!(constraint_of("ports_network_mac"), Constraint::PortMac);
        assert_eq!(
            constraint_of("ip_allocations_pkey"),
            Constraint::IpAllocation
        );
        assert!(matches!(constraint_of("tags_pkey"), Constraint::Other(_)));
    }
}
