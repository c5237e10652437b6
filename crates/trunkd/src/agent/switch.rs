//! Reads the local Open vSwitch database into a [`SwitchState`] and commits plans.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::wiring::{BridgeState, PortState, SwitchState};
use crate::ovsdb::{datum, Client, OvsdbError};

pub const DATABASE: &str = "Open_vSwitch";

fn rows(result: Option<&Value>) -> Vec<Value> {
    result
        .and_then(|r| r.get("rows"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn uuids(value: Option<&Value>) -> Vec<String> {
    value
        .map(datum::set_members)
        .unwrap_or_default()
        .iter()
        .filter_map(|member| match member.as_array().map(Vec::as_slice) {
            Some([tag, Value::String(uuid)]) if tag == "uuid" => Some(uuid.clone()),
            _ => None,
        })
        .collect()
}

/// Everything the planner looks at, read in one transaction.
pub async fn read(client: &Client) -> Result<SwitchState, OvsdbError> {
    let select = |table: &str, columns: Value| json!({"op": "select", "table": table, "where": [], "columns": columns});
    let results = client
        .transact(
            DATABASE,
            vec![
                select("Open_vSwitch", json!(["_uuid"])),
                select("Bridge", json!(["_uuid", "name", "ports", "external_ids"])),
                select(
                    "Port",
                    json!([
                        "_uuid",
                        "name",
                        "tag",
                        "trunks",
                        "interfaces",
                        "external_ids"
                    ]),
                ),
                select("Interface", json!(["_uuid", "type", "options"])),
            ],
        )
        .await?;
    let root_uuid = rows(results.first())
        .first()
        .and_then(datum::row_uuid)
        .ok_or_else(|| OvsdbError::Protocol("the Open_vSwitch table has no row".into()))?;
    let interfaces: HashMap<String, (String, Option<String>)> = rows(results.get(3))
        .iter()
        .filter_map(|row| {
            let uuid = datum::row_uuid(row)?;
            let kind = row
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let peer = datum::string_map(row.get("options")).remove("peer");
            Some((uuid, (kind, peer)))
        })
        .collect();
    let ports: HashMap<String, PortState> = rows(results.get(2))
        .iter()
        .filter_map(|row| {
            let uuid = datum::row_uuid(row)?;
            let interface = uuids(row.get("interfaces")).into_iter().next();
            let (interface_type, peer) = interface
                .and_then(|i| interfaces.get(&i).cloned())
                .unwrap_or_default();
            let mut trunks: Vec<i64> = row
                .get("trunks")
                .map(datum::set_members)
                .unwrap_or_default()
                .iter()
                .filter_map(Value::as_i64)
                .collect();
            trunks.sort_unstable();
            Some((
                uuid.clone(),
                PortState {
                    uuid,
                    name: row.get("name").and_then(Value::as_str).unwrap_or("").into(),
                    tag: datum::optional_i64(row.get("tag")),
                    trunks,
                    interface_type,
                    peer,
                    external_ids: datum::string_map(row.get("external_ids")),
                },
            ))
        })
        .collect();
    let bridges = rows(results.get(1))
        .iter()
        .filter_map(|row| {
            Some(BridgeState {
                uuid: datum::row_uuid(row)?,
                name: row.get("name").and_then(Value::as_str).unwrap_or("").into(),
                ports: uuids(row.get("ports"))
                    .iter()
                    .filter_map(|u| ports.get(u).cloned())
                    .collect(),
                external_ids: datum::string_map(row.get("external_ids")),
            })
        })
        .collect();
    Ok(SwitchState { root_uuid, bridges })
}
