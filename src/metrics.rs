//! Metrics: one instrumentation, two exporters — like one dispatch, two adapters.
//!
//! The code records through the [`metrics`] facade, always through the functions of this
//! module, so that every name and label lives here. Each binary installs one exporter:
//!
//! - the server, [`Prometheus`]: Prometheus text served on the admin port's `GET /metrics`,
//!   plus the process metrics (`process_*`) read at each scrape;
//! - Lambda, [`Emf`]: CloudWatch Embedded Metric Format lines on stdout, written after each
//!   invocation, which CloudWatch Logs turns into metrics with no agent.
//!
//! Until an exporter is installed (unit tests, benchmarks without one) recording is a no-op.
//!
//! Labels are bounded and never carry client input: routes are the known paths plus `other`,
//! methods the common ones plus `other`, statuses the codes this service answers plus `other`,
//! outcomes and results fixed enums. No metric carries an email, a token, a secret or a
//! client's path. See docs/operations.md for the list with types and labels.

use http::{Method, StatusCode};
use metrics::{Counter, Gauge, Histogram, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::token::{Rejection, SigningAlgorithm};

/// Prefix of every metric of this service (the process metrics keep their standard names).
pub const PREFIX: &str = "simple_jwt_api_";
/// The CloudWatch namespace of the Lambda metrics.
pub const NAMESPACE: &str = "simple-jwt-api";

/// Upper bounds of the request-duration histogram buckets, in seconds: dispatch answers in
/// microseconds, so the buckets start at 25 µs; the top ones catch a stalled secret re-read.
pub const DURATION_BUCKETS: &[f64] =
    &[0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.01, 0.05, 0.25, 1.0, 5.0];

/// How often the Prometheus recorder folds recorded histogram samples into its buckets. The
/// recorder keeps every sample (16 bytes, with its timestamp) until then, so this bounds that
/// backlog: at 100,000 requests/s a second of samples is about 1.5 MiB. With 5 s, peak RSS
/// under load was 3–4 MiB higher (docs/operations.md, "Cost").
const UPKEEP_PERIOD: Duration = Duration::from_secs(1);

macro_rules! name {
    ($suffix:literal) => {
        concat!("simple_jwt_api_", $suffix)
    };
}

const REQUESTS: &str = name!("http_requests_total");
const DURATION: &str = name!("http_request_duration_seconds");
const TOKENS_ISSUED: &str = name!("tokens_issued_total");
const VERIFICATIONS: &str = name!("token_verifications_total");
const KEY_REFRESHES: &str = name!("key_refreshes_total");
const KEY_VERSION: &str = name!("key_version");
const KEY_AGE: &str = name!("key_age_seconds");
const OPEN_CONNECTIONS: &str = name!("open_connections");
const CONNECTION_LIMIT: &str = name!("connection_limit_reached_total");
const BODY_LIMIT: &str = name!("body_limit_exceeded_total");
const TIMEOUTS: &str = name!("timeouts_total");
const BUILD_INFO: &str = name!("build_info");

/// Every metric name of this service, for tests and the docs (process metrics aside).
pub const NAMES: &[&str] = &[
    REQUESTS,
    DURATION,
    TOKENS_ISSUED,
    VERIFICATIONS,
    KEY_REFRESHES,
    KEY_VERSION,
    KEY_AGE,
    OPEN_CONNECTIONS,
    CONNECTION_LIMIT,
    BODY_LIMIT,
    TIMEOUTS,
    BUILD_INFO,
];

/// The `route` label: the paths the service routes (each is its own label), and `other` for
/// every other path.
const ROUTES: [&str; 5] =
    ["/", "/auth", "/contents", crate::dispatch::JWKS_PATH, crate::dispatch::DISCOVERY_PATH];
const ROUTE_LABELS: usize = ROUTES.len() + 1;
const METHODS: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::HEAD,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
];
const METHOD_LABELS: usize = METHODS.len() + 1;
/// Every status the service answers with (the adapters' 408 and 413 included).
const STATUSES: [u16; 10] = [200, 400, 401, 404, 405, 408, 413, 415, 500, 503];
const STATUS_LABELS: usize = STATUSES.len() + 1;

