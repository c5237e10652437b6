//! Pins what the request-body parsers answer, message for message, on a corpus of valid and
//! invalid bodies: the accepted request (as its `Debug` text) or the error's field and message.
//! The expected answers in `testdata/body_golden.txt` were recorded from the hand-written parsers
//! that the typed wire structs replaced, so the switch provably kept every message and its
//! precedence. To re-record after an intended change: `TRUNKD_UPDATE_GOLDEN=1 cargo test --lib
//! body_golden` and review the diff.

use serde_json::{json, Map, Value};

use super::body::{parse_create, unwrap_body, Wrapped};
use super::error::ApiError;
use super::{networks, ports, trunks};
use crate::service::ServiceError;

const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/api/testdata/body_golden.txt"
);

fn outcome<T: std::fmt::Debug>(result: Result<T, ApiError>) -> String {
    match result {
        Ok(value) => format!("ok {value:?}"),
        Err(ApiError::Service(ServiceError::BadRequest { field, message })) => {
            format!("400 {field:?} {message}")
        }
        Err(other) => format!("other {other}"),
    }
}

fn update<T: std::fmt::Debug>(
    body: Value,
    singular: &str,
    parse: fn(Map<String, Value>) -> Result<T, ApiError>,
) -> String {
    outcome(
        unwrap_body(body, singular, None).and_then(|wrapped| match wrapped {
            Wrapped::One(map) => parse(map),
            Wrapped::Many(_) => Err(ApiError::bad_request(singular, "bulk")),
        }),
    )
}

/// Each resource's attributes a body may hold (or wrongly hold), and an unknown one.
const NETWORK: &[&str] = &[
    "id",
    "name",
    "description",
    "project_id",
    "tenant_id",
    "admin_state_up",
    "status",
    "shared",
    "mtu",
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
    "port_security_enabled",
    "revision_number",
    "created_at",
    "updated_at",
    "subnets",
    "router:external",
    "tags",
    "colour",
];
const PORT: &[&str] = &[
    "id",
    "name",
    "description",
    "project_id",
    "tenant_id",
    "network_id",
    "mac_address",
    "admin_state_up",
    "status",
    "device_id",
    "device_owner",
    "fixed_ips",
    "binding:host_id",
    "binding:vif_type",
    "binding:vnic_type",
    "binding:profile",
    "binding:vif_details",
    "port_security_enabled",
    "trunk_details",
    "revision_number",
    "created_at",
    "updated_at",
    "tags",
    "colour",
];
const TRUNK: &[&str] = &[
    "id",
    "name",
    "description",
    "project_id",
    "tenant_id",
    "port_id",
    "admin_state_up",
    "status",
    "sub_ports",
    "revision_number",
    "created_at",
    "updated_at",
    "tags",
    "colour",
];
const SUBPORT: &[&str] = &["port_id", "segmentation_type", "segmentation_id", "colour"];

const UUID: &str = "0f0e0d0c-0b0a-4909-8807-060504030201";

fn values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(false),
        json!(0),
        json!(7),
        json!(-3),
        json!(1.5),
        json!(1e300),
        json!(18446744073709551615u64),
        json!(""),
        json!("x"),
        json!("True"),
        json!("FALSE"),
        json!("1"),
        json!("0"),
        json!(" 12 "),
        json!("vlan"),
        json!("inherit"),
        json!(UUID),
        json!([]),
        json!(["a", "b"]),
        json!(["a", 1]),
        json!([{"ip_address": "10.0.0.1"}]),
        json!([{"ip_address": "10.0.0.1", "subnet_id": "s"}, {"subnet_id": 1}]),
        json!([{"ip_address": 5}]),
        json!([{"ip_address": "10.0.0.1", "colour": 1, "age": 2}]),
        json!([7]),
        json!([{"port_id": UUID, "segmentation_type": "vlan", "segmentation_id": 5}]),
        json!([{"port_id": UUID, "segmentation_type": "vlan", "segmentation_id": "auto"}]),
        json!([{"port_id": UUID, "segmentation_type": "vlan", "segmentation_id": "Auto"}]),
        json!([{"port_id": UUID}, {"port_id": "nope"}]),
        json!({}),
        json!({"a": 1}),
    ]
}

