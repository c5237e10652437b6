//! The audit trail of trunks (issue 20, item 4; extension `trunk-audit`): who changed a trunk,
//! when, and what changed, recorded in the change's own transaction.
//!
//! Every trunk change is recorded through [`record_trunk_change`], which writes the outbox
//! event and the audit row together; `outbox::record` refuses trunk events, so a write path
//! cannot publish a trunk change without its audit row. The action is the event's kind
//! ([`TrunkEventKind`]): a new kind of change is a new action by construction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{PortId, ProjectId, TrunkId};
use crate::model::{Subport, TrunkStatus};
use crate::store::audit::{AuditQuery, AuditRow, NewAuditRow};
use crate::store::event::{Event, TrunkChange, TrunkEventKind};
use crate::store::{NewEvent, StoreTx};

use super::trunks::trunk_target;
use super::{owned_target, Context, ErrorKind, Service, ServiceError};
use crate::policy::Action;

/// Where a change came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// A request to the API.
    Api,
    /// The host agent of `host`, by its own credential.
    Agent { host: String },
    /// A trunk driver's report (OVN's port states, a driver's verdict).
    Driver,
}

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub source: Source,
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub roles: Vec<String>,
    /// This server's id of the request (`X-OpenStack-Request-ID` of its answer).
    pub request_id: Option<String>,
    /// The id the caller sent for the whole operation, across services (oslo's global request
    /// id: its `X-OpenStack-Request-ID` header).
    pub global_request_id: Option<String>,
}

impl Actor {
    /// The caller of a request (an agent, when the request is an agent's).
    pub fn of(ctx: &Context) -> Self {
        let source = match &ctx.agent_host {
            Some(host) => Source::Agent { host: host.clone() },
            None => Source::Api,
        };
        Self {
            source,
            user_id: ctx.credentials.user_id.clone(),
            project_id: ctx.credentials.project_id.clone(),
            roles: ctx.credentials.roles.clone(),
            request_id: Some(ctx.request_id.clone()),
            global_request_id: ctx.global_request_id.clone(),
        }
    }

    /// A driver's report, made by no request.
    pub fn driver() -> Self {
        Self {
            source: Source::Driver,
            user_id: None,
            project_id: None,
            roles: Vec::new(),
            request_id: None,
            global_request_id: None,
        }
    }
}

/// A subport as a change added or removed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubportChange {
    pub port_id: PortId,
    pub segmentation_type: String,
    pub segmentation_id: i64,
}

impl SubportChange {
    pub fn of(subports: &[Subport]) -> Vec<Self> {
        subports
            .iter()
            .map(|s| Self {
                port_id: s.port_id,
                segmentation_type: s.segmentation_type.as_str().to_string(),
                segmentation_id: s.segmentation_id,
            })
            .collect()
    }
}

/// A value before and after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move<T> {
    pub from: T,
    pub to: T,
}

/// What a change changed. Empty parts are left out of the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditDetails {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_ports_added: Vec<SubportChange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_ports_removed: Vec<SubportChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Move<String>>,
    /// The parent's `binding:host_id` (empty: unbound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<Move<String>>,
    /// Attributes an update changed, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Move<serde_json::Value>>,
    /// The tags after a tag change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// A driver's reason for refusing the trunk (`null`: not refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Move<Option<String>>>,
}

impl AuditDetails {
    pub fn added(subports: &[Subport]) -> Self {
        Self {
            sub_ports_added: SubportChange::of(subports),
            ..Self::default()
        }
    }

    pub fn removed(subports: &[Subport]) -> Self {
        Self {
            sub_ports_removed: SubportChange::of(subports),
            ..Self::default()
        }
    }

    /// Adds the trunk's status move, when it moved.
    pub fn with_status(mut self, from: TrunkStatus, to: TrunkStatus) -> Self {
        if from != to {
            self.status = Some(Move {
                from: from.as_str().to_string(),
                to: to.as_str().to_string(),
            });
        }
        self
    }

