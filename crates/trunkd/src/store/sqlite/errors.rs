//! Translation of SQLite errors into [`StoreError`], naming violated rules by what they mean.

use sqlx::error::ErrorKind;

use crate::store::{Constraint, StoreError};

/// SQLite's primary result codes for "another connection holds the lock".
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;

pub(crate) fn map_err(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Database(db) => {
            let message = db.message().to_string();
            let code = db
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .map(|c| c & 0xff);
            match db.kind() {
                ErrorKind::UniqueViolation => StoreError::Unique(constraint_of(&message)),
                ErrorKind::ForeignKeyViolation => StoreError::ForeignKey,
                _ if code == Some(SQLITE_BUSY) || code == Some(SQLITE_LOCKED) => {
                    StoreError::Contention(message)
                }
                _ => StoreError::Internal(message),
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(error.to_string())
        }
        other => StoreError::Internal(other.to_string()),
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
