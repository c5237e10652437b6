//! The catalogue of list-query attributes per resource: which names a client may filter and
//! sort on, and of what kind their values are. The api layer validates query strings against
//! it (unknown keys are a 400); the store maps the same names to columns.

/// The kind of value an attribute holds, for parsing filter values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    Text,
    Int,
    Bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrSpec {
    pub name: &'static str,
    pub kind: AttrKind,
    pub filterable: bool,
    pub sortable: bool,
}

const fn attr(name: &'static str, kind: AttrKind) -> AttrSpec {
    AttrSpec {
        name,
        kind,
        filterable: true,
        sortable: true,
    }
}

const fn sort_only(name: &'static str) -> AttrSpec {
    AttrSpec {
        name,
        kind: AttrKind::Text,
        filterable: false,
        sortable: true,
    }
}

use AttrKind::{Bool, Int, Text};

pub const NETWORK_ATTRS: &[AttrSpec] = &[
    attr("id", Text),
    attr("name", Text),
    attr("description", Text),
    attr("project_id", Text),
    attr("tenant_id", Text),
    attr("admin_state_up", Bool),
    attr("status", Text),
    attr("shared", Bool),
    attr("mtu", Int),
    attr("provider:network_type", Text),
    attr("provider:physical_network", Text),
    attr("provider:segmentation_id", Int),
    attr("port_security_enabled", Bool),
    attr("revision_number", Int),
    sort_only("created_at"),
    sort_only("updated_at"),
];

pub const PORT_ATTRS: &[AttrSpec] = &[
    attr("id", Text),
    attr("name", Text),
    attr("description", Text),
    attr("project_id", Text),
    attr("tenant_id", Text),
    attr("network_id", Text),
    attr("mac_address", Text),
    attr("admin_state_up", Bool),
    attr("status", Text),
    attr("device_id", Text),
    attr("device_owner", Text),
    attr("binding:host_id", Text),
    attr("binding:vif_type", Text),
    attr("binding:vnic_type", Text),
    attr("port_security_enabled", Bool),
    attr("revision_number", Int),
    sort_only("created_at"),
    sort_only("updated_at"),
];

pub const TRUNK_ATTRS: &[AttrSpec] = &[
    attr("id", Text),
    attr("name", Text),
    attr("description", Text),
    attr("project_id", Text),
    attr("tenant_id", Text),
    attr("port_id", Text),
    attr("admin_state_up", Bool),
    attr("status", Text),
    attr("revision_number", Int),
    sort_only("created_at"),
    sort_only("updated_at"),
];

/// Looks an attribute up by name in a catalogue.
pub fn find(catalogue: &'static [AttrSpec], name: &str) -> Option<&'static AttrSpec> {
    catalogue.iter().find(|spec| spec.name == name)
}
