//! The committed OpenAPI document (`crates/trunkd/openapi.json`) is the generated one, the
//! server serves it, and every operation it lists is routed. To refresh the committed copy
//! after changing the API: `TRUNKD_UPDATE_OPENAPI=1 cargo test --test it openapi`.

use crate::common;

use common::Server;
use reqwest::Method;
use serde_json::Value;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

#[test]
fn committed_document_is_current() {
    let generated = trunkd::api::openapi::document();
    if std::env::var("TRUNKD_UPDATE_OPENAPI").is_ok() {
        std::fs::write(COMMITTED, format!("{generated}\n")).expect("write openapi.json");
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "crates/trunkd/openapi.json is stale: run TRUNKD_UPDATE_OPENAPI=1 cargo test --test it openapi and commit it"
    );
}

#[tokio::test]
async fn served_document_is_the_generated_one_and_every_operation_is_routed() {
    let server = Server::start();
    let admin = server.admin();
    let served = admin.get("/openapi.json").await.expect(200);
    let generated: Value = serde_json::from_str(&trunkd::api::openapi::document()).expect("json");
    assert_eq!(served, generated);
    let paths = generated["paths"].as_object().expect("paths");
    assert!(paths.len() >= 17, "{} paths", paths.len());
    let mut operations = 0;
    for (template, item) in paths {
        let path = template
            .replace("{collection}", "trunks")
            .replace("{alias}", "trunk")
            .replace("{tag}", "t")
            .replace("{id}", &uuid::Uuid::new_v4().to_string());
        for method in item.as_object().expect("path item").keys() {
            let method: Method = method.to_uppercase().parse().expect("method");
            let body = matches!(method, Method::POST | Method::PUT).then(|| serde_json::json!({}));
            let reply = admin.send(method.clone(), &path, body).await;
            operations += 1;
            let unrouted = reply.status.as_u16() == 405
                || (reply.status.as_u16() == 404 && reply.error_type() == "HTTPNotFound");
            assert!(
                !unrouted,
                "{method} {template} is documented but not routed: {}",
                reply.body
            );
        }
    }
    assert!(operations >= 28, "{operations} operations");
}
