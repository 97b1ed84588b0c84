//! The secret from SSM Parameter Store, against a real SSM API (moto's server, one for the
//! whole binary; each test uses parameter names of its own) and the real AWS SDK inside the
//! real `server` binary: start-up, rotation across a fleet, and failures. The rotation rules
//! themselves (grace, on-demand refresh, single flight) are unit-tested with injected time in
//! `src/keys.rs`; here they are proved end to end, with short periods.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::client::{contents, issue_token, request, send};
use support::metrics::{scrape, value};
use support::moto::{ACCOUNT, Moto, REGION, free_port, put_secret, sdk_env};
use support::server::{ServerProcess, run_to_exit};
use support::until;

const SECRET_V1: &str = "first-secret-from-ssm-0123456789abcdef";
const SECRET_V2: &str = "second-secret-from-ssm-0123456789abcdef";

fn env(moto: &Moto, parameter: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = moto.env();
    env.push(("JWT_SECRET_PARAMETER".into(), parameter.into()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

async fn issue(address: SocketAddr) -> String {
    issue_token(address, "rot@b.c").await
}

async fn contents_status(address: SocketAddr, token: &str) -> u16 {
    contents(address, token).await.status().as_u16()
}

/// The `kid` of `token`, after checking it is signed with `secret`.
fn kid_if_signed_with(token: &str, secret: &str) -> Option<String> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "nbf"]);
    let key = DecodingKey::from_secret(secret.as_bytes()).unwrap();
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).ok()?.header.kid
}

/// A SecureString parameter is read (decrypted) at start-up: the server issues tokens signed
/// with its value, tagged with its version, and verifies them. Prints the start-up time
/// (process start to first 200).
#[tokio::test]
async fn secret_read_from_secure_string() {
    let moto = Moto::shared();
    put_secret(&moto.client(), "/simple-jwt-api/secret", SECRET_V1).await;
    let started = Instant::now();
    let server = ServerProcess::start(&env(moto, "/simple-jwt-api/secret", &[]));
    assert_eq!(send(server.address, request("GET", "/", "")).await.status(), 200);
    eprintln!("start-up with the SSM path, process start to first 200: {:?}", started.elapsed());
    let token = issue(server.address).await;
    assert_eq!(kid_if_signed_with(&token, SECRET_V1).as_deref(), Some("1"));
    assert_eq!(contents_status(server.address, &token).await, 200);
    assert!(server.logs().iter().any(|l| l.contains("JWT secret loaded")));
    assert!(!server.logs().iter().any(|l| l.contains(SECRET_V1)));
}

/// The parameter can be named by its full ARN.
#[tokio::test]
async fn parameter_by_arn() {
    let moto = Moto::shared();
    put_secret(&moto.client(), "/simple-jwt-api/by-arn", SECRET_V1).await;
    let arn = format!("arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/simple-jwt-api/by-arn");
    let server = ServerProcess::start(&env(moto, &arn, &[]));
    let token = issue(server.address).await;
    assert!(kid_if_signed_with(&token, SECRET_V1).is_some());
}

