//! Every user store for real: an SSM SecureString and a DynamoDB table on moto (the binary's one
//! moto server; each test has names of its own), read by the real AWS SDK inside the real
//! `server` binary; users made by the `server users add` command and by other tools (Python's
//! argon2-cffi and bcrypt); the per-account count shared by two processes; an outage.

use bytes::Bytes;
use http::Request;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::cases::users_file;
use support::client::{json, request, send};
use support::moto::{Moto, create_users_table, dynamodb, put_secret, sdk_env};
use support::relay::Relay;
use support::server::{ServerProcess, users_hash};
use support::tools;

fn login(email: &str, password: &str) -> Request<Bytes> {
    request("POST", "/auth", serde_json::json!({"email": email, "password": password}).to_string())
}

async fn status(server: &ServerProcess, email: &str, password: &str) -> u16 {
    send(server.address, login(email, password)).await.status().as_u16()
}

fn env(moto_env: Vec<(String, String)>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = moto_env;
    env.push(("JWT_SECRET".into(), support::TEST_SECRET.into()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// `server users add ARGS` with `password` on stdin and `env`: exit code and stderr.
fn users_add(env: &[(String, String)], args: &[&str], password: &str) -> (Option<i32>, String) {
    let mut child = Command::new(support::binary("server"))
        .arg("users")
        .arg("add")
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains(password), "the password in the output: {stderr}");
    (output.status.code(), stderr)
}

/// `USERS_PARAMETER`: the users document in a SecureString is read at start-up and re-read with
/// the key refresh machinery; a new version takes over; garbage keeps the last good one.
#[tokio::test]
async fn users_from_an_ssm_secure_string() {
    let moto = Moto::shared();
    let name = "/simple-jwt-api/users-parameter-test";
    let document = std::fs::read_to_string(users_file()).unwrap();
    put_secret(&moto.client(), name, &document).await;
    let server = ServerProcess::start(&env(
        moto.env(),
        &[("USERS_PARAMETER", name), ("USERS_REFRESH_SECONDS", "1")],
    ));
    assert_eq!(status(&server, "user@example.com", "s3cr3t-pw").await, 200);
    assert_eq!(status(&server, "user@example.com", "wrong").await, 401);

    // A new version without x@y.z: refreshed within a few periods.
    let without: String =
        document.lines().filter(|line| !line.starts_with("x@y.z:")).collect::<Vec<_>>().join("\n");
    put_secret(&moto.client(), name, &without).await;
    support::until(Duration::from_secs(15), "the new users version", async || {
        status(&server, "x@y.z", "p").await == 401
    })
    .await;
    // Garbage: the last good users stay, with a warning naming the parameter and the line.
    put_secret(&moto.client(), name, "user@example.com:not-a-hash").await;
    support::until(
        Duration::from_secs(15),
        "the warning about the unusable document",
        async || {
            server.logs().iter().any(|line| {
                line.contains("unusable") && line.contains(name) && line.contains("line 1")
            })
        },
    )
    .await;
    assert_eq!(status(&server, "user@example.com", "s3cr3t-pw").await, 200);
    assert!(!server.logs().join("\n").contains("$argon2id$"));
}

/// `USERS_TABLE`: a user added by `server users add` logs in through the running binary with
/// the email as given; a second add is refused without `--replace`; `--replace` changes the
/// password; a disabled item cannot log in; two processes on the table share one count.
#[tokio::test]
async fn users_from_a_dynamodb_table_made_by_the_command() {
    let moto = Moto::shared();
    let table = "users-command-test";
    let client = dynamodb(&moto.endpoint());
    create_users_table(&client, table).await;
    let command_env = env(moto.env(), &[("USERS_TABLE", table)]);
    assert_eq!(users_add(&command_env, &["Admin@Example.com"], "first-password").0, Some(0));
    let (code, stderr) = users_add(&command_env, &["admin@example.com"], "second-password");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("--replace"), "{stderr}");

    let a = ServerProcess::start(&command_env);
    let response = send(a.address, login("admin@example.com", "first-password")).await;
    assert_eq!(response.status(), 200, "{:?}", response.body());
    let token = json(&response)["token"].as_str().unwrap().to_owned();
    let claims: serde_json::Value =
        jsonwebtoken::dangerous::insecure_decode_claims(&token).unwrap();
    assert_eq!(claims["email"], "Admin@Example.com", "the email as stored");

    assert_eq!(
        users_add(&command_env, &["admin@example.com", "--replace"], "second-password").0,
        Some(0)
    );
    assert_eq!(status(&a, "admin@example.com", "first-password").await, 401);
    assert_eq!(status(&a, "admin@example.com", "second-password").await, 200);

    client
        .put_item()
        .table_name(table)
        .set_item(Some(simple_jwt_api::aws::dynamodb::user_item(
            "off@example.com",
            &users_hash("off-pw"),
            true,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(status(&a, "off@example.com", "off-pw").await, 401, "disabled");

    // Shared count: 3 failures on A and 2 on B lock the account on both.
    let b = ServerProcess::start(&command_env);
    for _ in 0..3 {
        assert_eq!(status(&a, "admin@example.com", "guess").await, 401);
    }
    for _ in 0..2 {
        assert_eq!(status(&b, "admin@example.com", "guess").await, 401);
    }
    assert_eq!(status(&a, "admin@example.com", "second-password").await, 429, "locked on A");
    assert_eq!(status(&b, "admin@example.com", "second-password").await, 429, "locked on B");
    let item = client
        .get_item()
        .table_name(table)
        .key(
            "email",
            aws_sdk_dynamodb::types::AttributeValue::S("#login-failures:admin@example.com".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("the shared failure record");
    assert!(item.contains_key("expires_at"), "a TTL attribute: {item:?}");
}

/// DynamoDB unreachable: logins are 503 with Retry-After — not 401, not 500 — and lock no one:
/// when it is back, the right password logs in at once. (Two workers: the relay runs in this
/// runtime while `ServerProcess::start` blocks one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_outage_is_503_and_locks_no_one() {
    let moto = Moto::shared();
    let table = "users-outage-test";
    let client = dynamodb(&moto.endpoint());
    create_users_table(&client, table).await;
    client
        .put_item()
        .table_name(table)
        .set_item(Some(simple_jwt_api::aws::dynamodb::user_item(
            "ops@example.com",
            &users_hash("ops-pw"),
            false,
        )))
        .send()
        .await
        .unwrap();
    let relay = Relay::start(moto.address).await;
    let server = ServerProcess::start(&env(sdk_env(&relay.endpoint()), &[("USERS_TABLE", table)]));
    assert_eq!(status(&server, "ops@example.com", "ops-pw").await, 200);
    relay.cut();
    for _ in 0..8 {
        let response = send(server.address, login("ops@example.com", "wrong")).await;
        assert_eq!(response.status(), 503, "{:?}", response.body());
        assert_eq!(response.headers()["retry-after"], "5");
    }
    relay.restore();
    assert_eq!(
        status(&server, "ops@example.com", "ops-pw").await,
        200,
        "no lockout from the outage"
    );
}

/// Hashes made by other code verify: argon2-cffi (the reference implementation's bindings) at
/// its own defaults and at OWASP's parameters, and Python's bcrypt as `$2b$` and `$2y$`
/// (`htpasswd -B`'s prefix).
#[tokio::test]
async fn hashes_made_by_other_tools_verify() {
    let python = tools::venv(
        "hashes",
        &[
            tools::requirement("argon2-cffi", "ARGON2_CFFI"),
            tools::requirement("bcrypt", "PY_BCRYPT"),
        ],
    )
    .join("python");
    let script = r#"
import argon2, bcrypt
print("cffi-default@example.com:" + argon2.PasswordHasher().hash("cffi-pw"))
print("cffi-owasp@example.com:" + argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash("cffi-pw"))
print("py-bcrypt@example.com:" + bcrypt.hashpw(b"bcrypt-pw", bcrypt.gensalt(10)).decode())
print("py-bcrypt-2y@example.com:" + bcrypt.hashpw(b"bcrypt-pw", bcrypt.gensalt(10)).decode().replace("$2b$", "$2y$", 1))
"#;
    let document = tools::run(Command::new(python).args(["-c", script]));
    let file = support::scratch_dir().join(format!("users-foreign-{}", std::process::id()));
    std::fs::write(&file, &document).unwrap();
    let server =
        ServerProcess::start(&env(Vec::new(), &[("USERS_FILE", &file.display().to_string())]));
    for (email, password) in [
        ("cffi-default@example.com", "cffi-pw"),
        ("cffi-owasp@example.com", "cffi-pw"),
        ("py-bcrypt@example.com", "bcrypt-pw"),
        ("py-bcrypt-2y@example.com", "bcrypt-pw"),
    ] {
        assert_eq!(status(&server, email, password).await, 200, "{email}");
        assert_eq!(status(&server, email, "wrong").await, 401, "{email}");
    }
    std::fs::remove_file(file).unwrap();
}
