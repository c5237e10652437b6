//! Validating and storing N subports takes the same number of SQL statements whatever N: the
//! server's statement log (at debug, each line inside its request's span) is counted for
//! one add_subports call of 3 subports and one of 2,000. The same log shows which requests
//! begin a transaction: a show runs its one statement outside any.

use crate::common;

use common::{vlan, Identity, Server};
use serde_json::{json, Value};

/// A server that logs every statement with its request id to `log_path` (the request span is
/// at info: enabled, so statements carry its id), with no port quota: the tests make
/// thousands of ports in one project.
fn counting_server(log_path: &std::path::Path) -> Server {
    Server::start_traced(
        &["--port-quota", "-1"],
        log_path,
        &format!(
            "warn,trunkd::api::request_id=info,{}",
            common::STATEMENTS_AT_DEBUG
        ),
    )
}

/// Statements the server logged inside the request whose id is `request_id`.
fn statements_of(log: &str, request_id: &str) -> usize {
    statement_lines(log, request_id).len()
}

/// The statement lines of one request, in order.
fn statement_lines<'l>(log: &'l str, request_id: &str) -> Vec<&'l str> {
    log.lines()
        .filter(|line| line.contains(request_id) && common::is_statement_line(line))
        .collect()
}

fn on_postgres(server: &Server) -> bool {
    matches!(
        server.database_location(),
        common::DatabaseLocation::Postgres(_)
    )
}

#[tokio::test]
async fn add_subports_runs_the_same_statements_for_3_and_2000() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("server.log");
    let server = counting_server(&log_path);
    let client = server.as_(Identity::member("counting"));
    let network = client.network(json!({})).await;
    let ports = client.ports(&network, 2 + 3 + 2_000).await;
    let small_trunk = client.trunk(&ports[0], json!([])).await;
    let big_trunk = client.trunk(&ports[1], json!([])).await;

    let mut request_ids = Vec::new();
    for (trunk, members, first_vlan) in [
        (&small_trunk, &ports[2..5], 1),
        (&big_trunk, &ports[5..], 1),
    ] {
        let subports: Vec<Value> = members
            .iter()
            .enumerate()
            .map(|(i, port)| vlan(port, first_vlan + i as i64))
            .collect();
        let reply = client
            .put(
                &format!("/v2.0/trunks/{trunk}/add_subports"),
                json!({ "sub_ports": subports }),
            )
            .await;
        let id = request_id_of(&reply);
        let body = reply.expect(200);
        assert_eq!(
            body["sub_ports"].as_array().map(Vec::len),
            Some(members.len())
        );
        request_ids.push(id);
    }
    drop(server); // flushes nothing more into the log
    let log = std::fs::read_to_string(&log_path).expect("server log");
    let small = statements_of(&log, &request_ids[0]);
    let big = statements_of(&log, &request_ids[1]);
    assert!(
        small > 3,
        "the statement log was not captured: {small} lines"
    );
    assert_eq!(
        small, big,
        "3 subports took {small} statements, 2,000 took {big}"
    );
}

/// The request id of a reply.
fn request_id_of(reply: &common::Reply) -> String {
    reply
        .headers
        .get("x-openstack-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("request id header")
        .to_string()
}

/// Creating a port that gets an address (issue 18, item 2) runs the same statements on an
/// empty subnet, on one with 2,000 addresses taken, and when the free addresses are 1,000
/// one-address holes: nothing walks the addresses in use.
#[tokio::test]
async fn a_port_address_costs_the_same_statements_however_full_the_subnet() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("server.log");
    let server = counting_server(&log_path);
    let client = server.as_(Identity::member("counting"));
    let network = client.network(json!({})).await;
    client
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": network, "ip_version": 4, "cidr": "10.30.0.0/16"}}),
        )
        .await
        .expect(201);
    let create = || async {
        let reply = client
            .post("/v2.0/ports", json!({"port": {"network_id": network}}))
            .await;
        let id = request_id_of(&reply);
        let body = reply.expect(201);
        assert_eq!(body["port"]["fixed_ips"].as_array().map(Vec::len), Some(1));
        id
    };
    let mut request_ids = vec![create().await];
    let filler = client.ports(&network, 2_000).await;
    request_ids.push(create().await);
    for port in filler.iter().step_by(2) {
        client
            .delete(&format!("/v2.0/ports/{port}"))
            .await
            .expect(204);
    }
    request_ids.push(create().await);
    drop(server);
    let log = std::fs::read_to_string(&log_path).expect("server log");
    let counts: Vec<usize> = request_ids
        .iter()
        .map(|id| statements_of(&log, id))
        .collect();
    assert!(
        counts[0] > 3,
        "the statement log was not captured: {counts:?}"
    );
    assert!(
        counts.iter().all(|c| *c == counts[0]),
        "empty, 2,000 taken, 1,000 holes: {counts:?} statements"
    );
}

/// Lines of the request `request_id` that contain `what`.
fn lines_of(log: &str, request_id: &str, what: &str) -> usize {
    log.lines()
        .filter(|line| line.contains(request_id) && line.contains(what))
        .count()
}

