//! Trunk operations (spec section 3): create (with subports), show, list, update, delete, and
//! the add/remove/get subports actions, each one transaction.

use crate::drivers::{DriverError, TrunkChange};
use crate::ids::{PortId, ProjectId, TrunkId};
use crate::model::port::{SUBPORT_DEVICE_OWNER, VIF_UNBOUND};
use crate::model::{
    Port, PortStatus, SegmentationType, StandardAttrs, Subport, Trunk, TrunkStatus,
};
use crate::policy::{Action, Target};
use crate::store::event::{self, TrunkMembers};
use crate::store::NewEvent;
use crate::store::{ListQuery, StoreError, StoreTx, SubportBinding};

use super::audit::{record_trunk_change, Actor, AuditDetails, Move};
use super::limits::{invisible_marker, marker_not_found};
use super::memberships::KnownMemberships;
use super::port_status::write_port_statuses;
use super::ports::visible_port;
use super::subports::{already_in_a_trunk, parent_in_use, SubportRequest};
use super::{
    check_length, check_revision, list_scope, owned_target, quota, Context, ErrorKind, Guard,
    Service, ServiceError, NAME_MAX,
};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrunkCreate {
    pub project_id: Option<ProjectId>,
    pub port_id: Option<PortId>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub sub_ports: Vec<SubportRequest>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrunkUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
}

pub(crate) fn trunk_target(trunk: &Trunk) -> Target {
    let mut target = owned_target(&trunk.project_id);
    target.insert("id".into(), trunk.id.to_string().into());
    target.insert("port_id".into(), trunk.port_id.to_string().into());
    target
}

pub(super) fn trunk_not_found(id: impl std::fmt::Display) -> ServiceError {
    ServiceError::not_found(
        ErrorKind::TrunkNotFound,
        format!("Trunk {id} could not be found."),
    )
}

/// Loads a trunk the caller may see (by `get_trunk`), else `TrunkNotFound`.
pub(crate) async fn visible_trunk(
    tx: &mut dyn StoreTx,
    guard: &Guard<'_>,
    id: TrunkId,
) -> Result<Trunk, ServiceError> {
    visible(guard, tx.get_trunk(id).await?, id)
}

/// `found`, the trunk `id` as read, if the caller may see it; not found otherwise.
fn visible(guard: &Guard<'_>, found: Option<Trunk>, id: TrunkId) -> Result<Trunk, ServiceError> {
    match found {
        Some(trunk) if guard.allows(Action::GetTrunk, &trunk_target(&trunk)) => Ok(trunk),
        _ => Err(trunk_not_found(id)),
    }
}

fn refused(error: DriverError) -> ServiceError {
    ServiceError::conflict(ErrorKind::TrunkDriverRefused, error.to_string())
}

pub(super) fn check_manageable(trunk: &Trunk) -> Result<(), ServiceError> {
    if trunk.admin_state_up {
        Ok(())
    } else {
        Err(ServiceError::conflict(
            ErrorKind::TrunkDisabled,
            format!("Trunk {} is currently disabled.", trunk.id),
        ))
    }
}

fn members(trunk: &Trunk, ports: &[PortId]) -> TrunkMembers {
    TrunkMembers::new(trunk.id, trunk.port_id, ports.to_vec())
}

/// The attributes an update changed, each from and to.
fn attribute_moves(before: &Trunk, after: &Trunk) -> AuditDetails {
    let mut details = AuditDetails::default();
    let mut moved = |name: &str, from: serde_json::Value, to: serde_json::Value| {
        if from != to {
            details
                .attributes
                .insert(name.to_string(), Move { from, to });
        }
    };
    moved(
        "name",
        before.name.clone().into(),
        after.name.clone().into(),
    );
    moved(
        "description",
        before.description.clone().into(),
        after.description.clone().into(),
    );
    moved(
        "admin_state_up",
        before.admin_state_up.into(),
        after.admin_state_up.into(),
    );
    details
}