    /// What the event itself says (status and host moves, tags), over what the caller gave.
    fn completed_by(mut self, change: &TrunkChange) -> Self {
        match change {
            TrunkChange::StatusChanged(moved) => {
                self = self.with_status(moved.from, moved.to);
            }
            TrunkChange::ParentBound(binding) | TrunkChange::ParentUnbound(binding) => {
                self.host = Some(Move {
                    from: binding.previous_host_id.clone(),
                    to: binding.host_id.clone(),
                });
            }
            TrunkChange::Updated(crate::store::event::TrunkUpdate::Tags(tags)) => {
                self.tags = Some(tags.tags.clone());
            }
            TrunkChange::Created(_)
            | TrunkChange::Deleted(_)
            | TrunkChange::SubportsAdded(_)
            | TrunkChange::SubportsRemoved(_)
            | TrunkChange::Updated(crate::store::event::TrunkUpdate::Attributes(_)) => {}
        }
        self
    }
}

/// One recorded change, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub trunk_id: TrunkId,
    pub at: String,
    pub action: TrunkEventKind,
    pub revision_before: i64,
    pub revision_after: i64,
    pub actor: Actor,
    pub details: AuditDetails,
}

impl AuditEntry {
    fn of(row: AuditRow) -> Result<Self, ServiceError> {
        let bad = |what: &str| ServiceError::Internal {
            message: format!("audit row {} has a bad {what}", row.id),
        };
        Ok(Self {
            id: row.id,
            trunk_id: row.row.trunk_id,
            action: TrunkEventKind::parse(&row.row.action).ok_or_else(|| bad("action"))?,
            actor: serde_json::from_str(&row.row.actor_json).map_err(|_| bad("actor"))?,
            details: serde_json::from_str(&row.row.details_json).map_err(|_| bad("details"))?,
            at: row.row.at,
            revision_before: row.row.revision_before,
            revision_after: row.row.revision_after,
        })
    }
}

/// Records a trunk change: its outbox event and its audit row, in the transaction `tx` that
/// makes the change.
/// `revision_before` is the trunk's revision before the change; the event carries the one
/// after.
pub(crate) async fn record_trunk_change(
    tx: &mut dyn StoreTx,
    actor: &Actor,
    project: &ProjectId,
    revision_before: i64,
    event: NewEvent,
    details: AuditDetails,
) -> Result<(), ServiceError> {
    let Event::Trunk(trunk_event) = &event.event else {
        return Err(ServiceError::Internal {
            message: "record_trunk_change was given another resource's event".into(),
        });
    };
    let change = &trunk_event.change;
    let trunk_id: TrunkId = event
        .resource_id()
        .parse()
        .map_err(|_| ServiceError::Internal {
            message: "a trunk event without its trunk".into(),
        })?;
    let details = details.completed_by(change);
    record_entry(
        tx,
        actor,
        (trunk_id, project),
        change.kind(),
        (revision_before, event.revision_number),
        &details,
    )
    .await?;
    tx.insert_event(&event).await?;
    Ok(())
}

/// Writes one audit row: `revisions` are the trunk's before and after the change. For the
/// one change that has no event of its own (a refusal's reason replaced by another, status
/// unchanged); every other goes through [`record_trunk_change`].
pub(crate) async fn record_entry(
    tx: &mut dyn StoreTx,
    actor: &Actor,
    (trunk_id, project): (TrunkId, &ProjectId),
    action: TrunkEventKind,
    revisions: (i64, i64),
    details: &AuditDetails,
) -> Result<(), ServiceError> {
    let now = chrono::Utc::now();
    let row = NewAuditRow {
        trunk_id,
        project_id: project.clone(),
        at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        at_ms: now.timestamp_millis(),
        action: action.as_str().to_string(),
        revision_before: revisions.0,
        revision_after: revisions.1,
        actor_json: to_json(actor)?,
        details_json: to_json(details)?,
    };
    tx.insert_audit(&row).await?;
    Ok(())
}

fn to_json(value: &impl Serialize) -> Result<String, ServiceError> {
    serde_json::to_string(value).map_err(|e| ServiceError::Internal {
        message: format!("audit value not serialisable: {e}"),
    })
}

/// Which part of a trunk's trail a caller asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditListing {
    /// Entries after this one (the last of the previous page).
    pub marker: Option<i64>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub action: Option<TrunkEventKind>,
    pub limit: usize,
}

