//! `users` mode end to end on the real `server` binary: the users-mode case table, the open
//! mode's warning, the `server users hash` command, start-up refusals, and guessing and flooding
//! measured by the service's own metrics.

use bytes::Bytes;
use http::Request;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::cases::{INVALID_CREDENTIALS, run_users_case_table, users_env};
use support::client::{json, request, send};
use support::metrics::{scrape, value};
use support::server::{ServerProcess, run_to_exit};

fn with(mut env: Vec<(String, String)>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

fn login(email: &str, password: &str) -> Request<Bytes> {
    request("POST", "/auth", serde_json::json!({"email": email, "password": password}).to_string())
}

fn login_from(email: &str, password: &str, forwarded_for: &str) -> Request<Bytes> {
    let mut request = login(email, password);
    request.headers_mut().insert("x-forwarded-for", forwarded_for.parse().unwrap());
    request
}

async fn verifications(server: &ServerProcess) -> f64 {
    let text = scrape(server.admin()).await;
    value(&text, "simple_jwt_api_password_verifications_total").unwrap_or(0.0)
}

/// The users-mode conformance table passes against the server adapter.
#[tokio::test]
async fn server_passes_the_users_case_table() {
    let server = ServerProcess::start(&users_env());
    run_users_case_table(|request| send(server.address, request)).await;
    let logs = server.logs().join("\n");
    assert!(!logs.contains("s3cr3t-pw") && !logs.contains("$argon2id$"), "{logs}");
    assert!(logs.contains(r#""login":"bad_credentials""#), "the access line has the outcome");
    let text = scrape(server.admin()).await;
    assert!(text.contains(r#"auth_mode="users""#), "build_info: {text}");
}

/// With no store, open mode: any password gets a token, one WARN line says so, and build_info
/// says `open`.
#[tokio::test]
async fn open_mode_warns_that_it_vouches_for_nobody() {
    let server = ServerProcess::start(&support::server::env_with_secret(support::TEST_SECRET));
    assert_eq!(send(server.address, login("a@b.c", "anything")).await.status(), 200);
    let warnings: Vec<String> = server
        .logs()
        .into_iter()
        .filter(|line| line.contains(r#""level":"WARN""#) && line.contains("vouches for nobody"))
        .collect();
    assert_eq!(warnings.len(), 1, "{:?}", server.logs());
    assert!(scrape(server.admin()).await.contains(r#"auth_mode="open""#));
}

/// A password piped to `server users hash` gives a PHC string; a file with it lets the user
/// log in; the password appears in no output.
#[tokio::test]
async fn a_user_made_by_the_command_logs_in() {
    let mut child = Command::new(support::binary("server"))
        .args(["users", "hash"])
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"made-by-the-command\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let phc = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("made-by-the-command"));
    let file = support::scratch_dir().join(format!("users-command-{}", std::process::id()));
    std::fs::write(&file, format!("# made by server users hash\nnew@example.com:{phc}\n")).unwrap();
    let env = vec![
        ("JWT_SECRET".to_owned(), support::TEST_SECRET.to_owned()),
        ("USERS_FILE".to_owned(), file.display().to_string()),
    ];
    let server = ServerProcess::start(&env);
    let response = send(server.address, login("New@Example.com", "made-by-the-command")).await;
    assert_eq!(response.status(), 200, "{:?}", response.body());
    assert_eq!(
        send(server.address, login("new@example.com", "made-by-the-commanD")).await.status(),
        401
    );
    std::fs::remove_file(file).unwrap();

    // Usage errors exit 2; an empty password is refused.
    let usage =
        Command::new(support::binary("server")).args(["users", "frobnicate"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
    let mut child = Command::new(support::binary("server"))
        .args(["users", "hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
}

/// A missing file, a weak hash, a duplicate user, contradictory settings: exit 2 naming the
/// variable (and the line), never a hash.
#[test]
fn bad_stores_stop_start_up() {
    let dir = support::scratch_dir();
    let weak = dir.join(format!("users-weak-{}", std::process::id()));
    let weak_hash =
        "$argon2id$v=19$m=4096,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
    std::fs::write(&weak, format!("ok@example.com:{weak_hash}\n")).unwrap();
    let secret = ("JWT_SECRET".to_owned(), support::TEST_SECRET.to_owned());
    let cases: Vec<(Vec<(String, String)>, &str)> = vec![
        (
            vec![secret.clone(), ("USERS_FILE".into(), "/nonexistent/users".into())],
            "USERS_FILE: cannot read /nonexistent/users",
        ),
        (
            vec![secret.clone(), ("USERS_FILE".into(), weak.display().to_string())],
            "line 1: argon2id memory 4096 KiB is below the floor",
        ),
        (
            vec![secret.clone(), ("AUTH_MODE".into(), "users".into())],
            "AUTH_MODE: is users but no store is set",
        ),
        (
            vec![
                secret.clone(),
                ("USERS_FILE".into(), "/f".into()),
                ("USERS_TABLE".into(), "t".into()),
            ],
            "USERS_TABLE: one user store at a time",
        ),
    ];
    for (env, expected) in cases {
        let (status, output) = run_to_exit(&env);
        assert_eq!(status.code(), Some(2), "{output}");
        assert!(output.contains(expected), "{expected}: {output}");
        assert!(!output.contains("CTFhFdXPJO1a"), "a hash in the output: {output}");
    }
    std::fs::remove_file(weak).unwrap();
}

/// A password spray of 1,000 attempts from one address (a different account each time) costs
/// at most the address's burst plus its refill in password verifications; the rest are 429
/// with Retry-After, and nothing is a 5xx.
#[tokio::test]
async fn a_password_spray_from_one_address_is_throttled() {
    let server = ServerProcess::start(&users_env());
    let started = Instant::now();
    let mut statuses = std::collections::BTreeMap::new();
    for attempt in 0..1_000 {
        let response =
            send(server.address, login(&format!("victim{attempt}@example.com"), "Winter2026!"))
                .await;
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
        }
        *statuses.entry(response.status().as_u16()).or_insert(0) += 1;
    }
    let elapsed = started.elapsed();
    let made = verifications(&server).await;
    // Burst 20, then 10 a minute.
    let allowed = 20.0 + (elapsed.as_secs_f64() / 6.0).ceil();
    println!(
        "spray: 1000 attempts in {elapsed:?}: {statuses:?}, {made} verifications (allowed {allowed})"
    );
    assert!(made <= allowed, "{made} verifications > {allowed}");
    assert_eq!(statuses.keys().copied().collect::<Vec<_>>(), vec![401, 429], "{statuses:?}");
}

/// A 1,000-attempt guess at one account, from 1,000 addresses (behind a trusted proxy), costs
/// at most `LOGIN_MAX_FAILURES` verifications per lockout; the real user logs in once the
/// back-off ends.
#[tokio::test]
async fn a_guess_at_one_account_is_throttled_then_the_user_logs_in() {
    let env = with(
        users_env(),
        &[
            ("TRUSTED_PROXY_HOPS", "1"),
            ("LOGIN_LOCKOUT_SECONDS", "3"),
            ("LOGIN_MAX_LOCKOUT_SECONDS", "3"),
        ],
    );
    let server = ServerProcess::start(&env);
    let started = Instant::now();
    let mut statuses = std::collections::BTreeMap::new();
    for attempt in 0..1_000u32 {
        let from = format!("198.51.{}.{}", attempt / 250, attempt % 250);
        let response = send(
            server.address,
            login_from("user@example.com", &format!("guess-{attempt}"), &from),
        )
        .await;
        *statuses.entry(response.status().as_u16()).or_insert(0) += 1;
    }
    let elapsed = started.elapsed();
    let made = verifications(&server).await;
    let lockouts = 1.0 + (elapsed.as_secs_f64() / 3.0).floor();
    println!(
        "guess: 1000 attempts in {elapsed:?}: {statuses:?}, {made} verifications (at most {})",
        5.0 * lockouts
    );
    assert!(made <= 5.0 * lockouts, "{made} verifications in {elapsed:?}");
    assert!(statuses.get(&429).copied().unwrap_or(0) > 900, "{statuses:?}");
    let recovered = support::until(Duration::from_secs(10), "the real user's login", async || {
        send(server.address, login_from("user@example.com", "s3cr3t-pw", "192.0.2.200"))
            .await
            .status()
            == 200
    })
    .await;
    println!(
        "the user logged in {:?} after the guess ended",
        recovered.duration_since(started) - elapsed
    );
}

/// A login flood with one verification slot and a short queue: the excess is 503 with
/// Retry-After (never another 5xx), and `GET /contents` keeps answering 200 throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_is_shed_and_contents_keeps_answering() {
    let env = with(
        users_env(),
        &[("LOGIN_CONCURRENCY", "1"), ("LOGIN_QUEUE", "2"), ("TRUSTED_PROXY_HOPS", "1")],
    );
    let server = ServerProcess::start(&env);
    let token = json(&send(server.address, login("user@example.com", "s3cr3t-pw")).await)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let address = server.address;
    let flood: Vec<_> = (0..200u32)
        .map(|n| {
            tokio::spawn(async move {
                let from = format!("203.0.{}.{}", n / 200, n % 200);
                let response =
                    send(address, login_from(&format!("u{n}@example.com"), "x", &from)).await;
                (response.status().as_u16(), response.headers().contains_key("retry-after"))
            })
        })
        .collect();
    let mut contents = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let response = support::client::contents(address, &token).await;
        assert_eq!(response.status(), 200);
        contents.push(started.elapsed());
    }
    let mut statuses = std::collections::BTreeMap::new();
    for task in flood {
        let (status, retry_after) = task.await.unwrap();
        if status == 503 {
            assert!(retry_after);
        }
        *statuses.entry(status).or_insert(0) += 1;
    }
    contents.sort();
    println!(
        "flood: {statuses:?}; /contents median {:?} max {:?}",
        contents[contents.len() / 2],
        contents.last().unwrap()
    );
    assert!(statuses.contains_key(&503), "{statuses:?}");
    assert!(statuses.keys().all(|status| [401, 503].contains(status)), "{statuses:?}");
    let text = scrape(server.admin()).await;
    assert!(
        value(&text, r#"simple_jwt_api_logins_total{outcome="overloaded"}"#).unwrap_or(0.0) > 0.0
    );
    assert!(!server.logs().join("\n").contains(INVALID_CREDENTIALS), "no body in the logs");
}