/// A unique-key failure while writing subports, named as the rule it enforces.
fn membership_conflict(error: StoreError, trunk: &Trunk) -> ServiceError {
    match error {
        StoreError::Unique(crate::store::Constraint::TrunkMemberPort) => ServiceError::conflict(
            ErrorKind::TrunkPortInUse,
            format!(
                "A port given for trunk {} is in use by another trunk.",
                trunk.id
            ),
        ),
        other => other.into(),
    }
}

impl Service {
    fn check_texts(
        name: Option<&String>,
        description: Option<&String>,
    ) -> Result<(), ServiceError> {
        if let Some(name) = name {
            check_length("name", name, NAME_MAX)?;
        }
        if let Some(description) = description {
            check_length("description", description, NAME_MAX)?;
        }
        Ok(())
    }

    /// Binding fields of ports joining `trunk` as subports (spec 3.1 rule 12).
    fn joining_binding(&self, trunk: &Trunk, parent: &Port) -> SubportBinding {
        SubportBinding {
            device_id: trunk.id.to_string(),
            device_owner: SUBPORT_DEVICE_OWNER.into(),
            host_id: parent.host_id.clone(),
            vif_type: if parent.is_bound() {
                self.drivers().vif_type().into()
            } else {
                VIF_UNBOUND.into()
            },
            updated_at: trunk.std.updated_at.clone(),
        }
    }

    /// Binding fields of ports leaving a trunk: cleared.
    fn leaving_binding(now: &str) -> SubportBinding {
        SubportBinding {
            device_id: String::new(),
            device_owner: String::new(),
            host_id: String::new(),
            vif_type: VIF_UNBOUND.into(),
            updated_at: now.to_string(),
        }
    }

    /// Clears the binding of subports leaving `trunk` (rule 12). They were bound with the
    /// parent, so when it is bound they are now bound nowhere, and DOWN.
    async fn unbind_leaving(
        &self,
        tx: &mut dyn StoreTx,
        trunk: &Trunk,
        leaving: &[PortId],
        now: &str,
    ) -> Result<(), ServiceError> {
        tx.set_subport_bindings(leaving, &Self::leaving_binding(now))
            .await?;
        if trunk.parent_state.bound {
            tx.set_port_status(leaving, PortStatus::Down).await?;
        }
        Ok(())
    }

    /// The parent port, checked against spec 3.1 rules 1 and 2.
    async fn check_parent(
        &self,
        tx: &mut dyn StoreTx,
        guard: &Guard<'_>,
        port_id: PortId,
        known: &KnownMemberships,
    ) -> Result<Port, ServiceError> {
        let parent = visible_port(tx, guard, port_id).await?;
        if let Some(membership) = known.first_of(&[port_id]) {
            return Err(already_in_a_trunk(membership));
        }
        if parent.is_bound() && !self.drivers().can_manage_bound_port() {
            return Err(parent_in_use(port_id));
        }
        Ok(parent)
    }

