//! The review's CPU exhaustion, against the real `server` binary in ES256 mode: an h2c client
//! floods `GET /contents` with forged tokens — signed by an outside P-256 key under our `kid`,
//! so each one costs a real signature check — far past what the CPUs can verify, while a
//! well-behaved client keeps sending valid tokens and a prober keeps asking the admin port.
//! The bounds are generous (a loaded 2-core machine runs this); the figures are printed, and
//! docs/performance.md has the release-build load run.

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::client::{contents, issue_token, request, send};
use support::metrics::{scrape, value};
use support::public_keys::ES256;
use support::server::ServerProcess;
use tokio::net::TcpStream;

/// The Deployment's probe `timeoutSeconds`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The pod's memory limit (`k8s/base/deployment.yaml`).
const MEMORY_LIMIT_KIB: u64 = 64 * 1024;
/// How long the flood lasts.
const FLOOD: Duration = Duration::from_secs(4);
/// h2c connections of the flood, and requests each keeps in flight.
const CONNECTIONS: usize = 16;
const STREAMS: usize = 32;

/// A token for `email` signed by the outside key under the server's own `kid`.
fn forged(kid: &str) -> String {
    let mut header = jsonwebtoken::Header::new(ES256.alg);
    header.kid = Some(kid.to_owned());
    let now = support::cases::now();
    ES256.sign(&header, &json!({"email": "evil@example.com", "exp": now + 600, "nbf": now}), true)
}

