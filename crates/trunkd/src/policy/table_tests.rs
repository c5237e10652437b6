//! The default rules as tables of who may do what: each row is written out by hand from the
//! intended behaviour (not derived from the rules), so a changed default or a broken engine
//! shows up as a named row.

use serde_json::{json, Value};

use super::{Credentials, Policy, Target};

/// The caller's project; "own" targets belong to it, "other" targets to `p2`.
const OWN: &str = "p1";
const OTHER: &str = "p2";

/// A caller of project `p1` holding `role` ("" for no role at all).
fn caller(role: &str) -> Credentials {
    let roles: &[&str] = if role.is_empty() { &[] } else { &[role] };
    Credentials::new(Some("u1".into()), Some(OWN.into()), roles)
}

fn owned_by(own_project: bool, shared: bool) -> Target {
    let project = if own_project { OWN } else { OTHER };
    let mut target = Target::new();
    target.insert("project_id".into(), json!(project));
    target.insert("tenant_id".into(), json!(project));
    if shared {
        target.insert("shared".into(), Value::Bool(true));
    }
    target
}

fn who(role: &str) -> &str {
    if role.is_empty() {
        "no role"
    } else {
        role
    }
}

#[test]
fn default_policy_table() {
    // (role, target in the caller's own project, action, allowed)
    let table: Vec<(&str, bool, &str, bool)> = vec![
        // admin, own project
        ("admin", true, "create_trunk", true),
        ("admin", true, "get_trunk", true),
        ("admin", true, "update_trunk", true),
        ("admin", true, "delete_trunk", true),
        ("admin", true, "delete_trunk:force", true),
        ("admin", true, "add_subports", true),
        ("admin", true, "remove_subports", true),
        ("admin", true, "get_subports", true),
        // update_trunk_status is rule:service_api alone: status comes from the drivers, so an
        // admin without the service role may not set it.
        ("admin", true, "update_trunk_status", false),
        ("admin", true, "get_agent_trunks", false),
        ("admin", true, "update_subport_bindings", false),
        ("admin", true, "create_trunks_tags", true),
        ("admin", true, "update_trunks_tags", true),
        ("admin", true, "delete_trunks_tags", true),
        // admin, other project
        ("admin", false, "create_trunk", true),
        ("admin", false, "get_trunk", true),
        ("admin", false, "update_trunk", true),
        ("admin", false, "delete_trunk", true),
        ("admin", false, "delete_trunk:force", true),
        ("admin", false, "add_subports", true),
        ("admin", false, "remove_subports", true),
        ("admin", false, "get_subports", true),
        ("admin", false, "update_trunk_status", false),
        ("admin", false, "get_agent_trunks", false),
        ("admin", false, "update_subport_bindings", false),
        ("admin", false, "create_trunks_tags", true),
        ("admin", false, "update_trunks_tags", true),
        ("admin", false, "delete_trunks_tags", true),
        // member, own project
        ("member", true, "create_trunk", true),
        ("member", true, "get_trunk", true),
        ("member", true, "update_trunk", true),
        ("member", true, "delete_trunk", true),
        ("member", true, "delete_trunk:force", false),
        ("member", true, "add_subports", true),
        ("member", true, "remove_subports", true),
        ("member", true, "get_subports", true),
        ("member", true, "update_trunk_status", false),
        ("member", true, "get_agent_trunks", false),
        ("member", true, "update_subport_bindings", false),
        ("member", true, "create_trunks_tags", true),
        ("member", true, "update_trunks_tags", true),
        ("member", true, "delete_trunks_tags", true),
        // member, other project
        ("member", false, "create_trunk", false),
        ("member", false, "get_trunk", false),
        ("member", false, "update_trunk", false),
        ("member", false, "delete_trunk", false),
        ("member", false, "delete_trunk:force", false),
        ("member", false, "add_subports", false),
        ("member", false, "remove_subports", false),
        ("member", false, "get_subports", false),
        ("member", false, "update_trunk_status", false),
        ("member", false, "get_agent_trunks", false),
        ("member", false, "update_subport_bindings", false),
        ("member", false, "create_trunks_tags", false),
        ("member", false, "update_trunks_tags", false),
        ("member", false, "delete_trunks_tags", false),
        // reader, own project
        ("reader", true, "create_trunk", false),
        ("reader", true, "get_trunk", true),
        ("reader", true, "update_trunk", false),
        ("reader", true, "delete_trunk", false),
        ("reader", true, "delete_trunk:force", false),
        ("reader", true, "add_subports", false),
        ("reader", true, "remove_subports", false),
        ("reader", true, "get_subports", true),
        ("reader", true, "update_trunk_status", false),
        ("reader", true, "get_agent_trunks", false),
        ("reader", true, "update_subport_bindings", false),
        ("reader", true, "create_trunks_tags", false),
        ("reader", true, "update_trunks_tags", false),
        ("reader", true, "delete_trunks_tags", false),
        // reader, other project
        ("reader", false, "create_trunk", false),
        ("reader", false, "get_trunk", false),
        ("reader", false, "update_trunk", false),
        ("reader", false, "delete_trunk", false),
        ("reader", false, "delete_trunk:force", false),
        ("reader", false, "add_subports", false),
        ("reader", false, "remove_subports", false),
        ("reader", false, "get_subports", false),
        ("reader", false, "update_trunk_status", false),
        ("reader", false, "get_agent_trunks", false),
        ("reader", false, "update_subport_bindings", false),
        ("reader", false, "create_trunks_tags", false),
        ("reader", false, "update_trunks_tags", false),
        ("reader", false, "delete_trunks_tags", false),
        // no role, own project
        ("", true, "create_trunk", false),
        ("", true, "get_trunk", false),
        ("", true, "update_trunk", false),
        ("", true, "delete_trunk", false),
        ("", true, "delete_trunk:force", false),
        ("", true, "add_subports", false),
        ("", true, "remove_subports", false),
        ("", true, "get_subports", false),
        ("", true, "update_trunk_status", false),
        ("", true, "get_agent_trunks", false),
        ("", true, "update_subport_bindings", false),
        ("", true, "create_trunks_tags", false),
        ("", true, "update_trunks_tags", false),
        ("", true, "delete_trunks_tags", false),
        // no role, other project
        ("", false, "create_trunk", false),
        ("", false, "get_trunk", false),
        ("", false, "update_trunk", false),
        ("", false, "delete_trunk", false),
        ("", false, "delete_trunk:force", false),
        ("", false, "add_subports", false),
        ("", false, "remove_subports", false),
        ("", false, "get_subports", false),
        ("", false, "update_trunk_status", false),
        ("", false, "get_agent_trunks", false),
        ("", false, "update_subport_bindings", false),
        ("", false, "create_trunks_tags", false),
        ("", false, "update_trunks_tags", false),
        ("", false, "delete_trunks_tags", false),
        // service, own project
        ("service", true, "create_trunk", false),
        ("service", true, "get_trunk", false),
        ("service", true, "update_trunk", false),
        ("service", true, "delete_trunk", false),
        ("service", true, "delete_trunk:force", false),
        ("service", true, "add_subports", false),
        ("service", true, "remove_subports", false),
        ("service", true, "get_subports", false),
        ("service", true, "update_trunk_status", true),
        ("service", true, "get_agent_trunks", true),
        ("service", true, "update_subport_bindings", true),
        ("service", true, "create_trunks_tags", false),
        ("service", true, "update_trunks_tags", false),
        ("service", true, "delete_trunks_tags", false),
        // service, other project
        ("service", false, "create_trunk", false),
        ("service", false, "get_trunk", false),
        ("service", false, "update_trunk", false),
        ("service", false, "delete_trunk", false),
        ("service", false, "delete_trunk:force", false),
        ("service", false, "add_subports", false),
        ("service", false, "remove_subports", false),
        ("service", false, "get_subports", false),
        ("service", false, "update_trunk_status", true),
        ("service", false, "get_agent_trunks", true),
        ("service", false, "update_subport_bindings", true),
        ("service", false, "create_trunks_tags", false),
        ("service", false, "update_trunks_tags", false),
        ("service", false, "delete_trunks_tags", false),
    ];
    assert_eq!(table.len(), 5 * 2 * 14);
    let policy = Policy::defaults();
    let mut wrong = Vec::new();
    for (role, own_project, action, expected) in &table {
        assert!(policy.has_rule(action), "{action} has no rule of its own");
        let allowed = policy.enforce(action, &owned_by(*own_project, false), &caller(role));
        if allowed != *expected {
            let project = if *own_project { "own" } else { "other" };
            wrong.push(format!(
                "{} / {project} project / {action}: expected {expected}, got {allowed}",
                who(role)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "rows that disagree:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn default_policy_network_and_port_table() {
    // (role, target in the caller's own project, target network shared, action, allowed)
    let table: Vec<(&str, bool, bool, &str, bool)> = vec![
        // Networks: readable by their project, by anyone when shared, and by services.
        ("member", true, false, "get_network", true),
        ("reader", true, false, "get_network", true),
        ("reader", false, false, "get_network", false),
        ("reader", false, true, "get_network", true),
        ("", false, true, "get_network", true),
        ("", true, false, "get_network", false),
        ("service", false, false, "get_network", true),
        ("admin", false, false, "get_network", true),
        ("member", true, false, "create_network", true),
        ("member", false, false, "create_network", false),
        ("reader", true, false, "create_network", false),
        ("member", true, false, "update_network", true),
        ("reader", true, false, "update_network", false),
        ("member", false, true, "update_network", false),
        ("member", true, false, "delete_network", true),
        ("service", true, false, "delete_network", false),
        // Sharing and provider attributes: set by admins only, seen by admins and services.
        ("admin", false, false, "create_network:shared", true),
        ("member", true, false, "create_network:shared", false),
        ("member", true, false, "update_network:shared", false),
        ("admin", true, false, "update_network:shared", true),
        (
            "admin",
            false,
            false,
            "create_network:provider:network_type",
            true,
        ),
        (
            "member",
            true,
            false,
            "create_network:provider:network_type",
            false,
        ),
        (
            "service",
            true,
            false,
            "create_network:provider:physical_network",
            false,
        ),
        (
            "member",
            true,
            false,
            "create_network:provider:segmentation_id",
            false,
        ),
        (
            "admin",
            false,
            false,
            "update_network:provider:segmentation_id",
            true,
        ),
        (
            "service",
            true,
            false,
            "update_network:provider:segmentation_id",
            false,
        ),
        (
            "member",
            true,
            false,
            "update_network:provider:physical_network",
            false,
        ),
        (
            "admin",
            false,
            false,
            "get_network:provider:physical_network",
            true,
        ),
        (
            "service",
            false,
            false,
            "get_network:provider:physical_network",
            true,
        ),
        (
            "member",
            true,
            false,
            "get_network:provider:physical_network",
            false,
        ),
        (
            "reader",
            true,
            true,
            "get_network:provider:network_type",
            false,
        ),
        (
            "",
            false,
            true,
            "get_network:provider:segmentation_id",
            false,
        ),
        // Ports: the project's members and services write, its readers read.
        ("member", true, false, "create_port", true),
        ("member", false, false, "create_port", false),
        ("reader", true, false, "create_port", false),
        ("service", false, false, "create_port", true),
        ("reader", true, false, "get_port", true),
        ("reader", false, false, "get_port", false),
        ("", true, false, "get_port", false),
        ("service", false, false, "get_port", true),
        ("member", true, false, "update_port", true),
        ("reader", true, false, "update_port", false),
        ("member", true, false, "delete_port", true),
        ("", true, false, "delete_port", false),
        ("admin", false, false, "delete_port", true),
        // MAC addresses and bindings: admins and services only.
        ("admin", false, false, "create_port:binding:host_id", true),
        ("service", false, false, "create_port:binding:host_id", true),
        ("member", true, false, "create_port:binding:host_id", false),
        ("member", true, false, "create_port:binding:profile", false),
        ("member", true, false, "create_port:mac_address", false),
        ("service", true, false, "update_port:mac_address", true),
        ("member", true, false, "update_port:mac_address", false),
        ("member", true, false, "update_port:binding:host_id", false),
        ("admin", false, false, "get_port:binding:vif_type", true),
        ("service", false, false, "get_port:binding:vif_type", true),
        ("member", true, false, "get_port:binding:vif_type", false),
        ("reader", true, false, "get_port:binding:host_id", false),
        ("", false, false, "get_port:binding:profile", false),
        ("admin", false, false, "get_port:binding:vif_details", true),
        (
            "service",
            false,
            false,
            "get_port:binding:vif_details",
            true,
        ),
        ("member", true, false, "get_port:binding:vif_details", false),
        ("reader", true, false, "get_port:binding:vif_details", false),
        // Tags follow the resource's project.
        ("member", true, false, "create_networks_tags", true),
        ("reader", true, false, "update_networks_tags", false),
        ("member", false, false, "delete_networks_tags", false),
        ("member", true, false, "create_ports_tags", true),
        ("service", true, false, "update_ports_tags", false),
        ("admin", false, false, "delete_ports_tags", true),
    ];
    let policy = Policy::defaults();
    let mut wrong = Vec::new();
    for (role, own_project, shared, action, expected) in &table {
        assert!(policy.has_rule(action), "{action} has no rule of its own");
        let target = owned_by(*own_project, *shared);
        let allowed = policy.enforce(action, &target, &caller(role));
        if allowed != *expected {
            let project = if *own_project { "own" } else { "other" };
            wrong.push(format!(
                "{} / {project} project / shared {shared} / {action}: expected {expected}, got {allowed}",
                who(role)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "rows that disagree:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn network_owner_uses_the_network_project() {
    let policy = Policy::defaults();
    let mut target = owned_by(false, false);
    target.insert("network:project_id".into(), json!(OWN));
    assert!(policy.enforce("network_owner", &target, &caller("reader")));
    target.insert("network:project_id".into(), json!(OTHER));
    assert!(!policy.enforce("network_owner", &target, &caller("reader")));
}

#[test]
fn choosing_an_address_is_the_network_owners() {
    let policy = Policy::defaults();
    // (role, network in the caller's project, network shared, rule, allowed)
    let table = [
        (
            "member",
            true,
            false,
            "create_port:fixed_ips:ip_address",
            true,
        ),
        (
            "member",
            false,
            true,
            "create_port:fixed_ips:ip_address",
            false,
        ),
        (
            "member",
            false,
            true,
            "create_port:fixed_ips:subnet_id",
            true,
        ),
        (
            "member",
            false,
            false,
            "create_port:fixed_ips:subnet_id",
            false,
        ),
        (
            "reader",
            true,
            false,
            "create_port:fixed_ips:ip_address",
            false,
        ),
        (
            "admin",
            false,
            false,
            "create_port:fixed_ips:ip_address",
            true,
        ),
        (
            "service",
            false,
            false,
            "create_port:fixed_ips:ip_address",
            true,
        ),
        (
            "member",
            true,
            false,
            "update_port:fixed_ips:ip_address",
            true,
        ),
        (
            "member",
            false,
            true,
            "update_port:fixed_ips:ip_address",
            false,
        ),
        (
            "member",
            false,
            true,
            "update_port:fixed_ips:subnet_id",
            true,
        ),
    ];
    for (role, own_network, shared, rule, expected) in table {
        // The port is the caller's; the network may not be.
        let mut target = owned_by(true, shared);
        let network_project = if own_network { OWN } else { OTHER };
        target.insert("network:project_id".into(), json!(network_project));
        assert_eq!(
            policy.enforce(rule, &target, &caller(role)),
            expected,
            "{} / own network {own_network} / shared {shared} / {rule}",
            who(role)
        );
    }
}
