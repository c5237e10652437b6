//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz): each runs, on arbitrary input,
//! one parser that sees untrusted text: request bodies, list query strings, and policy rules
//! (an operator's file, but a rule parser must not crash on anything). They return nothing;
//! the fuzzer looks for panics, hangs and runaway memory. Errors are the expected outcome.

use serde_json::Value;

use super::body::{parse_create, parse_json, unwrap_body, Wrapped};
use super::{list, networks, ports, trunks};
use crate::model::attrs::{NETWORK_ATTRS, PORT_ATTRS, TRUNK_ATTRS};
use crate::policy::{Action, Credentials, Policy, Target};

/// Every body parser of the API on `bytes`: JSON decoding, then each resource's create (single
/// and bulk) and update, and the subport lists of add/remove_subports.
pub fn request_body(bytes: &[u8]) {
    let Ok(value) = parse_json(bytes) else {
        return;
    };
    let _ = parse_create(
        value.clone(),
        "network",
        "networks",
        networks::parse_create_body,
    );
    let _ = parse_create(value.clone(), "port", "ports", ports::parse_create_body);
    let _ = parse_create(value.clone(), "trunk", "trunks", trunks::parse_create_body);
    for singular in ["network", "port", "trunk"] {
        if let Ok(Wrapped::One(map)) = unwrap_body(value.clone(), singular, None) {
            let _ = match singular {
                "network" => networks::parse_update(map).map(drop),
                "port" => ports::parse_update(map).map(drop),
                _ => trunks::parse_update(map).map(drop),
            };
        }
    }
    subports(value);
}

fn subports(value: Value) {
    if let Ok(items) = trunks::subports_body(value) {
        let _ = trunks::parse_subports(items);
    }
}

/// The list query parser (filters, fields, sorting, paging) on `query` for each collection.
pub fn list_query(query: &str) {
    for catalogue in [NETWORK_ATTRS, PORT_ATTRS, TRUNK_ATTRS] {
        let _ = list::parse(
            Some(query),
            catalogue,
            &crate::service::ListRules::default(),
        );
    }
}

/// The policy rule parser on `rule`; a rule that compiles is then evaluated, so references,
/// nesting and the evaluator see it too.
pub fn policy_rule(rule: &str) {
    let Ok(policy) = Policy::with_rule(Action::CreateTrunk.name(), rule) else {
        return;
    };
    let creds = Credentials::new(Some("u".into()), Some("p1".into()), ["member", "reader"]);
    let mut target = Target::new();
    target.insert("project_id".into(), Value::String("p1".into()));
    let _ = policy.allows(Action::CreateTrunk, &target, &creds);
}
