//! Metrics: one instrumentation, two exporters — like one dispatch, two adapters.
//!
//! The code records through the [`metrics`] facade, always through the functions of this
//! module, so that every name and label lives here. Each binary installs one exporter:
//!
//! - the server, [`Prometheus`] (`prometheus.rs`): Prometheus text served on the admin port's
//!   `GET /metrics`, plus the process metrics (`process_*`) read at each scrape;
//! - Lambda, [`Emf`] (`emf.rs`): CloudWatch Embedded Metric Format lines on stdout, written
//!   after each invocation, which CloudWatch Logs turns into metrics with no agent.
//!
//! This file is the catalogue (every name, label and help text) and the recording functions.
//! Gauges that describe state rather than events (the key in use) are read when the metrics
//! are exported, from whoever holds that state ([`KeyInUse`]).
//!
//! Until an exporter is installed (unit tests, benchmarks without one) recording is a no-op.
//!
//! Labels are bounded and never carry client input: routes are the router's [`Route`]s,
//! methods the common ones plus `other`, statuses the codes this service answers plus `other`,
//! outcomes and results fixed enums. No metric carries an email, a token, a secret or a
//! client's path. See docs/operations.md for the list with types and labels.

mod emf;
mod prometheus;

pub use emf::Emf;
pub use prometheus::Prometheus;

use crate::route::Route;
use crate::token::{Rejection, SigningAlgorithm};
use crate::users::AuthMode;
use http::{Method, StatusCode};
use metrics::{Counter, Gauge, Histogram, Unit};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// Prefix of every metric of this service (the process metrics keep their standard names).
pub const PREFIX: &str = "simple_jwt_api_";
/// The CloudWatch namespace of the Lambda metrics.
pub const NAMESPACE: &str = "simple-jwt-api";

/// Upper bounds of the request-duration histogram buckets, in seconds: dispatch answers in
/// microseconds, so the buckets start at 25 µs; the top ones catch a stalled secret re-read.
pub const DURATION_BUCKETS: &[f64] =
    &[0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.01, 0.05, 0.25, 1.0, 5.0];

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
const KEY_LAST_REFRESH: &str = name!("key_last_refresh_timestamp_seconds");
const SIGNATURE_CHECKS: &str = name!("signature_checks_total");
const OPEN_CONNECTIONS: &str = name!("open_connections");
const CONNECTION_LIMIT: &str = name!("connection_limit_reached_total");
const BODY_LIMIT: &str = name!("body_limit_exceeded_total");
const TIMEOUTS: &str = name!("timeouts_total");
const BUILD_INFO: &str = name!("build_info");
const LOGINS: &str = name!("logins_total");
const PASSWORD_VERIFICATIONS: &str = name!("password_verifications_total");
const PASSWORD_DURATION: &str = name!("password_verification_duration_seconds");

/// Every metric name of this service, for tests and the docs (process metrics aside).
pub const NAMES: &[&str] = &[
    REQUESTS,
    DURATION,
    TOKENS_ISSUED,
    VERIFICATIONS,
    KEY_REFRESHES,
    KEY_VERSION,
    KEY_AGE,
    KEY_LAST_REFRESH,
    SIGNATURE_CHECKS,
    OPEN_CONNECTIONS,
    CONNECTION_LIMIT,
    BODY_LIMIT,
    TIMEOUTS,
    BUILD_INFO,
    LOGINS,
    PASSWORD_VERIFICATIONS,
    PASSWORD_DURATION,
];

/// Upper bounds of the password-verification histogram, in seconds: argon2id at OWASP's
/// parameters takes tens of milliseconds on a server core, about a second at Lambda's 128 MB.
pub const PASSWORD_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5];

/// The `route` label: one per [`Route`] (its path, or `other`).
const ROUTE_LABELS: usize = Route::ALL.len();
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
const STATUSES: [u16; 11] = [200, 400, 401, 404, 405, 408, 413, 415, 429, 500, 503];
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