/// The outcome of a token verification (`GET /contents`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The token verified.
    Ok,
    /// No bearer token was sent.
    Missing,
    /// The token was rejected, for this reason.
    Rejected(Rejection),
}

impl Verification {
    const ALL: [Verification; 6] = [
        Verification::Ok,
        Verification::Missing,
        Verification::Rejected(Rejection::Malformed),
        Verification::Rejected(Rejection::BadSignature),
        Verification::Rejected(Rejection::Expired),
        Verification::Rejected(Rejection::NotYetValid),
    ];

    fn index(self) -> usize {
        match self {
            Verification::Ok => 0,
            Verification::Missing => 1,
            Verification::Rejected(Rejection::Malformed) => 2,
            Verification::Rejected(Rejection::BadSignature) => 3,
            Verification::Rejected(Rejection::Expired) => 4,
            Verification::Rejected(Rejection::NotYetValid) => 5,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Verification::Ok => "ok",
            Verification::Missing => "missing",
            Verification::Rejected(Rejection::Malformed) => "malformed",
            Verification::Rejected(Rejection::BadSignature) => "bad_signature",
            Verification::Rejected(Rejection::Expired) => "expired",
            Verification::Rejected(Rejection::NotYetValid) => "not_yet_valid",
        }
    }
}

/// The result of one read of the secret source after start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefresh {
    /// A new version was installed as the current key.
    Rotated,
    /// The version read is the one in use.
    Unchanged,
    /// The read failed; the last good key stays in use.
    Failed,
}

impl KeyRefresh {
    const ALL: [KeyRefresh; 3] = [KeyRefresh::Rotated, KeyRefresh::Unchanged, KeyRefresh::Failed];

    fn label(self) -> &'static str {
        match self {
            KeyRefresh::Rotated => "rotated",
            KeyRefresh::Unchanged => "unchanged",
            KeyRefresh::Failed => "failed",
        }
    }
}

/// Which time bound closed a request or connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// A request body did not arrive in full within `BODY_READ_TIMEOUT_SECONDS` (408).
    Body,
    /// A connection had no request in flight for `HEADER_READ_TIMEOUT_SECONDS`: an idle
    /// keep-alive connection, or a request head that never completed.
    Idle,
}

impl Timeout {
    const ALL: [Timeout; 2] = [Timeout::Body, Timeout::Idle];

    fn label(self) -> &'static str {
        match self {
            Timeout::Body => "body",
            Timeout::Idle => "idle",
        }
    }
}

/// The handles every recording goes through, registered once when an exporter is installed,
/// so that the request path does an index and an atomic add, not a registry lookup.
struct Instruments {
    /// `[route][method][status]`, registered on first use: most of the 528 combinations never
    /// occur, and a registered counter is exported even at zero.
    requests: Box<[OnceLock<Counter>]>,
    durations: [Histogram; ROUTE_LABELS],
    tokens_issued: Counter,
    verifications: [Counter; 6],
    key_refreshes: [Counter; 3],
    key_version: Gauge,
    key_age: Gauge,
    /// Server only: on Lambda there are no connections, and a gauge goes out at every flush.
    open_connections: Option<Gauge>,
    connection_limit: Counter,
    body_limit: Counter,
    timeouts: [Counter; 2],
}

static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();

/// The key in use: its version (0 for a secret from the environment) and when it was
/// installed, in milliseconds since the Unix epoch (0: none yet). Kept here, not in a gauge,
/// because keys are installed at start-up, possibly before an exporter is, and the age is
/// computed when metrics are exported.
static KEY_VERSION_IN_USE: AtomicI64 = AtomicI64::new(0);
static KEY_INSTALLED_MS: AtomicU64 = AtomicU64::new(0);

