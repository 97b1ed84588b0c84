//! Slow and hostile clients: connections that never send, stall in the HTTP/2 preface, dribble
//! their request head or body, or idle between requests are closed after their timeout;
//! hundreds of them do not slow ordinary clients down; a connection flood is capped and its
//! memory bounded. The real `server` binary is used where its environment sets the bound
//! (`HEADER_READ_TIMEOUT_SECONDS`); `server::serve` is run in-process for the bounds that
//! only [`ServerConfig`] sets (connection cap, body timeout).

use simple_jwt_api::server::{ServerConfig, serve};
use simple_jwt_api::{AppState, Config};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::TEST_SECRET;
use support::client::{request, send};
use support::server::{ServerProcess, env_with_secret};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The HTTP/2 connection preface followed by an empty SETTINGS frame: what an h2c client with
/// prior knowledge sends first.
const H2_PREFACE_AND_SETTINGS: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// A kind of slow connection: its name, what it sends first, what it dribbles afterwards.
type Probe = (&'static str, &'static [u8], Option<&'static [u8]>);

/// Reads from `stream` until the server closes it (EOF or reset) or `limit` passes, writing
/// `dribble` (if any) every 200 ms meanwhile. Returns the time from `since` to the close
/// (`None` if still open at `limit`) and the bytes received.
async fn wait_for_close(
    stream: &mut TcpStream,
    since: Instant,
    limit: Duration,
    dribble: Option<&[u8]>,
) -> (Option<Duration>, Vec<u8>) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while since.elapsed() < limit {
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (Some(since.elapsed()), received),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => {
                if let Some(bytes) = dribble
                    && stream.write_all(bytes).await.is_err()
                {
                    return (Some(since.elapsed()), received);
                }
            }
        }
    }
    (None, received)
}

/// Opens a connection, sends `first`, then waits for the server to close it (dribbling
/// `dribble` meanwhile). Returns when it was closed, measured from the connect.
async fn probe(
    address: SocketAddr,
    first: &'static [u8],
    dribble: Option<&'static [u8]>,
) -> (Option<Duration>, Vec<u8>) {
    let since = Instant::now();
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(first).await.unwrap();
    wait_for_close(&mut stream, since, CLOSE_WITHIN, dribble).await
}

/// How long a test waits for the server to close a connection whose timeout is a second or
/// two. Generous on purpose: a loaded 2-core machine may be slow to get there, and the tests'
/// lower bounds are what prove a timeout was applied; this only has to catch "never".
const CLOSE_WITHIN: Duration = Duration::from_secs(10);

/// The application state for an in-process server (secret from the "environment").
async fn state() -> Arc<AppState> {
    let config =
        Config::from_lookup(|name| (name == "JWT_SECRET").then(|| TEST_SECRET.to_owned())).unwrap();
    simple_jwt_api::startup::build_state(&config).await.unwrap()
}

/// Runs `server::serve` with `options` on a loopback port for the rest of the test.
async fn serve_in_process(options: ServerConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let state = state().await;
    tokio::spawn(serve(listener, state, options, std::future::pending()));
    address
}

fn status_line(response: &[u8]) -> String {
    String::from_utf8_lossy(response).lines().next().unwrap_or_default().to_owned()
}