/// The outcome of one `POST /auth` in `users` mode (the `outcome` of `logins_total` and of the
/// access line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// The password matched: a token was issued.
    Ok,
    /// Unknown user, disabled user or wrong password (one outcome: they must look alike).
    BadCredentials,
    /// The client address's bucket was empty (429, no verification).
    Throttled,
    /// The account is in its back-off (429, no verification).
    Locked,
    /// No verification slot within the queue bound (503).
    Overloaded,
    /// The user store or the failure ledger could not answer (503).
    Unavailable,
}

impl Login {
    const ALL: [Login; 6] = [
        Login::Ok,
        Login::BadCredentials,
        Login::Throttled,
        Login::Locked,
        Login::Overloaded,
        Login::Unavailable,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Login::Ok => "ok",
            Login::BadCredentials => "bad_credentials",
            Login::Throttled => "throttled",
            Login::Locked => "locked",
            Login::Overloaded => "overloaded",
            Login::Unavailable => "unavailable",
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
    key_last_refresh: Gauge,
    signature_checks: Counter,
    /// Server only: on Lambda there are no connections, and a gauge goes out at every flush.
    open_connections: Option<Gauge>,
    connection_limit: Counter,
    body_limit: Counter,
    timeouts: [Counter; 2],
    logins: [Counter; 6],
    password_verifications: Counter,
    password_duration: Histogram,
}

static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();

/// Whoever holds the signing keys, asked for the key gauges each time the metrics are
/// exported (the key store implements it; the exporters hold it).
pub trait KeyInUse: Send + Sync {
    /// The version of the key installed last (0 for material from the environment) and when
    /// it was installed in this process.
    fn key_in_use(&self) -> (i64, SystemTime);

    /// When the key material was last read successfully (at start-up, for material that is
    /// never re-read).
    fn last_read(&self) -> SystemTime;
}

impl Instruments {
    /// Describes every metric (type, unit, help) and registers the handles, with the
    /// recorder just installed; the connection gauge only for a `server`. `algorithm` is the
    /// configured signing algorithm, for the build-info metric.
    fn register(server: bool, build: BuildInfo) -> Self {
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
            "Reads of the key material after start-up, by result (rotated, unchanged, failed)."
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
        metrics::describe_gauge!(
            KEY_LAST_REFRESH,
            Unit::Seconds,
            "When the key material was last read successfully, Unix time: by the last refresh \
             (SSM), or at start-up for material that is never re-read."
        );
        metrics::describe_counter!(
            SIGNATURE_CHECKS,
            Unit::Count,
            "Signature checks made (a token tried against one key): at most one per token in \
             the public-key modes."
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
        metrics::describe_counter!(
            LOGINS,
            Unit::Count,
            "POST /auth attempts in users mode, by outcome (ok, bad_credentials, throttled, \
             locked, overloaded, unavailable)."
        );
        metrics::describe_counter!(
            PASSWORD_VERIFICATIONS,
            Unit::Count,
            "Password hash verifications made (dummy ones for unknown users included)."
        );
        metrics::describe_histogram!(
            PASSWORD_DURATION,
            Unit::Seconds,
            "Time one password hash verification took."
        );
        metrics::describe_gauge!(BUILD_INFO, "Always 1; the labels name the build.");
        metrics::gauge!(
            BUILD_INFO,
            "version" => env!("CARGO_PKG_VERSION"),
            "algorithm" => build.algorithm.name(),
            "auth_mode" => build.auth_mode.name()
        )
        .set(1.0);

        let route_labels = Route::ALL.iter().map(|route| route.label());
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
            key_last_refresh: metrics::gauge!(KEY_LAST_REFRESH),
            signature_checks: metrics::counter!(SIGNATURE_CHECKS),
            open_connections: server.then(|| metrics::gauge!(OPEN_CONNECTIONS)),
            connection_limit: metrics::counter!(CONNECTION_LIMIT),
            body_limit: metrics::counter!(BODY_LIMIT),
            timeouts: array(
                Timeout::ALL.iter().map(|kind| metrics::counter!(TIMEOUTS, "kind" => kind.label())),
            ),
            logins: array(
                Login::ALL
                    .iter()
                    .map(|outcome| metrics::counter!(LOGINS, "outcome" => outcome.label())),
            ),
            password_verifications: metrics::counter!(PASSWORD_VERIFICATIONS),
            password_duration: metrics::histogram!(PASSWORD_DURATION),
        }
    }