impl Instruments {
    /// Describes every metric (type, unit, help) and registers the handles, with the
    /// recorder just installed; the connection gauge only for a `server`. `algorithm` is the
    /// configured signing algorithm, for the build-info metric.
    fn register(server: bool, algorithm: SigningAlgorithm) -> Self {
        metrics::describe_counter!(
            REQUESTS,
            Unit::Count,
            "Requests answered, by route (known paths, else other), method and status."
        );
        metrics::describe_histogram!(
            DURATION,
            Unit::Seconds,
            "Time to answer a request once its body is read, by route."
        );
        metrics::describe_counter!(TOKENS_ISSUED, Unit::Count, "Tokens issued by POST /auth.");
        metrics::describe_counter!(
            VERIFICATIONS,
            Unit::Count,
            "Bearer tokens checked by GET /contents, by outcome."
        );
        metrics::describe_counter!(
            KEY_REFRESHES,
            Unit::Count,
            "Reads of the secret after start-up, by result (rotated, unchanged, failed)."
        );
        metrics::describe_gauge!(
            KEY_VERSION,
            Unit::Count,
            "Version of the signing key in use (the SSM parameter version; 0 from the environment)."
        );
        metrics::describe_gauge!(
            KEY_AGE,
            Unit::Seconds,
            "Time since the signing key in use was installed in this process."
        );
        metrics::describe_gauge!(OPEN_CONNECTIONS, Unit::Count, "Connections open now.");
        metrics::describe_counter!(
            CONNECTION_LIMIT,
            Unit::Count,
            "Times MAX_CONNECTIONS was reached (new connections then wait in the listen backlog)."
        );
        metrics::describe_counter!(
            BODY_LIMIT,
            Unit::Count,
            "Requests refused with 413 for a body over BODY_LIMIT_BYTES."
        );
        metrics::describe_counter!(
            TIMEOUTS,
            Unit::Count,
            "Requests (body) and connections (idle) closed by a time bound."
        );
        metrics::describe_gauge!(BUILD_INFO, "Always 1; the labels name the build.");
        metrics::gauge!(
            BUILD_INFO,
            "version" => env!("CARGO_PKG_VERSION"),
            "algorithm" => algorithm.name()
        )
        .set(1.0);

        let route_labels = ROUTES.into_iter().chain(["other"]);
        Instruments {
            requests: (0..ROUTE_LABELS * METHOD_LABELS * STATUS_LABELS)
                .map(|_| OnceLock::new())
                .collect(),
            durations: array(
                route_labels.map(|route| metrics::histogram!(DURATION, "route" => route)),
            ),
            tokens_issued: metrics::counter!(TOKENS_ISSUED),
            verifications: array(
                Verification::ALL
                    .iter()
                    .map(|outcome| metrics::counter!(VERIFICATIONS, "outcome" => outcome.label())),
            ),
            key_refreshes: array(
                KeyRefresh::ALL
                    .iter()
                    .map(|result| metrics::counter!(KEY_REFRESHES, "result" => result.label())),
            ),
            key_version: metrics::gauge!(KEY_VERSION),
            key_age: metrics::gauge!(KEY_AGE),
            open_connections: server.then(|| metrics::gauge!(OPEN_CONNECTIONS)),
            connection_limit: metrics::counter!(CONNECTION_LIMIT),
            body_limit: metrics::counter!(BODY_LIMIT),
            timeouts: array(
                Timeout::ALL.iter().map(|kind| metrics::counter!(TIMEOUTS, "kind" => kind.label())),
            ),
        }
    }

