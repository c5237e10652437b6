//! Authorisation with oslo.policy's rule language, so operators can carry over what they know
//! (and their policy.yaml overrides) from Neutron. This file is the public face of the engine:
//! who is calling ([`Credentials`]), what is being acted on ([`Target`]), the loaded rule set
//! ([`Policy`]) and what can go wrong loading it ([`PolicyError`]).
//!
//! Rules are parsed and cross-checked once, when the policy is loaded (`parser`, `load`); a bad
//! policy file stops start-up. Checks then run against the prepared rules (`eval`) on every
//! request and on every item of a listing. The service names what it checks with [`Action`]
//! (`action`), never with a rule string; rules a policy file names that trunkd does not know
//! are found by `overrides` and warned about or refused at start-up.

mod action;
mod ast;
pub mod defaults;
mod eval;
mod load;
mod overrides;
mod parser;

#[cfg(test)]
mod table_tests;

use std::collections::HashMap;
use std::path::Path;

pub use action::{
    Action, GuardedRead, PortBindingAttr, PortWriteAttr, ProviderAttr, TagCollection, TagOp,
};
pub use defaults::DEFAULT_RULES;
pub use overrides::{is_neutron_rule, load_for_server};

/// Who is calling. Roles are stored lower-cased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub domain_id: Option<String>,
    pub roles: Vec<String>,
    pub system_scope: Option<String>,
}

impl Credentials {
    pub fn new(
        user_id: Option<String>,
        project_id: Option<String>,
        roles: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Self {
        Self {
            user_id,
            project_id,
            roles: roles
                .into_iter()
                .map(|role| role.as_ref().to_lowercase())
                .collect(),
            ..Self::default()
        }
    }

    /// Whether the caller holds `role`, ignoring case.
    pub fn has_role(&self, role: &str) -> bool {
        if role.is_ascii() {
            self.roles
                .iter()
                .any(|held| held.eq_ignore_ascii_case(role))
        } else {
            let wanted = role.to_lowercase();
            self.roles.iter().any(|held| held.to_lowercase() == wanted)
        }
    }
}

/// The target of a check: the resource's attributes (JSON object), e.g.
/// `{"project_id": "p1", "shared": true, "network:project_id": "p2"}`.
pub type Target = serde_json::Map<String, serde_json::Value>;

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A rule string is not valid; `message` says where and why.
    #[error("rule '{rule}': {message}")]
    Parse { rule: String, message: String },
    /// `rule` refers to `rule:{referenced}`, which no default or override defines.
    #[error("rule '{rule}' refers to rule:{referenced}, which is not defined")]
    UnknownRule { rule: String, referenced: String },
    /// `rule` refers back to itself through a chain of `rule:` references.
    #[error("rule '{rule}' refers to itself through a cycle of rule: references")]
    Cycle { rule: String },
    /// The policy file cannot be read or is not a mapping of rule names to rule strings.
    #[error("policy file {path}: {message}")]
    File { path: String, message: String },
    /// Loading strictly, the file defines rules trunkd does not know (see
    /// [`Policy::unknown_overrides`]) that are not Neutron rules of resources it does not serve.
    #[error(
        "rules trunkd does not know (misspelt?): {}; a rule must be one trunkd enforces, a \
         building block used by rule: from another rule, or a Neutron rule of a resource \
         trunkd does not serve",
        overrides::quoted(.rules)
    )]
    UnknownOverride { rules: Vec<String> },
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub(crate) struct NamedRule {
    name: String,
    expr: ast::Expr,
}

/// A compiled rule set: the defaults, possibly overlaid with a policy file.
#[derive(Debug, Clone)]
pub struct Policy {
    index: HashMap<String, usize>,
    rules: Vec<NamedRule>,
    /// The rule named `default`, used for actions without a rule of their own.
    default_rule: Option<usize>,
    /// The names a policy file defined, in file order (none for the defaults).
    overrides: Vec<String>,
}

impl Policy {
    /// The built-in defaults ([`DEFAULT_RULES`]); a unit test makes sure they compile.
    pub fn defaults() -> Policy {
        load::Builder::with_defaults()
            .and_then(load::Builder::finish)
            .unwrap_or_else(|error| panic!("the built-in default policy does not compile: {error}"))
    }

