//! Bounds on what one request may ask, and what one caller may ask of a list.
//!
//! A member must not be able to make the server do unbounded work, or run a query into a
//! database limit (SQLite's bound-variable count, expression depth) and get a 500: tags per
//! resource, tag filter terms and attribute filter values per list call, and items per bulk
//! create are capped, and beyond a cap the caller gets a 400 naming the attribute.
//!
//! Nor may a list tell a caller what policy hides from them: attributes they may not read
//! cannot be filtered or sorted on (they answer as an unknown attribute does), and a `marker`
//! naming a resource they cannot see answers as an unknown id does.

use crate::ids::ProjectId;
use crate::policy::{Action, GuardedRead, PortBindingAttr, ProviderAttr, Target};
use crate::store::{ResourceKind, StoreError};

use super::{owned_target, tags, Context, Service, ServiceError};

/// Default of [`RequestLimits::max_tags_per_resource`].
pub const DEFAULT_MAX_TAGS_PER_RESOURCE: usize = 50;
/// Default of [`RequestLimits::max_tag_filter_terms`].
pub const DEFAULT_MAX_TAG_FILTER_TERMS: usize = 50;
/// Default of [`RequestLimits::max_bulk_items`]. Neutron has no such cap; a bulk create is one
/// transaction holding the write connection, so it needs one. As many as a trunk may have
/// subports, so the ports of a full trunk can still be made in one call.
pub const DEFAULT_MAX_BULK_ITEMS: usize = 4_094;
/// Largest value the tag settings accept: a resource's tags are written in one statement of
/// three bound values per tag, well under SQLite's 32,766.
pub const TAG_SETTING_CEILING: usize = 10_000;
/// Most values of attribute filters (`?id=…&id=…&name=…`) in one list call, summed over all
/// attributes. Not a setting: clients split long filters far below it (python-neutronclient
/// keeps URIs within 8 KiB, some 200 ids), and it keeps a list query far from database limits.
pub const MAX_FILTER_VALUES: usize = 1_000;

/// The caps of [`RequestLimits`], from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Most tags one network, port or trunk may carry.
    pub max_tags_per_resource: usize,
    /// Most terms of `tags`, `tags-any`, `not-tags` and `not-tags-any` in one list call.
    pub max_tag_filter_terms: usize,
    /// Most resources one bulk create may carry.
    pub max_bulk_items: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_tags_per_resource: DEFAULT_MAX_TAGS_PER_RESOURCE,
            max_tag_filter_terms: DEFAULT_MAX_TAG_FILTER_TERMS,
            max_bulk_items: DEFAULT_MAX_BULK_ITEMS,
        }
    }
}

/// What one caller may ask of a list of one kind of resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRules {
    /// Attributes policy keeps from this caller on some resource they could list: not to be
    /// filtered or sorted on, exactly as if they did not exist.
    pub unreadable: Vec<&'static str>,
    /// Most tag filter terms.
    pub max_tag_filter_terms: usize,
    /// Most attribute filter values.
    pub max_filter_values: usize,
}

impl Default for ListRules {
    /// Every attribute readable, the default caps.
    fn default() -> Self {
        Self {
            unreadable: Vec::new(),
            max_tag_filter_terms: DEFAULT_MAX_TAG_FILTER_TERMS,
            max_filter_values: MAX_FILTER_VALUES,
        }
    }
}

impl ListRules {
    /// Whether the caller may filter or sort on `attr`.
    pub fn readable(&self, attr: &str) -> bool {
        !self.unreadable.contains(&attr)
    }
}

/// The attributes of `resource` policy guards with `get_<resource>:<attr>` rules, each with
/// its rule.
fn guarded_attributes(kind: ResourceKind) -> Vec<(&'static str, Action)> {
    fn family<A: GuardedRead>() -> Vec<(&'static str, Action)> {
        A::EVERY
            .iter()
            .map(|attr| (attr.attribute(), attr.read_action()))
            .collect()
    }
    match kind {
        ResourceKind::Network => family::<ProviderAttr>(),
        ResourceKind::Port => family::<PortBindingAttr>(),
        ResourceKind::Subnet | ResourceKind::Trunk => Vec::new(),
    }
}

/// Targets standing for every resource a list may show the caller: their own project's and
/// another project's, shared or not. A guarded attribute is usable in a list only if every
/// one of them lets the caller read it, so no row's hidden value can steer what is listed.
fn probe_targets(ctx: &Context) -> Vec<Target> {
    // No real project id contains a NUL character.
    let mut owners = vec![ProjectId::new("\u{0}another project")];
    owners.extend(ctx.project_id());
    let mut targets = Vec::with_capacity(owners.len() * 2);
    for owner in &owners {
        for shared in [false, true] {
            let mut target = owned_target(owner);
            target.insert("shared".into(), shared.into());
            targets.push(target);
        }
    }
    targets
}

/// The answer to a marker the caller cannot use: the same as for an id that does not exist.
pub(crate) fn marker_not_found(marker: &str) -> ServiceError {
    StoreError::MarkerNotFound(marker.to_string()).into()
}

/// Turns "the marker's resource is not visible" into the unknown-marker answer; other errors
/// (the database) pass.
pub(crate) fn invisible_marker(marker: &str, error: ServiceError) -> ServiceError {
    match error {
        ServiceError::NotFound { .. } => marker_not_found(marker),
        other => other,
    }
}

impl Service {
    /// What `ctx` may ask of a list of `kind`: which attributes it may filter and sort on,
    /// and the caps on filter terms.
    pub fn list_rules(&self, ctx: &Context, kind: ResourceKind) -> ListRules {
        let guard = self.guard(ctx);
        let probes = probe_targets(ctx);
        let unreadable = guarded_attributes(kind)
            .into_iter()
            .filter(|(_, action)| probes.iter().any(|target| !guard.allows(*action, target)))
            .map(|(attr, _)| attr)
            .collect();
        ListRules {
            unreadable,
            max_tag_filter_terms: self.settings().limits.max_tag_filter_terms,
            max_filter_values: MAX_FILTER_VALUES,
        }
    }

    /// A bulk create of `items` resources, named `collection` on the wire, within the cap.
    pub(crate) fn check_bulk(&self, collection: &str, items: usize) -> Result<(), ServiceError> {
        let max = self.settings().limits.max_bulk_items;
        if items > max {
            return Err(ServiceError::invalid_input(
                collection,
                format!("{items} items exceed the limit of {max} in one bulk request"),
            ));
        }
        Ok(())
    }

    /// A resource's tags as given at create or replace: checked by Neutron's rules, duplicates
    /// merged (first seen kept), within the cap per resource.
    pub(crate) fn checked_tags(&self, given: Vec<String>) -> Result<Vec<String>, ServiceError> {
        tags::normalise_tags(given, self.settings().limits.max_tags_per_resource)
    }

    /// [`Service::checked_tags`] for each resource of a create, in place.
    pub(crate) fn check_create_tags<'a>(
        &self,
        tag_lists: impl Iterator<Item = &'a mut Vec<String>>,
    ) -> Result<(), ServiceError> {
        for tags in tag_lists {
            *tags = self.checked_tags(std::mem::take(tags))?;
        }
        Ok(())
    }
}