    fn request_counter(&self, route: usize, method: usize, status: usize) -> &Counter {
        self.requests[(route * METHOD_LABELS + method) * STATUS_LABELS + status].get_or_init(|| {
            let route = ROUTES.get(route).copied().unwrap_or("other");
            let method = METHODS.get(method).map_or("other", Method::as_str);
            let status = STATUSES.get(status).map_or("other", |code| status_label(*code));
            metrics::counter!(REQUESTS, "route" => route, "method" => method, "status" => status)
        })
    }

    /// Sets the gauges computed at export time (the key's version and age).
    fn refresh_gauges(&self) {
        let installed_ms = KEY_INSTALLED_MS.load(Ordering::Relaxed);
        if installed_ms == 0 {
            return;
        }
        self.key_version.set(KEY_VERSION_IN_USE.load(Ordering::Relaxed) as f64);
        self.key_age.set(unix_ms().saturating_sub(installed_ms) as f64 / 1000.0);
    }
}

fn array<T, const N: usize>(items: impl Iterator<Item = T>) -> [T; N] {
    let items: Vec<T> = items.collect();
    items.try_into().unwrap_or_else(|_| unreachable!("one handle per label value"))
}

/// The status code as a `'static` label (labels from `'static` strings cost no allocation).
fn status_label(code: u16) -> &'static str {
    match code {
        200 => "200",
        400 => "400",
        401 => "401",
        404 => "404",
        405 => "405",
        408 => "408",
        413 => "413",
        415 => "415",
        500 => "500",
        503 => "503",
        _ => "other",
    }
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64)
}

fn instruments() -> Option<&'static Instruments> {
    INSTRUMENTS.get()
}

/// Records one answered request: the request counter, the duration histogram and, for 413
/// and 408, the body-limit and timeout counters. The one call dispatch makes per request.
pub fn request(method: &Method, path: &str, status: StatusCode, elapsed: Duration) {
    let Some(instruments) = instruments() else {
        return;
    };
    let route = ROUTES.iter().position(|known| *known == path).unwrap_or(ROUTES.len());
    let method = METHODS.iter().position(|known| known == method).unwrap_or(METHODS.len());
    let code = status.as_u16();
    let status = STATUSES.iter().position(|known| *known == code).unwrap_or(STATUSES.len());
    instruments.request_counter(route, method, status).increment(1);
    instruments.durations[route].record(elapsed.as_secs_f64());
    match code {
        413 => instruments.body_limit.increment(1),
        408 => instruments.timeouts[Timeout::Body as usize].increment(1),
        _ => {}
    }
}

/// Records a token issued.
pub fn token_issued() {
    if let Some(instruments) = instruments() {
        instruments.tokens_issued.increment(1);
    }
}

/// Records the outcome of a token verification.
pub fn verification(outcome: Verification) {
    if let Some(instruments) = instruments() {
        instruments.verifications[outcome.index()].increment(1);
    }
}

/// Records one read of the secret after start-up (hook in `keys.rs`).
pub fn key_refresh(result: KeyRefresh) {
    if let Some(instruments) = instruments() {
        instruments.key_refreshes[result as usize].increment(1);
    }
}

/// Records that the key with `version` (`None`: a secret from the environment) became the
/// signing key now (hook in `keys.rs`). Works before an exporter is installed.
pub fn key_installed(version: Option<i64>) {
    KEY_VERSION_IN_USE.store(version.unwrap_or(0), Ordering::Relaxed);
    KEY_INSTALLED_MS.store(unix_ms().max(1), Ordering::Relaxed);
}

/// Records a connection opened (+1) or closed (-1).
pub fn connection_opened() {
    if let Some(gauge) = instruments().and_then(|instruments| instruments.open_connections.as_ref())
    {
        gauge.increment(1.0);
    }
}

/// See [`connection_opened`].
pub fn connection_closed() {
    if let Some(gauge) = instruments().and_then(|instruments| instruments.open_connections.as_ref())
    {
        gauge.decrement(1.0);
    }
}

/// Records that the accept loop found every connection slot taken.
pub fn connection_limit_reached() {
    if let Some(instruments) = instruments() {
        instruments.connection_limit.increment(1);
    }
}

