//! Rules a policy file names that trunkd does not know. oslo.policy accepts any rule name, so a
//! misspelt override (`get_trunks: role:admin`) silently changes nothing; trunkd names such
//! rules at start-up instead. A name is known when it is a default rule, an [`Action`], or
//! referred to by `rule:` from another rule (a helper such as `my_admins: role:x`).
//!
//! Operators may carry over a whole Neutron policy.yaml, so Neutron's rules for resources
//! trunkd does not serve (`create_router`, `get_subnetpool`, ...) are told apart by
//! [`is_neutron_rule`]: they are always named in a warning, and never refused. Strict loading
//! refuses only the rest, which can only be mistakes. Neutron attribute rules of the resources
//! trunkd does serve but does not check (`create_port:fixed_ips`, ...) count as unknown: a
//! policy file kept for trunkd alone can load strictly, a Neutron one loads non-strictly and
//! gets the warning.

use std::collections::HashSet;
use std::path::Path;

use super::{load, Action, Policy, PolicyError, DEFAULT_RULES};

/// Resources of Neutron (and its common extensions) that trunkd does not serve, as they appear
/// in Neutron's rule names after the verb.
const NEUTRON_RESOURCES: &[&str] = &[
    "address_group",
    "address_scope",
    "agent",
    "auto_allocated_topology",
    "availability_zone",
    "default_security_group_rule",
    "dhcp-agent",
    "dhcp-network",
    "flavor",
    "floatingip",
    "l3-agent",
    "l3-router",
    "local_ip",
    "log",
    "loggable_resource",
    "metering_label",
    "ndp_proxy",
    "network_ip_availability",
    "network_segment_range",
    "policy",
    "port_binding",
    "quota",
    "rbac_policy",
    "router",
    "rule_type",
    "security_group",
    "segment",
    "service_profile",
    "service_provider",
    "subnetpool",
];

/// The verbs Neutron's rule names start with.
const NEUTRON_VERBS: &[&str] = &["create_", "get_", "update_", "delete_", "add_", "remove_"];

/// Whether `name` is a Neutron rule of a resource trunkd does not serve: a verb, then one of
/// those resources (possibly plural or extended, `router_interface`), then optionally
/// `:attribute`. For example `create_router`, `add_router_interface`, `get_router:distributed`.
pub fn is_neutron_rule(name: &str) -> bool {
    let Some(rest) = NEUTRON_VERBS
        .iter()
        .find_map(|verb| name.strip_prefix(verb))
    else {
        return false;
    };
    let object = rest.split(':').next().unwrap_or(rest);
    NEUTRON_RESOURCES.iter().any(|resource| {
        object.strip_prefix(resource).is_some_and(|tail| {
            tail.is_empty() || tail == "s" || tail.starts_with('_') || tail.starts_with("s_")
        })
    })
}

impl Policy {
    /// Rules the policy file defined that trunkd does not know: not a default, not an
    /// [`Action`], and not referred to by `rule:` from any rule. In file order. Neutron rules
    /// of resources trunkd does not serve are among them (see [`is_neutron_rule`]).
    pub fn unknown_overrides(&self) -> Vec<String> {
        let defaults: HashSet<&str> = DEFAULT_RULES.iter().map(|(name, _)| *name).collect();
        let referenced = load::referenced_names(&self.rules);
        self.overrides
            .iter()
            .filter(|name| {
                !defaults.contains(name.as_str())
                    && Action::from_name(name).is_none()
                    && !referenced.contains(name.as_str())
            })
            .cloned()
            .collect()
    }
}