/// Rotation across a fleet: after the parameter is overwritten, a refreshing pod signs with
/// the new value within its refresh interval; tokens of the old value keep verifying during
/// the grace period and stop after it; a pod that has not refreshed verifies a token of the
/// newer secret (its `kid` triggers an on-demand refresh); a token without `kid` minted
/// elsewhere with the new secret verifies too.
#[tokio::test]
async fn rotation_across_a_fleet() {
    let moto = Moto::shared();
    let ssm = moto.client();
    let name = "/simple-jwt-api/rotating";
    put_secret(&ssm, name, SECRET_V1).await;
    let refreshing = ServerProcess::start(&env(
        moto,
        name,
        &[("JWT_SECRET_REFRESH_SECONDS", "1"), ("JWT_SECRET_GRACE_SECONDS", "4")],
    ));
    let lagging = ServerProcess::start(&env(moto, name, &[("JWT_SECRET_REFRESH_SECONDS", "0")]));
    let old_token = issue(refreshing.address).await;
    assert_eq!(kid_if_signed_with(&old_token, SECRET_V1).as_deref(), Some("1"));

    assert_eq!(put_secret(&ssm, name, SECRET_V2).await, 2);
    let rotated_at = Instant::now();
    let mut new_token = String::new();
    // The pod rotated at or before this moment, so its grace period ends at most 4 s later.
    let seen_at = until(Duration::from_secs(5), "the new secret in use", async || {
        new_token = issue(refreshing.address).await;
        kid_if_signed_with(&new_token, SECRET_V2).is_some()
    })
    .await;
    eprintln!("new secret in use after {:?}", rotated_at.elapsed());
    assert_eq!(kid_if_signed_with(&new_token, SECRET_V2).as_deref(), Some("2"));
    assert_eq!(contents_status(refreshing.address, &new_token).await, 200);
    assert_eq!(contents_status(refreshing.address, &old_token).await, 200, "grace period");

    // The lagging pod still signs with v1, and accepts v2 tokens by refreshing on demand.
    assert_eq!(contents_status(lagging.address, &new_token).await, 200);
    let after = issue(lagging.address).await;
    assert_eq!(kid_if_signed_with(&after, SECRET_V2).as_deref(), Some("2"));

    let elsewhere = support::cases::sign(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &serde_json::json!({"email": "e@x.y", "exp": support::cases::now() + 60, "nbf": support::cases::now()}),
        SECRET_V2.as_bytes(),
    );
    assert_eq!(contents_status(refreshing.address, &elsewhere).await, 200);

    // Once the grace period has passed, the old secret no longer verifies.
    tokio::time::sleep(Duration::from_millis(4500).saturating_sub(seen_at.elapsed())).await;
    assert_eq!(contents_status(refreshing.address, &old_token).await, 401);
    assert_eq!(contents_status(refreshing.address, &new_token).await, 200);
    assert!(refreshing.logs().iter().any(|l| l.contains("JWT secret rotated")));
    for log in refreshing.logs().iter().chain(lagging.logs().iter()) {
        assert!(!log.contains(SECRET_V1) && !log.contains(SECRET_V2), "{log}");
    }

    // The key metrics of both pods: version 2 in use, installed by one rotation each (the
    // periodic refresh on one, the on-demand one on the other), and no secret in the output.
    let refreshes =
        |result: &str| format!(r#"simple_jwt_api_key_refreshes_total{{result="{result}"}}"#);
    for (pod, periodic) in [(&refreshing, true), (&lagging, false)] {
        let text = scrape(pod.admin()).await;
        assert_eq!(value(&text, "simple_jwt_api_key_version"), Some(2.0));
        assert_eq!(value(&text, &refreshes("rotated")), Some(1.0));
        assert_eq!(value(&text, &refreshes("failed")), Some(0.0));
        let age = value(&text, "simple_jwt_api_key_age_seconds").unwrap();
        assert!(age < rotated_at.elapsed().as_secs_f64() + 1.0, "key age {age}");
        // Refreshing every second for over 4 s after the rotation: unchanged reads follow.
        assert_eq!(value(&text, &refreshes("unchanged")).unwrap() > 0.0, periodic);
        assert!(!text.contains(SECRET_V1) && !text.contains(SECRET_V2));
    }
}

/// With `JWT_SECRET_GRACE_SECONDS=0` a rotation revokes the old secret's tokens at once.
#[tokio::test]
async fn zero_grace_revokes_at_once() {
    let moto = Moto::shared();
    let ssm = moto.client();
    let name = "/simple-jwt-api/revoke";
    put_secret(&ssm, name, SECRET_V1).await;
    let server = ServerProcess::start(&env(
        moto,
        name,
        &[("JWT_SECRET_REFRESH_SECONDS", "1"), ("JWT_SECRET_GRACE_SECONDS", "0")],
    ));
    let old_token = issue(server.address).await;
    put_secret(&ssm, name, SECRET_V2).await;
    until(Duration::from_secs(5), "the new secret in use", async || {
        kid_if_signed_with(&issue(server.address).await, SECRET_V2).is_some()
    })
    .await;
    assert_eq!(contents_status(server.address, &old_token).await, 401);
}

/// When SSM becomes unreachable, refreshes fail with a warning and every request keeps
/// succeeding with the last good secret. The server reaches moto through a loopback relay,
/// which the test cuts (the shared moto stays up for the other tests). Multi-threaded: the
/// relay must run while the test thread waits for the server to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssm_down_at_refresh_keeps_serving() {
    let moto = Moto::shared();
    put_secret(&moto.client(), "/simple-jwt-api/down", SECRET_V1).await;
    let relay = Relay::start(moto.address).await;
    let mut env = sdk_env(&format!("http://{}", relay.address));
    env.push(("JWT_SECRET_PARAMETER".into(), "/simple-jwt-api/down".into()));
    env.push(("JWT_SECRET_REFRESH_SECONDS".into(), "1".into()));
    let server = ServerProcess::start(&env);
    let token = issue(server.address).await;
    drop(relay);
    let load_until = Instant::now() + Duration::from_millis(2500);
    let mut requests = 0;
    while Instant::now() < load_until {
        assert_eq!(contents_status(server.address, &token).await, 200);
        assert!(kid_if_signed_with(&issue(server.address).await, SECRET_V1).is_some());
        requests += 2;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A refresh fails only after the SDK's attempts time out; wait for its warning.
    until(Duration::from_secs(15), "a refresh warning", async || {
        server.logs().iter().any(|l| l.contains("keeping the last good one"))
    })
    .await;
    assert_eq!(contents_status(server.address, &token).await, 200);
    let failed = r#"simple_jwt_api_key_refreshes_total{result="failed"}"#;
    assert!(value(&scrape(server.admin()).await, failed).unwrap() >= 1.0);
    eprintln!("{requests} requests succeeded while SSM was down");
}

/// A TCP relay on a loopback port to `target`; dropping it closes the listener and every
/// relayed connection, so the far side looks down.
struct Relay {
    address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Relay { address, task }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Aborting the accept loop drops the listener and the JoinSet, which aborts every
        // relayed connection.
        self.task.abort();
    }
}