/// Records a connection closed for idleness.
pub fn idle_timeout() {
    if let Some(instruments) = instruments() {
        instruments.timeouts[Timeout::Idle as usize].increment(1);
    }
}

/// Why an exporter could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A recorder is already installed in this process (an exporter is installed once).
    #[error("a metrics recorder is already installed: {0}")]
    AlreadyInstalled(String),
}

/// The server's exporter: renders the Prometheus text format for `GET /metrics`. Cloning is
/// shallow.
#[derive(Clone)]
pub struct Prometheus {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

impl std::fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prometheus").finish_non_exhaustive()
    }
}

impl Prometheus {
    /// Installs the Prometheus recorder as the process's recorder, registers every metric
    /// (`algorithm`: the configured signing algorithm, a label of the build-info metric) and
    /// starts the background upkeep. Call once, in a Tokio runtime.
    pub fn install(algorithm: SigningAlgorithm) -> Result<Self, InstallError> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(DURATION.to_owned()),
                DURATION_BUCKETS,
            )
            .expect("the duration buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder)
            .map_err(|err| InstallError::AlreadyInstalled(err.to_string()))?;
        let process = metrics_process::Collector::default();
        process.describe();
        let _ = INSTRUMENTS.set(Instruments::register(true, algorithm));
        let upkeep = handle.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(UPKEEP_PERIOD);
            loop {
                ticks.tick().await;
                upkeep.run_upkeep();
            }
        });
        Ok(Prometheus { handle, process })
    }

    /// The Prometheus text exposition of every metric, the process metrics read now.
    pub fn render(&self) -> String {
        self.process.collect();
        if let Some(instruments) = instruments() {
            instruments.refresh_gauges();
        }
        self.handle.render()
    }
}

/// Lambda's exporter: writes the metrics recorded since the last flush as CloudWatch Embedded
/// Metric Format lines.
#[derive(Clone, Copy)]
pub struct Emf {
    collector: &'static metrics_cloudwatch_embedded::Collector,
}

impl std::fmt::Debug for Emf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emf").finish_non_exhaustive()
    }
}

impl Emf {
    /// Installs the EMF recorder as the process's recorder (namespace [`NAMESPACE`]; a
    /// `function` dimension when the function's name is known) and registers every metric
    /// (`algorithm`: the configured signing algorithm, a label of the build-info metric).
    pub fn install(
        function_name: Option<&str>,
        algorithm: SigningAlgorithm,
    ) -> Result<Self, InstallError> {
        let mut builder =
            metrics_cloudwatch_embedded::Builder::new().cloudwatch_namespace(NAMESPACE);
        if let Some(name) = function_name {
            builder = builder.with_dimension("function", name.to_owned());
        }
        let collector =
            builder.init().map_err(|err| InstallError::AlreadyInstalled(err.to_string()))?;
        let _ = INSTRUMENTS.set(Instruments::register(false, algorithm));
        Ok(Emf { collector })
    }

    /// Writes what was recorded since the last flush to `out`, one JSON document per line
    /// and label set (counters as deltas, histogram samples as value lists, gauges as
    /// current values).
    pub fn flush(&self, out: impl std::io::Write) -> std::io::Result<()> {
        if let Some(instruments) = instruments() {
            instruments.refresh_gauges();
        }
        self.collector.flush(out)
    }

