//! What a list call asks of the store: filters, tag filters, sort keys, a page. Attribute names
//! are the API's (see `model::attrs`); each store maps them to its own columns.

use crate::ids::ProjectId;

/// A typed filter or marker value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Int(i64),
    Bool(bool),
}

/// `attr` equals any of `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub attr: &'static str,
    pub values: Vec<Value>,
}

/// Neutron's four tag filters; each list is empty when not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagFilter {
    /// Resources having all of these tags.
    pub all: Vec<String>,
    /// Resources having at least one of these tags.
    pub any: Vec<String>,
    /// Resources not having all of these tags.
    pub not_all: Vec<String>,
    /// Resources having none of these tags.
    pub not_any: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub attr: &'static str,
    pub ascending: bool,
}

/// Which rows the caller may see at all, before per-item policy checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Rows of this project; for networks also shared ones when `include_shared`.
    Project {
        project_id: ProjectId,
        include_shared: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub scope: Scope,
    pub filters: Vec<Filter>,
    pub tags: TagFilter,
    /// Sort keys in order; the store appends `id` as the final tie-breaker.
    pub sort: Vec<SortKey>,
    /// At most this many rows (the store may be asked for one more to learn if a next page exists).
    pub limit: Option<usize>,
    /// Start after the row with this id, in sort order.
    pub marker: Option<String>,
    /// Walk backwards from the marker (results are still returned in sort order).
    pub page_reverse: bool,
}

impl ListQuery {
    pub fn everything() -> Self {
        Self {
            scope: Scope::All,
            filters: Vec::new(),
            tags: TagFilter::default(),
            sort: Vec::new(),
            limit: None,
            marker: None,
            page_reverse: false,
        }
    }
}
