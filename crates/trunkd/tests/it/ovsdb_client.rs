//! The OVSDB client against a real `ovsdb-server` holding the OVN northbound schema:
//! transactions and their errors, monitors, echo, and reconnection after the server restarts.

use crate::nbdb;

use std::time::Duration;

use nbdb::NbDatabase;
use serde_json::json;
use trunkd::ovsdb::{Client, MonitorEvent, OvsdbError, Remote, Timing};

const NB: &str = "OVN_Northbound";

fn client_for(database: &NbDatabase) -> Client {
    let remote: Remote = database.connection().parse().expect("remote");
    Client::start(
        remote,
        Timing {
            reconnect_max: Duration::from_millis(200),
            ..Timing::default()
        },
    )
}

fn insert_switch(name: &str) -> serde_json::Value {
    json!({"op": "insert", "table": "Logical_Switch", "row": {"name": name}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transact_echo_and_list_dbs() {
    let Some(database) = NbDatabase::start("transact_echo_and_list_dbs") else {
        return;
    };
    let client = client_for(&database);
    client
        .connection(Duration::from_secs(5))
        .await
        .expect("connects");
    client.echo().await.expect("echo");
    assert!(client
        .list_dbs()
        .await
        .expect("list_dbs")
        .contains(&NB.to_string()));

    let results = client
        .transact(NB, vec![insert_switch("sw0"), insert_switch("sw1")])
        .await
        .expect("insert");
    assert_eq!(results.len(), 2);
    assert!(results[0]["uuid"][1].is_string(), "{results:?}");
    assert_eq!(database.names("Logical_Switch"), vec!["sw0", "sw1"]);

    // A failing operation aborts the whole transaction and is named in the error.
    let failed = client
        .transact(
            NB,
            vec![
                insert_switch("sw2"),
                json!({"op": "insert", "table": "No_Such_Table", "row": {}}),
            ],
        )
        .await
        .expect_err("unknown table");
    assert!(
        matches!(
            failed,
            OvsdbError::Transaction {
                operation: Some(1),
                ..
            }
        ),
        "{failed:?}"
    );
    assert_eq!(database.names("Logical_Switch"), vec!["sw0", "sw1"]);

    // A `wait` that does not hold fails at once as a conflict.
    let conflict = client
        .transact(
            NB,
            vec![
                json!({"op": "wait", "table": "Logical_Switch", "timeout": 0,
                "where": [["name", "==", "sw0"]], "columns": ["name"], "until": "==", "rows": []}),
            ],
        )
        .await
        .expect_err("sw0 exists");
    assert!(conflict.is_conflict(), "{conflict:?}");
}

async fn next(events: &mut tokio::sync::mpsc::UnboundedReceiver<MonitorEvent>) -> MonitorEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("a monitor event in time")
        .expect("monitor channel open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_sees_snapshot_then_changes_and_survives_a_restart() {
    let Some(mut database) = NbDatabase::start("monitor_sees_snapshot") else {
        return;
    };
    database.nbctl(&["ls-add", "before"]);
    let client = client_for(&database);
    let mut events = client
        .monitor(NB, json!({"Logical_Switch": {"columns": ["name"]}}))
        .await;
    let MonitorEvent::Snapshot(initial) = next(&mut events).await else {
        panic!("first event must be the snapshot");
    };
    assert!(initial.to_string().contains("\"before\""), "{initial}");

    database.nbctl(&["ls-add", "after"]);
    let MonitorEvent::Update(update) = next(&mut events).await else {
        panic!("expected an update");
    };
    assert!(update.to_string().contains("\"after\""), "{update}");

    // The server goes away: calls fail fast and clearly, nothing hangs.
    database.down();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let error = client.echo().await.expect_err("server is down");
    assert!(
        matches!(
            error,
            OvsdbError::NotConnected(_) | OvsdbError::Disconnected
        ),
        "{error:?}"
    );

    // It comes back on the same file: the client reconnects and the monitor restarts with a
    // fresh snapshot holding both switches.
    database.up();
    let MonitorEvent::Snapshot(again) = next(&mut events).await else {
        panic!("expected a new snapshot after reconnecting");
    };
    let text = again.to_string();
    assert!(
        text.contains("\"before\"") && text.contains("\"after\""),
        "{text}"
    );
    client.echo().await.expect("echo after reconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_transaction_round_trips() {
    let Some(database) = NbDatabase::start("a_large_transaction_round_trips") else {
        return;
    };
    let client = client_for(&database);
    let ports: Vec<serde_json::Value> = (0..4094)
        .map(|i| {
            json!({"op": "insert", "table": "Logical_Switch_Port", "uuid-name": format!("p{i}"),
                   "row": {"name": format!("port-{i}"), "tag": (i % 4094) + 1,
                           "parent_name": "parent"}})
        })
        .collect();
    let refs: Vec<serde_json::Value> = (0..4094)
        .map(|i| json!(["named-uuid", format!("p{i}")]))
        .collect();
    let mut operations = vec![json!({"op": "insert", "table": "Logical_Switch",
        "row": {"name": "big", "ports": ["set", refs]}})];
    operations.extend(ports);
    operations.push(json!({"op": "comment", "comment": "one big transaction"}));
    let before = database.transactions().len();
    client.transact(NB, operations).await.expect("big insert");
    let after = database.transactions();
    assert_eq!(after.len(), before + 1, "{after:?}");
    assert!(after
        .last()
        .is_some_and(|l| l.contains("one big transaction")));
    assert_eq!(
        database.get("Logical_Switch_Port", "port-4093", "tag"),
        "4094"
    );
}
