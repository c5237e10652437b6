//! The `port-security` extension: `port_security_enabled` on networks (default true) and on
//! ports (the network's value unless the create gives one), settable on create and update,
//! shown, filterable, refused with a 400 naming it when not a boolean, and announced in
//! extension discovery. Also: rows written before schema version 3 read as enabled.

use crate::common;

use common::{Identity, Server};
use serde_json::{json, Value};

async fn network_flag(client: &common::Client, id: &str) -> Value {
    client
        .get(&format!("/v2.0/networks/{id}"))
        .await
        .expect(200)["network"]["port_security_enabled"]
        .clone()
}

async fn port_flag(client: &common::Client, id: &str) -> Value {
    client.get(&format!("/v2.0/ports/{id}")).await.expect(200)["port"]["port_security_enabled"]
        .clone()
}

fn ids(body: &Value, collection: &str) -> Vec<String> {
    let mut ids: Vec<String> = body[collection]
        .as_array()
        .unwrap_or_else(|| panic!("no {collection} in {body}"))
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_string())
        .collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[tokio::test]
async fn networks_default_to_enabled_and_can_be_created_disabled() {
    let server = Server::start();
    let client = server.admin();
    let created = client
        .post("/v2.0/networks", json!({"network": {"name": "plain"}}))
        .await
        .expect(201);
    assert_eq!(
        created["network"]["port_security_enabled"],
        json!(true),
        "{created}"
    );
    let plain = created["network"]["id"].as_str().expect("id").to_string();
    assert_eq!(network_flag(&client, &plain).await, json!(true));

    let created = client
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "open", "port_security_enabled": false}}),
        )
        .await
        .expect(201);
    assert_eq!(
        created["network"]["port_security_enabled"],
        json!(false),
        "{created}"
    );
    let open = created["network"]["id"].as_str().expect("id").to_string();
    assert_eq!(network_flag(&client, &open).await, json!(false));

    // A member creates one of its own, and `fields` selects the attribute like any other.
    let member = server.as_(Identity::member("p1"));
    let own = member
        .network(json!({"port_security_enabled": "False"}))
        .await;
    let shown = member
        .get(&format!(
            "/v2.0/networks/{own}?fields=id&fields=port_security_enabled"
        ))
        .await
        .expect(200);
    assert_eq!(
        shown["network"],
        json!({"id": own, "port_security_enabled": false})
    );
}