/// One h2c connection keeping `STREAMS` forged requests in flight until `until`; returns the
/// statuses it got (0: the stream failed).
async fn flood_connection(address: SocketAddr, token: Arc<str>, until: Instant) -> Vec<u16> {
    let stream = TcpStream::connect(address).await.unwrap();
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2c handshake");
    tokio::spawn(connection);
    let streams = (0..STREAMS).map(|_| {
        let (mut sender, token) = (sender.clone(), Arc::clone(&token));
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            while Instant::now() < until {
                let request = Request::get(format!("http://{address}/contents"))
                    .header("authorization", format!("Bearer {token}"))
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                match sender.send_request(request).await {
                    Ok(response) => {
                        statuses.push(response.status().as_u16());
                        let _ = response.into_body().collect().await;
                    }
                    Err(_) => {
                        statuses.push(0);
                        break;
                    }
                }
            }
            statuses
        })
    });
    let mut statuses = Vec::new();
    for stream in streams.collect::<Vec<_>>() {
        statuses.extend(stream.await.unwrap());
    }
    statuses
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// `VmHWM` (peak resident set) or another `/proc/PID/status` figure, in KiB.
fn rss_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Under a flood of forged ES256 tokens from 16 h2c connections x 32 streams (hundreds of
/// signature checks asked at once, against a CPU capacity of a few hundred per second in this
/// debug build), for 4 s:
/// - the flood gets only 401 (checked and refused) or 503 (shed at once, with
///   `Retry-After`), never a stream error;
/// - valid requests, one after the other, each get 200 or 503 within 5 s (their success rate
///   and latencies are printed), and `GET /` and the JWKS beside them 200 within 5 s;
/// - `/readyz` and `/healthz`, every 100 ms, each answer 200 within the probe timeout;
/// - the server's peak RSS stays under the pod's 64 MiB limit;
/// - each forged token cost at most one signature check (the counter of checks against the
///   401s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_token_flood_sheds_load_and_keeps_probes_answering() {
    let server = ServerProcess::start(&ES256.env());
    let (address, admin) = (server.address, server.admin());
    let token = issue_token(address, "valid@example.com").await;
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.expect("our tokens carry kid");
    let forged: Arc<str> = forged(&kid).into();
    assert_eq!(contents(address, &forged).await.status(), 401, "forged tokens are refused");
    let checks_before =
        value(&scrape(admin).await, "simple_jwt_api_signature_checks_total").unwrap_or(0.0);

    let started = Instant::now();
    let until = started + FLOOD;
    let flood: Vec<_> = (0..CONNECTIONS)
        .map(|_| tokio::spawn(flood_connection(address, Arc::clone(&forged), until)))
        .collect();
    let probes = tokio::spawn(async move {
        let mut latencies = Vec::new();
        while Instant::now() < until {
            for path in ["/readyz", "/healthz"] {
                let asked = Instant::now();
                let answer =
                    tokio::time::timeout(PROBE_TIMEOUT, send(admin, request("GET", path, "")))
                        .await;
                let latency = asked.elapsed();
                let status = answer.map(|response| response.status().as_u16());
                assert_eq!(status, Ok(200), "{path} after {latency:?}");
                latencies.push(latency);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        latencies
    });
    tokio::time::sleep(Duration::from_millis(300)).await; // the flood is under way
    let (mut valid, mut cheap) = (Vec::new(), Vec::new());
    while Instant::now() < until {
        let asked = Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(5), contents(address, &token)).await;
        let latency = asked.elapsed();
        let status = answer.expect("a valid request waited more than 5 s").status().as_u16();
        assert!(status == 200 || status == 503, "valid request answered {status}");
        valid.push((status, latency));
        // Routes that check no signature are not behind the bound: always 200.
        for path in ["/", "/.well-known/jwks.json"] {
            let asked = Instant::now();
            let answer = tokio::time::timeout(
                Duration::from_secs(5),
                send(address, request("GET", path, "")),
            );
            let status = answer.await.expect("a cheap request waited more than 5 s").status();
            assert_eq!(status, 200, "GET {path}");
            cheap.push(asked.elapsed());
        }
    }
    cheap.sort();
    let mut statuses = BTreeMap::new();
    for connection in flood {
        for status in connection.await.unwrap() {
            *statuses.entry(status).or_insert(0usize) += 1;
        }
    }
    let mut probe_latencies = probes.await.unwrap();
    let elapsed = started.elapsed();
    let text = scrape(admin).await;
    let checks =
        value(&text, "simple_jwt_api_signature_checks_total").unwrap_or(0.0) - checks_before;
    let peak_rss = rss_kib(server.pid(), "VmHWM:");

    probe_latencies.sort();
    let ok = valid.iter().filter(|(status, _)| *status == 200).count();
    let mut latencies: Vec<Duration> = valid.iter().map(|(_, latency)| *latency).collect();
    latencies.sort();
    let flood_total: usize = statuses.values().sum();
    eprintln!(
        "forged-token flood, {CONNECTIONS} h2c connections x {STREAMS} streams, {elapsed:.2?}: \
         {flood_total} answered ({:.0}/s), by status {statuses:?}; {checks} signature checks \
         ({:.0}/s); valid requests: {ok}/{} 200 ({:.0} %), the rest 503, latency p50 {:.2?} \
         p99 {:.2?} max {:.2?}; probes: {} answered, p50 {:.2?} max {:.2?}; GET / and the JWKS: {} answered, all 200, \
         max {:.2?}; peak RSS {} KiB",
        flood_total as f64 / elapsed.as_secs_f64(),
        checks / elapsed.as_secs_f64(),
        valid.len(),
        100.0 * ok as f64 / valid.len().max(1) as f64,
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        latencies[latencies.len() - 1],
        probe_latencies.len(),
        percentile(&probe_latencies, 50),
        probe_latencies[probe_latencies.len() - 1],
        cheap.len(),
        cheap[cheap.len() - 1],
        peak_rss,
    );
    assert!(
        statuses.keys().all(|status| *status == 401 || *status == 503),
        "the flood got {statuses:?}"
    );
    assert!(statuses.contains_key(&503), "nothing was shed: not an overload ({statuses:?})");
    let refused = statuses.get(&401).copied().unwrap_or(0) as f64;
    assert!(checks <= refused + valid.len() as f64, "{checks} checks for {refused} 401s");
    assert!(peak_rss < MEMORY_LIMIT_KIB, "peak RSS {peak_rss} KiB");
    assert!(!valid.is_empty() && !probe_latencies.is_empty());
}

/// `H2C_ENABLED=false` turns HTTP/2 cleartext off: the h2c preface gets no HTTP/2 SETTINGS
/// frame back (an HTTP/1.1 error, or a close), while by default it does.
#[tokio::test]
async fn h2c_can_be_turned_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    let mut answers = Vec::new();
    for h2c in ["true", "false"] {
        let mut env = support::server::env_with_secret(support::TEST_SECRET);
        env.push(("H2C_ENABLED".into(), h2c.into()));
        let server = ServerProcess::start(&env);
        let mut stream = TcpStream::connect(server.address).await.unwrap();
        stream.write_all(PREFACE).await.unwrap();
        let mut first = [0u8; 9];
        let read =
            tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut first)).await;
        // A SETTINGS frame header: type 0x4 at byte 3, stream 0.
        let settings = matches!(read, Ok(Ok(_))) && first[3] == 0x4 && first[5..] == [0, 0, 0, 0];
        answers.push((h2c, settings, String::from_utf8_lossy(&first).into_owned()));
    }
    eprintln!("h2c preface answered: {answers:?}");
    assert!(answers[0].1, "h2c on: a SETTINGS frame");
    assert!(!answers[1].1, "h2c off: no HTTP/2");
}