/// `'a', 'b'`, for messages.
pub(super) fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("'{name}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The policy a server runs with: the defaults, overlaid with the file at `path` if any, and
/// the warnings to log about it (one per kind of unknown rule, naming each rule). With
/// `strict`, a file defining unknown rules that are not Neutron rules of other resources is
/// refused with [`PolicyError::UnknownOverride`]; Neutron rules are still only warned about.
pub fn load_for_server(
    path: Option<&Path>,
    strict: bool,
) -> Result<(Policy, Vec<String>), PolicyError> {
    let Some(path) = path else {
        return Ok((Policy::defaults(), Vec::new()));
    };
    let policy = Policy::from_yaml_file(path)?;
    let (neutron, unknown): (Vec<String>, Vec<String>) = policy
        .unknown_overrides()
        .into_iter()
        .partition(|name| is_neutron_rule(name));
    if strict && !unknown.is_empty() {
        return Err(PolicyError::UnknownOverride { rules: unknown });
    }
    let file = path.display();
    let mut warnings = Vec::new();
    if !unknown.is_empty() {
        warnings.push(format!(
            "policy file {file}: rules trunkd does not know, which have no effect (misspelt?): {}",
            quoted(&unknown)
        ));
    }
    if !neutron.is_empty() {
        warnings.push(format!(
            "policy file {file}: Neutron rules of resources trunkd does not serve, which have no effect: {}",
            quoted(&neutron)
        ));
    }
    Ok((policy, warnings))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn file_with(contents: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(contents.as_bytes()).expect("write");
        file
    }

    fn unknown(yaml: &str) -> Vec<String> {
        Policy::from_yaml_str("p.yaml", yaml)
            .expect("loads")
            .unknown_overrides()
    }

    #[test]
    fn known_names_are_not_reported() {
        assert!(unknown("").is_empty());
        // An action, a building block of the defaults, a default no call checks.
        assert!(unknown(
            "get_trunk: '@'\nadmin_only: role:root\nupdate_network:provider:network_type: '!'\n"
        )
        .is_empty());
        assert!(Policy::defaults().unknown_overrides().is_empty());
    }

    #[test]
    fn a_helper_used_by_rule_is_not_reported() {
        let yaml = "my_admins: role:cloud-admin\nget_trunk: rule:my_admins\n";
        assert!(unknown(yaml).is_empty());
        // The same helper, used by nobody, is.
        assert_eq!(unknown("my_admins: role:cloud-admin\n"), ["my_admins"]);
    }

    #[test]
    fn typos_are_reported_in_file_order() {
        let yaml = "get_trunks: '@'\nget_trunk: '@'\nget_port:binding:vif_detail: '@'\n";
        assert_eq!(unknown(yaml), ["get_trunks", "get_port:binding:vif_detail"]);
    }

    #[test]
    fn a_typo_is_refused_when_strict_and_warned_otherwise() {
        let file = file_with("get_trunk: '@'\nget_trunks: role:admin\n");
        match load_for_server(Some(file.path()), true) {
            Err(error @ PolicyError::UnknownOverride { .. }) => {
                let text = error.to_string();
                assert!(text.contains("'get_trunks'"), "{text}");
                assert!(!text.contains("'get_trunk'"), "{text}");
            }
            other => panic!("expected an unknown-override error, got {other:?}"),
        }
        let (policy, warnings) = load_for_server(Some(file.path()), false).expect("loads");
        assert!(policy.has_rule("get_trunks"));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("'get_trunks'"), "{warnings:?}");
        assert!(warnings[0].contains("misspelt"), "{warnings:?}");
    }

    #[test]
    fn neutron_rules_are_warned_about_but_never_refused() {
        let file = file_with(
            "create_router: rule:regular_user\nregular_user: ''\nget_subnetpool: '@'\n\
             create_floatingip: '@'\nadd_router_interface: '@'\n",
        );
        for strict in [false, true] {
            let (_, warnings) = load_for_server(Some(file.path()), strict)
                .unwrap_or_else(|error| panic!("strict {strict}: {error}"));
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            let warning = &warnings[0];
            assert!(warning.contains("Neutron"), "{warning}");
            for rule in [
                "'create_router'",
                "'get_subnetpool'",
                "'create_floatingip'",
                "'add_router_interface'",
            ] {
                assert!(warning.contains(rule), "{rule}: {warning}");
            }
            // Used by create_router: a helper, not unknown.
            assert!(!warning.contains("regular_user"), "{warning}");
        }
    }

    #[test]
    fn both_kinds_get_their_own_warning() {
        let file = file_with("get_subnetpools: '@'\ncreate_trunks: '@'\n");
        let (_, warnings) = load_for_server(Some(file.path()), false).expect("loads");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("'create_trunks'"), "{warnings:?}");
        assert!(warnings[1].contains("'get_subnetpools'"), "{warnings:?}");
        let path = file.path().display().to_string();
        assert!(warnings.iter().all(|w| w.contains(&path)), "{warnings:?}");
    }

    #[test]
    fn without_a_file_the_defaults_load_quietly() {
        for strict in [false, true] {
            let (policy, warnings) = load_for_server(None, strict).expect("defaults");
            assert!(warnings.is_empty());
            assert!(policy.has_rule("create_trunk"));
        }
    }

    #[test]
    fn neutron_rule_names() {
        for name in [
            "create_router",
            "get_routers",
            "add_router_interface",
            "get_router:distributed",
            "create_floatingip",
            "get_security_group_rules",
            "get_network_ip_availability",
            "create_policy_bandwidth_limit_rule",
            "get_l3-routers",
        ] {
            assert!(is_neutron_rule(name), "{name}");
        }
        for name in [
            "get_trunks",
            "create_trunk",
            "get_port:binding:vif_detail",
            "create_port:fixed_ips",
            "router",
            "frobnicate_router",
            "get_routerx",
            "get_",
        ] {
            assert!(!is_neutron_rule(name), "{name}");
        }
    }
}
