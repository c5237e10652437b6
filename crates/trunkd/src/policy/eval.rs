//! Evaluates compiled rules for one caller against one target. This runs for every request and
//! for every item of a listing, so it works on the prepared tree from the loader (references
//! are indices, credential attributes are enums) and only allocates when a substitution has to
//! be assembled from several pieces or a number has to be rendered. Anything missing (a target
//! key, a credential, a rule) makes a check false, and a recursion or an unresolved reference
//! denies the whole evaluation, so evaluation never allows by accident.

use std::borrow::Cow;
use std::cell::Cell;

use serde_json::Value;

use super::ast::{Check, CredentialAttr, Expr, FieldValue, Key, Part, Subject, Template};
use super::{Credentials, NamedRule, Target};

/// Evaluates rule `index` of `rules`.
pub(crate) fn evaluate(
    rules: &[NamedRule],
    index: usize,
    target: &Target,
    credentials: &Credentials,
) -> bool {
    let evaluator = Evaluator {
        rules,
        target,
        credentials,
        aborted: Cell::new(false),
    };
    let allowed = evaluator.rule(index, 0);
    allowed && !evaluator.aborted.get()
}

struct Evaluator<'a> {
    rules: &'a [NamedRule],
    target: &'a Target,
    credentials: &'a Credentials,
    /// Set when evaluation hit something that must deny the whole check, even under `not`.
    aborted: Cell<bool>,
}

impl<'a> Evaluator<'a> {
    fn rule(&self, index: usize, depth: usize) -> bool {
        let Some(rule) = self.rules.get(index) else {
            tracing::error!(index, "policy rule index out of range; denying");
            self.aborted.set(true);
            return false;
        };
        // The loader rejects cycles, so a chain longer than the number of rules is a bug.
        if depth > self.rules.len() {
            tracing::error!(rule = %rule.name, "policy rule recursion detected; denying");
            self.aborted.set(true);
            return false;
        }
        self.expr(&rule.expr, depth)
    }

    fn expr(&self, expr: &Expr, depth: usize) -> bool {
        if self.aborted.get() {
            return false;
        }
        match expr {
            Expr::Allow => true,
            Expr::Deny => false,
            Expr::Not(inner) => !self.expr(inner, depth),
            Expr::And(items) => items.iter().all(|e| self.expr(e, depth)),
            Expr::Or(items) => items.iter().any(|e| self.expr(e, depth)),
            Expr::Check(check) => self.check(check, depth),
        }
    }

    fn check(&self, check: &Check, depth: usize) -> bool {
        match check {
            Check::Role(role) => {
                render(role, self.target).is_some_and(|role| self.credentials.has_role(&role))
            }
            Check::Rule { name, index } => match index {
                Some(index) => self.rule(*index, depth + 1),
                None => {
                    tracing::error!(rule = %name, "unresolved policy rule reference; denying");
                    self.aborted.set(true);
                    false
                }
            },
            Check::Field {
                field, expected, ..
            } => match (self.target.get(field.as_str()), expected) {
                (Some(Value::Bool(actual)), FieldValue::Bool(wanted)) => actual == wanted,
                (Some(value), FieldValue::Text(wanted)) => {
                    render_value(value).is_some_and(|actual| actual == wanted.as_str())
                }
                _ => false,
            },
            Check::Generic { left, right } => {
                let Some(right) = render(right, self.target) else {
                    return false;
                };
                match left {
                    Subject::Literal(literal) => literal.as_str() == right,
                    Subject::Credential(attr) => self.credential_matches(*attr, &right),
                    Subject::Unknown(_) => false,
                }
            }
        }
    }

    fn credential_matches(&self, attr: CredentialAttr, expected: &str) -> bool {
        let creds = self.credentials;
        let single = match attr {
            CredentialAttr::UserId => &creds.user_id,
            CredentialAttr::ProjectId => &creds.project_id,
            CredentialAttr::DomainId => &creds.domain_id,
            CredentialAttr::SystemScope => &creds.system_scope,
            CredentialAttr::Roles => return creds.has_role(expected),
        };
        single.as_deref() == Some(expected)
    }
}

