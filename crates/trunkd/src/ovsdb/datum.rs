//! OVSDB's JSON encoding of values (RFC 7047 5.1): sets as `["set", [...]]` or a bare atom,
//! maps as `["map", [[k, v], ...]]`, UUIDs as `["uuid", "..."]`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// The members of a set column (a bare atom is a set of one).
pub fn set_members(value: &Value) -> Vec<Value> {
    match value.as_array().map(Vec::as_slice) {
        Some([tag, Value::Array(members)]) if tag == "set" => members.clone(),
        _ => vec![value.clone()],
    }
}

/// The member of a set of at most one (`parent_name`, `tag`, `enabled`).
fn only_member(value: Option<&Value>) -> Option<Value> {
    value
        .map(set_members)
        .and_then(|members| members.into_iter().next())
}

pub fn optional_string(value: Option<&Value>) -> Option<String> {
    only_member(value).and_then(|member| member.as_str().map(str::to_string))
}

pub fn optional_i64(value: Option<&Value>) -> Option<i64> {
    only_member(value).and_then(|member| member.as_i64())
}

pub fn optional_bool(value: Option<&Value>) -> Option<bool> {
    only_member(value).and_then(|member| member.as_bool())
}

pub fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .map(set_members)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|member| member.as_str().map(str::to_string))
        .collect()
}

pub fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    let Some(Value::Array(parts)) = value else {
        return BTreeMap::new();
    };
    let [_, Value::Array(pairs)] = parts.as_slice() else {
        return BTreeMap::new();
    };
    pairs
        .iter()
        .filter_map(|pair| match pair.as_array().map(Vec::as_slice) {
            Some([Value::String(key), Value::String(value)]) => Some((key.clone(), value.clone())),
            _ => None,
        })
        .collect()
}

/// A row's `_uuid`.
pub fn row_uuid(row: &Value) -> Option<String> {
    match row.get("_uuid")?.as_array()?.as_slice() {
        [tag, Value::String(uuid)] if tag == "uuid" => Some(uuid.clone()),
        _ => None,
    }
}

pub fn set_of(members: impl IntoIterator<Item = Value>) -> Value {
    json!(["set", members.into_iter().collect::<Vec<_>>()])
}

pub fn optional<T: Into<Value>>(value: Option<T>) -> Value {
    set_of(value.map(Into::into))
}

pub fn map_of(map: &BTreeMap<String, String>) -> Value {
    json!([
        "map",
        map.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()
    ])
}

pub fn uuid(uuid: &str) -> Value {
    json!(["uuid", uuid])
}

pub fn named_uuid(name: &str) -> Value {
    json!(["named-uuid", name])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes() {
        let map: BTreeMap<String, String> =
            [("a".to_string(), "1".to_string())].into_iter().collect();
        assert_eq!(string_map(Some(&map_of(&map))), map);
        assert_eq!(optional_i64(Some(&optional(Some(7)))), Some(7));
        assert_eq!(optional_i64(Some(&optional::<i64>(None))), None);
        assert_eq!(optional_i64(Some(&json!(7))), Some(7));
        assert_eq!(optional_string(Some(&json!("p"))), Some("p".into()));
        assert_eq!(strings(Some(&json!(["set", ["x", "y"]]))), vec!["x", "y"]);
        assert_eq!(strings(Some(&json!("x"))), vec!["x"]);
        assert_eq!(
            row_uuid(&json!({"_uuid": ["uuid", "u-1"]})),
            Some("u-1".into())
        );
    }
}