/// Every resource body: each attribute alone with each value, and every pair of attributes
/// with a value wrong for (nearly) all of them, or a plausible one.
fn bodies(names: &[&str]) -> Vec<Map<String, Value>> {
    let mut out = vec![Map::new()];
    for name in names {
        for value in values() {
            let mut map = Map::new();
            map.insert((*name).into(), value);
            out.push(map);
        }
    }
    for first in names {
        for second in names {
            if first >= second {
                continue;
            }
            for value in [json!(1.5), json!("x")] {
                let mut map = Map::new();
                map.insert((*first).into(), value.clone());
                map.insert((*second).into(), value);
                out.push(map);
            }
        }
    }
    out
}

fn corpus() -> Vec<String> {
    let mut lines = Vec::new();
    let mut record = |input: &Value, what: &str, answer: String| {
        lines.push(format!("{what} {input} => {answer}"));
    };
    for body in bodies(NETWORK) {
        let one = json!({"network": body});
        record(
            &one,
            "network-create",
            outcome(parse_create(
                one.clone(),
                "network",
                "networks",
                networks::parse_create_body,
            )),
        );
        record(
            &one,
            "network-update",
            update(one.clone(), "network", networks::parse_update),
        );
    }
    for body in bodies(PORT) {
        let one = json!({"port": body});
        record(
            &one,
            "port-create",
            outcome(parse_create(
                one.clone(),
                "port",
                "ports",
                ports::parse_create_body,
            )),
        );
        record(
            &one,
            "port-update",
            update(one.clone(), "port", ports::parse_update),
        );
    }
    for body in bodies(TRUNK) {
        let one = json!({"trunk": body});
        record(
            &one,
            "trunk-create",
            outcome(parse_create(
                one.clone(),
                "trunk",
                "trunks",
                trunks::parse_create_body,
            )),
        );
        record(
            &one,
            "trunk-update",
            update(one.clone(), "trunk", trunks::parse_update),
        );
    }
    let subport_bodies = bodies(SUBPORT);
    for entry in &subport_bodies {
        let body = json!({"sub_ports": [entry]});
        record(&body, "subports", subports(body.clone()));
    }
    // Envelopes and the lists around the entries.
    let envelopes = [
        json!(null),
        json!([]),
        json!({}),
        json!({"network": 1}),
        json!({"network": null}),
        json!({"network": {}, "x": 1}),
        json!({"networks": []}),
        json!({"networks": {}}),
        json!({"networks": [1]}),
        json!({"networks": [{}, {"mtu": "x"}]}),
        json!({"networks": [{}], "network": {}}),
        json!({"networks": [{}], "b": 1, "a": 2}),
        json!({"sub_ports": null}),
        json!({"sub_ports": 1}),
        json!({"sub_ports": [1, 2]}),
        json!({"sub_ports": [], "x": 1}),
        json!({"x": 1}),
        json!("text"),
        json!({"trunk": {"sub_ports": [{"port_id": UUID}, 3]}}),
        json!({"trunk": {"sub_ports": {"port_id": UUID}}}),
        json!({"trunk": {"sub_ports": null}}),
        json!({"trunk": {"sub_ports": [{"port_id": UUID, "b": 1, "a": 2}], "tags": 1}}),
        json!({"port": {"fixed_ips": [1], "name": 2}}),
        json!({"port": {"fixed_ips": [{"ip_address": "1.1.1.1", "b": 1, "a": 2}]}}),
        json!({"port": {"fixed_ips": [{}, {"ip_address": 1}]}}),
        json!({"port": {"binding:profile": {"a": [1, {"b": null}]}}}),
        json!({"network": {"provider:network_type": "vxlan", "provider:segmentation_id": "77"}}),
        json!({"network": {"project_id": "a", "tenant_id": "b"}}),
        json!({"network": {"project_id": "a", "tenant_id": "a"}}),
        json!({"network": {"tenant_id": "b"}}),
    ];
    for body in envelopes {
        record(
            &body,
            "network-create",
            outcome(parse_create(
                body.clone(),
                "network",
                "networks",
                networks::parse_create_body,
            )),
        );
        record(
            &body,
            "port-create",
            outcome(parse_create(
                body.clone(),
                "port",
                "ports",
                ports::parse_create_body,
            )),
        );
        record(
            &body,
            "trunk-create",
            outcome(parse_create(
                body.clone(),
                "trunk",
                "trunks",
                trunks::parse_create_body,
            )),
        );
        record(
            &body,
            "network-update",
            update(body.clone(), "network", networks::parse_update),
        );
        record(&body, "subports", subports(body.clone()));
    }
    lines
}

