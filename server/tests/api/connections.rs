//! Connection limits: header and idle timeouts, the header-size cap, the connection cap and
//! the drain at shutdown. Spoken in raw HTTP/1.1 over TCP, since each test is about what a
//! client library would hide (partial heads, idle sockets, who closes first).

use std::time::{Duration, Instant};

use licet_server::testkit::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn server(configure: impl FnOnce(&mut licet_server::Config)) -> TestServer {
    TestServer::start_with(configure)
        .await
        .expect("server starts")
}

async fn connect(server: &TestServer) -> TcpStream {
    let host = server.url.trim_start_matches("http://");
    TcpStream::connect(host).await.expect("connect")
}

/// Reads one response: `(status, head, body)`. Panics if the connection closes first, or
/// if nothing comes within 10 s.
async fn response(stream: &mut TcpStream) -> (u16, String, String) {
    tokio::time::timeout(Duration::from_secs(10), read_response(stream))
        .await
        .expect("a response within 10 s")
}

async fn read_response(stream: &mut TcpStream) -> (u16, String, String) {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "closed before a response head: {bytes:?}");
        bytes.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().expect("length"))
        })
        .unwrap_or(0);
    while bytes.len() < head_end + length {
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "closed inside the body");
        bytes.extend_from_slice(&chunk[..n]);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = String::from_utf8_lossy(&bytes[head_end..head_end + length]).into_owned();
    (status, head, body)
}

async fn get(stream: &mut TcpStream, path: &str) -> (u16, String, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: licet\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    response(stream).await
}

/// How long until the server closes `stream` (bytes it sends meanwhile are skipped); `None`
/// if it is still open after `within`.
async fn closed_after(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut sink = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return start.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

/// Asserts that the server closes `stream` on a 1 s timeout that starts now: not before
/// 0.9 s, and within 6 s (a loaded machine is slow, never early).
async fn closes_after_its_one_second_timeout(stream: &mut TcpStream) {
    let closed = closed_after(stream, Duration::from_secs(6))
        .await
        .expect("closed within 6 s");
    assert!(
        closed >= Duration::from_millis(900),
        "not early: {closed:?}"
    );
}

/// [`stalled_post`]'s body: it sends `BODY_START` of `BODY_LENGTH` bytes, and
/// [`rest_of_body`] completes it (as invalid JSON: the answer is 400).
const BODY_START: &str = "{\"key\":";
const BODY_LENGTH: usize = 100;

fn rest_of_body() -> String {
    " ".repeat(BODY_LENGTH - BODY_START.len())
}

/// A POST to the activation endpoint whose body never arrives in full: its request stays in
/// flight until the client sends the rest.
async fn stalled_post(server: &TestServer) -> TcpStream {
    let mut s = connect(server).await;
    let head = format!(
        "POST /v1/licenses/activate HTTP/1.1\r\nHost: licet\r\n\
         Content-Type: application/json\r\nContent-Length: {BODY_LENGTH}\r\n\r\n{BODY_START}"
    );
    s.write_all(head.as_bytes()).await.expect("write");
    s
}

/// If this fails, a client that trickles its request head one byte at a time holds a
/// connection (and its memory) for as long as it likes: slowloris.
#[tokio::test]
async fn a_client_sending_its_head_too_slowly_is_disconnected_after_the_header_timeout() {
    let server = server(|c| {
        c.header_timeout_secs = 1;
        c.idle_timeout_secs = 60;
    })
    .await;
    let stream = connect(&server).await;
    let (mut read, mut write) = stream.into_split();
    let start = Instant::now();
    let trickle = tokio::spawn(async move {
        let mut sent = write.write_all(b"GET /healthz HTTP/1.1\r\n").await;
        while sent.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            sent = write.write_all(b"X").await;
        }
    });
    let mut sink = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(6), read.read(&mut sink))
        .await
        .expect("the server hung up within 6 s")
        .unwrap_or(0);
    let elapsed = start.elapsed();
    assert_eq!(n, 0, "closed without an answer");
    assert!(
        elapsed >= Duration::from_millis(900),
        "not before the timeout: {elapsed:?}"
    );
    trickle.abort();
    let mut fresh = connect(&server).await;
    assert_eq!(
        get(&mut fresh, "/healthz").await.0,
        200,
        "others are served"
    );
}

/// If this fails, idle keep-alive connections pile up until the server runs out of file
/// descriptors; it also shows the idle clock is not the header clock (here 60 s).
#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = server(|c| {
        c.header_timeout_secs = 60;
        c.idle_timeout_secs = 1;
    })
    .await;
    let mut s = connect(&server).await;
    assert_eq!(get(&mut s, "/healthz").await.0, 200);
    assert_eq!(get(&mut s, "/healthz").await.0, 200, "kept alive");
    closes_after_its_one_second_timeout(&mut s).await;
}

/// If this fails, a client that trickles a request body keeps its connection busy, out of
/// reach of the cap's evictions, for as long as it likes; enough of them lock everyone out.
#[tokio::test]
async fn a_request_body_that_stalls_is_dropped_after_the_body_timeout() {
    let server = server(|c| c.body_timeout_secs = 1).await;
    let mut s = stalled_post(&server).await;
    closes_after_its_one_second_timeout(&mut s).await;
}

