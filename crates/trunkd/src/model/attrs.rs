//! One table of attributes per resource: every attribute a network, subnet, port or trunk answer
//! carries, with what a client may do with it. The api layer reads it to validate list queries
//! (which names may be filtered and sorted on, and the kind of their values; unknown keys are a
//! 400) and to refuse request bodies naming attributes they may not set; the SQL store reads
//! the column expression of each filterable or sortable attribute from it.
//!
//! Adding an attribute: a row here, the field in the wire types (`api::wire`), and a migration
//! with the column (plus the domain field and its SQL mapping).
//!
//! Row order matters in one way: when a body names several attributes it may not set, the
//! first read-only one in table order is reported (then, on PUT, the first create-only one).

/// The kind of value an attribute holds, for parsing filter values and marker rows. Only
/// meaningful for attributes that can be filtered or sorted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    Text,
    Int,
    Bool,
}

/// When a request body may set an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Read-only: a body naming it is refused ("Attribute 'x' not allowed in POST").
    Never,
    /// On create only; an update naming it is refused.
    OnCreate,
    /// On create and update.
    Always,
    /// Not an attribute of requests at all: a body naming it has an unrecognised attribute.
    NotAnInput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrSpec {
    pub name: &'static str,
    pub kind: AttrKind,
    pub filterable: bool,
    pub sortable: bool,
    /// The SQL expression of the attribute over the resource's table `t` (nullable columns
    /// coalesced so that comparisons in keyset pagination stay total); `None` for attributes
    /// that are neither filtered nor sorted on.
    pub column: Option<&'static str>,
    pub write: Write,
}

/// A filterable and sortable attribute.
const fn attr(name: &'static str, kind: AttrKind, column: &'static str, write: Write) -> AttrSpec {
    AttrSpec {
        name,
        kind,
        filterable: true,
        sortable: true,
        column: Some(column),
        write,
    }
}

/// A read-only attribute that can be sorted on but not filtered (timestamps).
const fn sort_only(name: &'static str, column: &'static str) -> AttrSpec {
    AttrSpec {
        name,
        kind: AttrKind::Text,
        filterable: false,
        sortable: true,
        column: Some(column),
        write: Write::Never,
    }
}

/// An attribute answers carry that lists can neither filter nor sort on.
const fn shown(name: &'static str, write: Write) -> AttrSpec {
    AttrSpec {
        name,
        kind: AttrKind::Text,
        filterable: false,
        sortable: false,
        column: None,
        write,
    }
}

use AttrKind::{Bool, Int, Text};
use Write::{Always, Never, NotAnInput, OnCreate};

pub const NETWORK_ATTRS: &[AttrSpec] = &[
    attr("id", Text, "t.id", Never),
    attr("name", Text, "t.name", Always),
    attr("description", Text, "t.description", Always),
    attr("project_id", Text, "t.project_id", OnCreate),
    attr("tenant_id", Text, "t.project_id", OnCreate),
    attr("admin_state_up", Bool, "t.admin_state_up", Always),
    attr("status", Text, "t.status", Never),
    attr("shared", Bool, "t.shared", Always),
    attr("mtu", Int, "t.mtu", Always),
    attr("provider:network_type", Text, "t.network_type", OnCreate),
    attr(
        "provider:physical_network",
        Text,
        "COALESCE(t.physical_network, '')",
        OnCreate,
    ),
    attr(
        "provider:segmentation_id",
        Int,
        "COALESCE(t.segmentation_id, 0)",
        OnCreate,
    ),
    attr(
        "port_security_enabled",
        Bool,
        "t.port_security_enabled",
        Always,
    ),
    attr("revision_number", Int, "t.revision_number", Never),
    sort_only("created_at", "t.created_at"),
    sort_only("updated_at", "t.updated_at"),
    shown("subnets", Never),
    shown("router:external", NotAnInput),
    shown("tags", OnCreate),
];

