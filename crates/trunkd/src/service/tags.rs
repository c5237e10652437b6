//! Tags on networks, subnets, ports and trunks (Neutron's `standard-attr-tag`). A tag change bumps the
//! resource's revision and writes an outbox event like any other change.

use std::collections::HashSet;

use crate::ids::{NetworkId, PortId, SubnetId, TrunkId};
use crate::model::{Network, Port, StandardAttrs, Subnet, Trunk};
use crate::policy::{Action, TagCollection, TagOp, Target};
use crate::store::event::{
    Event, NetworkEvent, NetworkUpdate, PortEvent, PortUpdate, TagsChanged, TrunkChange,
    TrunkUpdate,
};
use crate::store::NewEvent;
use crate::store::{ResourceKind, StoreTx};

use super::networks::{network_target, visible_network};
use super::ports::{port_target, visible_port};
use super::subnets::{subnet_target, visible_subnet};
use super::trunks::{trunk_target, visible_trunk};
use super::{check_revision, Context, ErrorKind, Guard, Service, ServiceError};

/// Longest tag Neutron accepts.
pub const TAG_MAX: usize = 60;

/// A resource that carries tags.
enum Tagged {
    Network(Network),
    Subnet(Subnet),
    Port(Port),
    Trunk(Trunk),
}

impl Tagged {
    fn std(&mut self) -> &mut StandardAttrs {
        match self {
            Tagged::Network(n) => &mut n.std,
            Tagged::Subnet(s) => &mut s.std,
            Tagged::Port(p) => &mut p.std,
            Tagged::Trunk(t) => &mut t.std,
        }
    }

    fn collection(&self) -> TagCollection {
        match self {
            Tagged::Network(_) => TagCollection::Networks,
            Tagged::Subnet(_) => TagCollection::Subnets,
            Tagged::Port(_) => TagCollection::Ports,
            Tagged::Trunk(_) => TagCollection::Trunks,
        }
    }

    fn target(&self) -> Target {
        match self {
            Tagged::Network(n) => network_target(n),
            Tagged::Subnet(s) => subnet_target(s),
            Tagged::Port(p) => port_target(p),
            Tagged::Trunk(t) => trunk_target(t),
        }
    }

    fn kind(&self) -> ResourceKind {
        match self {
            Tagged::Network(_) => ResourceKind::Network,
            Tagged::Subnet(_) => ResourceKind::Subnet,
            Tagged::Port(_) => ResourceKind::Port,
            Tagged::Trunk(_) => ResourceKind::Trunk,
        }
    }

    /// The outbox event of a change to its tags; none for a subnet, whose tags no data plane
    /// serves.
    fn tags_event(&self, tags: Vec<String>) -> Option<Event> {
        Some(match self {
            Tagged::Network(n) => {
                NetworkEvent::Updated(NetworkUpdate::Tags(TagsChanged::new(n.id, tags))).into()
            }
            Tagged::Subnet(_) => return None,
            Tagged::Port(p) => {
                PortEvent::Updated(PortUpdate::Tags(TagsChanged::new(p.id, tags))).into()
            }
            Tagged::Trunk(t) => {
                TrunkChange::Updated(TrunkUpdate::Tags(TagsChanged::new(t.id, tags))).into()
            }
        })
    }

    fn id(&self) -> String {
        match self {
            Tagged::Network(n) => n.id.to_string(),
            Tagged::Subnet(s) => s.id.to_string(),
            Tagged::Port(p) => p.id.to_string(),
            Tagged::Trunk(t) => t.id.to_string(),
        }
    }

    async fn save(&self, tx: &mut dyn StoreTx) -> Result<(), ServiceError> {
        match self {
            Tagged::Network(n) => tx.update_network(n).await?,
            Tagged::Subnet(s) => tx.update_subnet(s).await?,
            Tagged::Port(p) => tx.update_port(p).await?,
            Tagged::Trunk(t) => tx.update_trunk(t).await?,
        }
        Ok(())
    }
}

/// What a tag call does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagChange {
    /// `PUT .../tags`: replace all.
    Replace(Vec<String>),
    /// `PUT .../tags/{tag}`: add one.
    Add(String),
    /// `DELETE .../tags/{tag}`: remove one (404 if absent).
    Remove(String),
    /// `DELETE .../tags`: remove all.
    Clear,
}

/// Checks one tag's text.
pub fn check_tag(tag: &str) -> Result<(), ServiceError> {
    if tag.is_empty() || tag.chars().count() > TAG_MAX || tag.contains([',', '\0']) {
        let shown = tag.replace('\0', "\\0");
        return Err(ServiceError::invalid_input(
            "tags",
            format!("'{shown}' is not a valid tag: 1 to {TAG_MAX} characters, no commas or NUL"),
        ));
    }
    Ok(())
}