/// A trunk show is one statement outside any transaction (on PostgreSQL a BEGIN and a
/// ROLLBACK fewer round trips), and a create with subports begins its write transaction and
/// nothing else: the memberships it reads first are one statement outside a transaction too.
/// A create without subports does not read its parent's network either.
#[tokio::test]
async fn a_show_and_the_read_before_a_create_begin_no_transaction() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("server.log");
    let server = Server::start_traced(
        &[],
        &log_path,
        &format!(
            "warn,trunkd::api::request_id=info,trunkd::store::sql=debug,{}",
            common::STATEMENTS_AT_DEBUG
        ),
    );
    let client = server.as_(Identity::member("counting"));
    let network = client.network(json!({})).await;
    let ports = client.ports(&network, 3).await;
    let reply = client
        .post(
            "/v2.0/trunks",
            json!({"trunk": {"port_id": ports[0], "sub_ports": [vlan(&ports[1], 7)]}}),
        )
        .await;
    let create = request_id_of(&reply);
    let trunk = reply.expect(201)["trunk"]["id"]
        .as_str()
        .expect("trunk id")
        .to_string();
    let reply = client
        .post("/v2.0/trunks", json!({"trunk": {"port_id": ports[2]}}))
        .await;
    let bare = request_id_of(&reply);
    reply.expect(201);
    let reply = client.get(&format!("/v2.0/trunks/{trunk}")).await;
    let show = request_id_of(&reply);
    assert_eq!(
        reply.expect(200)["trunk"]["sub_ports"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    drop(server);
    let log = std::fs::read_to_string(&log_path).expect("server log");
    let began = |request: &str, kind: &str| lines_of(&log, request, &format!("began a {kind}"));
    assert_eq!(
        began(&create, "write transaction"),
        1,
        "the statement log was not captured"
    );
    assert_eq!(began(&create, "read transaction"), 0, "create");
    assert_eq!(began(&show, "read transaction"), 0, "show");
    assert_eq!(statements_of(&log, &show), 1, "show");
    // A trunk without subports compares no MTUs: its parent's network is not read.
    assert_eq!(
        lines_of(&log, &create, "FROM networks"),
        1,
        "with a subport"
    );
    assert_eq!(
        lines_of(&log, &bare, "FROM networks"),
        0,
        "without subports"
    );
}

/// A write's audit row and outbox event wait for its commit and go in together: on PostgreSQL
/// one statement (a round trip less in a write slot), on SQLite, which has no data-modifying
/// `WITH`, one per table. Both come after every other statement of the write but the commit.
#[tokio::test]
async fn a_writes_audit_row_and_event_are_inserted_together_at_its_commit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("server.log");
    let server = counting_server(&log_path);
    let on_postgres = on_postgres(&server);
    let client = server.as_(Identity::member("counting"));
    let network = client.network(json!({})).await;
    let ports = client.ports(&network, 1).await;
    let trunk = client.trunk(&ports[0], json!([])).await;
    let reply = client
        .put(
            &format!("/v2.0/trunks/{trunk}"),
            json!({"trunk": {"name": "renamed"}}),
        )
        .await;
    let rename = request_id_of(&reply);
    reply.expect(200);
    drop(server);
    let log = std::fs::read_to_string(&log_path).expect("server log");
    let statements = statement_lines(&log, &rename);
    let inserting = |table: &str| {
        statements
            .iter()
            .position(|line| line.contains(&format!("INSERT INTO {table}")))
            .unwrap_or_else(|| panic!("no insert into {table} in {statements:#?}"))
    };
    let (audit, outbox) = (inserting("trunk_audit"), inserting("outbox"));
    let last_before_commit = statements
        .iter()
        .rposition(|line| !line.contains("COMMIT") && !line.contains("RELEASE"))
        .expect("statements");
    if on_postgres {
        assert_eq!(audit, outbox, "one statement: {statements:#?}");
    } else {
        assert_eq!(outbox, audit + 1, "one after the other: {statements:#?}");
    }
    assert_eq!(outbox, last_before_commit, "{statements:#?}");
}

/// A create writes the trunk and its parent's membership in one statement on PostgreSQL (a
/// round trip less in a write slot; SQLite, without data-modifying `WITH`, in two), and numbers
/// a new trunk's subports from the start without reading the members' last position.
#[tokio::test]
async fn a_create_inserts_its_trunk_and_parent_together_and_reads_no_position() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("server.log");
    let server = counting_server(&log_path);
    let on_postgres = on_postgres(&server);
    let client = server.as_(Identity::member("counting"));
    let network = client.network(json!({})).await;
    let ports = client.ports(&network, 3).await;
    let reply = client
        .post(
            "/v2.0/trunks",
            json!({"trunk": {"port_id": ports[0], "sub_ports": [vlan(&ports[1], 7), vlan(&ports[2], 8)]}}),
        )
        .await;
    let create = request_id_of(&reply);
    let body = reply.expect(201);
    let vlans: Vec<i64> = body["trunk"]["sub_ports"]
        .as_array()
        .expect("sub_ports")
        .iter()
        .map(|s| s["segmentation_id"].as_i64().expect("segmentation_id"))
        .collect();
    assert_eq!(vlans, [7, 8], "subports in the order given");
    let trunk = body["trunk"]["id"].as_str().expect("id").to_string();
    let shown = client
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200);
    assert_eq!(shown["trunk"]["sub_ports"], body["trunk"]["sub_ports"]);
    drop(server);
    let log = std::fs::read_to_string(&log_path).expect("server log");
    let statements = statement_lines(&log, &create);
    let trunk_inserts: Vec<&&str> = statements
        .iter()
        .filter(|line| line.contains("INSERT INTO trunks"))
        .collect();
    assert_eq!(trunk_inserts.len(), 1, "{statements:#?}");
    let parent_rows = statements
        .iter()
        .filter(|line| line.contains("INSERT INTO trunk_members") && line.contains("'parent'"))
        .count();
    assert_eq!(parent_rows, 1, "{statements:#?}");
    assert_eq!(
        trunk_inserts[0].contains("INSERT INTO trunk_members"),
        on_postgres,
        "the parent's membership with the trunk on PostgreSQL only: {statements:#?}"
    );
    assert!(
        !statements.iter().any(|line| line.contains("MAX(position)")),
        "a new trunk's last position was read: {statements:#?}"
    );
}