    /// Creates trunks, each with its subports; bulk create is all or nothing.
    pub async fn create_trunks(
        &self,
        ctx: &Context,
        mut requests: Vec<TrunkCreate>,
    ) -> Result<Vec<Trunk>, ServiceError> {
        let guard = self.guard(ctx);
        self.check_bulk("trunks", requests.len())?;
        self.check_create_tags(requests.iter_mut().map(|r| &mut r.tags))?;
        // The cap on subports holds for the whole request, not for each trunk of a bulk.
        let subports: usize = requests.iter().map(|r| r.sub_ports.len()).sum();
        let max = self.settings().max_subports_per_request;
        if subports > max {
            return Err(ServiceError::invalid_input(
                "sub_ports",
                format!("{subports} subports exceed the limit of {max} per request"),
            ));
        }
        let mut prepared = Vec::with_capacity(requests.len());
        for request in &requests {
            let port_id = request.port_id.ok_or_else(|| {
                ServiceError::invalid_input("port_id", "this attribute is required")
            })?;
            let project = ctx.owning_project(request.project_id.clone())?;
            guard.require(Action::CreateTrunk, &owned_target(&project))?;
            Self::check_texts(request.name.as_ref(), request.description.as_ref())?;
            let shapes = self.check_subport_shapes(&request.sub_ports)?;
            prepared.push((port_id, project, shapes));
        }
        let named: Vec<PortId> = prepared
            .iter()
            .map(|(port_id, _, _)| *port_id)
            .chain(
                requests
                    .iter()
                    .flat_map(|r| r.sub_ports.iter().map(|s| s.port_id)),
            )
            .collect();
        let read_before = KnownMemberships::read(self, &named).await?;
        let actor = Actor::of(ctx);
        let watch = self.watch_deliveries();
        let created = self
            .write(ctx, |tx| {
                Box::pin(async {
                    let tx = tx;
                    let mut known = read_before.clone();
                    let quota = self.settings().trunk_quota;
                    quota::check_trunks(tx.as_mut(), quota, prepared.iter().map(|(_, p, _)| p))
                        .await?;
                    let mut created = Vec::with_capacity(requests.len());
                    for (request, (port_id, project, shapes)) in requests.iter().zip(&prepared) {
                        let parent = self
                            .check_parent(tx.as_mut(), &guard, *port_id, &known)
                            .await?;
                        let id = TrunkId::new();
                        let joining = self
                            .check_subports_in_store(
                                tx.as_mut(),
                                &guard,
                                None,
                                &known,
                                &parent,
                                &[],
                                &request.sub_ports,
                                shapes,
                            )
                            .await?;
                        let mut std = StandardAttrs::fresh();
                        std.tags = request.tags.clone();
                        let mut trunk = Trunk {
                            id,
                            project_id: project.clone(),
                            port_id: *port_id,
                            name: request.name.clone().unwrap_or_default(),
                            description: request.description.clone().unwrap_or_default(),
                            admin_state_up: request.admin_state_up.unwrap_or(true),
                            status: TrunkStatus::Down,
                            refusal: None,
                            parent_state: parent.parent_state(),
                            sub_ports: joining.subports,
                            std,
                        };
                        trunk.rederive_status();
                        self.drivers()
                            .precommit(&TrunkChange::Create(&trunk))
                            .map_err(refused)?;
                        tx.insert_trunk(&trunk)
                            .await
                            .map_err(|e| membership_conflict(e, &trunk))?;
                        known.join(&trunk);
                        let ports: Vec<PortId> =
                            trunk.sub_ports.iter().map(|s| s.port_id).collect();
                        tx.set_subport_bindings(&ports, &self.joining_binding(&trunk, &parent))
                            .await?;
                        write_port_statuses(tx.as_mut(), &joining.restatus).await?;
                        record_trunk_change(
                            tx.as_mut(),
                            &actor,
                            &trunk.project_id,
                            trunk.std.revision_number,
                            NewEvent::new(
                                trunk.std.revision_number,
                                event::TrunkChange::Created(members(&trunk, &ports)),
                            ),
                            AuditDetails::added(&trunk.sub_ports)
                                .with_status(TrunkStatus::Down, trunk.status),
                        )
                        .await?;
                        created.push(trunk);
                    }
                    Ok::<_, ServiceError>(created)
                })
            })
            .await?;
        Ok(self.settled(watch, created).await)
    }

    /// One statement outside a transaction ([`crate::store::OneRead`]).
    pub async fn get_trunk(&self, ctx: &Context, id: TrunkId) -> Result<Trunk, ServiceError> {
        let guard = self.guard(ctx);
        let found = self.read_once().await?.trunk(id).await?;
        visible(&guard, found, id)
    }

    pub async fn get_subports(
        &self,
        ctx: &Context,
        id: TrunkId,
    ) -> Result<Vec<Subport>, ServiceError> {
        let guard = self.guard(ctx);
        let mut tx = self.read().await?;
        let trunk = visible_trunk(tx.as_mut(), &guard, id).await?;
        if !guard.allows(Action::GetSubports, &trunk_target(&trunk)) {
            return Err(trunk_not_found(id));
        }
        Ok(trunk.sub_ports)
    }