fn subports(body: Value) -> String {
    outcome(trunks::subports_body(body).and_then(trunks::parse_subports))
}

#[test]
fn request_bodies_answer_as_recorded() {
    let lines = corpus();
    let actual = lines.join("\n") + "\n";
    if std::env::var("TRUNKD_UPDATE_GOLDEN").is_ok() {
        std::fs::write(GOLDEN, &actual).expect("write the golden file");
    }
    let expected = std::fs::read_to_string(GOLDEN).unwrap_or_default();
    let mut differences = 0;
    for (got, want) in actual.lines().zip(expected.lines()) {
        if got != want {
            differences += 1;
            if differences <= 20 {
                eprintln!("want: {want}\n got: {got}\n");
            }
        }
    }
    assert_eq!(
        actual.lines().count(),
        expected.lines().count(),
        "corpus size changed"
    );
    assert_eq!(
        differences, 0,
        "{differences} answers differ from the recording"
    );
}

/// Each attribute the table lets a create (or update) set is read by the body's type under
/// that name, those it marks read-only are refused by name, and those that are no input are
/// unrecognised: the table and the wire types agree.
#[test]
fn the_attribute_tables_match_the_request_types() {
    use crate::model::attrs::{Write, NETWORK_ATTRS, PORT_ATTRS, TRUNK_ATTRS};

    fn check<C: std::fmt::Debug, U: std::fmt::Debug>(
        singular: &str,
        table: &[crate::model::attrs::AttrSpec],
        create: fn(Map<String, Value>) -> Result<C, ApiError>,
        update: fn(Map<String, Value>) -> Result<U, ApiError>,
    ) {
        for spec in table {
            let mut map = Map::new();
            // 1.5 is a wrong value for an attribute of every kind.
            map.insert(spec.name.into(), json!(1.5));
            let post = outcome(create(map.clone()));
            let put = outcome(update(map));
            let named = format!("400 Some({:?})", spec.name);
            let refused =
                |verb: &str| format!("{named} Attribute '{}' not allowed in {verb}", spec.name);
            let unrecognised = format!("{named} Unrecognized attribute(s) '{}'", spec.name);
            let (want_post, want_put) = match spec.write {
                Write::Never => (Some(refused("POST")), Some(refused("PUT"))),
                Write::OnCreate => (None, Some(refused("PUT"))),
                Write::Always => (None, None),
                Write::NotAnInput => (Some(unrecognised.clone()), Some(unrecognised.clone())),
            };
            for (answer, want) in [(post, want_post), (put, want_put)] {
                match want {
                    Some(want) => assert_eq!(answer, want, "{singular} {}", spec.name),
                    None => assert!(
                        answer.starts_with(&named) && !answer.contains("Unrecognized"),
                        "{singular} {}: {answer}",
                        spec.name
                    ),
                }
            }
        }
    }

    check(
        "network",
        NETWORK_ATTRS,
        networks::parse_create_body,
        networks::parse_update,
    );
    check(
        "port",
        PORT_ATTRS,
        ports::parse_create_body,
        ports::parse_update,
    );
    check(
        "trunk",
        TRUNK_ATTRS,
        trunks::parse_create_body,
        trunks::parse_update,
    );
}