/// The text of a template with its substitutions filled in, or `None` when a key is missing,
/// null, or not a scalar.
fn render<'a>(template: &'a Template, target: &'a Target) -> Option<Cow<'a, str>> {
    match template.parts.as_slice() {
        [Part::Text(text)] => Some(Cow::Borrowed(text)),
        [Part::Key(key)] => lookup(key, target).and_then(render_value),
        parts => {
            let mut text = String::new();
            for part in parts {
                match part {
                    Part::Text(fixed) => text.push_str(fixed),
                    Part::Key(key) => text.push_str(&render_value(lookup(key, target)?)?),
                }
            }
            Some(Cow::Owned(text))
        }
    }
}

/// A scalar as Python's `str()` would render it; `None` for null, arrays and objects.
fn render_value(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Bool(true) => Some(Cow::Borrowed("True")),
        Value::Bool(false) => Some(Cow::Borrowed("False")),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// A substitution key's value: the literal key (Neutron targets have keys such as
/// `network:project_id`), then the dotted path, then both again without a leading `target.`.
fn lookup<'a>(key: &Key, target: &'a Target) -> Option<&'a Value> {
    if let Some(value) = target.get(key.raw.as_str()) {
        return Some(value);
    }
    if let Some(value) = walk(&key.path, target) {
        return Some(value);
    }
    let rest = key.without_target.as_deref()?;
    target
        .get(rest)
        .or_else(|| walk(key.path.get(1..).unwrap_or_default(), target))
}