/// Default of `audit_retention`: 90 days.
pub const DEFAULT_RETENTION: std::time::Duration = std::time::Duration::from_secs(90 * 24 * 3600);

impl Service {
    /// A page of trunk `id`'s audit trail, oldest first, for callers `get_trunk_audit` allows
    /// on the trunk (readers of its project and admins by default), also once it is deleted
    /// (the trail keeps its project). Anyone else gets `TrunkNotFound`.
    pub async fn trunk_audit(
        &self,
        ctx: &Context,
        id: TrunkId,
        listing: &AuditListing,
    ) -> Result<Vec<AuditEntry>, ServiceError> {
        let guard = self.guard(ctx);
        let not_found = || {
            ServiceError::not_found(
                ErrorKind::TrunkNotFound,
                format!("Trunk {id} could not be found."),
            )
        };
        let mut tx = self.read().await?;
        match tx.get_trunk(id).await? {
            Some(trunk) => {
                let target = trunk_target(&trunk);
                if !guard.allows(Action::GetTrunk, &target)
                    || !guard.allows(Action::GetTrunkAudit, &target)
                {
                    return Err(not_found());
                }
            }
            // Gone: its trail names the project it belonged to, and the rule is asked about
            // that project (the owner may still read who deleted it).
            None => {
                let first = AuditQuery {
                    trunk_id: id,
                    after_id: None,
                    since_ms: None,
                    until_ms: None,
                    action: None,
                    limit: 1,
                };
                let owner = tx.list_audit(&first).await?.into_iter().next();
                match owner {
                    Some(row)
                        if guard
                            .allows(Action::GetTrunkAudit, &owned_target(&row.row.project_id)) => {}
                    _ => return Err(not_found()),
                }
            }
        }
        let query = AuditQuery {
            trunk_id: id,
            after_id: listing.marker,
            since_ms: listing.since_ms,
            until_ms: listing.until_ms,
            action: listing.action.map(|a| a.as_str().to_string()),
            limit: i64::try_from(listing.limit).unwrap_or(i64::MAX),
        };
        let entries: Vec<AuditEntry> = tx
            .list_audit(&query)
            .await?
            .into_iter()
            .map(AuditEntry::of)
            .collect::<Result<_, _>>()?;
        Ok(entries)
    }

    /// Deletes audit rows older than `audit_retention` (none when it is zero: kept forever).
    pub async fn prune_audit(&self) -> Result<u64, ServiceError> {
        let retention = self.settings.audit_retention;
        if retention.is_zero() {
            return Ok(0);
        }
        Ok(self
            .store
            .prune_audit(super::millis_before_now(retention))
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::event::{ParentBinding, StatusChange};

    #[test]
    fn the_event_fills_in_what_it_knows() {
        let trunk = TrunkId::new();
        let port = PortId::new();
        let moved = TrunkChange::StatusChanged(StatusChange {
            trunk_id: trunk,
            from: TrunkStatus::Down,
            to: TrunkStatus::Active,
        });
        let details = AuditDetails::default().completed_by(&moved);
        assert_eq!(
            details.status,
            Some(Move {
                from: "DOWN".into(),
                to: "ACTIVE".into()
            })
        );
        let bound = TrunkChange::ParentBound(ParentBinding {
            trunk_id: trunk,
            port_id: port,
            host_id: "compute-2".into(),
            previous_host_id: "compute-1".into(),
            sub_ports: vec![],
            previous_host_ids: vec![],
        });
        let details = AuditDetails::default().completed_by(&bound);
        assert_eq!(
            details.host,
            Some(Move {
                from: "compute-1".into(),
                to: "compute-2".into()
            })
        );
    }

    #[test]
    fn details_round_trip_and_leave_empty_parts_out() {
        let empty = serde_json::to_value(AuditDetails::default()).expect("json");
        assert_eq!(empty, serde_json::json!({}));
        let details = AuditDetails::default().with_status(TrunkStatus::Down, TrunkStatus::Active);
        let text = serde_json::to_string(&details).expect("json");
        assert_eq!(
            serde_json::from_str::<AuditDetails>(&text).ok(),
            Some(details)
        );
        assert_eq!(
            AuditDetails::default().with_status(TrunkStatus::Down, TrunkStatus::Down),
            AuditDetails::default()
        );
    }
}
