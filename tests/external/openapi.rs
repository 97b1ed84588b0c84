//! `openapi.yaml` is kept honest: schemathesis (property-based API testing, pinned in
//! `scripts/versions.env`, in a cached virtualenv) generates requests from the spec and sends them to the real `server` binary
//! with every check on.

use std::path::Path;
use std::process::Command;
use support::TEST_SECRET;
use support::client::{json, request, send};
use support::server::{ServerProcess, env_with_secret};

/// Generated cases per operation and phase: enough to explore bodies and headers, small
/// enough for CI (about 10 s per run on 2 cores).
const MAX_EXAMPLES: &str = "100";

/// Runs `schemathesis run openapi.yaml` against `server` with `--checks all` and `extra`
/// arguments; fails the test on any failure or error and returns `(generated, passed)`.
fn schemathesis(server: &ServerProcess, label: &str, extra: &[&str]) -> (u64, u64) {
    let bin = support::tools::venv(
        "schemathesis",
        &[support::tools::requirement("schemathesis", "SCHEMATHESIS")],
    );
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.yaml");
    // Its example database (.hypothesis/) and reports go to a scratch directory.
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis");
    std::fs::create_dir_all(&scratch).unwrap();
    let output = Command::new(bin.join("schemathesis"))
        .current_dir(&scratch)
        .env("NO_COLOR", "1")
        .arg("run")
        .arg(&spec)
        .args(["--url", &format!("http://{}", server.address)])
        .args(["--checks", "all", "--max-examples", MAX_EXAMPLES, "--workers", "2"])
        .args(["--request-timeout", "10", "--max-failures", "20"])
        .args(extra)
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "schemathesis ({label}) failed:\n{stdout}\n{stderr}");
    // The summary line reads e.g. "356 generated, 356 passed, 2 skipped".
    let summary = stdout
        .lines()
        .map(str::trim)
        .find(|line| line.contains(" generated, "))
        .unwrap_or_else(|| panic!("no case summary in:\n{stdout}"));
    let count = |word: &str| -> u64 {
        summary
            .split(", ")
            .find_map(|part| part.strip_suffix(word)?.trim().parse().ok())
            .unwrap_or(0)
    };
    let (generated, passed) = (count(" generated"), count(" passed"));
    let seed = stdout.lines().find(|line| line.starts_with("Seed:")).unwrap_or("Seed: ?");
    eprintln!("schemathesis ({label}): {summary} [{seed}]");
    assert_eq!(count(" failed"), 0, "{stdout}");
    assert_eq!(count(" errored"), 0, "{stdout}");
    assert!(generated >= 100 && passed > 0, "too few cases: {summary}");
    (generated, passed)
}

/// `Authorization: Bearer <token>` with a token `server` issued, for schemathesis's `--header`.
async fn bearer_header(server: &ServerProcess) -> String {
    let response = send(
        server.address,
        request("POST", "/auth", r#"{"email":"spec@example.com","password":"pw"}"#),
    )
    .await;
    let token = json(&response)["token"].as_str().unwrap().to_owned();
    format!("Authorization: Bearer {token}")
}

/// Every operation of `openapi.yaml` conforms, under all of schemathesis's checks (no server
/// error; status codes, content types, headers and bodies as specified; invalid input
/// rejected, valid input accepted; 405 with `Allow` for unlisted methods; auth enforced).
/// Two runs: one authenticated with a real token, so `/contents` answers 200 and its claims
/// schema is checked, and one without, so the 401 responses and their `WWW-Authenticate`
/// challenges are. The server logs no 5xx.
#[tokio::test]
async fn server_conforms_to_openapi_spec() {
    let server = ServerProcess::start(&env_with_secret(TEST_SECRET));
    let authorization = bearer_header(&server).await;

    let (authenticated, _) = schemathesis(&server, "with a token", &["--header", &authorization]);
    let (anonymous, _) = schemathesis(&server, "without a token", &[]);

    let logs = server.logs();
    let statuses: Vec<u64> = logs
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["message"] == "request")
        .filter_map(|line| line["status"].as_u64())
        .collect();
    let count = |status: u64| statuses.iter().filter(|s| **s == status).count();
    eprintln!(
        "schemathesis cases: {authenticated} with a token + {anonymous} without = {}; \
         server answered {} requests: 200 x{}, 400 x{}, 401 x{}, 405 x{}, 413 x{}, 415 x{}",
        authenticated + anonymous,
        statuses.len(),
        count(200),
        count(400),
        count(401),
        count(405),
        count(413),
        count(415),
    );
    assert!(statuses.iter().all(|status| *status < 500), "server errors in {logs:?}");
    assert!(count(200) > 0 && count(400) > 0 && count(401) > 0 && count(405) > 0);
}

/// The same with an ES256 server whose issuer is set, so the two `/.well-known/` documents
/// answer 200 and their schemas (JWK Set, discovery document, `Cache-Control`) are checked,
/// and `/contents` verifies ES256 tokens.
#[tokio::test]
async fn es256_server_conforms_to_openapi_spec() {
    let server = ServerProcess::start(&support::public_keys::ES256.env());
    let authorization = bearer_header(&server).await;
    schemathesis(&server, "ES256 with a token", &["--header", &authorization]);
    let logs = server.logs();
    let answered = |path: &str| {
        logs.iter()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .any(|line| line["path"] == path && line["status"] == 200)
    };
    assert!(answered("/.well-known/jwks.json") && answered("/.well-known/openid-configuration"));
}
