//! What gophercloud, the Terraform OpenStack provider (openstack_networking_trunk_v2) and
//! openstacksdk rely on, read from their trunk code: status codes, wrapper keys, field types,
//! timestamp format, list behaviour without paging, 404s, and the request shapes they send.

use crate::common;

use common::{vlan, Server};
use reqwest::Method;
use serde_json::{json, Value};

/// Go's time.Parse(time.RFC3339, ...) needs a zone: 2026-11-25T10:00:00Z.
fn is_rfc3339_utc(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.len() == 20
        && text.ends_with('Z')
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && bytes[16] == b':'
        && text[..19].chars().filter(|c| c.is_ascii_digit()).count() == 14
}

fn assert_trunk_shape(trunk: &Value) {
    for key in [
        "id",
        "name",
        "description",
        "port_id",
        "status",
        "project_id",
        "tenant_id",
    ] {
        assert!(trunk[key].is_string(), "{key} not a string in {trunk}");
    }
    assert_eq!(trunk["project_id"], trunk["tenant_id"]);
    assert!(trunk["admin_state_up"].is_boolean(), "{trunk}");
    assert!(trunk["revision_number"].is_i64(), "{trunk}");
    assert!(trunk["tags"].is_array(), "{trunk}");
    for subport in trunk["sub_ports"].as_array().expect("sub_ports array") {
        assert!(subport["port_id"].is_string() && subport["segmentation_type"].is_string());
        assert!(subport["segmentation_id"].is_i64(), "{subport}");
    }
    for key in ["created_at", "updated_at"] {
        let stamp = trunk[key].as_str().unwrap_or_default();
        assert!(
            is_rfc3339_utc(stamp),
            "{key} = {stamp:?} is not RFC 3339 UTC"
        );
    }
}

#[tokio::test]
async fn trunk_calls_have_the_codes_wrappers_and_fields_clients_decode() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let ports = admin.ports(&net, 3).await;

    // gophercloud always sends sub_ports (possibly empty), Terraform may send tenant_id.
    let created = admin
        .post("/v2.0/trunks", json!({"trunk": {"port_id": ports[0], "name": "tf", "admin_state_up": true, "sub_ports": [], "tenant_id": "admin-project"}}))
        .await
        .expect(201);
    let trunk = &created["trunk"];
    assert_trunk_shape(trunk);
    assert!(
        ["ACTIVE", "DOWN"].contains(&trunk["status"].as_str().unwrap_or("")),
        "{trunk}"
    );
    let id = trunk["id"].as_str().expect("id").to_string();
    let path = format!("/v2.0/trunks/{id}");

    let shown = admin.get(&path).await.expect(200);
    assert_trunk_shape(&shown["trunk"]);
    // The driver bumps the revision as it wires the trunk; If-Match needs the settled one.
    let settled = admin.wait_for_status(&id, "ACTIVE").await;
    let revision = settled["revision_number"].as_i64().expect("revision");
    let updated = admin
        .send_with(
            Method::PUT,
            &path,
            Some(json!({"trunk": {"description": "d"}})),
            &[("If-Match", &format!("revision_number={revision}"))],
        )
        .await
        .expect(200);
    assert_eq!(updated["trunk"]["description"], "d");

    // add/remove_subports answer 200 with the bare trunk, not wrapped.
    let added = admin
        .put(
            &format!("{path}/add_subports"),
            json!({"sub_ports": [vlan(&ports[1], 11), vlan(&ports[2], 12)]}),
        )
        .await
        .expect(200);
    assert!(added.get("trunk").is_none(), "{added}");
    assert_trunk_shape(&added);
    // Terraform changes subports by removing all, then adding the new set.
    let removed = admin
        .put(
            &format!("{path}/remove_subports"),
            json!({"sub_ports": [{"port_id": ports[1]}, {"port_id": ports[2]}]}),
        )
        .await
        .expect(200);
    assert_eq!(removed["sub_ports"], json!([]));
    let readded = admin
        .put(
            &format!("{path}/add_subports"),
            json!({"sub_ports": [vlan(&ports[1], 11), vlan(&ports[2], 12)]}),
        )
        .await
        .expect(200);
    assert_eq!(readded["sub_ports"].as_array().map(Vec::len), Some(2));
    let subports = admin.get(&format!("{path}/get_subports")).await.expect(200);
    assert_eq!(subports["sub_ports"].as_array().map(Vec::len), Some(2));

    let tags = admin
        .put(&format!("{path}/tags"), json!({"tags": ["a"]}))
        .await
        .expect(200);
    assert_eq!(tags["tags"], json!(["a"]));

    // Delete is 204; afterwards GET and DELETE are 404 (Terraform polls for the 404).
    assert_eq!(admin.delete(&path).await.status.as_u16(), 204);
    admin.get(&path).await.expect_error(404, "TrunkNotFound");
    admin.delete(&path).await.expect_error(404, "TrunkNotFound");
}

#[tokio::test]
async fn lists_without_a_limit_return_everything_as_json() {
    let server = Server::start();
    let admin = server.admin();
    let net = admin.network(json!({})).await;
    let ports = admin.ports(&net, 30).await;
    for (index, port) in ports.iter().enumerate() {
        admin
            .post("/v2.0/trunks", json!({"trunk": {"port_id": port, "name": format!("t{index}"), "admin_state_up": index % 2 == 0}}))
            .await
            .expect(201);
    }
    // gophercloud reads only the first page and never sends a limit: it must be all of them.
    let reply = admin.get("/v2.0/trunks").await;
    let content_type = reply
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body = reply.expect(200);
    assert_eq!(body["trunks"].as_array().map(Vec::len), Some(30));
    let keys: Vec<&String> = body.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["trunks"], "no links key without a limit");

    // The filters Terraform's data source and openstacksdk send.
    let first = &body["trunks"][0];
    for query in [
        format!("name={}", first["name"].as_str().unwrap_or_default()),
        format!("id={}", first["id"].as_str().unwrap_or_default()),
        format!("port_id={}", first["port_id"].as_str().unwrap_or_default()),
    ] {
        let found = admin
            .get(&format!("/v2.0/trunks?{query}"))
            .await
            .expect(200);
        assert_eq!(found["trunks"].as_array().map(Vec::len), Some(1), "{query}");
    }
    for (query, expected) in [
        ("admin_state_up=True", 15),
        ("admin_state_up=false", 15),
        ("project_id=admin-project", 30),
        ("tenant_id=admin-project", 30),
        ("status=ACTIVE&status=DOWN&status=BUILD", 30),
        ("description=", 30),
        ("revision_number=0&revision_number=1&revision_number=2", 30),
    ] {
        let found = admin
            .get(&format!("/v2.0/trunks?{query}"))
            .await
            .expect(200);
        assert_eq!(
            found["trunks"].as_array().map(Vec::len),
            Some(expected),
            "{query}"
        );
    }

    // openstacksdk pages with limit and marker and follows trunks_links.
    let page = admin
        .get("/v2.0/trunks?limit=20&sort_key=name&sort_dir=asc&fields=id&fields=name")
        .await
        .expect(200);
    assert_eq!(page["trunks"].as_array().map(Vec::len), Some(20));
    let next = page["trunks_links"]
        .as_array()
        .and_then(|links| links.iter().find(|l| l["rel"] == "next"))
        .and_then(|l| l["href"].as_str())
        .expect("a next link")
        .to_string();
    let rest = admin
        .get(next.strip_prefix(&admin.base).expect("same server"))
        .await
        .expect(200);
    assert_eq!(rest["trunks"].as_array().map(Vec::len), Some(10));
}
