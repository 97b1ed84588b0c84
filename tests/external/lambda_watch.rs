//! End to end through a real Lambda runtime API: `cargo lambda watch` (installed by the test
//! into a cached virtualenv) runs the `lambda` binary behind its runtime API emulator and its
//! Function URL front on a free loopback port. The conformance table goes through the front
//! over HTTP, and every event fixture goes through `cargo lambda invoke --data-file`.

use bytes::Bytes;
use http::{Request, Response};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use support::TEST_SECRET;
use support::cases::run_case_table;
use support::client::send_with_prefix;
use support::fixtures::{FIXTURES, Fixture, PLACEHOLDER, Source};
use support::tools;

/// cargo-lambda and the zig toolchain its pip package requires, as verified.
fn cargo_lambda() -> [String; 2] {
    [tools::requirement("cargo-lambda", "CARGO_LAMBDA"), tools::requirement("ziglang", "ZIGLANG")]
}
/// Where `cargo lambda watch` serves the function named after the `lambda` binary.
const PREFIX: &str = "/lambda-url/lambda";
/// Bound on start-up. The function is prebuilt, so it answers within seconds (watch itself
/// takes most of them: it walks the package's directory tree, `target/` included, before it
/// listens); the bound covers `cargo run` waiting for the target directory lock while other
/// cargo commands build.
const READY_WITHIN: Duration = Duration::from_secs(600);

/// A running `cargo lambda watch` and everything it started. Dropping it stops the whole
/// process group (watch, the `cargo run` it spawns, and the function processes).
pub(super) struct Watch {
    child: Child,
    address: SocketAddr,
    path: std::ffi::OsString,
    logs: Arc<Mutex<Vec<String>>>,
    /// Where event files for `cargo lambda invoke` are written; removed on drop.
    scratch: PathBuf,
}

impl Watch {
    /// Installs cargo-lambda (cached), builds the `lambda` binary, starts
    /// `cargo lambda watch -A 127.0.0.1 -P <free port> --bin lambda` with the test secret and
    /// waits until the function answers `GET /`.
    async fn start() -> Watch {
        Self::start_with(&[]).await
    }

