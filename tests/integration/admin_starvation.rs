//! The admin port cannot be starved by a client that is not the prober: the review's attack
//! (one client holding 16 keep-alive connections to port 9090 made 17 probes in a row time
//! out over 70 s) against the real `server` binary. The attacker connects from 127.0.0.2, the
//! probes from 127.0.0.1, as the kubelet and a neighbour in the VPC come from different
//! addresses.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::TEST_SECRET;
use support::client::{request, send};
use support::server::{ServerProcess, env_with_secret};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The Deployment's `timeoutSeconds` for both probes.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A connection to `address` from the loopback address `from`.
async fn connect_from(from: [u8; 4], address: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(address).await
}

/// Whether the server has closed `stream` (EOF or reset) within `limit`, reading and
/// discarding whatever it sent first.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// 48 connections from one peer — 24 that never send a byte and 24 that sent a keep-alive
/// request and then sit — do not delay the probes of another: for 6 s, `/readyz` and
/// `/healthz` every 100 ms each answer 200 within the probe timeout (latencies printed).
/// The attacker holds at most 8 connections (the per-peer limit: the rest are closed at
/// once), and those are closed within the head timeout (2 s) or right after their answer,
/// not after the 60 s they used to live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_answer_while_one_peer_holds_admin_connections() {
    let server = ServerProcess::start(&env_with_secret(TEST_SECRET));
    let admin = server.admin();
    let opened = Instant::now();
    let mut attacker = Vec::new();
    for i in 0..48 {
        let Ok(mut stream) = connect_from([127, 0, 0, 2], admin).await else { continue };
        if i % 2 == 1 {
            let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
        }
        attacker.push(stream);
    }
    let watched = tokio::spawn(async move {
        let mut closes = Vec::new();
        for mut stream in attacker {
            closes.push(closed_within(&mut stream, Duration::from_secs(10)).await);
        }
        (closes, opened.elapsed())
    });

    let mut latencies = Vec::new();
    let probing = Instant::now();
    while probing.elapsed() < Duration::from_secs(6) {
        for path in ["/readyz", "/healthz"] {
            let started = Instant::now();
            let answer =
                tokio::time::timeout(PROBE_TIMEOUT, send(admin, request("GET", path, ""))).await;
            let latency = started.elapsed();
            let response = answer.unwrap_or_else(|_| {
                panic!("{path} timed out after {latency:?} (probe {})", latencies.len() + 1)
            });
            assert_eq!(response.status(), 200, "{path}");
            latencies.push(latency);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (closes, all_closed_after) = watched.await.unwrap();
    latencies.sort();
    eprintln!(
        "{} probes with 48 attacker connections from one peer: p50 {:.2?}, p99 {:.2?}, max \
         {:.2?}; attacker connections closed: {}/{} within {all_closed_after:.2?} of opening",
        latencies.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
        latencies[latencies.len() - 1],
        closes.iter().filter(|closed| **closed).count(),
        closes.len(),
    );
    assert!(closes.iter().all(|closed| *closed), "an attacker connection stayed open");
    assert!(all_closed_after < Duration::from_secs(10), "{all_closed_after:?}");
}
