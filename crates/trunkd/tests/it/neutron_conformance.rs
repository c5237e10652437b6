//! Where the upstream API suite (neutron-tempest-plugin, run by `conformance/run`) once found
//! trunkd unlike Neutron, pinned here so it cannot come back between conformance runs:
//! page links as Neutron makes them on every collection, answers to trunk writes that a GET
//! right after them repeats (under concurrency), and a 413 that reaches a client which writes
//! its whole body before it reads.

use crate::common;

use std::io::{Read, Write};
use std::time::Duration;

use common::answers::answers_are_final_under_concurrency;
use common::{Client, Server};
use serde_json::{json, Value};

/// The rel → href map of a list page's `<collection>_links`, hrefs relative to the server.
fn links(client: &Client, page: &Value, collection: &str) -> Vec<(String, String)> {
    page[format!("{collection}_links")]
        .as_array()
        .map(|links| {
            links
                .iter()
                .map(|l| {
                    let href = l["href"].as_str().expect("href");
                    let path = href.strip_prefix(&client.base).expect("same server");
                    (
                        l["rel"].as_str().expect("rel").to_string(),
                        path.to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn link<'a>(links: &'a [(String, String)], rel: &str) -> Option<&'a str> {
    links
        .iter()
        .find(|(r, _)| r == rel)
        .map(|(_, href)| href.as_str())
}

fn ids(page: &Value, collection: &str) -> Vec<String> {
    page[collection]
        .as_array()
        .expect("list")
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_string())
        .collect()
}

/// Walks `collection` (of exactly four items) forward in pages of two, through the empty page
/// after the last full one, and back again; then pages backwards from the end.
async fn walk_like_tempest(client: &Client, collection: &str) {
    let all = client
        .get(&format!("/v2.0/{collection}?sort_key=id"))
        .await
        .expect(200);
    let all = ids(&all, collection);
    assert_eq!(all.len(), 4, "{collection}");

    // Forward: two full pages, each with a next link (the second is the last, yet full).
    let first = client
        .get(&format!("/v2.0/{collection}?sort_key=id&limit=2"))
        .await
        .expect(200);
    assert_eq!(ids(&first, collection), all[..2]);
    let first_links = links(client, &first, collection);
    assert!(
        link(&first_links, "previous").is_some(),
        "Neutron links back from the first page too"
    );
    let second = client
        .get(link(&first_links, "next").expect("next on a full page"))
        .await
        .expect(200);
    assert_eq!(ids(&second, collection), all[2..]);
    let second_links = links(client, &second, collection);
    let empty = client
        .get(link(&second_links, "next").expect("next on a full last page"))
        .await
        .expect(200);
    assert_eq!(ids(&empty, collection), Vec::<String>::new());
    let empty_links = links(client, &empty, collection);
    assert_eq!(
        link(&empty_links, "next"),
        None,
        "the empty page ends the walk"
    );
    let back = link(&empty_links, "previous").expect("the way back from the empty page");
    assert!(!back.contains("marker"), "{back}");

    // Back: the last page, then the first, then an empty page with only a next link.
    let last = client.get(back).await.expect(200);
    assert_eq!(ids(&last, collection), all[2..]);
    let last_links = links(client, &last, collection);
    assert!(
        link(&last_links, "next").is_some(),
        "paging back links forward"
    );
    let before = client
        .get(link(&last_links, "previous").expect("previous on a full page"))
        .await
        .expect(200);
    assert_eq!(ids(&before, collection), all[..2]);
    let start = client
        .get(link(&links(client, &before, collection), "previous").expect("previous"))
        .await
        .expect(200);
    assert_eq!(ids(&start, collection), Vec::<String>::new());
    let start_links = links(client, &start, collection);
    assert_eq!(link(&start_links, "previous"), None, "{start_links:?}");
    assert!(link(&start_links, "next").is_some());

    // page_reverse from the end, descending too: a short page has no previous link.
    let reversed = client
        .get(&format!(
            "/v2.0/{collection}?sort_key=id&sort_dir=desc&limit=3&page_reverse=True"
        ))
        .await
        .expect(200);
    let mut expected: Vec<String> = all.iter().rev().cloned().collect();
    expected.drain(..1);
    assert_eq!(ids(&reversed, collection), expected);
    let reversed_links = links(client, &reversed, collection);
    let short = client
        .get(link(&reversed_links, "previous").expect("previous on a full page"))
        .await
        .expect(200);
    assert_eq!(ids(&short, collection), all[3..]);
    let short_links = links(client, &short, collection);
    assert_eq!(link(&short_links, "previous"), None, "{short_links:?}");
    assert!(link(&short_links, "next").is_some());
}

#[tokio::test]
async fn every_collection_pages_as_neutron_does() {
    let server = Server::start();
    let admin = server.admin();
    let networks: Vec<String> = {
        let mut made = Vec::new();
        for _ in 0..4 {
            made.push(admin.network(json!({})).await);
        }
        made
    };
    let ports = admin.ports(&networks[0], 8).await;
    for parent in &ports[..4] {
        admin.trunk(parent, json!([])).await;
    }
    walk_like_tempest(&admin, "networks").await;
    walk_like_tempest(&admin, "trunks").await;
    // Ports: four of them, on a network of their own.
    let own = admin.network(json!({})).await;
    admin.ports(&own, 4).await;
    let page = admin
        .get(&format!("/v2.0/ports?network_id={own}&limit=4"))
        .await
        .expect(200);
    let page_links = links(&admin, &page, "ports");
    assert!(
        link(&page_links, "next").is_some_and(|href| href.contains("network_id=")),
        "links keep the filters: {page_links:?}"
    );
    let rest = admin
        .get(link(&page_links, "next").expect("next"))
        .await
        .expect(200);
    assert_eq!(ids(&rest, "ports"), Vec::<String>::new());
    assert_eq!(link(&links(&admin, &rest, "ports"), "next"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noop_answers_are_final() {
    let server = Server::start();
    answers_are_final_under_concurrency(&server, "ACTIVE").await;
    // Nothing is left for the driver to change after the answers.
    server.admin().wait_for_outbox_drained().await;
    let listed = server.admin().get("/v2.0/trunks").await.expect(200);
    for trunk in listed["trunks"].as_array().expect("list") {
        assert_eq!(
            trunk["revision_number"], 3,
            "create + 3 writes, no status write: {trunk}"
        );
    }
}

#[test]
fn a_413_reaches_a_client_that_sends_its_whole_body_first() {
    let server = Server::start();
    let address = server
        .base
        .strip_prefix("http://")
        .expect("http base")
        .to_string();
    let mut stream = std::net::TcpStream::connect(&address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let body = vec![b' '; 20 * 1024 * 1024];
    let head = format!(
        "POST /v2.0/networks HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         X-Project-Id: p\r\nX-Roles: admin\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // As Python's http.client does: the whole request, then the answer.
    stream.write_all(head.as_bytes()).expect("headers sent");
    stream
        .write_all(&body)
        .expect("the whole body is taken, not reset");
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&chunk[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n")
                    && String::from_utf8_lossy(&answer).contains("NeutronError")
                {
                    break;
                }
            }
            Err(error) => panic!("reading the answer failed: {error}"),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("HTTPRequestEntityTooLarge"), "{text}");
}
