//! The operator's view of the real `server` binary: the admin port (metrics, liveness,
//! readiness) kept apart from the public API, the metrics a known request mix leaves behind,
//! readiness and serving through SIGTERM's delay, and a 413 that reaches a client still
//! sending its body.

use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use support::TEST_SECRET;
use support::client::{json, request, send};
use support::metrics::{scrape, value};
use support::server::{ServerProcess, env_with_secret};

const EMAIL: &str = "operator@example.com";
const PASSWORD: &str = "hunter2-not-logged";

/// Sends `GET path` on a new connection and returns the status and body.
fn get(address: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.get(9..12).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body).to_owned();
    (status, body)
}

/// The admin paths answer on the admin port only and the public API on the public port only;
/// `/healthz` and `/readyz` answer JSON, `/metrics` the Prometheus text format.
#[tokio::test]
async fn admin_and_public_ports_are_apart() {
    let server = ServerProcess::start(&env_with_secret(TEST_SECRET));
    let admin = server.admin();
    for path in ["/metrics", "/healthz", "/readyz"] {
        let response = send(server.address, request("GET", path, "")).await;
        assert_eq!(response.status(), 404, "{path} on the public port");
    }
    assert_eq!(send(server.address, request("GET", "/", "")).await.status(), 200);

    let health = send(admin, request("GET", "/healthz", "")).await;
    assert_eq!((health.status().as_u16(), json(&health)), (200, json!({"status": "alive"})));
    let ready = send(admin, request("GET", "/readyz", "")).await;
    assert_eq!((ready.status().as_u16(), json(&ready)), (200, json!({"status": "ready"})));
    let metrics = send(admin, request("GET", "/metrics", "")).await;
    assert_eq!(metrics.status(), 200);
    let content_type = metrics.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    for path in ["/", "/auth", "/contents"] {
        assert_eq!(send(admin, request("GET", path, "")).await.status(), 404, "{path} on admin");
    }
    assert_eq!(send(admin, request("POST", "/metrics", "")).await.status(), 405);
}