    pub async fn list_trunks(
        &self,
        ctx: &Context,
        mut query: ListQuery,
    ) -> Result<Vec<Trunk>, ServiceError> {
        let guard = self.guard(ctx);
        let Some(scope) = list_scope(&guard, Action::GetTrunk, false) else {
            return Ok(Vec::new());
        };
        query.scope = scope;
        let mut tx = self.read().await?;
        if let Some(marker) = &query.marker {
            let id = marker.parse().map_err(|_| marker_not_found(marker))?;
            visible_trunk(tx.as_mut(), &guard, id)
                .await
                .map_err(|e| invisible_marker(marker, e))?;
        }
        Ok(tx
            .list_trunks(&query)
            .await?
            .into_iter()
            .filter(|t| guard.allows(Action::GetTrunk, &trunk_target(t)))
            .collect())
    }

    pub async fn update_trunk(
        &self,
        ctx: &Context,
        id: TrunkId,
        update: TrunkUpdate,
        if_match: Option<i64>,
    ) -> Result<Trunk, ServiceError> {
        let guard = self.guard(ctx);
        Self::check_texts(update.name.as_ref(), update.description.as_ref())?;
        let watch = self.watch_deliveries();
        let updated = self
            .write(ctx, |tx| {
                Box::pin(async {
                    let tx = tx;
                    let mut trunk = visible_trunk(tx.as_mut(), &guard, id).await?;
                    guard.require(Action::UpdateTrunk, &trunk_target(&trunk))?;
                    check_revision(if_match, trunk.std.revision_number)?;
                    let before = trunk.clone();
                    if let Some(name) = &update.name {
                        trunk.name = name.clone();
                    }
                    if let Some(description) = &update.description {
                        trunk.description = description.clone();
                    }
                    if let Some(admin_state_up) = update.admin_state_up {
                        trunk.admin_state_up = admin_state_up;
                    }
                    trunk.std.revision_number += 1;
                    trunk.std.updated_at = crate::model::now_timestamp();
                    tx.update_trunk(&trunk).await?;
                    record_trunk_change(
                        tx.as_mut(),
                        &Actor::of(ctx),
                        &trunk.project_id,
                        before.std.revision_number,
                        NewEvent::new(
                            trunk.std.revision_number,
                            event::TrunkChange::Updated(event::TrunkUpdate::Attributes(members(
                                &trunk,
                                &[],
                            ))),
                        ),
                        attribute_moves(&before, &trunk),
                    )
                    .await?;
                    Ok::<_, ServiceError>(trunk)
                })
            })
            .await?;
        Ok(self.settle_one(watch, updated).await)
    }

    pub async fn delete_trunk(
        &self,
        ctx: &Context,
        id: TrunkId,
        if_match: Option<i64>,
    ) -> Result<(), ServiceError> {
        let guard = self.guard(ctx);
        self.write(ctx, |tx| {
            Box::pin(async {
                let tx = tx;
                let trunk = visible_trunk(tx.as_mut(), &guard, id).await?;
                guard.require(Action::DeleteTrunk, &trunk_target(&trunk))?;
                check_revision(if_match, trunk.std.revision_number)?;
                self.delete_trunk_in(tx.as_mut(), &Actor::of(ctx), &trunk)
                    .await
            })
        })
        .await
    }

    /// The writes of a trunk's deletion once the caller may delete it, in the caller's
    /// transaction: its subports are let go (unbound) and the `deleted` event recorded. Shared
    /// by `delete_trunk` and the teardown (`service::teardown`).
    pub(super) async fn delete_trunk_in(
        &self,
        tx: &mut dyn StoreTx,
        actor: &Actor,
        trunk: &Trunk,
    ) -> Result<(), ServiceError> {
        let id = trunk.id;
        check_manageable(trunk)?;
        let parent_bound = tx
            .get_port(trunk.port_id)
            .await?
            .is_some_and(|p| p.is_bound());
        if parent_bound && !self.drivers().can_manage_bound_port() {
            return Err(ServiceError::conflict(
                ErrorKind::TrunkInUse,
                format!("Trunk {id} is currently in use."),
            ));
        }
        self.drivers()
            .precommit(&TrunkChange::Delete(trunk))
            .map_err(refused)?;
        let ports: Vec<PortId> = trunk.sub_ports.iter().map(|s| s.port_id).collect();
        let now = crate::model::now_timestamp();
        self.unbind_leaving(tx, trunk, &ports, &now).await?;
        tx.delete_trunk(id).await?;
        record_trunk_change(
            tx,
            actor,
            &trunk.project_id,
            trunk.std.revision_number,
            NewEvent::new(
                trunk.std.revision_number + 1,
                event::TrunkChange::Deleted(members(trunk, &ports)),
            ),
            AuditDetails::removed(&trunk.sub_ports),
        )
        .await?;
        Ok(())
    }