/// Follows a path of two or more segments through nested objects.
fn walk<'a>(path: &[String], target: &'a Target) -> Option<&'a Value> {
    let [first, rest @ ..] = path else {
        return None;
    };
    if rest.is_empty() {
        return None;
    }
    let mut value = target.get(first.as_str())?;
    for segment in rest {
        value = value.as_object()?.get(segment.as_str())?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{Credentials, Policy, Target};

    fn target(value: serde_json::Value) -> Target {
        match value {
            serde_json::Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn creds(project: &str, roles: &[&str]) -> Credentials {
        Credentials::new(Some("u1".into()), Some(project.into()), roles)
    }

    /// A policy holding just `check: RULE` (plus the defaults).
    fn one(rule: &str) -> Policy {
        let yaml = format!("check: {}\n", serde_json::to_string(rule).expect("json"));
        Policy::from_yaml_str("test.yaml", &yaml).unwrap_or_else(|e| panic!("{rule}: {e}"))
    }

    fn allows(rule: &str, target: &Target, creds: &Credentials) -> bool {
        one(rule).enforce("check", target, creds)
    }

    #[test]
    fn roles_compare_without_case() {
        let empty = Target::new();
        assert!(allows("role:Admin", &empty, &creds("p", &["ADMIN"])));
        assert!(allows("role:admin", &empty, &creds("p", &["Admin"])));
        assert!(!allows(
            "role:admin",
            &empty,
            &creds("p", &["administrator"])
        ));
        assert!(!allows("role:admin", &empty, &Credentials::default()));
        let mut raw = Credentials::default();
        raw.roles.push("MiXeD".into());
        assert!(
            raw.has_role("mixed"),
            "has_role ignores case even for unnormalised roles"
        );
        assert!(creds("p", &["RÔLE"]).has_role("rôle"));
    }

    #[test]
    fn and_binds_tighter_than_or_when_evaluated() {
        let empty = Target::new();
        let only_a = creds("p", &["a"]);
        assert!(allows("role:a or role:b and role:c", &empty, &only_a));
        assert!(!allows("(role:a or role:b) and role:c", &empty, &only_a));
        assert!(allows("not role:b and role:a", &empty, &only_a));
        assert!(!allows("not (role:b or role:a)", &empty, &only_a));
        assert!(allows("@", &empty, &Credentials::default()));
        assert!(allows("", &empty, &Credentials::default()));
        assert!(!allows("!", &empty, &creds("p", &["admin"])));
    }

    #[test]
    fn project_ownership() {
        let me = creds("p1", &["member"]);
        let rule = "project_id:%(project_id)s";
        assert!(allows(rule, &target(json!({"project_id": "p1"})), &me));
        assert!(!allows(rule, &target(json!({"project_id": "p2"})), &me));
        assert!(!allows(rule, &Target::new(), &me), "missing key");
        assert!(
            !allows(rule, &target(json!({"project_id": null})), &me),
            "null key"
        );
        assert!(
            !allows(rule, &target(json!({"project_id": ["p1"]})), &me),
            "not a scalar"
        );
        let nobody = Credentials::new(None, None, ["member"]);
        assert!(!allows(rule, &target(json!({"project_id": "p1"})), &nobody));
    }

    #[test]
    fn tenant_id_is_an_alias_of_project_id() {
        let me = creds("p1", &[]);
        assert!(allows(
            "tenant_id:%(tenant_id)s",
            &target(json!({"tenant_id": "p1"})),
            &me
        ));
        assert!(allows(
            "tenant_id:%(project_id)s",
            &target(json!({"project_id": "p1"})),
            &me
        ));
        assert!(!allows(
            "tenant_id:%(project_id)s",
            &target(json!({"project_id": "p2"})),
            &me
        ));
    }

    #[test]
    fn literal_colon_keys() {
        let me = creds("p1", &[]);
        let rule = "project_id:%(network:project_id)s";
        assert!(allows(
            rule,
            &target(json!({"network:project_id": "p1", "project_id": "p2"})),
            &me
        ));
        assert!(!allows(
            rule,
            &target(json!({"network:project_id": "p2", "project_id": "p1"})),
            &me
        ));
        assert!(!allows(rule, &target(json!({"project_id": "p1"})), &me));
    }

    #[test]
    fn dotted_paths() {
        let me = creds("p1", &[]);
        let rule = "project_id:%(target.project.id)s";
        assert!(allows(
            rule,
            &target(json!({"target": {"project": {"id": "p1"}}})),
            &me
        ));
        assert!(
            allows(rule, &target(json!({"project": {"id": "p1"}})), &me),
            "without target."
        );
        assert!(
            allows(rule, &target(json!({"target.project.id": "p1"})), &me),
            "literal key"
        );
        assert!(
            allows(rule, &target(json!({"project.id": "p1"})), &me),
            "literal key without target."
        );
        assert!(!allows(
            rule,
            &target(json!({"target": {"project": {"id": "p2"}}})),
            &me
        ));
        assert!(!allows(
            rule,
            &target(json!({"target": {"project": "p1"}})),
            &me
        ));
        assert!(!allows(
            rule,
            &target(json!({"target": {"project": {"id": null}}})),
            &me
        ));
        assert!(allows(
            "user_id:%(a.b)s",
            &target(json!({"a": {"b": "u1"}})),
            &me
        ));
    }

    #[test]
    fn field_checks() {
        let anyone = Credentials::default();
        let shared = "field:networks:shared=True";
        assert!(allows(shared, &target(json!({"shared": true})), &anyone));
        assert!(!allows(shared, &target(json!({"shared": false})), &anyone));
        assert!(!allows(shared, &Target::new(), &anyone));
        assert!(
            !allows(shared, &target(json!({"shared": "True"})), &anyone),
            "booleans only"
        );
        assert!(allows(
            "field:networks:shared=false",
            &target(json!({"shared": false})),
            &anyone
        ));
        assert!(allows(
            "field:networks:mtu=1500",
            &target(json!({"mtu": 1500})),
            &anyone
        ));
        assert!(!allows(
            "field:networks:mtu=1500",
            &target(json!({"mtu": 9000})),
            &anyone
        ));
        assert!(allows(
            "field:ports:name=web",
            &target(json!({"name": "web"})),
            &anyone
        ));
        assert!(!allows(
            "field:ports:name=web",
            &target(json!({"name": null})),
            &anyone
        ));
    }

    #[test]
    fn quoted_literals() {
        let anyone = Credentials::default();
        let rule = "'member':%(role.name)s";
        assert!(allows(
            rule,
            &target(json!({"role": {"name": "member"}})),
            &anyone
        ));
        assert!(!allows(
            rule,
            &target(json!({"role": {"name": "reader"}})),
            &anyone
        ));
        assert!(!allows(rule, &Target::new(), &anyone));
        assert!(allows(
            "\"5\":%(count)s",
            &target(json!({"count": 5})),
            &anyone
        ));
        assert!(allows(
            "'True':%(flag)s",
            &target(json!({"flag": true})),
            &anyone
        ));
        assert!(allows("user_id:'u1'", &Target::new(), &creds("p", &[])));
        assert!(!allows("user_id:'u2'", &Target::new(), &creds("p", &[])));
    }

    #[test]
    fn credential_attributes() {
        let mut me = creds("p1", &["reader"]);
        me.domain_id = Some("d1".into());
        me.system_scope = Some("all".into());
        let t = target(json!({"user": "u1", "domain": "d1", "role": "READER"}));
        assert!(allows("user_id:%(user)s", &t, &me));
        assert!(allows("domain_id:%(domain)s", &t, &me));
        assert!(allows("system_scope:all", &t, &me));
        assert!(!allows("system_scope:all", &t, &creds("p1", &[])));
        assert!(allows("roles:%(role)s", &t, &me));
        assert!(!allows("roles:member", &t, &me));
        assert!(!allows("colour:%(user)s", &t, &me), "unknown attribute");
        assert!(!allows("not colour:%(user)s and !", &t, &me));
        assert!(allows("not colour:%(user)s", &t, &me));
    }

    #[test]
    fn rule_chains() {
        let p = Policy::from_yaml_str(
            "chains.yaml",
            "a: rule:b or rule:c\nb: rule:d\nc: role:c\nd: role:d and not rule:c\n",
        )
        .expect("compiles");
        let empty = Target::new();
        assert!(p.enforce("a", &empty, &creds("p", &["d"])));
        assert!(p.enforce("a", &empty, &creds("p", &["c"])));
        assert!(p.enforce("a", &empty, &creds("p", &["c", "d"])));
        assert!(!p.enforce("b", &empty, &creds("p", &["c", "d"])));
        assert!(!p.enforce("a", &empty, &creds("p", &["e"])));
    }

    #[test]
    fn unknown_actions_fall_back_to_default() {
        let own = target(json!({"project_id": "p1"}));
        let defaults = Policy::defaults();
        assert!(!defaults.has_rule("frobnicate_trunk"));
        assert!(defaults.enforce("frobnicate_trunk", &own, &creds("p1", &["member"])));
        assert!(!defaults.enforce("frobnicate_trunk", &own, &creds("p1", &["reader"])));
        assert!(!defaults.enforce("frobnicate_trunk", &own, &creds("p2", &["member"])));
        let strict = Policy::from_yaml_str("strict.yaml", "default: '!'\n").expect("compiles");
        assert!(!strict.enforce("frobnicate_trunk", &own, &creds("p1", &["admin"])));
    }

    #[test]
    fn substitution_in_roles_and_multi_part_templates() {
        let me = creds("p1", &["net-admin"]);
        assert!(allows(
            "role:%(kind)s-admin",
            &target(json!({"kind": "net"})),
            &me
        ));
        assert!(!allows(
            "role:%(kind)s-admin",
            &target(json!({"kind": "vol"})),
            &me
        ));
        assert!(!allows("role:%(kind)s-admin", &Target::new(), &me));
        assert!(allows("project_id:p%(n)s", &target(json!({"n": 1})), &me));
    }
}
