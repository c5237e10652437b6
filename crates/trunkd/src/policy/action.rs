//! The rules trunkd enforces, as a closed set of values instead of strings: a call site names an
//! [`Action`], never a rule name, so a misspelt rule (`get_trunks`, `get_port:binding:vif_detail`)
//! does not compile instead of silently falling back to the `default` rule. Attribute rules
//! (`<action>:<attribute>`) take the attribute as its own enum, which lists only the attributes
//! that rule family has, and which also gives the attribute's name on the wire, so the rule and
//! the field it hides are spelt in one place.
//!
//! [`Action::name`] gives the oslo.policy rule name the engine evaluates; a unit test checks that
//! every action in [`Action::ALL`] has a rule in [`super::DEFAULT_RULES`].

use std::fmt;

/// A `provider:*` attribute of a network, guarded by `create_network:` and `get_network:` rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderAttr {
    NetworkType,
    PhysicalNetwork,
    SegmentationId,
}

impl ProviderAttr {
    pub const ALL: [ProviderAttr; 3] = [
        ProviderAttr::NetworkType,
        ProviderAttr::PhysicalNetwork,
        ProviderAttr::SegmentationId,
    ];

    /// The attribute's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProviderAttr::NetworkType => "provider:network_type",
            ProviderAttr::PhysicalNetwork => "provider:physical_network",
            ProviderAttr::SegmentationId => "provider:segmentation_id",
        }
    }
}

/// A port attribute only admins (and services) may set, by `create_port:` and `update_port:`
/// rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortWriteAttr {
    MacAddress,
    BindingHostId,
    BindingProfile,
    /// A `fixed_ips` entry that chooses an address.
    FixedIpsIpAddress,
    /// A `fixed_ips` entry that names a subnet.
    FixedIpsSubnetId,
}

impl PortWriteAttr {
    pub const ALL: [PortWriteAttr; 5] = [
        PortWriteAttr::MacAddress,
        PortWriteAttr::BindingHostId,
        PortWriteAttr::BindingProfile,
        PortWriteAttr::FixedIpsIpAddress,
        PortWriteAttr::FixedIpsSubnetId,
    ];

    /// The attribute's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            PortWriteAttr::MacAddress => "mac_address",
            PortWriteAttr::BindingHostId => "binding:host_id",
            PortWriteAttr::BindingProfile => "binding:profile",
            PortWriteAttr::FixedIpsIpAddress => "fixed_ips:ip_address",
            PortWriteAttr::FixedIpsSubnetId => "fixed_ips:subnet_id",
        }
    }
}

/// A `binding:*` attribute of a port that `get_port:` rules hide from callers who may not read
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortBindingAttr {
    HostId,
    VifType,
    Profile,
    VifDetails,
}

impl PortBindingAttr {
    pub const ALL: [PortBindingAttr; 4] = [
        PortBindingAttr::HostId,
        PortBindingAttr::VifType,
        PortBindingAttr::Profile,
        PortBindingAttr::VifDetails,
    ];

    /// The attribute's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            PortBindingAttr::HostId => "binding:host_id",
            PortBindingAttr::VifType => "binding:vif_type",
            PortBindingAttr::Profile => "binding:profile",
            PortBindingAttr::VifDetails => "binding:vif_details",
        }
    }
}

/// An attribute whose reading a `get_<resource>:<attribute>` rule guards: callers the rule
/// refuses do not see it, nor filter or sort on it.
pub trait GuardedRead: Copy + 'static {
    /// Every attribute of the family.
    const EVERY: &'static [Self];
    /// The attribute's name on the wire.
    fn attribute(self) -> &'static str;
    /// The rule that guards reading it.
    fn read_action(self) -> Action;
}

impl GuardedRead for ProviderAttr {
    const EVERY: &'static [Self] = &ProviderAttr::ALL;
    fn attribute(self) -> &'static str {
        self.as_str()
    }
    fn read_action(self) -> Action {
        Action::GetNetworkProvider(self)
    }
}

impl GuardedRead for PortBindingAttr {
    const EVERY: &'static [Self] = &PortBindingAttr::ALL;
    fn attribute(self) -> &'static str {
        self.as_str()
    }
    fn read_action(self) -> Action {
        Action::GetPortBinding(self)
    }
}

/// What a tag call does: Neutron names its tag rules `<op>_<collection>_tags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagOp {
    /// `PUT .../tags/{tag}`: add one tag.
    Create,
    /// `PUT .../tags`: replace them all.
    Update,
    /// `DELETE .../tags[/{tag}]`.
    Delete,
}

/// A collection whose resources carry tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagCollection {
    Networks,
    Subnets,
    Ports,
    Trunks,
}