    /// Runs `invocation`, then writes the metrics to stdout before the response is handed
    /// back: Lambda may freeze the process as soon as it has the response. Stdout stays
    /// locked while writing, so the lines never interleave with log lines.
    pub async fn flushed<F: std::future::Future>(self, invocation: F) -> F::Output {
        let output = invocation.await;
        if let Err(err) = self.flush(std::io::stdout().lock()) {
            tracing::warn!(error = %err, "could not write the CloudWatch metrics");
        }
        output
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every label set is bounded: any path, method or status outside the known ones maps to
    /// `other`, and the indexes stay inside the handle tables.
    #[test]
    fn labels_are_bounded() {
        assert_eq!(Verification::ALL.len(), 6);
        for (index, outcome) in Verification::ALL.iter().enumerate() {
            assert_eq!(outcome.index(), index);
        }
        for code in STATUSES {
            assert_eq!(status_label(code), code.to_string());
        }
        assert_eq!(status_label(418), "other");
        for (index, kind) in Timeout::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, index);
        }
        for (index, result) in KeyRefresh::ALL.iter().enumerate() {
            assert_eq!(*result as usize, index);
        }
        assert!(NAMES.iter().all(|name| name.starts_with(PREFIX)));
    }

    /// The Lambda exporter writes valid CloudWatch Embedded Metric Format: every line is a
    /// JSON object whose `_aws` member has a millisecond `Timestamp` and one `CloudWatchMetrics`
    /// directive (namespace, one dimension set, metric names and units); every dimension and
    /// every metric named there has its value at the top level; the names are this module's.
    /// Counters go out as deltas: a second flush with nothing recorded writes only gauges.
    /// (The only test in this binary that installs a recorder: there is one per process.)
    #[test]
    fn emf_lines_are_valid_embedded_metric_format() {
        let emf = Emf::install(Some("unit-test-function"), SigningAlgorithm::EdDsa).unwrap();
        key_installed(Some(7));
        request(&Method::POST, "/auth", StatusCode::OK, Duration::from_micros(120));
        request(
            &Method::GET,
            "/secret-path/user@example.com",
            StatusCode::NOT_FOUND,
            Duration::ZERO,
        );
        token_issued();
        verification(Verification::Rejected(Rejection::Expired));
        let mut out = Vec::new();
        emf.flush(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("user@example.com") && !text.contains("secret-path"), "{text}");

        let mut seen = std::collections::BTreeSet::new();
        for line in text.lines() {
            let document: serde_json::Value = serde_json::from_str(line).unwrap();
            let aws = &document["_aws"];
            assert!(aws["Timestamp"].as_u64().unwrap() > 1_600_000_000_000, "{line}");
            let directives = aws["CloudWatchMetrics"].as_array().unwrap();
            assert_eq!(directives.len(), 1, "{line}");
            let directive = &directives[0];
            assert_eq!(directive["Namespace"], NAMESPACE);
            let dimension_sets = directive["Dimensions"].as_array().unwrap();
            assert_eq!(dimension_sets.len(), 1, "{line}");
            let dimensions = dimension_sets[0].as_array().unwrap();
            assert!(dimensions.len() <= 30 && dimensions.iter().any(|d| d == "function"));
            for dimension in dimensions {
                assert!(document[dimension.as_str().unwrap()].is_string(), "{line}");
            }
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                assert!(NAMES.contains(&name), "{name}");
                let value = &document[name];
                assert!(value.is_number() || value.as_array().is_some_and(|v| !v.is_empty()));
                seen.insert(name.to_owned());
            }
        }
        for name in [REQUESTS, DURATION, TOKENS_ISSUED, VERIFICATIONS, KEY_VERSION, BUILD_INFO] {
            assert!(seen.contains(name), "{name} missing from {text}");
        }
        assert!(text.contains(r#""route":"other""#), "{text}");
        assert!(text.contains(r#""outcome":"expired""#), "{text}");
        assert!(text.contains(r#""algorithm":"EdDSA""#), "the configured algorithm: {text}");

        let mut again = Vec::new();
        emf.flush(&mut again).unwrap();
        let again = String::from_utf8(again).unwrap();
        assert!(!again.contains(REQUESTS) && !again.contains(TOKENS_ISSUED), "{again}");
        assert!(again.contains(KEY_AGE), "{again}");
        assert!(!text.contains(OPEN_CONNECTIONS), "no connections on Lambda: {text}");
    }
}