/// Checks a tag list and merges duplicates, keeping first occurrences in order, in one pass
/// (a set of what was seen, not a scan of the list per tag: a 2 MiB body holds some 230,000
/// tags). Stops at the first bad tag, and as soon as more than `max` distinct tags were seen,
/// so neither time nor memory grows with what lies beyond the cap.
pub fn normalise_tags(tags: Vec<String>, max: usize) -> Result<Vec<String>, ServiceError> {
    let mut seen: HashSet<&str> = HashSet::with_capacity(tags.len().min(max + 1));
    let mut keep = Vec::with_capacity(tags.len().min(max + 1));
    for (index, tag) in tags.iter().enumerate() {
        check_tag(tag)?;
        if seen.insert(tag.as_str()) {
            if seen.len() > max {
                return Err(too_many_tags(max));
            }
            keep.push(index);
        }
    }
    drop(seen);
    let mut tags: Vec<Option<String>> = tags.into_iter().map(Some).collect();
    Ok(keep
        .into_iter()
        .filter_map(|index| tags[index].take())
        .collect())
}

fn too_many_tags(max: usize) -> ServiceError {
    ServiceError::invalid_input("tags", format!("a resource may carry at most {max} tags"))
}

/// Which resource a tag call is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagTarget {
    Network(NetworkId),
    Subnet(SubnetId),
    Port(PortId),
    Trunk(TrunkId),
}

async fn load(
    tx: &mut dyn StoreTx,
    guard: &Guard<'_>,
    target: TagTarget,
) -> Result<Tagged, ServiceError> {
    Ok(match target {
        TagTarget::Network(id) => Tagged::Network(visible_network(tx, guard, id).await?),
        TagTarget::Subnet(id) => Tagged::Subnet(visible_subnet(tx, guard, id).await?),
        TagTarget::Port(id) => Tagged::Port(visible_port(tx, guard, id).await?),
        TagTarget::Trunk(id) => Tagged::Trunk(visible_trunk(tx, guard, id).await?),
    })
}

impl Service {
    /// Reads the tags of a resource the caller may see.
    pub async fn get_tags(
        &self,
        ctx: &Context,
        target: TagTarget,
    ) -> Result<Vec<String>, ServiceError> {
        let guard = self.guard(ctx);
        let mut tx = self.read().await?;
        let mut resource = load(tx.as_mut(), &guard, target).await?;
        Ok(resource.std().tags.clone())
    }

    /// Applies a tag change and returns the resulting tags.
    pub async fn change_tags(
        &self,
        ctx: &Context,
        target: TagTarget,
        change: TagChange,
        if_match: Option<i64>,
    ) -> Result<Vec<String>, ServiceError> {
        let guard = self.guard(ctx);
        let max = self.settings().limits.max_tags_per_resource;
        let change = match change {
            TagChange::Replace(tags) => TagChange::Replace(normalise_tags(tags, max)?),
            TagChange::Add(tag) => {
                check_tag(&tag)?;
                TagChange::Add(tag)
            }
            other => other,
        };
        self.write(ctx, |tx| {
            Box::pin(async {
                let tx = tx;
                let mut resource = load(tx.as_mut(), &guard, target).await?;
                let kind = resource.kind();
                let op = match change {
                    TagChange::Replace(_) => TagOp::Update,
                    TagChange::Add(_) => TagOp::Create,
                    TagChange::Remove(_) | TagChange::Clear => TagOp::Delete,
                };
                guard.require(Action::Tags(op, resource.collection()), &resource.target())?;
                let std = resource.std();
                check_revision(if_match, std.revision_number)?;
                let mut tags = std.tags.clone();
                match &change {
                    TagChange::Replace(new) => tags = new.clone(),
                    TagChange::Add(tag) => {
                        if !tags.contains(tag) {
                            if tags.len() >= max {
                                return Err(too_many_tags(max));
                            }
                            tags.push(tag.clone());
                        }
                    }
                    TagChange::Remove(tag) => {
                        if !tags.contains(tag) {
                            return Err(ServiceError::not_found(
                                ErrorKind::TagNotFound,
                                format!(
                                    "Tag {tag} could not be found for {} {}.",
                                    kind.as_str(),
                                    resource.id()
                                ),
                            ));
                        }
                        tags.retain(|t| t != tag);
                    }
                    TagChange::Clear => tags.clear(),
                }
                tags.sort();
                let std = resource.std();
                if tags == std.tags {
                    return Ok(tags);
                }
                std.tags = tags.clone();
                std.revision_number += 1;
                std.updated_at = crate::model::now_timestamp();
                let revision = std.revision_number;
                resource.save(tx.as_mut()).await?;
                let id = resource.id();
                tx.replace_tags(kind, &id, &tags).await?;
                match (&resource, resource.tags_event(tags.clone())) {
                    (Tagged::Trunk(trunk), Some(event)) => {
                        super::audit::record_trunk_change(
                            tx.as_mut(),
                            &super::audit::Actor::of(ctx),
                            &trunk.project_id,
                            revision - 1,
                            NewEvent::new(revision, event),
                            super::audit::AuditDetails::default(),
                        )
                        .await?
                    }
                    (_, Some(event)) => {
                        super::outbox::record(tx.as_mut(), NewEvent::new(revision, event)).await?
                    }
                    (_, None) => {}
                }
                Ok::<_, ServiceError>(tags)
            })
        })
        .await
    }
}
