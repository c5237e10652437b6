//! Translation of SQLite errors into [`StoreError`], naming violated rules by what they mean.

use crate::store::{Constraint, StoreError};

/// SQLite's extended result codes for the constraints that name a rule.
const SQLITE_CONSTRAINT_FOREIGNKEY: i32 = 787;
const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = 1555;
const SQLITE_CONSTRAINT_UNIQUE: i32 = 2067;

/// rusqlite's errors (the store's connections, `conn.rs`).
pub(crate) fn map_lite_err(error: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match &error {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let message = message.clone().unwrap_or_else(|| failure.to_string());
            match (failure.code, failure.extended_code) {
                (_, SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY) => {
                    StoreError::Unique(constraint_of(&message))
                }
                (_, SQLITE_CONSTRAINT_FOREIGNKEY) => StoreError::ForeignKey,
                (ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked, _) => {
                    StoreError::Contention(message)
                }
                (
                    ErrorCode::CannotOpen
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::DiskFull
                    | ErrorCode::ReadOnly
                    | ErrorCode::PermissionDenied
                    | ErrorCode::NotADatabase
                    | ErrorCode::DatabaseCorrupt,
                    _,
                ) => StoreError::Unavailable(message),
                _ => StoreError::Internal(message),
            }
        }
        _ => StoreError::Internal(error.to_string()),
    }
}

/// SQLite names the columns of the violated key ("UNIQUE constraint failed: t.a, t.b") or the
/// index of an expression key ("index 'networks_segment'").
fn constraint_of(message: &str) -> Constraint {
    if message.contains("segmentation_type") {
        Constraint::TrunkSegmentation
    } else if message.contains("trunk_members.port_id") || message.contains("trunks.port_id") {
        Constraint::TrunkMemberPort
    } else if message.contains("networks_segment") || message.contains("networks.network_type") {
        Constraint::NetworkSegment
    } else if message.contains("ip_allocations.address_key") {
        Constraint::IpAllocation
    } else if message.contains("mac_address") {
        Constraint::PortMac
    } else {
        Constraint::Other(message.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_messages_name_the_rule() {
        assert_eq!(
            constraint_of("UNIQUE constraint failed: trunk_members.port_id"),
            Constraint::TrunkMemberPort
        );
        assert_eq!(
            constraint_of(
                "UNIQUE constraint failed: trunk_members.trunk_id, \
                 trunk_members.segmentation_type, trunk_members.segmentation_id"
            ),
            Constraint::TrunkSegmentation
        );
        assert_eq!(
            constraint_of("UNIQUE constraint failed: index 'networks_segment'"),
            Constraint::NetworkSegment
        );
        assert_eq!(
            constraint_of(
                "UNIQUE constraint failed: ip_allocations.subnet_id, ip_allocations.address_key"
            ),
            Constraint::IpAllocation
        );
        assert!(matches!(
            constraint_of("UNIQUE constraint failed: tags.tag"),
            Constraint::Other(_)
        ));
    }
}