/// With `HEADER_READ_TIMEOUT_SECONDS=1`, every kind of connection that has no request in
/// flight is closed about 1 s after it went quiet: one that never sends a byte, one stuck
/// half-way through the HTTP/2 preface, one that keeps dribbling header lines, an HTTP/1.1
/// keep-alive connection idle after its response, and an idle h2c connection. (hyper bounds
/// only the HTTP/1 cases by itself; hyper-util's auto builder reads the preface with no
/// timer, so the first, second and last stayed open for good before the server watched
/// connections itself.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_are_closed_after_the_header_timeout() {
    let mut env = env_with_secret(TEST_SECRET);
    env.push(("HEADER_READ_TIMEOUT_SECONDS".into(), "1".into()));
    let server = ServerProcess::start(&env);
    let address = server.address;
    let kinds: [Probe; 5] = [
        ("never sends", b"", None),
        ("stalls in the HTTP/2 preface", b"PRI * HTTP", None),
        ("dribbles its head", b"GET / HTTP/1.1\r\nHost: x\r\n", Some(b"X-Slow: 1\r\n")),
        ("idles after a keep-alive request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", None),
        ("idles after the h2c preface", H2_PREFACE_AND_SETTINGS, None),
    ];
    let probes: Vec<_> = kinds
        .iter()
        .map(|(_, first, dribble)| tokio::spawn(probe(address, first, *dribble)))
        .collect();
    for ((name, ..), probe) in kinds.iter().zip(probes) {
        let (closed, received) = probe.await.unwrap();
        let closed = closed.unwrap_or_else(|| panic!("connection that {name} is still open"));
        eprintln!("connection that {name}: closed after {closed:.2?}");
        assert!(
            closed >= Duration::from_millis(900),
            "connection that {name} closed after {closed:?}"
        );
        if *name == "idles after a keep-alive request" {
            assert_eq!(status_line(&received), "HTTP/1.1 200 OK");
        }
    }
}