    pub async fn add_subports(
        &self,
        ctx: &Context,
        id: TrunkId,
        requests: Vec<SubportRequest>,
        if_match: Option<i64>,
    ) -> Result<Trunk, ServiceError> {
        let guard = self.guard(ctx);
        let shapes = self.check_subport_shapes(&requests)?;
        let named: Vec<PortId> = requests.iter().map(|r| r.port_id).collect();
        let known = KnownMemberships::read(self, &named).await?;
        let watch = self.watch_deliveries();
        let added = self
            .write(ctx, |tx| {
                Box::pin(async {
                    let tx = tx;
                    let mut trunk = visible_trunk(tx.as_mut(), &guard, id).await?;
                    guard.require(Action::AddSubports, &trunk_target(&trunk))?;
                    check_revision(if_match, trunk.std.revision_number)?;
                    check_manageable(&trunk)?;
                    if !trunk.status.accepts_subport_change(false) {
                        return Err(ServiceError::conflict(
                            ErrorKind::TrunkInErrorState,
                            format!(
                                "Trunk {id} is in error state. \
                         Remove the failing subports or delete the trunk first."
                            ),
                        ));
                    }
                    if requests.is_empty() {
                        return Ok(trunk);
                    }
                    let parent = tx.get_port(trunk.port_id).await?.ok_or_else(|| {
                        ServiceError::Internal {
                            message: format!(
                                "parent port {} of trunk {id} is missing",
                                trunk.port_id
                            ),
                        }
                    })?;
                    let joining = self
                        .check_subports_in_store(
                            tx.as_mut(),
                            &guard,
                            Some(id),
                            &known,
                            &parent,
                            &trunk.sub_ports,
                            &requests,
                            &shapes,
                        )
                        .await?;
                    let added = joining.subports;
                    let before = (trunk.std.revision_number, trunk.status);
                    trunk.sub_ports.extend(added.iter().cloned());
                    trunk.rederive_status();
                    trunk.std.revision_number += 1;
                    trunk.std.updated_at = crate::model::now_timestamp();
                    self.drivers()
                        .precommit(&TrunkChange::AddSubports(&trunk))
                        .map_err(refused)?;
                    // The trunk's row first: two adds racing on one trunk (on PostgreSQL)
                    // then meet at that row, a serialization failure that is run again, rather
                    // than at the members' unique key, a 409 for IDs the caller let the server
                    // pick.
                    tx.update_trunk(&trunk).await?;
                    tx.insert_subports(id, &added)
                        .await
                        .map_err(|e| membership_conflict(e, &trunk))?;
                    let ports: Vec<PortId> = added.iter().map(|s| s.port_id).collect();
                    tx.set_subport_bindings(&ports, &self.joining_binding(&trunk, &parent))
                        .await?;
                    write_port_statuses(tx.as_mut(), &joining.restatus).await?;
                    record_trunk_change(
                        tx.as_mut(),
                        &Actor::of(ctx),
                        &trunk.project_id,
                        before.0,
                        NewEvent::new(
                            trunk.std.revision_number,
                            event::TrunkChange::SubportsAdded(members(&trunk, &ports)),
                        ),
                        AuditDetails::added(&added).with_status(before.1, trunk.status),
                    )
                    .await?;
                    Ok::<_, ServiceError>(trunk)
                })
            })
            .await?;
        Ok(self.settle_one(watch, added).await)
    }

