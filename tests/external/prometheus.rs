//! The admin port as Prometheus sees it: a real Prometheus server (Debian's `prometheus`
//! package) started on loopback with a temporary configuration and storage, scraping the
//! real `server` binary; `promtool check metrics` on our output; and Python's `http.client`
//! sending an oversized body.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::TEST_SECRET;
use support::client::{json, request, send};
use support::metrics::scrape;
use support::server::{ServerProcess, env_with_secret};

/// Where `tool` (`prometheus` or `promtool`) is, at the version `scripts/versions.env` pins;
/// Debian's `prometheus` package is installed first when it is missing (never skipped).
fn installed(tool: &str) -> PathBuf {
    let path = support::tools::debian_tool("prometheus", tool);
    let version = support::tools::run(Command::new(&path).arg("--version"));
    let pinned = support::tools::pin("PROMETHEUS");
    assert!(
        version.contains(&format!("version {pinned}")),
        "{tool} is not the pinned {pinned} (scripts/versions.env): {version}"
    );
    path
}

/// A Prometheus server on a free loopback port, scraping `target` every second, with its
/// configuration and storage in a scratch directory. Killed and cleaned up when dropped.
struct Prometheus {
    child: Child,
    address: SocketAddr,
    dir: PathBuf,
}

impl Prometheus {
    fn start(target: SocketAddr) -> Prometheus {
        let binary = installed("prometheus");
        let address = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let dir = support::scratch_dir().join(format!("prometheus-{}", address.port()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: simple-jwt-api\n    static_configs:\n      \
                 - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={address}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        Prometheus { child, address, dir }
    }

    /// The value of the instant query `promql` now, or `None` while it has no result (or
    /// Prometheus does not answer yet).
    async fn query(&self, promql: &str) -> Option<f64> {
        let uri = format!("/api/v1/query?query={}", percent_encode(promql));
        // `send` fails the test when it cannot connect: probe first, Prometheus may still be
        // starting.
        tokio::net::TcpStream::connect(self.address).await.ok()?;
        let response = send(self.address, request("GET", &uri, "")).await;
        if response.status() == 503 {
            return None; // listening, but its storage is not ready yet
        }
        let body = json(&response);
        assert_eq!(body["status"], "success", "{promql}: {body}");
        let value = &body["data"]["result"].as_array()?.first()?["value"][1];
        value.as_str()?.parse().ok()
    }

    /// Polls `promql` until it equals `expected`, for at most 60 s (Prometheus starts and
    /// scrapes every second; the bound is for a loaded machine).
    async fn wait_for(&self, promql: &str, expected: f64) -> Duration {
        let started = Instant::now();
        loop {
            let value = self.query(promql).await;
            if value == Some(expected) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{promql} is {value:?} after 60 s, expected {expected}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Query-string encoding of everything but unreserved characters (RFC 3986).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// A real Prometheus scrapes the admin port: once it has scraped the idle server (target up,
/// request histograms at zero), a known request mix — 5 `GET /`, 2 tokens issued, 1
/// `GET /contents` with no token — shows up in its queries as exactly those counter values
/// and histogram counts, and `histogram_quantile` works on the buckets.
#[tokio::test]
async fn prometheus_scrapes_the_admin_port() {
    let server = ServerProcess::start(&env_with_secret(TEST_SECRET));
    let prometheus = Prometheus::start(server.admin());
    let up = prometheus.wait_for(r#"up{job="simple-jwt-api"}"#, 1.0).await;
    let auth_count = r#"simple_jwt_api_http_request_duration_seconds_count{route="/auth"}"#;
    prometheus.wait_for(auth_count, 0.0).await;
    assert_eq!(prometheus.query(r#"simple_jwt_api_http_requests_total{route="/"}"#).await, None);

    for _ in 0..5 {
        assert_eq!(send(server.address, request("GET", "/", "")).await.status(), 200);
    }
    for _ in 0..2 {
        let login = request("POST", "/auth", r#"{"email":"scraped@example.com","password":"x"}"#);
        assert_eq!(send(server.address, login).await.status(), 200);
    }
    assert_eq!(send(server.address, request("GET", "/contents", "")).await.status(), 401);

    let requests = r#"simple_jwt_api_http_requests_total{route="/",method="GET",status="200"}"#;
    let moved = prometheus.wait_for(requests, 5.0).await;
    prometheus.wait_for(auth_count, 2.0).await;
    prometheus.wait_for("simple_jwt_api_tokens_issued_total", 2.0).await;
    prometheus
        .wait_for(r#"simple_jwt_api_token_verifications_total{outcome="missing"}"#, 1.0)
        .await;
    prometheus.wait_for(r#"sum(simple_jwt_api_http_requests_total{status="401"})"#, 1.0).await;
    let p99 = r#"histogram_quantile(0.99, simple_jwt_api_http_request_duration_seconds_bucket{route="/"})"#;
    let p99 = prometheus.query(p99).await.expect("a quantile from the buckets");
    assert!(p99 > 0.0 && p99 <= 5.0, "{p99}");
    assert!(prometheus.query("process_resident_memory_bytes").await.unwrap() > 0.0);
    eprintln!(
        "Prometheus: target up after {up:.1?}; request mix visible {moved:.1?} later; p99 of GET / {p99}s"
    );
}

/// `promtool check metrics` (Prometheus' own linter) accepts the admin port's output with no
/// finding, after requests have registered the lazily created series too.
#[tokio::test]
async fn promtool_accepts_our_metrics() {
    let server = ServerProcess::start(&env_with_secret(TEST_SECRET));
    let login = request("POST", "/auth", r#"{"email":"lint@example.com","password":"x"}"#);
    assert_eq!(send(server.address, login).await.status(), 200);
    assert_eq!(send(server.address, request("DELETE", "/nowhere", "")).await.status(), 404);
    let text = scrape(server.admin()).await;
    let mut promtool = Command::new(installed("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    promtool.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = promtool.wait_with_output().unwrap();
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success() && findings.trim().is_empty(), "{findings}\n{text}");
}

/// Python's `http.client` sends a whole 16 MiB body to `POST /auth` before reading the
/// response; it gets the 413 on each of five attempts (before the lingering close it saw
/// `BrokenPipeError` or a reset).
#[test]
fn python_http_client_gets_413_for_a_16_mib_body() {
    let server = ServerProcess::start(&env_with_secret(TEST_SECRET));
    let script = r#"
import http.client, sys
results = []
for attempt in range(5):
    connection = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
    try:
        connection.request("POST", "/auth", body=b"x" * (16 * 1024 * 1024),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        results.append(str(response.status))
    except Exception as error:
        results.append(type(error).__name__)
    finally:
        connection.close()
print(" ".join(results))
"#;
    let output = Command::new("python3")
        .args(["-c", script, &server.address.port().to_string()])
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout.trim(), "413 413 413 413 413");
}