pub const SUBNET_ATTRS: &[AttrSpec] = &[
    attr("id", Text, "t.id", Never),
    attr("name", Text, "t.name", Always),
    attr("description", Text, "t.description", Always),
    attr("network_id", Text, "t.network_id", OnCreate),
    attr("project_id", Text, "t.project_id", OnCreate),
    attr("tenant_id", Text, "t.project_id", OnCreate),
    attr("ip_version", Int, "t.ip_version", OnCreate),
    attr("cidr", Text, "t.cidr", OnCreate),
    attr("gateway_ip", Text, "COALESCE(t.gateway_ip, '')", Always),
    shown("allocation_pools", Always),
    attr("enable_dhcp", Bool, "t.enable_dhcp", Always),
    shown("dns_nameservers", Always),
    shown("host_routes", Always),
    attr(
        "ipv6_address_mode",
        Text,
        "COALESCE(t.ipv6_address_mode, '')",
        OnCreate,
    ),
    attr(
        "ipv6_ra_mode",
        Text,
        "COALESCE(t.ipv6_ra_mode, '')",
        OnCreate,
    ),
    shown("subnetpool_id", OnCreate),
    attr("revision_number", Int, "t.revision_number", Never),
    sort_only("created_at", "t.created_at"),
    sort_only("updated_at", "t.updated_at"),
    shown("tags", OnCreate),
];

pub const PORT_ATTRS: &[AttrSpec] = &[
    attr("id", Text, "t.id", Never),
    attr("name", Text, "t.name", Always),
    attr("description", Text, "t.description", Always),
    attr("network_id", Text, "t.network_id", OnCreate),
    attr("project_id", Text, "t.project_id", OnCreate),
    attr("tenant_id", Text, "t.project_id", OnCreate),
    attr("mac_address", Text, "t.mac_address", Always),
    attr("admin_state_up", Bool, "t.admin_state_up", Always),
    attr("status", Text, "t.status", Never),
    attr("device_id", Text, "t.device_id", Always),
    attr("device_owner", Text, "t.device_owner", Always),
    shown("fixed_ips", Always),
    attr("binding:host_id", Text, "t.host_id", Always),
    attr("binding:vnic_type", Text, "t.vnic_type", Always),
    shown("binding:profile", Always),
    attr(
        "port_security_enabled",
        Bool,
        "t.port_security_enabled",
        Always,
    ),
    attr("revision_number", Int, "t.revision_number", Never),
    sort_only("created_at", "t.created_at"),
    sort_only("updated_at", "t.updated_at"),
    attr("binding:vif_type", Text, "t.vif_type", Never),
    shown("binding:vif_details", Never),
    shown("trunk_details", Never),
    shown("tags", OnCreate),
];

pub const TRUNK_ATTRS: &[AttrSpec] = &[
    attr("id", Text, "t.id", Never),
    attr("name", Text, "t.name", Always),
    attr("description", Text, "t.description", Always),
    attr("port_id", Text, "t.port_id", OnCreate),
    shown("sub_ports", OnCreate),
    attr("project_id", Text, "t.project_id", OnCreate),
    attr("tenant_id", Text, "t.project_id", OnCreate),
    attr("admin_state_up", Bool, "t.admin_state_up", Always),
    attr("status", Text, "t.status", Never),
    shown("status_reason", Never),
    shown("sub_ports_status", Never),
    attr("revision_number", Int, "t.revision_number", Never),
    sort_only("created_at", "t.created_at"),
    sort_only("updated_at", "t.updated_at"),
    shown("tags", OnCreate),
];

/// Looks an attribute up by name in a catalogue.
pub fn find(catalogue: &'static [AttrSpec], name: &str) -> Option<&'static AttrSpec> {
    catalogue.iter().find(|spec| spec.name == name)
}

/// The SQL expression of a filterable or sortable attribute.
pub fn column(catalogue: &'static [AttrSpec], name: &str) -> Option<&'static str> {
    find(catalogue, name).and_then(|spec| spec.column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_queried_attributes_have_columns() {
        for table in [NETWORK_ATTRS, SUBNET_ATTRS, PORT_ATTRS, TRUNK_ATTRS] {
            for (index, spec) in table.iter().enumerate() {
                assert!(
                    table[..index].iter().all(|other| other.name != spec.name),
                    "{} twice",
                    spec.name
                );
                assert_eq!(
                    spec.column.is_some(),
                    spec.filterable || spec.sortable,
                    "{}",
                    spec.name
                );
            }
        }
    }
}