/// After a known mix of requests the counters and histograms say exactly what happened —
/// requests by route, method and status, tokens issued, verifications by outcome — every
/// metric name Lambda's EMF lines use is exported, every label value is from a bounded set, and nothing the clients sent (an email, a password, a
/// token, a path) nor the secret appears in the output. The process metrics are there.
#[tokio::test]
async fn metrics_count_a_known_request_mix_and_hold_no_secret() {
    let server = ServerProcess::start(&env_with_secret(TEST_SECRET));
    let (public, admin) = (server.address, server.admin());
    let login = format!(r#"{{"email":"{EMAIL}","password":"{PASSWORD}"}}"#);
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let response = send(public, request("POST", "/auth", login.clone())).await;
        assert_eq!(response.status(), 200);
        tokens.push(json(&response)["token"].as_str().unwrap().to_owned());
    }
    assert_eq!(send(public, request("POST", "/auth", "{")).await.status(), 400);
    let bearer = |token: &str| {
        http::Request::get("/contents")
            .header("authorization", format!("Bearer {token}"))
            .body(bytes::Bytes::new())
            .unwrap()
    };
    for token in &tokens[..2] {
        assert_eq!(send(public, bearer(token)).await.status(), 200);
    }
    // Another first character of the signature: still canonical base64url, wrong HMAC.
    let (signed, signature) = tokens[2].rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
    let forged = format!("{signed}.{flipped}{}", &signature[1..]);
    assert_eq!(send(public, bearer(&forged)).await.status(), 401);
    assert_eq!(send(public, bearer("not.a-token")).await.status(), 401);
    assert_eq!(send(public, request("GET", "/contents", "")).await.status(), 401);
    let client_path = format!("/users/{EMAIL}");
    assert_eq!(send(public, request("GET", &client_path, "")).await.status(), 404);

    let text = scrape(admin).await;
    let sample = |series: &str| value(&text, series).unwrap_or_else(|| panic!("{series}:\n{text}"));
    let requests =
        |labels: &str| sample(&format!("simple_jwt_api_http_requests_total{{{labels}}}"));
    assert_eq!(requests(r#"route="/auth",method="POST",status="200""#), 3.0);
    assert_eq!(requests(r#"route="/auth",method="POST",status="400""#), 1.0);
    assert_eq!(requests(r#"route="/contents",method="GET",status="200""#), 2.0);
    assert_eq!(requests(r#"route="/contents",method="GET",status="401""#), 3.0);
    assert_eq!(requests(r#"route="other",method="GET",status="404""#), 1.0);
    let count = |route: &str| {
        sample(&format!(r#"simple_jwt_api_http_request_duration_seconds_count{{route="{route}"}}"#))
    };
    assert_eq!((count("/auth"), count("/contents"), count("other")), (4.0, 5.0, 1.0));
    let all_auth =
        r#"simple_jwt_api_http_request_duration_seconds_bucket{route="/auth",le="+Inf"}"#;
    assert_eq!(sample(all_auth), 4.0);
    assert!(sample(r#"simple_jwt_api_http_request_duration_seconds_sum{route="/auth"}"#) > 0.0);
    assert_eq!(sample("simple_jwt_api_tokens_issued_total"), 3.0);
    let outcome = |name: &str| {
        sample(&format!(r#"simple_jwt_api_token_verifications_total{{outcome="{name}"}}"#))
    };
    assert_eq!(
        [outcome("ok"), outcome("bad_signature"), outcome("malformed"), outcome("missing")],
        [2.0, 1.0, 1.0, 1.0]
    );
    assert_eq!(outcome("expired"), 0.0);
    assert_eq!(sample("simple_jwt_api_key_version"), 0.0, "a secret from the environment");
    assert!(sample("simple_jwt_api_key_age_seconds") >= 0.0);
    let build = format!(
        r#"simple_jwt_api_build_info{{version="{}",algorithm="HS256",auth_mode="open"}}"#,
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(sample(&build), 1.0);
    assert!(sample("process_resident_memory_bytes") > 0.0);
    assert!(sample("process_open_fds") > 0.0);
    assert!(sample("process_start_time_seconds") > 1.6e9);
    assert!(value(&text, "process_cpu_seconds_total").is_some());
    assert!(value(&text, "simple_jwt_api_open_connections").is_some());

    for name in simple_jwt_api::metrics::NAMES {
        assert!(text.contains(&format!("# TYPE {name} ")), "{name} is not exported:\n{text}");
    }
    let known_routes =
        ["/", "/auth", "/contents", "/.well-known/jwks.json", "/.well-known/openid-configuration"];
    for route in text.split("route=\"").skip(1).filter_map(|rest| rest.split('"').next()) {
        assert!(route == "other" || known_routes.contains(&route), "unbounded route {route}");
    }
    for secret in [EMAIL, "operator", PASSWORD, TEST_SECRET, "/users", signed, signature, "eyJ"] {
        assert!(!text.contains(secret), "{secret} leaked into the metrics");
    }
}

/// SIGTERM with `SHUTDOWN_DELAY_SECONDS=3`: `/readyz` answers 503 within a second while the
/// public port keeps answering new connections through the delay; then the server stops
/// accepting, drains as before, and exits 0. Timings are printed; the bounds are generous
/// (a loaded 2-core machine), and the only lower bound is the delay itself.
#[test]
fn readiness_drops_at_sigterm_while_requests_succeed_for_the_delay() {
    let mut env = env_with_secret(TEST_SECRET);
    env.push(("SHUTDOWN_DELAY_SECONDS".into(), "3".into()));
    let mut server = ServerProcess::start(&env);
    let admin = server.admin();
    assert_eq!(get(admin, "/readyz").0, 200);

    let signalled = Instant::now();
    server.terminate();
    let not_ready = loop {
        let (status, body) = get(admin, "/readyz");
        if status == 503 {
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&body).unwrap(),
                json!({"status": "not ready", "reason": "shutting down"})
            );
            break signalled.elapsed();
        }
        assert_eq!(status, 200);
        assert!(signalled.elapsed() < Duration::from_secs(1), "/readyz still 200 after 1 s");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(get(admin, "/healthz").0, 200, "still alive while shutting down");

    let mut served = 0;
    while signalled.elapsed() < Duration::from_secs(2) {
        assert_eq!(get(server.address, "/").0, 200, "at {:?}", signalled.elapsed());
        served += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = server.wait_exit(Duration::from_secs(20)).expect("still running after 20 s");
    let exited = signalled.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(exited >= Duration::from_millis(2900), "stopped before the delay: {exited:?}");
    let logs = server.logs();
    for line in ["not ready; serving on", "shutting down: draining", "all connections drained"] {
        assert!(logs.iter().any(|logged| logged.contains(line)), "{line}: {logs:?}");
    }
    eprintln!(
        "SIGTERM -> /readyz 503 after {not_ready:.2?}; {served} requests on new connections \
         answered 200 during the first 2 s of the 3 s delay; exit 0 after {exited:.2?}"
    );
}

/// A client that writes a whole 16 MiB body before reading anything — what Python's
/// `http.client` does — reads the 413 every time, with a declared length (refused before
/// reading) and chunked (refused once past the limit); the server keeps reading and
/// discarding the rest instead of resetting the connection.
#[test]
fn oversized_body_sent_in_full_gets_413_not_a_reset() {
    let server = ServerProcess::start(&env_with_secret(TEST_SECRET));
    let chunk = vec![b'x'; 64 * 1024];
    for attempt in 0..3 {
        for chunked in [false, true] {
            let mut stream = TcpStream::connect(server.address).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            stream.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
            let framing = if chunked {
                "Transfer-Encoding: chunked".to_owned()
            } else {
                format!("Content-Length: {}", 256 * chunk.len())
            };
            write!(stream, "POST /auth HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n").unwrap();
            for _ in 0..256 {
                if chunked {
                    write!(stream, "{:x}\r\n", chunk.len()).unwrap();
                }
                stream.write_all(&chunk).unwrap_or_else(|err| {
                    panic!("attempt {attempt}, chunked {chunked}: sending failed: {err}")
                });
                if chunked {
                    stream.write_all(b"\r\n").unwrap();
                }
            }
            if chunked {
                stream.write_all(b"0\r\n\r\n").unwrap();
            }
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                assert_eq!(stream.read(&mut byte).unwrap(), 1, "closed: {head:?}");
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head);
            assert!(
                head.starts_with("HTTP/1.1 413 "),
                "attempt {attempt}, chunked {chunked}: {head}"
            );
        }
    }
}
