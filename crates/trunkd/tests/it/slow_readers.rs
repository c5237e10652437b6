//! Slow readers: clients that ask for a large list and never read the answer
//! must not make the server hold memory without bound. Two things bound it: a list answer holds
//! at most `pagination_max_limit` items (default 1,000; more are reached through the page links),
//! and an answer the client does not read within `client_timeout` is abandoned and its
//! connection closed.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Identity, Server};
use serde_json::{json, Value};

/// Seconds a client gets to read (and to send) in these tests.
const CLIENT_TIMEOUT: u64 = 2;

/// The host and port of the server's base URL.
fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// `count` ports in each of `projects` projects (a few hundred each, below any per-project
/// port quota), with a long name, description and 40 tags, so that a list of them is large
/// (about 2.5 kB a port): larger than the kernel's socket buffers take for a client that does
/// not read, so the server has to hold what they do not.
async fn many_ports(server: &Server, projects: usize, count: usize) {
    let filler = "x".repeat(200);
    let tags: Vec<String> = (0..40)
        .map(|i| format!("t{i:02}-{}", "y".repeat(46)))
        .collect();
    for project in 0..projects {
        let member = server.as_(Identity::member(&format!("project-{project}")));
        let net = member.network(json!({})).await;
        let items: Vec<Value> = (0..count)
            .map(|index| {
                json!({"network_id": net, "name": format!("port-{index}-{filler}"),
                       "description": filler, "tags": tags})
            })
            .collect();
        member
            .post("/v2.0/ports", json!({ "ports": items }))
            .await
            .expect(201);
    }
}

/// Reads until the server closes the connection or `limit` passes: the bytes that came, and
/// whether the connection was closed.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (usize, bool) {
    let deadline = Instant::now() + limit;
    let mut received = 0;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (received, false);
        }
        stream.set_read_timeout(Some(left)).expect("read timeout");
        match stream.read(&mut buffer) {
            Ok(0) => return (received, true),
            Ok(n) => received += n,
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {
                return (received, true)
            }
            Err(_) => return (received, false),
        }
    }
}

/// The request a client that never reads sends: all ports, as an admin, no `limit`.
fn list_request(server: &Server) -> String {
    format!(
        "GET /v2.0/ports HTTP/1.1\r\nHost: {}\r\nX-Project-Id: admin-project\r\n\
         X-Roles: admin,member,reader\r\nX-User-Id: admin\r\n\r\n",
        address(server)
    )
}

/// Most the server's RSS may grow while 60 clients sit on unread answers to a list of 3,000
/// ports of 2.5 kB (a page of the default 1,000 is about 2.5 MB; all 3,000 about 7.5 MB).
/// Measured on the 2-core development machine, debug build: RSS grew by 326 MiB before the
/// fix (each connection kept its whole answer for ever), and by 70-90 MiB after it (answers
/// being rendered at once; none is kept once the socket buffers have taken it).
const RSS_GROWTH_BOUND_KIB: u64 = 200 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_clients_that_never_read_a_large_list_hold_bounded_memory_and_are_cut_off() {
    let timeout = CLIENT_TIMEOUT.to_string();
    let server = Server::start_with(&["--client-timeout", &timeout]);
    many_ports(&server, 10, 300).await;

    // A client that reads gets a page of the default maximum, and a link to the rest.
    let admin = server.admin();
    let first = admin.get("/v2.0/ports").await.expect(200);
    assert_eq!(first["ports"].as_array().map(Vec::len), Some(1000));
    assert!(first["ports_links"].is_array(), "a full page links on");
    let before = server.rss_kib();

    let request = list_request(&server);
    let mut readers: Vec<TcpStream> = (0..60)
        .map(|_| {
            let mut stream = TcpStream::connect(address(&server)).expect("connect");
            stream.write_all(request.as_bytes()).expect("send");
            stream
        })
        .collect();

    // Sample RSS while the server answers all 60 and they sit unread, until every answer has
    // had its client_timeout (answering 60 lists takes a while in a debug build).
    let started = Instant::now();
    let mut peak = before;
    while started.elapsed() < Duration::from_secs(CLIENT_TIMEOUT + 10) {
        peak = peak.max(server.rss_kib());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let growth = peak.saturating_sub(before);
    eprintln!(
        "RSS before {} MiB, peak with 60 non-reading clients {} MiB (growth {} MiB)",
        before / 1024,
        peak / 1024,
        growth / 1024
    );
    assert!(
        growth < RSS_GROWTH_BOUND_KIB,
        "RSS grew by {} MiB (bound {} MiB)",
        growth / 1024,
        RSS_GROWTH_BOUND_KIB / 1024
    );

    // Every connection has been closed: what the socket buffers had taken is all that comes.
    for stream in &mut readers {
        let (_, closed) = read_until_closed(stream, Duration::from_secs(10));
        assert!(closed, "a connection whose client never read stayed open");
    }
    eprintln!(
        "RSS after the connections closed: {} MiB",
        server.rss_kib() / 1024
    );

    // Everyone else is served all along.
    admin.get("/v2.0/networks").await.expect(200);
}

#[tokio::test]
async fn an_answer_the_client_does_not_read_is_abandoned_after_client_timeout() {
    // No page cap: one answer of 3,000 ports, more than the socket buffers take.
    let timeout = CLIENT_TIMEOUT.to_string();
    let server =
        Server::start_with(&["--client-timeout", &timeout, "--pagination-max-limit", "-1"]);
    many_ports(&server, 10, 300).await;
    let all = server.admin().get("/v2.0/ports").await.expect(200);
    assert_eq!(all["ports"].as_array().map(Vec::len), Some(3000));
    let answer = serde_json::to_vec(&all).expect("json").len();

    let mut stream = TcpStream::connect(address(&server)).expect("connect");
    stream
        .write_all(list_request(&server).as_bytes())
        .expect("send");
    std::thread::sleep(Duration::from_secs(CLIENT_TIMEOUT + 4));
    let (received, closed) = read_until_closed(&mut stream, Duration::from_secs(10));
    assert!(closed, "the connection stayed open with its answer unread");
    assert!(
        received < answer,
        "all {received} bytes came: the answer was not abandoned"
    );
}

#[tokio::test]
async fn a_slow_but_steady_reader_is_not_cut_off() {
    let timeout = CLIENT_TIMEOUT.to_string();
    let server = Server::start_with(&["--client-timeout", &timeout]);
    many_ports(&server, 1, 300).await;
    let request = format!(
        "GET /v2.0/ports HTTP/1.1\r\nHost: {}\r\nX-Project-Id: admin-project\r\n\
         X-Roles: admin,member,reader\r\nX-User-Id: admin\r\nConnection: close\r\n\r\n",
        address(&server)
    );
    let mut stream = TcpStream::connect(address(&server)).expect("connect");
    stream.write_all(request.as_bytes()).expect("send");
    // Reads a little at a time, pausing for more than client_timeout in all but never
    // longer than it between reads: progress keeps the answer alive.
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let started = Instant::now();
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(error) => panic!("the read failed after {} bytes: {error}", received.len()),
        }
        if started.elapsed() < Duration::from_secs(CLIENT_TIMEOUT * 2) {
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{}",
        &text[..text.len().min(200)]
    );
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let body: Value = serde_json::from_str(body).expect("the whole answer arrived");
    assert_eq!(body["ports"].as_array().map(Vec::len), Some(300));
}
