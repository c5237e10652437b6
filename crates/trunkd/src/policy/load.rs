//! Builds a [`Policy`]: parses every rule, overlays a policy file on the defaults, resolves
//! `rule:` references to indices and rejects references to undefined rules and cycles. All of
//! this happens once, before the policy is used, so a bad policy file stops start-up (fails
//! closed) and evaluation never meets an unknown or recursive rule.

use std::collections::{HashMap, HashSet};

use serde_yaml_ng::Value as Yaml;

use super::ast::{Check, Expr};
use super::parser::parse_rule;
use super::{NamedRule, Policy, PolicyError, DEFAULT_RULES};

/// Rules being collected; later definitions of a name replace earlier ones.
#[derive(Default)]
pub(crate) struct Builder {
    index: HashMap<String, usize>,
    rules: Vec<NamedRule>,
    /// Names defined by a policy file, in file order.
    overrides: Vec<String>,
}

impl Builder {
    /// A builder holding the built-in defaults.
    pub(crate) fn with_defaults() -> Result<Self, PolicyError> {
        let mut builder = Self::default();
        for (name, text) in DEFAULT_RULES {
            builder.define(name, text, None)?;
        }
        Ok(builder)
    }

    /// Parses and adds (or replaces) one rule; `source` names the file it came from.
    pub(crate) fn define(
        &mut self,
        name: &str,
        text: &str,
        source: Option<&str>,
    ) -> Result<(), PolicyError> {
        let expr = parse_rule(name, text).map_err(|error| match (error, source) {
            (PolicyError::Parse { rule, message }, Some(source)) => PolicyError::Parse {
                rule,
                message: format!("{message} (in {source})"),
            },
            (error, _) => error,
        })?;
        match self.index.get(name) {
            Some(&at) => self.rules[at].expr = expr,
            None => {
                self.index.insert(name.to_string(), self.rules.len());
                self.rules.push(NamedRule {
                    name: name.to_string(),
                    expr,
                });
            }
        }
        Ok(())
    }

    /// [`Builder::define`] for a rule of the policy file `source`, remembered as an override.
    pub(crate) fn define_override(
        &mut self,
        name: &str,
        text: &str,
        source: &str,
    ) -> Result<(), PolicyError> {
        self.define(name, text, Some(source))?;
        if !self.overrides.iter().any(|known| known == name) {
            self.overrides.push(name.to_string());
        }
        Ok(())
    }

    /// Resolves references and checks for cycles.
    pub(crate) fn finish(self) -> Result<Policy, PolicyError> {
        let Builder {
            index,
            mut rules,
            overrides,
        } = self;
        for rule in &mut rules {
            resolve(&mut rule.expr, &index).map_err(|referenced| PolicyError::UnknownRule {
                rule: rule.name.clone(),
                referenced,
            })?;
        }
        reject_cycles(&rules)?;
        let default_rule = index.get("default").copied();
        Ok(Policy {
            index,
            rules,
            default_rule,
            overrides,
        })
    }
}

/// Fills in the index of every `rule:` reference; the error is the undefined name.
fn resolve(expr: &mut Expr, index: &HashMap<String, usize>) -> Result<(), String> {
    match expr {
        Expr::Allow | Expr::Deny => Ok(()),
        Expr::Not(inner) => resolve(inner, index),
        Expr::And(items) | Expr::Or(items) => {
            items.iter_mut().try_for_each(|item| resolve(item, index))
        }
        Expr::Check(Check::Rule { name, index: slot }) => {
            *slot = Some(*index.get(name.as_str()).ok_or_else(|| name.clone())?);
            Ok(())
        }
        Expr::Check(_) => Ok(()),
    }
}

/// The names every rule of `rules` refers to with `rule:`.
pub(crate) fn referenced_names(rules: &[NamedRule]) -> HashSet<&str> {
    fn walk<'a>(expr: &'a Expr, out: &mut HashSet<&'a str>) {
        match expr {
            Expr::Not(inner) => walk(inner, out),
            Expr::And(items) | Expr::Or(items) => items.iter().for_each(|item| walk(item, out)),
            Expr::Check(Check::Rule { name, .. }) => {
                out.insert(name.as_str());
            }
            _ => {}
        }
    }
    let mut out = HashSet::new();
    for rule in rules {
        walk(&rule.expr, &mut out);
    }
    out
}

