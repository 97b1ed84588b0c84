//! Per-operation cost, in process and without sockets: minting and verifying a token with each
//! algorithm (HS256, ES256, EdDSA, RS256), and the dispatch function for each endpoint (plus the
//! common client errors).
//!
//! `cargo bench --bench api`. The `dispatch` group runs with no log subscriber installed
//! (tracing's macros are then nearly free); `dispatch_logged` runs the same requests with the
//! service's real JSON log format writing to a sink, so the difference is what the access log
//! costs per request, short of the `write` system call. Both run with the server's metrics
//! exporter (Prometheus) installed, as in production: the metrics are part of the cost.

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use simple_jwt_api::config::AuthMode;
use simple_jwt_api::metrics::{BuildInfo, Prometheus};
use simple_jwt_api::token::SigningAlgorithm;
use simple_jwt_api::{AppState, Config, dispatch, telemetry};
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

const SECRET: &str = "benchmark-secret-0123456789abcdef0123456789";
const LOGIN: &str = r#"{"email":"bench@example.com","password":"bench-password"}"#;

/// The state the `server` binary builds, with the secret from the environment.
fn state() -> Arc<AppState> {
    state_with(&[("JWT_SECRET", SECRET)])
}

/// The state the `server` binary builds from these environment variables.
fn state_with(vars: &[(&str, &str)]) -> Arc<AppState> {
    let config = Config::from_lookup(|name| {
        vars.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string())
    })
    .expect("benchmark configuration");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(simple_jwt_api::startup::build_state(&config)).expect("benchmark state")
}

/// Polls `future` once: with the secret from the environment, dispatch and verification never
/// wait for anything, so the first poll completes. Panics otherwise (that would be a bug in the
/// hot path, worth knowing about).
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("expected the request to complete without waiting"),
    }
}

fn request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &'static str,
) -> Request<Bytes> {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Bytes::from_static(body.as_bytes())).unwrap()
}

/// The requests benchmarked, by name: the three endpoints under load, and client errors.
fn requests(token: &str) -> Vec<(&'static str, Request<Bytes>)> {
    let bearer = format!("Bearer {token}");
    vec![
        ("GET /", request("GET", "/", &[], "")),
        ("POST /auth", request("POST", "/auth", &[("content-type", "application/json")], LOGIN)),
        ("GET /contents", request("GET", "/contents", &[("authorization", &bearer)], "")),
        (
            "GET /contents bad signature (401)",
            request(
                "GET",
                "/contents",
                &[("authorization", &format!("{}x", &bearer[..bearer.len() - 1]))],
                "",
            ),
        ),
        ("POST /auth bad JSON (400)", request("POST", "/auth", &[], "{\"email\":")),
        ("GET /missing (404)", request("GET", "/missing", &[], "")),
    ]
}

fn run_dispatch(state: &AppState, request: &Request<Bytes>) -> Response<Bytes> {
    // Cloning the request is part of every iteration (an adapter hands dispatch an owned one);
    // its cost is measured on its own in `dispatch/clone request only`.
    ready(dispatch(state, request.clone()))
}

/// Installs the exporter the `server` binary installs. Its upkeep task (folding histogram
/// samples every second) runs on a one-worker runtime kept for the whole run, as it runs
/// beside the requests in the server.
fn install_metrics(state: &AppState) -> Prometheus {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let runtime: &'static tokio::runtime::Runtime = Box::leak(Box::new(runtime));
    let _entered = runtime.enter();
    let build = BuildInfo { algorithm: SigningAlgorithm::Hs256, auth_mode: AuthMode::Open };
    Prometheus::install(build, state.keys.clone())
        .expect("the only recorder of the benchmark process")
}

/// Minting and verifying, per algorithm (the test keys under `tests/data/keys/`; RSA 2048
/// bits): the token rules and the key pair the service builds, called directly. (Through the
/// key store, a public-key check runs on Tokio's blocking pool behind the admission bound, a
/// thread hand-off that is not the token work.) `scripts/crypto_speed.sh` runs this group
/// beside `openssl speed` for the same primitives.
fn token_ops(c: &mut Criterion) {
    use simple_jwt_api::key_material::{PrivateKey, Secret};
    use simple_jwt_api::token::{KeyPair, TokenRules};
    let ttl = std::time::Duration::from_secs(3600);
    let private = |algorithm, pem: &str| {
        let key = PrivateKey::from_pem(pem.to_owned()).unwrap();
        (TokenRules::with_claims(algorithm, ttl, 5, None, None), {
            KeyPair::from_private_key(algorithm, &key).unwrap()
        })
    };
    let (secret, _) = Secret::new(SECRET.to_owned(), false).unwrap();
    let algorithms = [
        ("HS256", (TokenRules::new(ttl, 5), KeyPair::hmac(&secret, None))),
        ("ES256", private(SigningAlgorithm::Es256, include_str!("../tests/data/keys/es256-1.pem"))),
        (
            "EdDSA",
            private(SigningAlgorithm::EdDsa, include_str!("../tests/data/keys/ed25519-1.pem")),
        ),
        (
            "RS256",
            private(SigningAlgorithm::Rs256, include_str!("../tests/data/keys/rsa-2048-1.pem")),
        ),
    ];
    let mut group = c.benchmark_group("token");
    for (algorithm, (rules, keys)) in &algorithms {
        let token = rules.issue(keys, "bench@example.com").unwrap();
        assert!(rules.verify(keys, &token).is_ok(), "{algorithm}");
        group.bench_function(format!("issue {algorithm}"), |b| {
            b.iter(|| rules.issue(keys, black_box("bench@example.com")).unwrap())
        });
        group.bench_function(format!("verify {algorithm}"), |b| {
            b.iter(|| rules.verify(keys, black_box(&token)))
        });
    }
    group.finish();
}

