//! Answers to trunk writes that a GET right after them repeats whole, checked from many
//! clients at once: the contract every driver keeps, shared by the noop and ovn tests.

use serde_json::{json, Value};

use super::{vlan, Client, Server};

/// The trunk a write answered with, and the trunk a GET right after it shows, agree whole.
async fn answer_is_what_get_shows(client: &Client, answer: Value) -> Value {
    let trunk = answer.get("trunk").cloned().unwrap_or(answer);
    let id = trunk["id"].as_str().expect("id");
    let shown = client.get(&format!("/v2.0/trunks/{id}")).await.expect(200);
    assert_eq!(trunk, shown["trunk"], "the answer is stale");
    trunk
}

/// Creates, grows, shrinks and renames a trunk, comparing every answer with a GET after it.
async fn read_your_writes(client: Client, network: String, expected: &'static str) {
    let ports = client.ports(&network, 3).await;
    let created = client
        .post(
            "/v2.0/trunks",
            json!({"trunk": {"port_id": ports[0], "sub_ports": [vlan(&ports[1], 10)]}}),
        )
        .await
        .expect(201);
    let trunk = answer_is_what_get_shows(&client, created).await;
    assert_eq!(trunk["status"], expected, "{trunk}");
    let id = trunk["id"].as_str().expect("id").to_string();
    let added = client
        .put(
            &format!("/v2.0/trunks/{id}/add_subports"),
            json!({"sub_ports": [vlan(&ports[2], 20)]}),
        )
        .await
        .expect(200);
    let trunk = answer_is_what_get_shows(&client, added).await;
    assert_eq!(trunk["status"], expected, "{trunk}");
    let removed = client
        .put(
            &format!("/v2.0/trunks/{id}/remove_subports"),
            json!({"sub_ports": [{"port_id": ports[1]}]}),
        )
        .await
        .expect(200);
    let trunk = answer_is_what_get_shows(&client, removed).await;
    assert_eq!(trunk["status"], expected, "{trunk}");
    let renamed = client
        .put(
            &format!("/v2.0/trunks/{id}"),
            json!({"trunk": {"name": "renamed"}}),
        )
        .await
        .expect(200);
    answer_is_what_get_shows(&client, renamed).await;
}

/// Sixteen clients at once, each on its own trunk.
pub async fn answers_are_final_under_concurrency(server: &Server, expected: &'static str) {
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    let tasks: Vec<_> = (0..16)
        .map(|_| tokio::spawn(read_your_writes(admin.clone(), network.clone(), expected)))
        .collect();
    for task in tasks {
        task.await.expect("client task");
    }
}
