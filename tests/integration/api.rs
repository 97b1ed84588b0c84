//! The API contract over real TCP against the real `server` binary.

use support::TEST_SECRET;
use support::cases::run_case_table;
use support::client::{json, request, send};
use support::server::{ServerProcess, env_with_secret, run_to_exit};

/// The whole conformance table passes against the hyper server adapter.
#[tokio::test]
async fn server_passes_the_case_table() {
    let server = ServerProcess::start(&env_with_secret(TEST_SECRET));
    run_case_table(|request| send(server.address, request)).await;
}

/// A token from `POST /auth` is accepted by `GET /contents`, which returns its claims.
#[tokio::test]
async fn issued_token_round_trips() {
    let server = ServerProcess::start(&env_with_secret(TEST_SECRET));
    let response =
        send(server.address, request("POST", "/auth", r#"{"email":"a@b.c","password":"x"}"#)).await;
    assert_eq!(response.status(), 200);
    let token = json(&response)["token"].as_str().unwrap().to_owned();
    let contents = http::Request::builder()
        .uri("/contents")
        .header("authorization", format!("Bearer {token}"))
        .body(bytes::Bytes::new())
        .unwrap();
    let response = send(server.address, contents).await;
    assert_eq!(response.status(), 200);
    let claims = json(&response);
    assert_eq!(claims["email"], "a@b.c");
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["nbf"].as_u64().unwrap(), 1_209_600);
}

/// A smaller body limit and token TTL from the environment take effect.
#[tokio::test]
async fn configuration_is_honoured() {
    let mut env = env_with_secret(TEST_SECRET);
    env.push(("BODY_LIMIT_BYTES".into(), "64".into()));
    env.push(("TOKEN_TTL_SECONDS".into(), "60".into()));
    let server = ServerProcess::start(&env);
    let too_big = format!(r#"{{"email":"a@b.c","password":"{}"}}"#, "x".repeat(64));
    assert_eq!(send(server.address, request("POST", "/auth", too_big)).await.status(), 413);
    let response =
        send(server.address, request("POST", "/auth", r#"{"email":"a@b.c","password":"x"}"#)).await;
    let token = json(&response)["token"].as_str().unwrap().to_owned();
    let claims: serde_json::Value =
        jsonwebtoken::dangerous::insecure_decode_claims(&token).unwrap();
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["nbf"].as_u64().unwrap(), 60);
}

/// A short secret or a malformed value stops the process with a non-zero status and
/// a message naming the variable — and never printing the secret.
#[test]
fn bad_configuration_exits_clearly() {
    let strong = (String::from("JWT_SECRET"), TEST_SECRET.to_owned());
    let cases: Vec<(Vec<(String, String)>, &str)> = vec![
        (vec![("JWT_SECRET".into(), "short-secret".into())], "at least 32"),
        (vec![strong.clone(), ("PORT".into(), "eighty".into())], "PORT"),
        (
            vec![strong.clone(), ("TOKEN_LEEWAY_SECONDS".into(), "3600".into())],
            "TOKEN_LEEWAY_SECONDS",
        ),
        (vec![strong.clone(), ("LOG_LEVEL".into(), "=[".into())], "LOG_LEVEL"),
    ];
    for (env, expected) in cases {
        let (status, output) = run_to_exit(&env);
        assert_eq!(status.code(), Some(2), "{output}");
        assert!(output.contains(expected), "{expected:?} not in {output}");
        assert!(!output.contains("short-secret") && !output.contains(TEST_SECRET), "{output}");
    }
}

/// A short secret is accepted with JWT_ALLOW_WEAK_SECRET=true, and a warning is logged.
#[tokio::test]
async fn weak_secret_needs_opt_in_and_warns() {
    let server = ServerProcess::start(&[
        ("JWT_SECRET".into(), "legacy".into()),
        ("JWT_ALLOW_WEAK_SECRET".into(), "true".into()),
    ]);
    assert_eq!(send(server.address, request("GET", "/", "")).await.status(), 200);
    let logs = server.logs();
    assert!(
        logs.iter().any(|l| l.contains("WARN") && l.contains("JWT_ALLOW_WEAK_SECRET")),
        "{logs:?}"
    );
    assert!(!logs.iter().any(|l| l.contains("legacy")), "{logs:?}");
}

/// Every request produces one JSON access-log line with method, path, status, latency and
/// request id; the id is echoed to the client; no token or password reaches the log.
#[tokio::test]
async fn access_log_is_structured_and_clean() {
    let server = ServerProcess::start(&env_with_secret(TEST_SECRET));
    let mut login = request("POST", "/auth", r#"{"email":"log@b.c","password":"pw-not-in-logs"}"#);
    login.headers_mut().insert("x-request-id", "req-42".parse().unwrap());
    let response = send(server.address, login).await;
    assert_eq!(response.headers()["x-request-id"], "req-42");
    let token = json(&response)["token"].as_str().unwrap().to_owned();
    run_case_table(|request| send(server.address, request)).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let logs = server.logs();
    let access: Vec<serde_json::Value> = logs
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["message"] == "request")
        .collect();
    let first =
        access.iter().find(|l| l["request_id"] == "req-42").expect("access line for req-42");
    assert_eq!(first["method"], "POST");
    assert_eq!(first["path"], "/auth");
    assert_eq!(first["status"], 200);
    assert!(first["latency_us"].is_u64());
    assert!(access.len() > 50, "one line per request: {}", access.len());
    for line in &logs {
        for forbidden in [TEST_SECRET, "pw-not-in-logs", "s3cr3t-pw", token.as_str()] {
            assert!(!line.contains(forbidden), "log line leaks {forbidden:?}: {line}");
        }
        assert!(!line.contains("eyJ"), "log line contains something token-shaped: {line}");
    }
}
