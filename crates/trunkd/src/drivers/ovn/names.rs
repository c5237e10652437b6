//! Where each Logical_Switch_Port is: a name-to-UUID index of the table, kept current by an
//! OVSDB monitor of the `name` column and by the results of trunkd's own inserts.
//!
//! Reading a port row by `name` makes ovsdb-server scan the table, so reading the 4,094
//! subports of one call by name costs 4,094 scans (measured: 0.85 s on a table of 4,096 rows,
//! growing with the table). By `_uuid` it is a hash lookup (4,096 rows in about 50 ms). The
//! index may lag the database for a moment; that is safe, because every write is guarded: a
//! row the index missed makes an insert hit the table's unique name index, a row it still
//! lists after deletion is simply not found, and either way the driver reads again.

use std::collections::HashMap;
use std::sync::RwLock;

use serde_json::Value;

#[derive(Debug, Default)]
struct State {
    /// Whether a snapshot has arrived since the connection came up.
    ready: bool,
    uuid_of: HashMap<String, String>,
}

#[derive(Debug, Default)]
pub struct NameIndex {
    state: RwLock<State>,
}

fn name_in(row: Option<&Value>) -> Option<&str> {
    row?.get("name")?.as_str()
}

impl NameIndex {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        // Every update leaves the map consistent, so a panic elsewhere cannot poison it
        // meaningfully.
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The UUID of the row named `name`; `None` when absent. `Err(())` until the first
    /// snapshot: the caller must then look the row up by name.
    pub fn lookup(&self, name: &str) -> Result<Option<String>, ()> {
        let state = self.read();
        if !state.ready {
            return Err(());
        }
        Ok(state.uuid_of.get(name).cloned())
    }

    /// Replaces the index with a monitor's snapshot (`table-updates` of the port table).
    pub fn reset(&self, table_updates: &Value) {
        let mut state = self.write();
        state.uuid_of.clear();
        state.ready = true;
        apply(&mut state, table_updates);
    }

    /// Applies a monitor update.
    pub fn update(&self, table_updates: &Value) {
        apply(&mut self.write(), table_updates);
    }

    /// Records a row trunkd just inserted (before the monitor reports it).
    pub fn inserted(&self, name: &str, uuid: &str) {
        self.write()
            .uuid_of
            .insert(name.to_string(), uuid.to_string());
    }
}

/// `table-updates`: {table: {uuid: {"old": row, "new": row}}}, with only the `name` column.
fn apply(state: &mut State, table_updates: &Value) {
    let Some(tables) = table_updates.as_object() else {
        return;
    };
    for rows in tables.values().filter_map(Value::as_object) {
        for (uuid, change) in rows {
            // A deleted or renamed row gives up its old name, unless another row holds it now.
            if let Some(old) = name_in(change.get("old")) {
                if state.uuid_of.get(old) == Some(uuid) {
                    state.uuid_of.remove(old);
                }
            }
            if let Some(new) = name_in(change.get("new")) {
                state.uuid_of.insert(new.to_string(), uuid.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn follows_inserts_renames_and_deletes() {
        let index = NameIndex::default();
        assert_eq!(index.lookup("a"), Err(()), "not ready before a snapshot");
        index.reset(&json!({"Logical_Switch_Port": {"u1": {"new": {"name": "a"}}}}));
        assert_eq!(index.lookup("a"), Ok(Some("u1".into())));
        index.update(&json!({"Logical_Switch_Port": {
            "u1": {"old": {"name": "a"}, "new": {"name": "b"}},
            "u2": {"new": {"name": "c"}}}}));
        assert_eq!(index.lookup("a"), Ok(None));
        assert_eq!(index.lookup("b"), Ok(Some("u1".into())));
        // trunkd recreated "c" under a new uuid before the old row's deletion is reported.
        index.inserted("c", "u3");
        index.update(&json!({"Logical_Switch_Port": {"u2": {"old": {"name": "c"}}}}));
        assert_eq!(index.lookup("c"), Ok(Some("u3".into())));
        // A new connection's snapshot replaces everything.
        index.reset(&json!({"Logical_Switch_Port": {"u9": {"new": {"name": "z"}}}}));
        assert_eq!(index.lookup("b"), Ok(None));
        assert_eq!(index.lookup("z"), Ok(Some("u9".into())));
    }
}
