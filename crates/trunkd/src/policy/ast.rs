//! The compiled form of a rule string. The parser builds it once when a policy is loaded, the
//! loader resolves `rule:` references to indices, and the evaluator walks it on every request,
//! so everything a check needs (credential attribute, substitution keys, dotted paths) is
//! worked out here ahead of time rather than per check.

/// One parsed rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    /// `@` or the empty rule.
    Allow,
    /// `!`.
    Deny,
    Check(Check),
    Not(Box<Expr>),
    /// Two or more operands, all must hold.
    And(Vec<Expr>),
    /// Two or more operands, one must hold.
    Or(Vec<Expr>),
}

/// A single `LEFT:RIGHT` check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Check {
    /// `role:NAME`.
    Role(Template),
    /// `rule:NAME`; `index` is filled in by the loader once every rule is known.
    Rule { name: String, index: Option<usize> },
    /// `field:RESOURCE:FIELD=VALUE`; the resource is informational only.
    Field {
        resource: String,
        field: String,
        expected: FieldValue,
    },
    /// Any other `LEFT:RIGHT`.
    Generic { left: Subject, right: Template },
}

/// The value side of a `field:` check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldValue {
    /// `True` / `False` in any case: matches JSON booleans only.
    Bool(bool),
    /// Anything else: compared with the target value rendered as a string.
    Text(String),
}

/// The left side of a generic check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Subject {
    /// `'member'` or `"member"`: compared with the substituted right side.
    Literal(String),
    /// A credential attribute the caller has.
    Credential(CredentialAttr),
    /// A name that is no credential attribute: the check is always false.
    Unknown(String),
}

/// Credential attributes a generic check may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CredentialAttr {
    UserId,
    /// `project_id`, or its legacy alias `tenant_id`.
    ProjectId,
    DomainId,
    SystemScope,
    Roles,
}

impl CredentialAttr {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "user_id" => Self::UserId,
            "project_id" | "tenant_id" => Self::ProjectId,
            "domain_id" => Self::DomainId,
            "system_scope" => Self::SystemScope,
            "roles" => Self::Roles,
            _ => return None,
        })
    }
}

/// A right-hand side: literal text with `%(KEY)s` substitutions from the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pub(crate) parts: Vec<Part>,
}

impl Template {
    pub(crate) fn literal(text: impl Into<String>) -> Self {
        Self {
            parts: vec![Part::Text(text.into())],
        }
    }
}

/// A piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Text(String),
    Key(Key),
}

/// A `%(KEY)s` substitution key with its lookups prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    /// The key as written; first looked up literally (Neutron keys contain colons).
    pub(crate) raw: String,
    /// `raw` split on `.`, walked through nested objects when it has more than one segment.
    pub(crate) path: Vec<String>,
    /// For keys starting `target.`: the rest, tried literally and then as a path.
    pub(crate) without_target: Option<String>,
}

impl Key {
    pub(crate) fn new(raw: &str) -> Self {
        Self {
            raw: raw.to_string(),
            path: raw.split('.').map(str::to_string).collect(),
            without_target: raw
                .strip_prefix("target.")
                .filter(|rest| !rest.is_empty())
                .map(str::to_string),
        }
    }
}