/// If this fails, each connection can make the server buffer a head of any size (hyper's
/// default is about 400 KiB): 1,000 such clients took the server to 400 MB.
#[tokio::test]
async fn a_request_head_over_max_header_bytes_is_answered_431() {
    let server = server(|c| c.max_header_bytes = 8 * 1024).await;
    let mut s = connect(&server).await;
    let fits = format!(
        "GET /healthz HTTP/1.1\r\nHost: licet\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(6 * 1024)
    );
    s.write_all(fits.as_bytes()).await.expect("write");
    assert_eq!(
        response(&mut s).await.0,
        200,
        "a head under the limit is fine"
    );

    // Exactly the limit, without the blank line that ends a head: the server has read every
    // byte sent when it answers, so its close does not reset the answer away.
    let mut s = connect(&server).await;
    let start = "GET /healthz HTTP/1.1\r\nHost: licet\r\nX-Pad: ";
    let head = format!("{start}{}", "a".repeat(8 * 1024 - start.len()));
    s.write_all(head.as_bytes()).await.expect("write");
    let (status, _, _) = response(&mut s).await;
    assert_eq!(status, 431);
    assert!(closed_after(&mut s, Duration::from_secs(3)).await.is_some());
}

/// If this fails, idle sockets above the cap lock everyone out: with no room left the
/// server stops accepting, and load-balancer health checks time out.
#[tokio::test]
async fn healthz_answers_with_more_idle_connections_than_the_cap() {
    let cap = 8;
    let server = server(|c| c.max_connections = cap).await;
    let mut idle = Vec::new();
    for i in 0..21 {
        let mut s = connect(&server).await;
        match i % 3 {
            // Kept alive after a request.
            0 => assert_eq!(get(&mut s, "/healthz").await.0, 200),
            // Half a request head.
            1 => s
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: li")
                .await
                .expect("write"),
            // Connected, silent.
            _ => {}
        }
        idle.push(s);
    }
    let start = Instant::now();
    let mut fresh = connect(&server).await;
    let (status, _, body) = get(&mut fresh, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "promptly: {:?}",
        start.elapsed()
    );
    let mut closed = 0;
    for s in &mut idle {
        if closed_after(s, Duration::from_millis(200)).await.is_some() {
            closed += 1;
        }
    }
    // 22 connections came; at most `cap` (one of them the health check) stay open.
    assert!(closed >= 22 - cap, "{closed} idle connections made room");
    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let evicted: usize = metrics
        .lines()
        .find_map(|l| l.strip_prefix("licet_connections_closed_total{reason=\"evicted\"} "))
        .and_then(|n| n.parse().ok())
        .expect("an eviction count");
    assert!(evicted >= 22 - cap, "{metrics}");
}

/// If this fails, a client arriving at a full server hangs or is reset instead of hearing
/// that it should come back: the refusal is a 503 in the usual error shape, with
/// `Retry-After`, on a connection the server then closes.
#[tokio::test]
async fn when_every_connection_is_busy_a_newcomer_gets_503_with_retry_after() {
    let server = server(|c| c.max_connections = 2).await;
    let mut first = stalled_post(&server).await;
    let _second = stalled_post(&server).await;
    // Both heads parsed, both requests now wait for their bodies.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut newcomer = connect(&server).await;
    let (status, head, body) = get(&mut newcomer, "/healthz").await;
    assert_eq!(status, 503, "{head}{body}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("retry-after: 1\r\n"), "{head}");
    assert!(head.contains("connection: close\r\n"), "{head}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["error"]["code"], "UNAVAILABLE");
    assert!(
        closed_after(&mut newcomer, Duration::from_secs(3))
            .await
            .is_some()
    );

    // One busy request finishes; its connection, now idle, makes room for the next client.
    first
        .write_all(rest_of_body().as_bytes())
        .await
        .expect("write");
    let (status, _, _) = response(&mut first).await;
    assert_eq!(status, 400, "the stalled request got its answer");
    let mut next = connect(&server).await;
    assert_eq!(get(&mut next, "/healthz").await.0, 200);
}

/// If this fails, a restart or deploy cuts requests that were about to be answered (drain),
/// or waits forever on a client that never finishes (bound).
#[tokio::test]
async fn shutdown_answers_requests_in_flight_and_cuts_stragglers_after_the_grace() {
    let mut server = server(|c| c.shutdown_grace_secs = 2).await;
    let mut finishing = stalled_post(&server).await;
    let mut straggler = stalled_post(&server).await;
    let mut idle = connect(&server).await;
    assert_eq!(get(&mut idle, "/healthz").await.0, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let start = Instant::now();
    let client = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let idle_closed = closed_after(&mut idle, Duration::from_millis(100)).await;
        finishing
            .write_all(rest_of_body().as_bytes())
            .await
            .expect("write");
        let (status, head, _) = response(&mut finishing).await;
        (idle_closed, status, head)
    };
    let stop = async {
        tokio::time::timeout(Duration::from_secs(10), server.stop())
            .await
            .expect("stopped within 10 s");
    };
    let ((idle_closed, status, head), ()) = tokio::join!(client, stop);
    let stopped = start.elapsed();
    assert!(idle_closed.is_some(), "idle connections close at once");
    assert_eq!(status, 400, "the request in flight was answered");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert!(
        closed_after(&mut straggler, Duration::from_millis(500))
            .await
            .is_some(),
        "the straggler was cut"
    );
    assert!(
        stopped >= Duration::from_millis(1500) && stopped < Duration::from_secs(5),
        "stopped after the grace, not long after: {stopped:?}"
    );
}