    fn request_counter(&self, route: usize, method: usize, status: usize) -> &Counter {
        self.requests[(route * METHOD_LABELS + method) * STATUS_LABELS + status].get_or_init(|| {
            let route = Route::ALL[route].label();
            let method = METHODS.get(method).map_or("other", Method::as_str);
            let status = STATUSES.get(status).map_or("other", |code| status_label(*code));
            metrics::counter!(REQUESTS, "route" => route, "method" => method, "status" => status)
        })
    }

    /// Sets the gauges read at export time: the version and age of the key in use.
    fn refresh_gauges(&self, keys: &dyn KeyInUse) {
        let (version, installed) = keys.key_in_use();
        self.key_version.set(version as f64);
        let age = SystemTime::now().duration_since(installed).unwrap_or_default();
        self.key_age.set(age.as_secs_f64());
        let read = keys.last_read().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        self.key_last_refresh.set(read.as_secs_f64());
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
        429 => "429",
        500 => "500",
        503 => "503",
        _ => "other",
    }
}

fn instruments() -> Option<&'static Instruments> {
    INSTRUMENTS.get()
}

/// Describes and registers every metric with the recorder an exporter has just installed
/// (once per process; `server`: whether connection gauges exist).
fn register(server: bool, build: BuildInfo) {
    let _ = INSTRUMENTS.set(Instruments::register(server, build));
}

/// What `build_info` says of this process besides the version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildInfo {
    /// The configured signing algorithm.
    pub algorithm: SigningAlgorithm,
    /// Whether `POST /auth` checks credentials.
    pub auth_mode: AuthMode,
}

/// Sets the export-time gauges from `keys` (each exporter calls it before it writes).
fn refresh_gauges(keys: &dyn KeyInUse) {
    if let Some(instruments) = instruments() {
        instruments.refresh_gauges(keys);
    }
}

/// Records one answered request: the request counter, the duration histogram and, for 413
/// and 408, the body-limit and timeout counters. The one call made per request.
pub fn request(route: Route, method: &Method, status: StatusCode, elapsed: Duration) {
    let Some(instruments) = instruments() else {
        return;
    };
    let route = route.index();
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

/// Records signature checks made (one per key a token was tried against).
pub fn signature_checks(count: usize) {
    if let Some(instruments) = instruments()
        && count > 0
    {
        instruments.signature_checks.increment(count as u64);
    }
}

/// Records one read of the key material after start-up.
pub fn key_refresh(result: KeyRefresh) {
    if let Some(instruments) = instruments() {
        instruments.key_refreshes[result as usize].increment(1);
    }
}

/// Records the outcome of a `POST /auth` in `users` mode.
pub fn login(outcome: Login) {
    if let Some(instruments) = instruments() {
        instruments.logins[outcome as usize].increment(1);
    }
}

/// Records one password verification and how long it took.
pub fn password_verification(elapsed: Duration) {
    if let Some(instruments) = instruments() {
        instruments.password_verifications.increment(1);
        instruments.password_duration.record(elapsed.as_secs_f64());
    }
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
        for (index, outcome) in Login::ALL.iter().enumerate() {
            assert_eq!(*outcome as usize, index);
        }
        for (index, result) in KeyRefresh::ALL.iter().enumerate() {
            assert_eq!(*result as usize, index);
        }
        assert!(NAMES.iter().all(|name| name.starts_with(PREFIX)));
        assert_eq!(ROUTE_LABELS, Route::ALL.len());
    }
}