/// A body that does not arrive in full within the body read timeout (1 s here; the request
/// head was complete) gets a 408 with the usual JSON error body, and the connection is
/// closed — even though the client keeps dribbling bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_body_gets_408_after_the_body_timeout() {
    let address = serve_in_process(ServerConfig {
        body_read_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let (closed, received) = probe(
        address,
        b"POST /auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 200\r\n\r\n{\"email\":",
        Some(b" "),
    )
    .await;
    let closed = closed.expect("connection still open");
    let text = String::from_utf8_lossy(&received);
    eprintln!("slow body: {:?} after {closed:.2?}", status_line(&received));
    assert_eq!(status_line(&received), "HTTP/1.1 408 Request Timeout", "{text}");
    assert!(text.contains(r#"{"message":"request body was not received in time"}"#), "{text}");
    assert!(closed >= Duration::from_millis(900), "closed after {closed:?}");
}

/// 300 connections that dribble one header byte every 300 ms (a slowloris attack, well
/// within the default 10 s header timeout) do not hold ordinary clients up: 200 requests, each
/// on a new connection, are all answered, every one well before the 10 s a client stuck
/// behind the dribblers would wait (p50, p99 and worst latency printed; timing figures for
/// this machine belong in docs/hardening.md, not in asserts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dribbling_clients_do_not_delay_normal_ones() {
    const DRIBBLERS: usize = 300;
    let server = ServerProcess::start(&env_with_secret(TEST_SECRET));
    let address = server.address;

    let baseline = latencies(address, 50).await;
    let mut dribblers = Vec::with_capacity(DRIBBLERS);
    for _ in 0..DRIBBLERS {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
        dribblers.push(stream);
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let dribbling = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut open = dribblers.len();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                for stream in &mut dribblers {
                    let _ = stream.write_all(b"a").await;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            for stream in &mut dribblers {
                let mut byte = [0u8; 1];
                // Still open (not closed early by the server) if the read times out.
                if let Ok(Ok(0) | Err(_)) =
                    tokio::time::timeout(Duration::from_millis(1), stream.read(&mut byte)).await
                {
                    open -= 1;
                }
            }
            open
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let loaded = latencies(address, 200).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let still_open = dribbling.await.unwrap();

    eprintln!(
        "normal requests: baseline p50 {:.2?} p99 {:.2?}; with {DRIBBLERS} dribblers \
         p50 {:.2?} p99 {:.2?} max {:.2?}; dribblers still open: {still_open}",
        baseline[baseline.len() / 2],
        baseline[baseline.len() * 99 / 100],
        loaded[loaded.len() / 2],
        loaded[loaded.len() * 99 / 100],
        loaded[loaded.len() - 1],
    );
    assert_eq!(still_open, DRIBBLERS, "the dribblers really were connected all along");
    assert!(loaded[loaded.len() - 1] < Duration::from_secs(5), "{loaded:?}");
}

/// Sends `count` `GET /` requests one after the other, each on a new connection, and returns
/// their latencies, sorted.
async fn latencies(address: SocketAddr, count: usize) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let response = send(address, request("GET", "/", "")).await;
        assert_eq!(response.status(), 200);
        latencies.push(started.elapsed());
    }
    latencies.sort();
    latencies
}

/// With the cap at 50 connections, 50 silent connections hold every slot: a 51st client's
/// request is not answered until the header timeout (1 s) closes the silent ones, and is
/// answered right after. The server never holds more connections than the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_holds_new_connections_until_one_frees() {
    let address = serve_in_process(ServerConfig {
        max_connections: 50,
        header_read_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let started = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(TcpStream::connect(address).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let response = send(address, request("GET", "/", "")).await;
    let answered = started.elapsed();
    assert_eq!(response.status(), 200);
    eprintln!("51st connection answered after {answered:.2?} (cap 50, header timeout 1 s)");
    assert!(answered >= Duration::from_millis(900), "answered at {answered:?}: not capped");
    assert!(answered < CLOSE_WITHIN, "answered at {answered:?}");
    for mut stream in silent {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut byte)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "a silent connection is still open");
    }
}

/// A flood of 500 connections, each holding a 4 KiB unfinished request head, grows the
/// server's resident memory by a bounded amount (measured and printed), and every one of
/// them is closed by the server after the header timeout (2 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_flood_memory_is_bounded() {
    const FLOOD: usize = 500;
    let mut env = env_with_secret(TEST_SECRET);
    env.push(("HEADER_READ_TIMEOUT_SECONDS".into(), "2".into()));
    let server = ServerProcess::start(&env);
    let address = server.address;
    // Warm up allocator arenas and worker threads first, so the flood is what is measured.
    latencies(address, 20).await;
    let before = rss_kib(server.pid());

    let mut head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
    head.resize(4096, b'a');
    let head: &'static [u8] = head.leak();
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        let connected = Instant::now();
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(head).await.unwrap();
        flood.push((stream, connected));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let peak = rss_kib(server.pid());
    let closes: Vec<_> = flood
        .into_iter()
        .map(|(mut stream, connected)| {
            tokio::spawn(async move {
                wait_for_close(&mut stream, connected, CLOSE_WITHIN, None).await.0
            })
        })
        .collect();
    // The longest any flood connection stayed open, from its own connect.
    let mut last_close = Duration::ZERO;
    for close in closes {
        let closed = close.await.unwrap().expect("a flood connection is still open");
        last_close = last_close.max(closed);
    }
    let after = rss_kib(server.pid());
    assert_eq!(
        send(address, request("GET", "/", "")).await.status(),
        200,
        "still serving after the flood"
    );
    let growth = peak.saturating_sub(before);
    eprintln!(
        "flood of {FLOOD} x 4 KiB heads: RSS {before} KiB before, {peak} KiB with the flood \
         open (+{growth} KiB, {} KiB per connection), {after} KiB after; the longest-lived \
         flood connection lasted {last_close:.2?}",
        growth / FLOOD as u64
    );
    assert!(growth < 64 * 1024, "RSS grew by {growth} KiB");
    assert!(last_close >= Duration::from_secs(2), "{last_close:?}");
}

/// Resident set size of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A request head larger than `MAX_HEAD_BYTES` (16 KiB) is refused with 431 before it is
/// buffered further, while a head just under the limit (a maximal 8 KiB token plus ordinary
/// headers) is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_head_is_431() {
    use simple_jwt_api::server::MAX_HEAD_BYTES;
    let server = ServerProcess::start(&env_with_secret(TEST_SECRET));
    let head = |pad: usize| {
        let pad = "a".repeat(pad);
        format!("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: {pad}\r\n\r\n")
    };
    let mut responses = Vec::new();
    for pad in [12 * 1024, MAX_HEAD_BYTES + 1] {
        let mut stream = TcpStream::connect(server.address).await.unwrap();
        // The server may answer and close before the whole head is written.
        let _ = stream.write_all(head(pad).as_bytes()).await;
        let (_, received) =
            wait_for_close(&mut stream, Instant::now(), Duration::from_secs(5), None).await;
        responses.push(status_line(&received));
    }
    assert_eq!(responses, ["HTTP/1.1 200 OK", "HTTP/1.1 431 Request Header Fields Too Large"]);
}