/// One rule trunkd enforces. See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Whether the caller counts as an admin at all (`Context::is_admin`).
    ContextIsAdmin,
    CreateNetwork,
    CreateNetworkShared,
    CreateNetworkProvider(ProviderAttr),
    GetNetwork,
    GetNetworkProvider(ProviderAttr),
    UpdateNetwork,
    UpdateNetworkShared,
    DeleteNetwork,
    CreateSubnet,
    GetSubnet,
    UpdateSubnet,
    DeleteSubnet,
    CreatePort,
    CreatePortAttr(PortWriteAttr),
    GetPort,
    GetPortBinding(PortBindingAttr),
    UpdatePort,
    UpdatePortAttr(PortWriteAttr),
    DeletePort,
    CreateTrunk,
    GetTrunk,
    UpdateTrunk,
    DeleteTrunk,
    /// Deleting a trunk with its ports (`delete_ports=true`) while its parent is bound to a
    /// host (`force=true`): the instance on that host loses its network.
    DeleteTrunkForce,
    AddSubports,
    RemoveSubports,
    GetSubports,
    /// The VLAN sub-interfaces a guest configures for a trunk (extension trunk-guest-config).
    GetTrunkGuestConfig,
    /// A trunk's audit trail (extension trunk-audit).
    GetTrunkAudit,
    /// A status report (drivers through the service, agents through the agent API).
    UpdateTrunkStatus,
    /// The agent API: the trunks bound to an agent's host.
    GetAgentTrunks,
    /// The agent API: binding a trunk's subports to the agent's host.
    UpdateSubportBindings,
    Tags(TagOp, TagCollection),
}