#[tokio::test]
async fn ports_inherit_their_networks_value_unless_they_give_one() {
    let server = Server::start();
    let client = server.admin();
    let open = client
        .network(json!({"port_security_enabled": false}))
        .await;
    let guarded = client.network(json!({})).await;

    let created = client
        .post("/v2.0/ports", json!({"port": {"network_id": open}}))
        .await
        .expect(201);
    assert_eq!(
        created["port"]["port_security_enabled"],
        json!(false),
        "a port on a network without port security inherits false: {created}"
    );
    let inherited = created["port"]["id"].as_str().expect("id").to_string();
    assert_eq!(port_flag(&client, &inherited).await, json!(false));

    let overridden = client
        .port(&open, json!({"port_security_enabled": true}))
        .await;
    assert_eq!(port_flag(&client, &overridden).await, json!(true));

    let defaulted = client.port(&guarded, json!({})).await;
    assert_eq!(port_flag(&client, &defaulted).await, json!(true));
    let disabled = client
        .port(&guarded, json!({"port_security_enabled": false}))
        .await;
    assert_eq!(port_flag(&client, &disabled).await, json!(false));

    // A bulk create takes each port's own network's value.
    let bulk = client
        .post(
            "/v2.0/ports",
            json!({"ports": [{"network_id": open}, {"network_id": guarded}]}),
        )
        .await
        .expect(201);
    let flags: Vec<&Value> = bulk["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| &p["port_security_enabled"])
        .collect();
    assert_eq!(flags, [&json!(false), &json!(true)], "{bulk}");
}

#[tokio::test]
async fn updates_flip_the_value_and_bump_the_revision() {
    let server = Server::start();
    let client = server.admin();
    let net = client.network(json!({})).await;
    let port = client.port(&net, json!({})).await;

    let before = client.get(&format!("/v2.0/ports/{port}")).await.expect(200)["port"].clone();
    let updated = client
        .put(
            &format!("/v2.0/ports/{port}"),
            json!({"port": {"port_security_enabled": false}}),
        )
        .await
        .expect(200);
    assert_eq!(updated["port"]["port_security_enabled"], json!(false));
    assert_eq!(
        updated["port"]["revision_number"],
        json!(before["revision_number"].as_i64().expect("revision") + 1),
        "{updated}"
    );
    assert_eq!(port_flag(&client, &port).await, json!(false));
    let back = client
        .put(
            &format!("/v2.0/ports/{port}"),
            json!({"port": {"port_security_enabled": "true"}}),
        )
        .await
        .expect(200);
    assert_eq!(back["port"]["port_security_enabled"], json!(true));
    assert_eq!(port_flag(&client, &port).await, json!(true));

    let before = client
        .get(&format!("/v2.0/networks/{net}"))
        .await
        .expect(200)["network"]
        .clone();
    let updated = client
        .put(
            &format!("/v2.0/networks/{net}"),
            json!({"network": {"port_security_enabled": false}}),
        )
        .await
        .expect(200);
    assert_eq!(updated["network"]["port_security_enabled"], json!(false));
    assert_eq!(
        updated["network"]["revision_number"],
        json!(before["revision_number"].as_i64().expect("revision") + 1),
        "{updated}"
    );
    assert_eq!(network_flag(&client, &net).await, json!(false));
    // The network's value is a default for new ports: existing ports keep theirs.
    assert_eq!(port_flag(&client, &port).await, json!(true));
    let later = client.port(&net, json!({})).await;
    assert_eq!(port_flag(&client, &later).await, json!(false));
}

#[tokio::test]
async fn lists_filter_on_the_value() {
    let server = Server::start();
    let client = server.admin();
    let open = client
        .network(json!({"port_security_enabled": false}))
        .await;
    let guarded = client.network(json!({})).await;
    let open_ports = vec![
        client.port(&open, json!({})).await,
        client
            .port(&guarded, json!({"port_security_enabled": false}))
            .await,
    ];
    let guarded_ports = vec![
        client.port(&guarded, json!({})).await,
        client
            .port(&open, json!({"port_security_enabled": true}))
            .await,
    ];

    let listed = client
        .get("/v2.0/ports?port_security_enabled=False")
        .await
        .expect(200);
    assert_eq!(ids(&listed, "ports"), sorted(open_ports.clone()));
    assert!(
        listed["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .all(|p| p["port_security_enabled"] == json!(false)),
        "{listed}"
    );
    let listed = client
        .get("/v2.0/ports?port_security_enabled=true")
        .await
        .expect(200);
    assert_eq!(ids(&listed, "ports"), sorted(guarded_ports.clone()));
    // A repeated key is an OR.
    let listed = client
        .get("/v2.0/ports?port_security_enabled=true&port_security_enabled=false")
        .await
        .expect(200);
    assert_eq!(listed["ports"].as_array().expect("ports").len(), 4);

    let listed = client
        .get("/v2.0/networks?port_security_enabled=False")
        .await
        .expect(200);
    assert_eq!(ids(&listed, "networks"), vec![open.clone()]);
    let listed = client
        .get("/v2.0/networks?port_security_enabled=True")
        .await
        .expect(200);
    assert_eq!(ids(&listed, "networks"), vec![guarded.clone()]);
    // Sorting on it puts false first.
    let listed = client
        .get("/v2.0/networks?sort_key=port_security_enabled&sort_dir=asc")
        .await
        .expect(200);
    let order: Vec<&str> = listed["networks"]
        .as_array()
        .expect("networks")
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert_eq!(order, [open.as_str(), guarded.as_str()]);

    let refused = client
        .get("/v2.0/ports?port_security_enabled=maybe")
        .await
        .expect_error(400, "HTTPBadRequest");
    assert!(
        refused.message().contains("port_security_enabled"),
        "{}",
        refused.message()
    );
}

#[tokio::test]
async fn a_value_that_is_not_a_boolean_is_a_400_naming_it_and_changes_nothing() {
    let server = Server::start();
    let client = server.admin();
    let net = client.network(json!({})).await;
    let port = client.port(&net, json!({})).await;
    let networks_before = client.get("/v2.0/networks").await.expect(200);
    let ports_before = client.get("/v2.0/ports").await.expect(200);

    for bad in [
        json!("maybe"),
        json!(2),
        json!(null),
        json!([true]),
        json!({}),
    ] {
        let attempts = [
            (
                "POST /v2.0/networks",
                client
                    .post(
                        "/v2.0/networks",
                        json!({"network": {"name": "x", "port_security_enabled": bad}}),
                    )
                    .await,
            ),
            (
                "PUT network",
                client
                    .put(
                        &format!("/v2.0/networks/{net}"),
                        json!({"network": {"name": "renamed", "port_security_enabled": bad}}),
                    )
                    .await,
            ),
            (
                "POST /v2.0/ports",
                client
                    .post(
                        "/v2.0/ports",
                        json!({"port": {"network_id": net, "port_security_enabled": bad}}),
                    )
                    .await,
            ),
            (
                "bulk POST /v2.0/ports",
                client
                    .post(
                        "/v2.0/ports",
                        json!({"ports": [
                            {"network_id": net},
                            {"network_id": net, "port_security_enabled": bad},
                        ]}),
                    )
                    .await,
            ),
            (
                "PUT port",
                client
                    .put(
                        &format!("/v2.0/ports/{port}"),
                        json!({"port": {"name": "renamed", "port_security_enabled": bad}}),
                    )
                    .await,
            ),
        ];
        for (what, reply) in attempts {
            let reply = reply.expect_error(400, "HTTPBadRequest");
            assert!(
                reply.message().contains("port_security_enabled"),
                "{what} with {bad}: '{}' does not name port_security_enabled",
                reply.message()
            );
        }
    }
    assert_eq!(
        client.get("/v2.0/networks").await.expect(200),
        networks_before
    );
    assert_eq!(client.get("/v2.0/ports").await.expect(200), ports_before);
}

#[tokio::test]
async fn the_extension_is_announced() {
    let server = Server::start();
    let client = server.admin();
    let listed = client.get("/v2.0/extensions").await.expect(200);
    let aliases: Vec<&str> = listed["extensions"]
        .as_array()
        .expect("extensions")
        .iter()
        .filter_map(|e| e["alias"].as_str())
        .collect();
    assert!(aliases.contains(&"port-security"), "{aliases:?}");
    let shown = client
        .get("/v2.0/extensions/port-security")
        .await
        .expect(200);
    assert_eq!(shown["extension"]["alias"], "port-security");
    assert!(
        shown["extension"]["name"]
            .as_str()
            .is_some_and(|n| !n.is_empty()),
        "{shown}"
    );
}

/// Applies the migrations before `0003_port_security` to a fresh database, the way a trunkd
/// of schema version 2 would have, and writes a network and a port with that schema.
async fn populate_version_2(
    database: Option<&str>,
    data_dir: &std::path::Path,
) -> (String, String) {
    use sqlx::migrate::Migrator;
    use sqlx::Connection;

    let network = uuid::Uuid::new_v4().to_string();
    let port = uuid::Uuid::new_v4().to_string();
    let backend = if database.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let directory = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut migrator = Migrator::new(directory).await.expect("read the migrations");
    let before: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version < 3)
        .cloned()
        .collect();
    assert_eq!(before.len(), 2, "migrations 1 and 2");
    migrator.migrations = before.into();
    let insert_network = "INSERT INTO networks (id, project_id, name, description, \
         admin_state_up, status, shared, mtu, network_type, physical_network, segmentation_id, \
         revision_number, created_at, updated_at) VALUES ($1, 'admin-project', 'old', '', TRUE, \
         'ACTIVE', FALSE, 1450, 'vxlan', NULL, 77, 0, '2026-01-01T00:00:00Z', \
         '2026-01-01T00:00:00Z')";
    let insert_port = "INSERT INTO ports (id, project_id, network_id, name, description, \
         mac_address, admin_state_up, status, device_id, device_owner, fixed_ips, host_id, \
         vif_type, vnic_type, profile, revision_number, created_at, updated_at) VALUES ($1, \
         'admin-project', $2, 'old', '', 'fa:16:3e:00:00:01', TRUE, 'DOWN', '', '', '[]', '', \
         'unbound', 'normal', '{}', 0, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')";
    match database {
        Some(url) => {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
            migrator.run(&mut conn).await.expect("migrate to 2");
            sqlx::query(insert_network)
                .bind(&network)
                .execute(&mut conn)
                .await
                .expect("old network");
            sqlx::query(insert_port)
                .bind(&port)
                .bind(&network)
                .execute(&mut conn)
                .await
                .expect("old port");
            conn.close().await.expect("close");
        }
        None => {
            let path = data_dir.join("trunkd.db");
            let url = format!("sqlite://{}?mode=rwc", path.display());
            let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
            migrator.run(&mut conn).await.expect("migrate to 2");
            sqlx::query(insert_network)
                .bind(&network)
                .execute(&mut conn)
                .await
                .expect("old network");
            sqlx::query(insert_port)
                .bind(&port)
                .bind(&network)
                .execute(&mut conn)
                .await
                .expect("old port");
            conn.close().await.expect("close");
        }
    }
    (network, port)
}

#[tokio::test]
async fn rows_from_before_the_extension_read_as_enabled_after_migrate() {
    let kept = common::Kept {
        data_dir: tempfile::tempdir().expect("temp dir"),
        database: common::pgdb::TempDatabase::create(),
    };
    let url = kept.database.as_ref().map(|d| d.url.clone());
    let (network, port) = populate_version_2(url.as_deref(), kept.data_dir.path()).await;

    let mut migrate = common::trunkd();
    migrate
        .arg("migrate")
        .arg("--data-dir")
        .arg(kept.data_dir.path());
    if let Some(url) = &url {
        migrate.args(["--database-url", url]);
    }
    let migrated = migrate.output().expect("trunkd migrate runs");
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );

    let server = Server::start_in(kept, &[]);
    let client = server.admin();
    assert_eq!(network_flag(&client, &network).await, json!(true));
    assert_eq!(port_flag(&client, &port).await, json!(true));
    // And the column takes writes like any other.
    client
        .put(
            &format!("/v2.0/ports/{port}"),
            json!({"port": {"port_security_enabled": false}}),
        )
        .await
        .expect(200);
    assert_eq!(port_flag(&client, &port).await, json!(false));
}
