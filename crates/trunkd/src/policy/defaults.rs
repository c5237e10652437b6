//! The built-in rule set: what a deployment gets without a policy file, and what a policy file
//! is overlaid on. Kept apart from the engine so the rules read as a table. `Policy::defaults`
//! compiles it on every start, and a unit test checks that it always compiles.

/// Rule name and rule string, in the order they are documented. Every
/// [`Action`](crate::policy::Action) has its rule here, and every rule here is an action or a
/// building block (unit tests in `policy::action` check both).
pub const DEFAULT_RULES: &[(&str, &str)] = &[
    // Building blocks the other rules refer to.
    ("context_is_admin", "role:admin"),
    ("admin_only", "rule:context_is_admin"),
    ("service_api", "role:service"),
    (
        "project_member",
        "role:member and project_id:%(project_id)s",
    ),
    (
        "project_reader",
        "(role:reader or role:member) and project_id:%(project_id)s",
    ),
    (
        "admin_or_project_member",
        "rule:context_is_admin or rule:project_member",
    ),
    (
        "admin_or_project_reader",
        "rule:context_is_admin or rule:project_reader",
    ),
    ("shared", "field:networks:shared=True"),
    ("network_owner", "project_id:%(network:project_id)s"),
    ("default", "rule:admin_or_project_member"),
    // Networks.
    ("create_network", "rule:admin_or_project_member"),
    ("create_network:shared", "rule:admin_only"),
    ("create_network:provider:network_type", "rule:admin_only"),
    (
        "create_network:provider:physical_network",
        "rule:admin_only",
    ),
    ("create_network:provider:segmentation_id", "rule:admin_only"),
    (
        "get_network",
        "rule:admin_or_project_reader or rule:shared or rule:service_api",
    ),
    (
        "get_network:provider:network_type",
        "rule:admin_only or rule:service_api",
    ),
    (
        "get_network:provider:physical_network",
        "rule:admin_only or rule:service_api",
    ),
    (
        "get_network:provider:segmentation_id",
        "rule:admin_only or rule:service_api",
    ),
    ("update_network", "rule:admin_or_project_member"),
    ("update_network:shared", "rule:admin_only"),
    ("update_network:provider:network_type", "rule:admin_only"),
    (
        "update_network:provider:physical_network",
        "rule:admin_only",
    ),
    ("update_network:provider:segmentation_id", "rule:admin_only"),
    ("delete_network", "rule:admin_or_project_member"),
    // Subnets, as Neutron's defaults: created by an admin or a member of the network's
    // project; read by their project, or by anyone when their network is shared.
    (
        "create_subnet",
        "rule:context_is_admin or (role:member and rule:network_owner)",
    ),
    ("get_subnet", "rule:admin_or_project_reader or rule:shared"),
    ("update_subnet", "rule:admin_or_project_member"),
    ("delete_subnet", "rule:admin_or_project_member"),
    // Ports.
    (
        "create_port",
        "rule:admin_or_project_member or rule:service_api",
    ),
    (
        "create_port:mac_address",
        "rule:admin_only or rule:service_api",
    ),
    (
        "create_port:binding:host_id",
        "rule:admin_only or rule:service_api",
    ),
    (
        "create_port:binding:profile",
        "rule:admin_only or rule:service_api",
    ),
    // Choosing a port's address is the network owner's (an address on someone else's shared
    // network could impersonate their hosts); naming a subnet is also open on shared networks.
    (
        "create_port:fixed_ips:ip_address",
        "rule:context_is_admin or rule:service_api or (role:member and rule:network_owner)",
    ),
    (
        "create_port:fixed_ips:subnet_id",
        "rule:context_is_admin or rule:service_api or (role:member and rule:network_owner) \
         or rule:shared",
    ),
    (
        "get_port",
        "rule:admin_or_project_reader or rule:service_api",
    ),
    (
        "get_port:binding:vif_type",
        "rule:admin_only or rule:service_api",
    ),
    (
        "get_port:binding:host_id",
        "rule:admin_only or rule:service_api",
    ),
    (
        "get_port:binding:profile",
        "rule:admin_only or rule:service_api",
    ),
    (
        "get_port:binding:vif_details",
        "rule:admin_only or rule:service_api",
    ),
    (
        "update_port",
        "rule:admin_or_project_member or rule:service_api",
    ),
    (
        "update_port:mac_address",
        "rule:admin_only or rule:service_api",
    ),
    (
        "update_port:binding:host_id",
        "rule:admin_only or rule:service_api",
    ),
    (
        "update_port:binding:profile",
        "rule:admin_only or rule:service_api",
    ),
    (
        "update_port:fixed_ips:ip_address",
        "rule:context_is_admin or rule:service_api or (role:member and rule:network_owner)",
    ),
    (
        "update_port:fixed_ips:subnet_id",
        "rule:context_is_admin or rule:service_api or (role:member and rule:network_owner) \
         or rule:shared",
    ),
    (
        "delete_port",
        "rule:admin_or_project_member or rule:service_api",
    ),
    // Trunks and subports.
    ("create_trunk", "rule:admin_or_project_member"),
    ("get_trunk", "rule:admin_or_project_reader"),
    ("update_trunk", "rule:admin_or_project_member"),
    ("delete_trunk", "rule:admin_or_project_member"),
    ("delete_trunk:force", "rule:admin_only"),
    ("add_subports", "rule:admin_or_project_member"),
    ("remove_subports", "rule:admin_or_project_member"),
    ("get_subports", "rule:admin_or_project_reader"),
    ("get_trunk_guest_config", "rule:admin_or_project_reader"),
    ("get_trunk_audit", "rule:admin_or_project_reader"),
    ("update_trunk_status", "rule:service_api"),
    // The agent API: host agents (service role, bound to their host by credential).
    ("get_agent_trunks", "rule:service_api"),
    ("update_subport_bindings", "rule:service_api"),
    // Tags, one rule per resource and operation.
    ("create_networks_tags", "rule:admin_or_project_member"),
    ("update_networks_tags", "rule:admin_or_project_member"),
    ("delete_networks_tags", "rule:admin_or_project_member"),
    ("create_subnets_tags", "rule:admin_or_project_member"),
    ("update_subnets_tags", "rule:admin_or_project_member"),
    ("delete_subnets_tags", "rule:admin_or_project_member"),
    ("create_ports_tags", "rule:admin_or_project_member"),
    ("update_ports_tags", "rule:admin_or_project_member"),
    ("delete_ports_tags", "rule:admin_or_project_member"),
    ("create_trunks_tags", "rule:admin_or_project_member"),
    ("update_trunks_tags", "rule:admin_or_project_member"),
    ("delete_trunks_tags", "rule:admin_or_project_member"),
];

#[cfg(test)]
mod tests {
    use super::DEFAULT_RULES;
    use crate::policy::Policy;

    #[test]
    fn defaults_compile() {
        let policy = Policy::from_yaml_str("(no overrides)", "").expect("the defaults compile");
        for (name, _) in DEFAULT_RULES {
            assert!(policy.has_rule(name), "{name}");
        }
        let defaults = Policy::defaults();
        assert!(defaults.has_rule("default"));
        assert!(defaults.has_rule("create_trunks_tags"));
        assert!(!defaults.has_rule("create_trunk_tags"));
    }

    #[test]
    fn every_name_is_defined_once() {
        let mut names: Vec<&str> = DEFAULT_RULES.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a default rule is defined twice");
        assert_eq!(before, 72);
    }
}