    pub async fn remove_subports(
        &self,
        ctx: &Context,
        id: TrunkId,
        ports: Vec<PortId>,
        if_match: Option<i64>,
    ) -> Result<Trunk, ServiceError> {
        let guard = self.guard(ctx);
        let max = self.settings().max_subports_per_request;
        if ports.len() > max {
            return Err(ServiceError::invalid_input(
                "sub_ports",
                format!(
                    "{} subports exceed the limit of {max} per request",
                    ports.len()
                ),
            ));
        }
        let mut seen = std::collections::HashSet::with_capacity(ports.len());
        if let Some((index, port)) = ports.iter().enumerate().find(|(_, p)| !seen.insert(**p)) {
            return Err(ServiceError::invalid_input(
                &format!("sub_ports[{index}].port_id"),
                format!("port {port} is listed more than once"),
            ));
        }
        let watch = self.watch_deliveries();
        let removed = self
            .write(ctx, |tx| {
                Box::pin(async {
                    let tx = tx;
                    let trunk = visible_trunk(tx.as_mut(), &guard, id).await?;
                    guard.require(Action::RemoveSubports, &trunk_target(&trunk))?;
                    check_revision(if_match, trunk.std.revision_number)?;
                    check_manageable(&trunk)?;
                    if ports.is_empty() {
                        return Ok(trunk);
                    }
                    self.remove_subports_in(tx.as_mut(), &Actor::of(ctx), trunk, &ports)
                        .await
                })
            })
            .await?;
        Ok(self.settle_one(watch, removed).await)
    }

    /// The writes of a removal of `ports` from `trunk` (already checked: visible, allowed,
    /// revision, enabled), in the caller's transaction: the trunk's new revision and status,
    /// the leaving ports unbound, and the `subports_removed` event. Shared by
    /// `remove_subports` and a port deletion with `remove_from_trunk` (`service::teardown`).
    pub(super) async fn remove_subports_in(
        &self,
        tx: &mut dyn StoreTx,
        actor: &Actor,
        mut trunk: Trunk,
        ports: &[PortId],
    ) -> Result<Trunk, ServiceError> {
        let id = trunk.id;
        let current: std::collections::HashSet<PortId> =
            trunk.sub_ports.iter().map(|s| s.port_id).collect();
        if let Some(missing) = ports.iter().find(|p| !current.contains(p)) {
            return Err(ServiceError::not_found(
                ErrorKind::SubPortNotFound,
                format!("Port {missing} is not a subport of trunk {id}."),
            ));
        }
        let removing: std::collections::HashSet<PortId> = ports.iter().copied().collect();
        let before = (trunk.std.revision_number, trunk.status);
        let leaving: Vec<Subport> = trunk
            .sub_ports
            .iter()
            .filter(|s| removing.contains(&s.port_id))
            .cloned()
            .collect();
        let freed: Vec<i64> = trunk
            .sub_ports
            .iter()
            .filter(|s| {
                removing.contains(&s.port_id) && s.segmentation_type == SegmentationType::Vlan
            })
            .map(|s| s.segmentation_id)
            .collect();
        trunk.sub_ports.retain(|s| !removing.contains(&s.port_id));
        // The user changed the trunk: a refusal was about an older revision, and the drivers
        // judge this one afresh.
        trunk.refusal = None;
        trunk.rederive_status();
        trunk.std.revision_number += 1;
        trunk.std.updated_at = crate::model::now_timestamp();
        self.drivers()
            .precommit(&TrunkChange::RemoveSubports(&trunk))
            .map_err(refused)?;
        tx.delete_subports(id, ports).await?;
        if !self.settings().vlans.reuse_cooldown.is_zero() && !freed.is_empty() {
            let now_ms = chrono::Utc::now().timestamp_millis();
            tx.cool_vlans(id, &freed, now_ms).await?;
        }
        self.unbind_leaving(tx, &trunk, ports, &trunk.std.updated_at)
            .await?;
        tx.update_trunk(&trunk).await?;
        record_trunk_change(
            tx,
            actor,
            &trunk.project_id,
            before.0,
            NewEvent::new(
                trunk.std.revision_number,
                event::TrunkChange::SubportsRemoved(members(&trunk, ports)),
            ),
            AuditDetails::removed(&leaving).with_status(before.1, trunk.status),
        )
        .await?;
        Ok(trunk)
    }

    /// [`Service::settled`] for one trunk.
    async fn settle_one(&self, watch: Option<super::settle::DeliveryWatch>, trunk: Trunk) -> Trunk {
        let mut settled = self.settled(watch, vec![trunk.clone()]).await;
        settled.pop().unwrap_or(trunk)
    }
}