impl Action {
    /// Every action, for tests and for telling trunkd's rules from unknown ones in a policy
    /// file. A unit test checks it against [`Action::name`]'s exhaustive match.
    pub const ALL: &'static [Action] = &[
        Action::ContextIsAdmin,
        Action::CreateNetwork,
        Action::CreateNetworkShared,
        Action::CreateNetworkProvider(ProviderAttr::NetworkType),
        Action::CreateNetworkProvider(ProviderAttr::PhysicalNetwork),
        Action::CreateNetworkProvider(ProviderAttr::SegmentationId),
        Action::GetNetwork,
        Action::GetNetworkProvider(ProviderAttr::NetworkType),
        Action::GetNetworkProvider(ProviderAttr::PhysicalNetwork),
        Action::GetNetworkProvider(ProviderAttr::SegmentationId),
        Action::UpdateNetwork,
        Action::UpdateNetworkShared,
        Action::DeleteNetwork,
        Action::CreateSubnet,
        Action::GetSubnet,
        Action::UpdateSubnet,
        Action::DeleteSubnet,
        Action::CreatePort,
        Action::CreatePortAttr(PortWriteAttr::MacAddress),
        Action::CreatePortAttr(PortWriteAttr::BindingHostId),
        Action::CreatePortAttr(PortWriteAttr::BindingProfile),
        Action::CreatePortAttr(PortWriteAttr::FixedIpsIpAddress),
        Action::CreatePortAttr(PortWriteAttr::FixedIpsSubnetId),
        Action::GetPort,
        Action::GetPortBinding(PortBindingAttr::HostId),
        Action::GetPortBinding(PortBindingAttr::VifType),
        Action::GetPortBinding(PortBindingAttr::Profile),
        Action::GetPortBinding(PortBindingAttr::VifDetails),
        Action::UpdatePort,
        Action::UpdatePortAttr(PortWriteAttr::MacAddress),
        Action::UpdatePortAttr(PortWriteAttr::BindingHostId),
        Action::UpdatePortAttr(PortWriteAttr::BindingProfile),
        Action::UpdatePortAttr(PortWriteAttr::FixedIpsIpAddress),
        Action::UpdatePortAttr(PortWriteAttr::FixedIpsSubnetId),
        Action::DeletePort,
        Action::CreateTrunk,
        Action::GetTrunk,
        Action::UpdateTrunk,
        Action::DeleteTrunk,
        Action::DeleteTrunkForce,
        Action::AddSubports,
        Action::RemoveSubports,
        Action::GetSubports,
        Action::GetTrunkGuestConfig,
        Action::GetTrunkAudit,
        Action::UpdateTrunkStatus,
        Action::GetAgentTrunks,
        Action::UpdateSubportBindings,
        Action::Tags(TagOp::Create, TagCollection::Networks),
        Action::Tags(TagOp::Update, TagCollection::Networks),
        Action::Tags(TagOp::Delete, TagCollection::Networks),
        Action::Tags(TagOp::Create, TagCollection::Subnets),
        Action::Tags(TagOp::Update, TagCollection::Subnets),
        Action::Tags(TagOp::Delete, TagCollection::Subnets),
        Action::Tags(TagOp::Create, TagCollection::Ports),
        Action::Tags(TagOp::Update, TagCollection::Ports),
        Action::Tags(TagOp::Delete, TagCollection::Ports),
        Action::Tags(TagOp::Create, TagCollection::Trunks),
        Action::Tags(TagOp::Update, TagCollection::Trunks),
        Action::Tags(TagOp::Delete, TagCollection::Trunks),
    ];

    /// The oslo.policy rule name, as operators write it in policy.yaml.
    pub const fn name(self) -> &'static str {
        use Action::*;
        use TagCollection::{Networks, Ports, Subnets, Trunks};
        match self {
            ContextIsAdmin => "context_is_admin",
            CreateNetwork => "create_network",
            CreateNetworkShared => "create_network:shared",
            CreateNetworkProvider(attr) => match attr {
                ProviderAttr::NetworkType => "create_network:provider:network_type",
                ProviderAttr::PhysicalNetwork => "create_network:provider:physical_network",
                ProviderAttr::SegmentationId => "create_network:provider:segmentation_id",
            },
            GetNetwork => "get_network",
            GetNetworkProvider(attr) => match attr {
                ProviderAttr::NetworkType => "get_network:provider:network_type",
                ProviderAttr::PhysicalNetwork => "get_network:provider:physical_network",
                ProviderAttr::SegmentationId => "get_network:provider:segmentation_id",
            },
            UpdateNetwork => "update_network",
            UpdateNetworkShared => "update_network:shared",
            DeleteNetwork => "delete_network",
            CreateSubnet => "create_subnet",
            GetSubnet => "get_subnet",
            UpdateSubnet => "update_subnet",
            DeleteSubnet => "delete_subnet",
            CreatePort => "create_port",
            CreatePortAttr(attr) => match attr {
                PortWriteAttr::MacAddress => "create_port:mac_address",
                PortWriteAttr::BindingHostId => "create_port:binding:host_id",
                PortWriteAttr::BindingProfile => "create_port:binding:profile",
                PortWriteAttr::FixedIpsIpAddress => "create_port:fixed_ips:ip_address",
                PortWriteAttr::FixedIpsSubnetId => "create_port:fixed_ips:subnet_id",
            },
            GetPort => "get_port",
            GetPortBinding(attr) => match attr {
                PortBindingAttr::HostId => "get_port:binding:host_id",
                PortBindingAttr::VifType => "get_port:binding:vif_type",
                PortBindingAttr::Profile => "get_port:binding:profile",
                PortBindingAttr::VifDetails => "get_port:binding:vif_details",
            },
            UpdatePort => "update_port",
            UpdatePortAttr(attr) => match attr {
                PortWriteAttr::MacAddress => "update_port:mac_address",
                PortWriteAttr::BindingHostId => "update_port:binding:host_id",
                PortWriteAttr::BindingProfile => "update_port:binding:profile",
                PortWriteAttr::FixedIpsIpAddress => "update_port:fixed_ips:ip_address",
                PortWriteAttr::FixedIpsSubnetId => "update_port:fixed_ips:subnet_id",
            },
            DeletePort => "delete_port",
            CreateTrunk => "create_trunk",
            GetTrunk => "get_trunk",
            UpdateTrunk => "update_trunk",
            DeleteTrunk => "delete_trunk",
            DeleteTrunkForce => "delete_trunk:force",
            AddSubports => "add_subports",
            RemoveSubports => "remove_subports",
            GetSubports => "get_subports",
            GetTrunkGuestConfig => "get_trunk_guest_config",
            GetTrunkAudit => "get_trunk_audit",
            UpdateTrunkStatus => "update_trunk_status",
            GetAgentTrunks => "get_agent_trunks",
            UpdateSubportBindings => "update_subport_bindings",
            Tags(op, collection) => match (op, collection) {
                (TagOp::Create, Networks) => "create_networks_tags",
                (TagOp::Update, Networks) => "update_networks_tags",
                (TagOp::Delete, Networks) => "delete_networks_tags",
                (TagOp::Create, Subnets) => "create_subnets_tags",
                (TagOp::Update, Subnets) => "update_subnets_tags",
                (TagOp::Delete, Subnets) => "delete_subnets_tags",
                (TagOp::Create, Ports) => "create_ports_tags",
                (TagOp::Update, Ports) => "update_ports_tags",
                (TagOp::Delete, Ports) => "delete_ports_tags",
                (TagOp::Create, Trunks) => "create_trunks_tags",
                (TagOp::Update, Trunks) => "update_trunks_tags",
                (TagOp::Delete, Trunks) => "delete_trunks_tags",
            },
        }
    }

    /// The action whose rule is named `name`, if trunkd enforces one by that name.
    pub fn from_name(name: &str) -> Option<Action> {
        Self::ALL
            .iter()
            .copied()
            .find(|action| action.name() == name)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::policy::DEFAULT_RULES;

    /// Every combination of the attribute-rule families, built from the attribute enums.
    fn every_combination() -> Vec<Action> {
        let mut all = Vec::new();
        all.extend(ProviderAttr::ALL.map(Action::CreateNetworkProvider));
        all.extend(ProviderAttr::ALL.map(Action::GetNetworkProvider));
        all.extend(PortWriteAttr::ALL.map(Action::CreatePortAttr));
        all.extend(PortBindingAttr::ALL.map(Action::GetPortBinding));
        all.extend(PortWriteAttr::ALL.map(Action::UpdatePortAttr));
        for op in [TagOp::Create, TagOp::Update, TagOp::Delete] {
            for collection in [
                TagCollection::Networks,
                TagCollection::Subnets,
                TagCollection::Ports,
                TagCollection::Trunks,
            ] {
                all.push(Action::Tags(op, collection));
            }
        }
        all
    }

    /// Default rules that are not actions: building blocks other rules refer to, and defaults
    /// kept for Neutron parity that no call checks (provider attributes cannot be updated).
    const NOT_ACTIONS: &[&str] = &[
        "admin_only",
        "service_api",
        "project_member",
        "project_reader",
        "admin_or_project_member",
        "admin_or_project_reader",
        "shared",
        "network_owner",
        "default",
        "update_network:provider:network_type",
        "update_network:provider:physical_network",
        "update_network:provider:segmentation_id",
    ];

    #[test]
    fn all_lists_every_attribute_combination() {
        for action in every_combination() {
            assert!(
                Action::ALL.contains(&action),
                "{action} is missing from ALL"
            );
        }
    }

    /// `ALL` is written by hand: an action added to the enum and to DEFAULT_RULES but not to
    /// `ALL` fails here (and one missing from DEFAULT_RULES falls to `default`, which the
    /// typed check refuses in debug builds).
    #[test]
    fn every_default_rule_is_an_action_or_a_building_block() {
        for (name, _) in DEFAULT_RULES {
            let is_action = Action::from_name(name).is_some();
            let is_block = NOT_ACTIONS.contains(name);
            assert!(
                is_action != is_block,
                "default rule {name}: action {is_action}, building block {is_block}"
            );
        }
    }

    #[test]
    fn every_action_has_a_default_rule() {
        let defaults: HashSet<&str> = DEFAULT_RULES.iter().map(|(name, _)| *name).collect();
        for action in Action::ALL {
            assert!(
                defaults.contains(action.name()),
                "{action:?} ({}) has no rule in DEFAULT_RULES",
                action.name()
            );
        }
    }

    #[test]
    fn names_are_distinct_and_round_trip() {
        let names: HashSet<&str> = Action::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(
            names.len(),
            Action::ALL.len(),
            "two actions share a rule name"
        );
        for &action in Action::ALL {
            assert_eq!(Action::from_name(action.name()), Some(action));
        }
        assert_eq!(Action::from_name("get_trunks"), None);
    }

    #[test]
    fn attribute_rules_are_the_action_and_the_wire_name() {
        for attr in ProviderAttr::ALL {
            let name = attr.as_str();
            assert_eq!(
                Action::CreateNetworkProvider(attr).name(),
                format!("create_network:{name}")
            );
            assert_eq!(
                Action::GetNetworkProvider(attr).name(),
                format!("get_network:{name}")
            );
        }
        for attr in PortWriteAttr::ALL {
            let name = attr.as_str();
            assert_eq!(
                Action::CreatePortAttr(attr).name(),
                format!("create_port:{name}")
            );
            assert_eq!(
                Action::UpdatePortAttr(attr).name(),
                format!("update_port:{name}")
            );
        }
        for attr in PortBindingAttr::ALL {
            assert_eq!(
                Action::GetPortBinding(attr).name(),
                format!("get_port:{}", attr.as_str())
            );
        }
        assert_eq!(
            Action::Tags(TagOp::Delete, TagCollection::Ports).name(),
            "delete_ports_tags"
        );
        assert_eq!(
            Action::GetPortBinding(PortBindingAttr::VifDetails).to_string(),
            "get_port:binding:vif_details"
        );
    }
}