    /// Defaults overlaid with a YAML file mapping rule name -> rule string (the oslo.policy
    /// policy.yaml format). Every rule is parsed and every `rule:` reference resolved before
    /// this returns, so a bad file fails start-up with an error naming the rule.
    pub fn from_yaml_file(path: &Path) -> Result<Policy, PolicyError> {
        let source = path.display().to_string();
        let yaml = std::fs::read_to_string(path).map_err(|error| PolicyError::File {
            path: source.clone(),
            message: format!("cannot be read: {error}"),
        })?;
        Self::from_yaml_str(&source, &yaml)
    }

    /// Like [`Policy::from_yaml_file`], from YAML text; `source_name` names it in errors.
    pub fn from_yaml_str(source_name: &str, yaml: &str) -> Result<Policy, PolicyError> {
        let overrides = load::yaml_rules(source_name, yaml)?;
        let mut builder = load::Builder::with_defaults()?;
        for (name, text) in &overrides {
            builder.define_override(name, text, source_name)?;
        }
        builder.finish()
    }

    /// The defaults with the rule `action` replaced by `text`, as a policy file of that one
    /// line would give.
    pub fn with_rule(action: &str, text: &str) -> Result<Policy, PolicyError> {
        let mut builder = load::Builder::with_defaults()?;
        builder.define(action, text, Some("with_rule"))?;
        builder.finish()
    }

    /// Evaluates the rule named `action` for `creds` against `target`. An action without a rule
    /// falls back to the rule named `default`; without that too, the answer is no.
    pub fn enforce(&self, action: &str, target: &Target, creds: &Credentials) -> bool {
        match self.index.get(action).copied().or(self.default_rule) {
            Some(index) => eval::evaluate(&self.rules, index, target, creds),
            None => false,
        }
    }

    /// Whether `creds` may do `action` on `target`: the typed face of [`Policy::enforce`] that
    /// the service and api layers use. Every action has a default rule (a unit test checks),
    /// and a policy file only adds rules, so an action never falls back to `default`.
    pub fn allows(&self, action: Action, target: &Target, creds: &Credentials) -> bool {
        debug_assert!(
            self.index.contains_key(action.name()),
            "action {action} has no rule of its own"
        );
        self.enforce(action.name(), target, creds)
    }

    /// `allows(ContextIsAdmin, empty target, creds)`.
    pub fn is_admin(&self, creds: &Credentials) -> bool {
        self.allows(Action::ContextIsAdmin, &Target::new(), creds)
    }

    /// Whether a rule with exactly this name is defined (by the defaults or an override).
    pub fn has_rule(&self, action: &str) -> bool {
        self.index.contains_key(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_lower_case_their_roles() {
        let creds = Credentials::new(Some("u".into()), Some("p".into()), ["Admin", "MEMBER"]);
        assert_eq!(creds.roles, ["admin", "member"]);
        assert!(creds.has_role("ADMIN"));
        assert!(!creds.has_role("reader"));
        assert_eq!(creds.domain_id, None);
        assert_eq!(creds.system_scope, None);
    }

    #[test]
    fn is_admin_follows_context_is_admin() {
        let defaults = Policy::defaults();
        assert!(defaults.is_admin(&Credentials::new(None, None, ["ADMIN"])));
        assert!(!defaults.is_admin(&Credentials::new(None, None, ["member", "service"])));
        let custom =
            Policy::from_yaml_str("p.yaml", "context_is_admin: role:cloud-admin\n").expect("loads");
        assert!(custom.is_admin(&Credentials::new(None, None, ["cloud-admin"])));
        assert!(!custom.is_admin(&Credentials::new(None, None, ["admin"])));
    }

    #[test]
    fn without_a_default_rule_unknown_actions_are_denied() {
        let mut policy = Policy::defaults();
        policy.default_rule = None;
        let admin = Credentials::new(None, None, ["admin"]);
        assert!(!policy.enforce("frobnicate", &Target::new(), &admin));
        assert!(policy.enforce("create_trunk", &Target::new(), &admin));
    }

    #[test]
    fn error_messages_name_the_rule() {
        let errors = [
            PolicyError::Parse {
                rule: "r1".into(),
                message: "m".into(),
            },
            PolicyError::UnknownRule {
                rule: "r1".into(),
                referenced: "r2".into(),
            },
            PolicyError::Cycle { rule: "r1".into() },
        ];
        for error in errors {
            assert!(error.to_string().contains("'r1'"), "{error}");
        }
    }
}