    /// [`Watch::start`] with more `--env-var NAME=VALUE` for the function.
    pub(super) async fn start_with(env: &[(&str, &str)]) -> Watch {
        let started = Instant::now();
        let venv_bin = tools::venv("lambda", &cargo_lambda());
        eprintln!("cargo-lambda ready after {:?}", started.elapsed());
        let path = std::env::join_paths(
            std::iter::once(venv_bin)
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .unwrap();
        // watch starts the function with `cargo run --bin lambda`: build it first so compile
        // errors fail here, loudly, and are not charged to the start-up bound.
        let build = cargo(&path).args(["build", "--quiet", "--bin", "lambda"]).output().unwrap();
        assert!(build.status.success(), "{}", String::from_utf8_lossy(&build.stderr));
        eprintln!("lambda binary built after {:?}", started.elapsed());

        let address = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let mut child = cargo(&path)
            .args(["lambda", "watch", "-A", "127.0.0.1", "-P", &address.port().to_string()])
            .args(["--bin", "lambda", "--ignore-changes"])
            .args(["--env-var", &format!("JWT_SECRET={TEST_SECRET}")])
            .args(["--env-var", "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true"])
            .args(
                env.iter()
                    .flat_map(|(name, value)| ["--env-var".to_owned(), format!("{name}={value}")]),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("CARGO_TERM_COLOR", "never")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cargo lambda watch");
        let logs = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let logs = Arc::clone(&logs);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    logs.lock().unwrap_or_else(PoisonError::into_inner).push(line);
                }
            });
        }
        let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "lambda-watch-{}-{}",
            std::process::id(),
            address.port()
        ));
        std::fs::create_dir_all(&scratch).unwrap();
        let mut watch = Watch { child, address, path, logs, scratch };
        watch.wait_ready().await;
        watch
    }

    /// Polls until watch listens, then waits for the first answer: watch holds that request
    /// until `cargo run` has started the function. Any answer but 200 fails at once, and so
    /// does watch exiting or reporting that the function process exited (watch would keep the
    /// request waiting).
    async fn wait_ready(&mut self) {
        let started = Instant::now();
        let address = self.address;
        let logs = Arc::clone(&self.logs);
        let child = &mut self.child;
        let failed = async {
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    return format!("cargo lambda watch exited with {status}");
                }
                if logs.lock().unwrap().iter().any(|line| line.contains("command exited")) {
                    return "the function process exited".to_owned();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let answered = async {
            loop {
                match try_get(address, &format!("{PREFIX}/")).await {
                    Ok(response) => return response.status(),
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        };
        let problem = tokio::select! {
            status = answered => match status.as_u16() {
                200 => {
                    eprintln!("cargo lambda watch answered after {:?}", started.elapsed());
                    return;
                }
                _ => format!("cargo lambda watch answered GET / with {status}"),
            },
            problem = failed => problem,
            () = tokio::time::sleep(READY_WITHIN) => {
                format!("cargo lambda watch did not answer within {READY_WITHIN:?}")
            }
        };
        let output = logs.lock().unwrap().join("\n");
        panic!("{problem}; output:\n{output}");
    }

    /// `cargo lambda invoke lambda -A 127.0.0.1 -P <port> --data-file <event>`.
    fn invoke(&self, event: &Path) -> Output {
        cargo(&self.path)
            .args(["lambda", "invoke", "lambda", "-A", "127.0.0.1"])
            .args(["-P", &self.address.port().to_string(), "--data-file"])
            .arg(event)
            .output()
            .expect("run cargo lambda invoke")
    }

    /// Invokes the function with `event` (written to a scratch file) and returns the
    /// invocation's response JSON.
    pub(super) fn invoke_event(&self, name: &str, event: &str) -> Value {
        let file = self.scratch.join(name);
        std::fs::write(&file, event).unwrap();
        self.invoke_file(&file)
    }

    /// Invokes the function with the event in `file` and returns the invocation's response
    /// JSON; panics if invoke fails.
    fn invoke_file(&self, file: &Path) -> Value {
        let output = self.invoke(file);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "invoke {} failed: {stdout}\n{}\nwatch output:\n{}",
            file.display(),
            String::from_utf8_lossy(&output.stderr),
            self.logs()
        );
        serde_json::from_str(&stdout).unwrap_or_else(|err| {
            panic!("invoke {} printed no JSON ({err}): {stdout}", file.display())
        })
    }

    /// Where watch's Function URL front listens.
    pub(super) fn address(&self) -> SocketAddr {
        self.address
    }

    pub(super) fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // SIGTERM lets watch stop its function instances; SIGKILL the group if it lingers.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// `cargo` (the one running the tests) in the repository root, with `path` as `PATH`, and
/// without the per-package variables cargo set for this test process (`CARGO_MANIFEST_DIR`,
/// `CARGO_PKG_*`, ...): build scripts such as ring's declare `rerun-if-env-changed` on some of
/// them, so a nested cargo that inherits them would rebuild those crates, and the next plain
/// `cargo build` would rebuild them back.
fn cargo(path: &std::ffi::OsStr) -> Command {
    const PER_PACKAGE: &[&str] = &[
        "CARGO_MANIFEST_",
        "CARGO_PKG_",
        "CARGO_CRATE_",
        "CARGO_BIN_",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
    ];
    let mut command = Command::new(env!("CARGO"));
    for (name, _) in std::env::vars_os() {
        if PER_PACKAGE.iter().any(|prefix| name.to_string_lossy().starts_with(prefix)) {
            command.env_remove(name);
        }
    }
    command.current_dir(env!("CARGO_MANIFEST_DIR")).env("PATH", path);
    command
}

/// A GET that reports connection errors instead of panicking (watch may not listen yet).
async fn try_get(address: SocketAddr, path: &str) -> std::io::Result<http::Response<()>> {
    use http_body_util::Empty;
    let stream = tokio::net::TcpStream::connect(address).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
    tokio::spawn(connection);
    let request = http::Request::get(path)
        .header("host", address.to_string())
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.map_err(std::io::Error::other)?;
    Ok(response.map(|_| ()))
}

/// The whole conformance table passes through cargo lambda: over HTTP through watch's Function
/// URL front, which turns each request into a payload 2.0 event for the function and its
/// response back into HTTP. Two kinds of request that front cannot carry as AWS would go
/// instead as the Function URL event AWS would build, with `cargo lambda invoke`: a non-UTF-8
/// body (cargo-lambda 1.9.2 answers it with its own 500; Function URLs base64-encode it) and
/// a repeated header (cargo-lambda forwards only the first value; Function URLs join the
/// values with commas).
async fn case_table_through_watch(watch: &Watch) {
    let started = Instant::now();
    let table = tokio::time::timeout(
        Duration::from_secs(120),
        run_case_table(|request| send_through_watch(watch, request)),
    )
    .await;
    assert!(table.is_ok(), "the case table timed out; watch output:\n{}", watch.logs());
    eprintln!("case table through cargo lambda watch took {:?}", started.elapsed());
    let logs = watch.logs();
    assert!(logs.contains("\"message\":\"request\""), "no access log from the function:\n{logs}");
    assert!(!logs.contains(TEST_SECRET), "the secret reached watch's output");
}

/// The function's metrics leave as CloudWatch Embedded Metric Format lines on stdout, which
/// CloudWatch Logs turns into metrics: after the case table, the output holds EMF documents —
/// JSON objects whose `_aws` directive (millisecond timestamp, namespace, one dimension set,
/// metric names) matches the values beside it — carrying the same metric names as the
/// server's Prometheus output, and never a token, an email or the secret.
fn metrics_leave_as_emf_lines(watch: &Watch) {
    let logs = watch.logs();
    let mut names = std::collections::BTreeSet::new();
    // What CloudWatch bills as custom metrics: each name with its dimension values.
    let mut series = std::collections::BTreeSet::new();
    let mut documents = 0;
    let mut sampled = false;
    for line in logs.lines() {
        let Some(start) = line.find(r#"{"_aws":"#) else { continue };
        let document: Value = serde_json::from_str(&line[start..])
            .unwrap_or_else(|err| panic!("not JSON ({err}): {line}"));
        documents += 1;
        let aws = &document["_aws"];
        assert!(aws["Timestamp"].as_u64().is_some_and(|ms| ms > 1_600_000_000_000), "{line}");
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], simple_jwt_api::metrics::NAMESPACE, "{line}");
        let mut dimensions = Vec::new();
        for dimension in directive["Dimensions"][0].as_array().expect("one dimension set") {
            let value = &document[dimension.as_str().unwrap()];
            assert!(value.is_string(), "{dimension}: {line}");
            dimensions.push(format!("{dimension}={value}"));
        }
        for metric in directive["Metrics"].as_array().expect("metrics") {
            let name = metric["Name"].as_str().unwrap();
            let value = &document[name];
            assert!(value.is_number() || value.is_array(), "{name} has no value: {line}");
            names.insert(name.to_owned());
            series.insert(format!("{name}{dimensions:?}"));
        }
        for secret in [TEST_SECRET, "eyJ", "@example.com"] {
            assert!(!line.contains(secret), "{secret} in a metrics line: {line}");
        }
        if line.contains("simple_jwt_api_http_requests_total") && !sampled {
            sampled = true;
            eprintln!("an EMF line from the function: {}", &line[start..]);
        }
    }
    for name in &names {
        assert!(simple_jwt_api::metrics::NAMES.contains(&name.as_str()), "unknown metric {name}");
    }
    for name in [
        "simple_jwt_api_http_requests_total",
        "simple_jwt_api_http_request_duration_seconds",
        "simple_jwt_api_tokens_issued_total",
        "simple_jwt_api_token_verifications_total",
    ] {
        assert!(names.contains(name), "no {name} among the EMF lines:\n{logs}");
    }
    eprintln!(
        "{documents} EMF documents, {} distinct metrics (name and dimension values), names \
         {names:?}",
        series.len()
    );
}

/// Sends one case-table request through watch: over HTTP, or as a Function URL event with
/// `cargo lambda invoke` when the front cannot carry it faithfully.
async fn send_through_watch(watch: &Watch, request: Request<Bytes>) -> Response<Bytes> {
    let repeated_header =
        request.headers().keys().any(|name| request.headers().get_all(name).iter().count() > 1);
    if std::str::from_utf8(request.body()).is_ok() && !repeated_header {
        return send_with_prefix(watch.address, PREFIX, request).await;
    }
    let event = support::events::event(Source::FunctionUrl, request);
    support::events::response(&watch.invoke_event("case.json", &event.to_string()))
}

/// Every event fixture sent with `cargo lambda invoke` gets its expected response, in the
/// response format of its event source (REST: `multiValueHeaders`; HTTP API and Function
/// URL: `headers` and `cookies`; ALB: both maps and `statusDescription`), with a text body.
/// Client errors (400, 415, 401 for the unreplaced `{{TOKEN}}`) are responses, so invoke
/// exits 0; a payload that is no HTTP event is an invocation error and exits non-zero.
fn every_fixture_through_invoke(watch: &Watch) {
    let started = Instant::now();
    let login = FIXTURES.iter().find(|f| f.file == "apigw_rest_v1_stage.json").unwrap();
    let response = invoked(watch, login, None);
    let mut invocations = 1;
    let token = serde_json::from_slice::<Value>(response.body()).unwrap()["token"]
        .as_str()
        .expect("a token from POST /auth")
        .to_owned();

    let mut failures = Vec::new();
    for fixture in FIXTURES {
        let response = invoked(watch, fixture, Some(&token));
        invocations += 1;
        let headers = response.headers();
        let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        if let Err(problem) =
            support::fixtures::check(fixture, response.status().as_u16(), header, response.body())
        {
            failures.push(format!("{}: {problem}", fixture.file));
        }
        if fixture.needs_token() {
            let response = invoked(watch, fixture, None);
            invocations += 1;
            let challenge = response.headers().get("www-authenticate");
            if response.status() != 401
                || !challenge.is_some_and(|c| c.as_bytes().starts_with(b"Bearer"))
            {
                failures.push(format!("{} with {PLACEHOLDER}: {response:?}", fixture.file));
            }
        }
    }
    assert!(failures.is_empty(), "{}\nwatch output:\n{}", failures.join("\n"), watch.logs());

    let not_http = watch.scratch.join("not_http.json");
    std::fs::write(&not_http, r#"{"foo": 1}"#).unwrap();
    let output = watch.invoke(&not_http);
    assert!(!output.status.success(), "a non-HTTP payload must be an invocation error");
    eprintln!("{} invocations took {:?}", invocations + 1, started.elapsed());
}

/// Invokes `fixture` — the file in `tests/data/` itself, or a scratch copy when `token` is
/// given and the file has the `{{TOKEN}}` placeholder — checks that the response JSON has the
/// shape of the fixture's source and a text body, and returns it as an HTTP response.
fn invoked(watch: &Watch, fixture: &Fixture, token: Option<&str>) -> Response<Bytes> {
    let response = match token {
        Some(token) if fixture.needs_token() => {
            watch.invoke_event(fixture.file, &fixture.with_token(token))
        }
        _ => watch.invoke_file(&support::fixtures::data_dir().join(fixture.file)),
    };
    let shape_ok = match fixture.source {
        Source::RestV1 => {
            response["headers"].as_object().is_some_and(|h| h.is_empty())
                && response["multiValueHeaders"]["content-type"][0] == "application/json"
        }
        Source::HttpV2 | Source::FunctionUrl => {
            response["cookies"].is_array()
                && response["headers"]["content-type"] == "application/json"
        }
        Source::Alb => {
            response["statusDescription"].as_str().is_some_and(|d| d.starts_with(char::is_numeric))
                && response["headers"]["content-type"] == "application/json"
                && response["multiValueHeaders"]["content-type"][0] == "application/json"
        }
    };
    assert!(shape_ok, "{}: not a {:?} response: {response}", fixture.file, fixture.source);
    assert_eq!(response["isBase64Encoded"], false, "{}: body must be text", fixture.file);
    support::events::response(&response)
}

/// cargo-lambda end to end, with one `cargo lambda watch` for every check (it is the slowest
/// tool to start): the conformance table through watch's Function URL front
/// ([`case_table_through_watch`]), the metrics it left as EMF lines
/// ([`metrics_leave_as_emf_lines`]), then every fixture with `cargo lambda invoke`
/// ([`every_fixture_through_invoke`]).
#[tokio::test]
async fn cargo_lambda_end_to_end() {
    let watch = Watch::start().await;
    case_table_through_watch(&watch).await;
    metrics_leave_as_emf_lines(&watch);
    every_fixture_through_invoke(&watch);
}