fn references(expr: &Expr, out: &mut Vec<usize>) {
    match expr {
        Expr::Not(inner) => references(inner, out),
        Expr::And(items) | Expr::Or(items) => items.iter().for_each(|item| references(item, out)),
        Expr::Check(Check::Rule {
            index: Some(index), ..
        }) => out.push(*index),
        _ => {}
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Visit {
    New,
    OnPath,
    Done,
}

/// Depth-first search of the reference graph; a reference back to a rule on the current path
/// is a cycle, reported by the name of that rule.
fn reject_cycles(rules: &[NamedRule]) -> Result<(), PolicyError> {
    let edges: Vec<Vec<usize>> = rules
        .iter()
        .map(|rule| {
            let mut out = Vec::new();
            references(&rule.expr, &mut out);
            out
        })
        .collect();
    let mut visit = vec![Visit::New; rules.len()];
    for start in 0..rules.len() {
        if visit[start] != Visit::New {
            continue;
        }
        visit[start] = Visit::OnPath;
        let mut path = vec![(start, 0usize)];
        while let Some(top) = path.last_mut() {
            let (node, next) = *top;
            match edges[node].get(next) {
                Some(&to) => {
                    top.1 += 1;
                    match visit[to] {
                        Visit::OnPath => {
                            return Err(PolicyError::Cycle {
                                rule: rules[to].name.clone(),
                            })
                        }
                        Visit::New => {
                            visit[to] = Visit::OnPath;
                            path.push((to, 0));
                        }
                        Visit::Done => {}
                    }
                }
                None => {
                    visit[node] = Visit::Done;
                    path.pop();
                }
            }
        }
    }
    Ok(())
}

fn kind(value: &Yaml) -> &'static str {
    match value {
        Yaml::Null => "nothing (null)",
        Yaml::Bool(_) => "a boolean",
        Yaml::Number(_) => "a number",
        Yaml::String(_) => "a string",
        Yaml::Sequence(_) => "a list",
        Yaml::Mapping(_) => "a mapping",
        Yaml::Tagged(_) => "a tagged value",
    }
}

/// The `name: rule` pairs of a policy.yaml document, in file order.
pub(crate) fn yaml_rules(source: &str, yaml: &str) -> Result<Vec<(String, String)>, PolicyError> {
    let file_error = |message: String| PolicyError::File {
        path: source.to_string(),
        message,
    };
    let document: Yaml = serde_yaml_ng::from_str(yaml)
        .map_err(|error| file_error(format!("not valid YAML: {error}")))?;
    let mapping = match document {
        Yaml::Null => return Ok(Vec::new()),
        Yaml::Mapping(mapping) => mapping,
        other => {
            return Err(file_error(format!(
                "expected a mapping of rule names to rule strings, found {}",
                kind(&other)
            )))
        }
    };
    let mut rules = Vec::with_capacity(mapping.len());
    for (key, value) in mapping {
        let Yaml::String(name) = key else {
            return Err(file_error(format!(
                "rule names must be strings, found {}",
                kind(&key)
            )));
        };
        let Yaml::String(text) = value else {
            return Err(file_error(format!(
                "rule '{name}' must be a rule string, found {}",
                kind(&value)
            )));
        };
        rules.push((name, text));
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::Path;

    use serde_json::json;

    use super::super::{Credentials, Policy, PolicyError, Target};

    fn load(yaml: &str) -> Result<Policy, PolicyError> {
        Policy::from_yaml_str("overrides.yaml", yaml)
    }

    fn file_with(contents: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(contents.as_bytes()).expect("write");
        file
    }

    #[test]
    fn an_override_from_a_file_takes_effect() {
        let file = file_with("get_trunk: '@'\n");
        let policy = Policy::from_yaml_file(file.path()).expect("loads");
        let stranger = Credentials::default();
        let theirs: Target = json!({"project_id": "p9"})
            .as_object()
            .cloned()
            .expect("object");
        assert!(policy.enforce("get_trunk", &theirs, &stranger));
        assert!(!Policy::defaults().enforce("get_trunk", &theirs, &stranger));
        assert!(
            !policy.enforce("update_trunk", &theirs, &stranger),
            "others keep their defaults"
        );
    }

    #[test]
    fn overrides_may_add_rules_and_refer_to_defaults() {
        let policy = load("custom: rule:admin_only or role:auditor\nget_trunk: rule:custom\n")
            .expect("loads");
        assert!(policy.has_rule("custom"));
        let auditor = Credentials::new(None, Some("p2".into()), ["auditor"]);
        let theirs: Target = json!({"project_id": "p1"})
            .as_object()
            .cloned()
            .expect("object");
        assert!(policy.enforce("get_trunk", &theirs, &auditor));
        assert!(!policy.enforce("get_subports", &theirs, &auditor));
    }

    #[test]
    fn empty_files_mean_defaults() {
        for yaml in ["", "# nothing\n", "{}\n"] {
            let policy = load(yaml).unwrap_or_else(|e| panic!("{yaml:?}: {e}"));
            assert!(policy.has_rule("get_trunk"));
        }
    }

    #[test]
    fn a_syntax_error_fails_naming_the_rule_and_the_file() {
        let file = file_with("get_port: '@'\nget_trunk: 'role:admin and ('\n");
        match Policy::from_yaml_file(file.path()) {
            Err(PolicyError::Parse { rule, message }) => {
                assert_eq!(rule, "get_trunk");
                let path = file.path().display().to_string();
                assert!(message.contains(&path), "{message}");
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn a_reference_to_an_unknown_rule_fails() {
        match load("get_trunk: rule:admin_only or rule:nowhere\n") {
            Err(PolicyError::UnknownRule { rule, referenced }) => {
                assert_eq!(
                    (rule.as_str(), referenced.as_str()),
                    ("get_trunk", "nowhere")
                );
            }
            other => panic!("expected an unknown-rule error, got {other:?}"),
        }
    }

    #[test]
    fn cycles_fail() {
        match load("a: rule:b\nb: rule:a\n") {
            Err(PolicyError::Cycle { rule }) => assert!(rule == "a" || rule == "b", "{rule}"),
            other => panic!("expected a cycle, got {other:?}"),
        }
        match load("self: role:x or rule:self\n") {
            Err(PolicyError::Cycle { rule }) => assert_eq!(rule, "self"),
            other => panic!("expected a cycle, got {other:?}"),
        }
        // A cycle through an overridden default.
        match load("context_is_admin: role:admin or rule:admin_only\n") {
            Err(PolicyError::Cycle { rule }) => {
                assert!(rule == "context_is_admin" || rule == "admin_only", "{rule}")
            }
            other => panic!("expected a cycle, got {other:?}"),
        }
        // Diamonds are not cycles.
        load("top: rule:l and rule:r\nl: rule:base\nr: rule:base\nbase: '@'\n").expect("diamond");
    }

    #[test]
    fn non_string_values_fail_naming_the_rule() {
        for yaml in [
            "get_trunk: 5\n",
            "get_trunk:\n",
            "get_trunk: [role:admin]\n",
            "get_trunk: true\n",
        ] {
            match load(yaml) {
                Err(error @ PolicyError::File { .. }) => {
                    let text = error.to_string();
                    assert!(text.contains("get_trunk"), "{yaml:?}: {text}");
                    assert!(text.contains("overrides.yaml"), "{yaml:?}: {text}");
                }
                other => panic!("{yaml:?}: expected a file error, got {other:?}"),
            }
        }
    }

    #[test]
    fn files_that_are_not_rule_mappings_fail() {
        for yaml in [
            "- a\n- b\n",
            "just text\n",
            "get_trunk: [unclosed\n",
            "5: role:a\n",
        ] {
            match load(yaml) {
                Err(PolicyError::File { path, .. }) => assert_eq!(path, "overrides.yaml"),
                other => panic!("{yaml:?}: expected a file error, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_missing_file_fails_naming_the_path() {
        let dir = tempfile::tempdir().expect("dir");
        let missing = dir.path().join("policy.yaml");
        match Policy::from_yaml_file(&missing) {
            Err(error @ PolicyError::File { .. }) => {
                assert!(
                    error.to_string().contains(&missing.display().to_string()),
                    "{error}"
                );
            }
            other => panic!("expected a file error, got {other:?}"),
        }
        assert!(Policy::from_yaml_file(Path::new("/nonexistent/policy.yaml")).is_err());
    }
}