fn assert_fails_fast(env: &[(String, String)], expected: &[&str], bound: Duration) {
    let started = Instant::now();
    let (status, output) = run_to_exit(env);
    let elapsed = started.elapsed();
    assert!(!status.success(), "{output}");
    assert!(elapsed < bound, "took {elapsed:?}: {output}");
    for text in expected {
        assert!(output.contains(text), "{text:?} not in {output}");
    }
    eprintln!("failed as expected in {elapsed:?}");
}

/// A missing parameter stops start-up at once with a message that names it.
#[tokio::test]
async fn missing_parameter_exits_clearly() {
    let moto = Moto::shared();
    assert_fails_fast(
        &env(moto, "/does/not/exist", &[]),
        &["/does/not/exist", "not found"],
        Duration::from_secs(10),
    );
}

/// A parameter whose value is too short for HS256 is refused like an env secret would be.
#[tokio::test]
async fn weak_parameter_is_refused() {
    let moto = Moto::shared();
    put_secret(&moto.client(), "/simple-jwt-api/weak", "short").await;
    assert_fails_fast(
        &env(moto, "/simple-jwt-api/weak", &[]),
        &["at least 32"],
        Duration::from_secs(10),
    );
}

/// An endpoint nobody listens on fails start-up within the bound, naming the parameter.
#[test]
fn endpoint_down_exits_within_bound() {
    let mut env = sdk_env(&format!("http://{}", free_port()));
    env.push(("JWT_SECRET_PARAMETER".into(), "/simple-jwt-api/x".into()));
    assert_fails_fast(
        &env,
        &["could not read SSM parameter \\\"/simple-jwt-api/x\\\""],
        Duration::from_secs(12),
    );
}

/// An endpoint that accepts connections but never answers fails start-up within the bound
/// (explicit attempt and operation timeouts), instead of hanging the pod.
#[test]
fn silent_endpoint_exits_within_bound() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut env = sdk_env(&format!("http://{}", listener.local_addr().unwrap()));
    env.push(("JWT_SECRET_PARAMETER".into(), "/simple-jwt-api/x".into()));
    assert_fails_fast(&env, &["could not read SSM parameter"], Duration::from_secs(12));
    drop(listener);
}

/// No region: a clear message saying how to fix it, without any network call.
#[test]
fn no_region_exits_clearly() {
    let env: Vec<(String, String)> = vec![("AWS_EC2_METADATA_DISABLED".into(), "true".into())];
    assert_fails_fast(&env, &["AWS_REGION", "JWT_SECRET"], Duration::from_secs(5));
}

/// No credentials anywhere in the chain: a clear message, fast.
#[tokio::test]
async fn no_credentials_exits_clearly() {
    let moto = Moto::shared();
    let env: Vec<(String, String)> = env(moto, "/simple-jwt-api/x", &[])
        .into_iter()
        .filter(|(k, _)| {
            !k.starts_with("AWS_ACCESS_KEY_ID") && !k.starts_with("AWS_SECRET_ACCESS_KEY")
        })
        .collect();
    assert_fails_fast(
        &env,
        &["could not read SSM parameter", "credentials"],
        Duration::from_secs(12),
    );
}