fn dispatch_ops(c: &mut Criterion) {
    let state = state();
    let metrics = install_metrics(&state);
    let token = state.keys.issue("bench@example.com").unwrap();
    let requests = requests(&token);
    for (name, request) in &requests {
        let status = run_dispatch(&state, request).status();
        let expected = name.rsplit_once('(').map_or("200", |(_, code)| &code[..3]);
        assert_eq!(status.as_str(), expected, "{name}");
    }

    let mut group = c.benchmark_group("dispatch");
    group.bench_function("clone request only", |b| b.iter(|| black_box(&requests[2].1).clone()));
    for (name, request) in &requests {
        group.bench_function(*name, |b| b.iter(|| run_dispatch(&state, black_box(request))));
    }
    group.finish();

    let logged =
        telemetry::json_subscriber(telemetry::parse_filter("info").unwrap(), std::io::sink);
    tracing::subscriber::with_default(logged, || {
        let mut group = c.benchmark_group("dispatch_logged");
        for (name, request) in &requests[..3] {
            group.bench_function(*name, |b| b.iter(|| run_dispatch(&state, black_box(request))));
        }
        group.finish();
    });
    let exported = metrics.render();
    assert!(
        exported.contains(
            r#"simple_jwt_api_http_requests_total{route="/auth",method="POST",status="200"}"#
        ),
        "the benchmarked requests were recorded"
    );
}

/// Users mode: one argon2id verification at OWASP's parameters as the argon2 crate's own
/// `verify_password` does it (the raw rate, the baseline), the service's verifier, and whole
/// `POST /auth` logins through dispatch — right password, wrong password, unknown user — on the
/// test users file. The login's ratio to the raw verification is what the service adds; the
/// wrong-password and unknown-user times side by side are the timing-equality check (printed,
/// never asserted).
fn login_ops(c: &mut Criterion) {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/users.htpasswd");
    let state = state_with(&[
        ("JWT_SECRET", SECRET),
        ("USERS_FILE", file),
        // No account back-off within the run: the benchmark repeats one wrong password.
        ("LOGIN_MAX_FAILURES", "1000"),
        ("LOGIN_FAILURE_WINDOW_SECONDS", "1"),
    ]);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let verifier =
        simple_jwt_api::password::Verifier::new(simple_jwt_api::password::OWASP_PARAMETERS, 1)
            .unwrap();
    let phc = verifier.hash(b"bench-password").unwrap();
    let stored = simple_jwt_api::password::StoredHash::parse(&phc, &Default::default()).unwrap();
    let login = |email: &str, password: &str| {
        let body = serde_json::json!({"email": email, "password": password}).to_string();
        Request::builder().method("POST").uri("/auth").body(Bytes::from(body)).unwrap()
    };
    let mut group = c.benchmark_group("login");
    group.sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    group.bench_function("argon2 crate verify_password (raw, OWASP m=19456 t=2 p=1)", |b| {
        let argon2 = argon2::Argon2::default();
        let parsed = PasswordHash::new(&phc).unwrap();
        b.iter(|| black_box(argon2.verify_password(b"bench-password", &parsed).is_ok()))
    });
    group.bench_function("service verifier (reused buffer)", |b| {
        b.iter(|| black_box(verifier.verify(b"bench-password", Some(&stored))))
    });
    for (name, email, password, status) in [
        ("POST /auth right password (200)", "user@example.com", "s3cr3t-pw", 200),
        ("POST /auth wrong password (401)", "user@example.com", "wrong-password", 401),
        ("POST /auth unknown user (401)", "nobody@example.com", "wrong-password", 401),
    ] {
        let request = login(email, password);
        group.bench_function(name, |b| {
            b.iter(|| {
                let response = runtime.block_on(dispatch(&state, request.clone()));
                assert_eq!(response.status(), status);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, token_ops, dispatch_ops, login_ops);
criterion_main!(benches);
