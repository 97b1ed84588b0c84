//! ES256, EdDSA and RS256 on both adapters: the public-key conformance table (the `.well-known`
//! documents, issued tokens that verify with the published key, and every attack answered with
//! the same 401) through the real `server` binary and through each Lambda event source; and a
//! table of bad public-key configurations, each refused at start-up with exit status 2 and a
//! message naming the variable, never the key.

use crate::lambda_events::invoke_as;
use simple_jwt_api::{AppState, Config};
use support::cases::run_cases;
use support::client::{request, send};
use support::fixtures::Source;
use support::public_keys::{ALL, EDDSA, ES256, RS256, TestKey, cases};
use support::server::{ServerProcess, run_to_exit};

/// The `server` binary passes the public-key table in ES256, EdDSA and RS256 mode; its build-info
/// metric names the algorithm, and neither its log nor its metrics show key material.
#[tokio::test]
async fn server_passes_the_public_key_table() {
    for key in ALL {
        let server = ServerProcess::start(&key.env());
        run_cases(cases(key), |request| send(server.address, request)).await;
        let metrics = send(server.admin(), request("GET", "/metrics", "")).await;
        let metrics = String::from_utf8(metrics.into_body().to_vec()).unwrap();
        let build_info = format!(
            r#"simple_jwt_api_build_info{{version="{}",algorithm="{}",auth_mode="open"}} 1"#,
            env!("CARGO_PKG_VERSION"),
            key.algorithm.name()
        );
        assert!(metrics.lines().any(|line| line == build_info), "{build_info} in {metrics}");
        let logs = server.logs().join("\n");
        for line in key.pem.lines().filter(|line| !line.starts_with("-----")) {
            assert!(!logs.contains(line), "the log shows key material");
            assert!(!metrics.contains(line), "the metrics show key material");
        }
    }
}

/// The Lambda adapter passes the same table through every event source, in every mode.
#[tokio::test]
async fn lambda_passes_the_public_key_table() {
    for key in ALL {
        let state = state(key).await;
        for source in [Source::RestV1, Source::HttpV2, Source::Alb, Source::FunctionUrl] {
            run_cases(cases(key), |request| invoke_as(&state, source, request)).await;
        }
    }
}

async fn state(key: TestKey) -> std::sync::Arc<AppState> {
    let env = key.env();
    let config = Config::from_lookup(|name| {
        env.iter().find(|(k, _)| k == name).map(|(_, value)| value.clone())
    })
    .expect("test configuration");
    simple_jwt_api::startup::build_state(&config).await.expect("state")
}

/// A configuration, the variable its refusal must name, and a phrase of the message.
type BadConfig<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);

/// Each bad public-key configuration stops the server with status 2 and a message naming the
/// variable (and saying what is wrong), and no line of any key appears in the output.
#[test]
fn bad_public_key_configurations_exit_2() {
    let es = ES256.pem;
    let ed = EDDSA.pem;
    let encrypted = include_str!("../data/keys/es256-1.encrypted.pem");
    let sec1 = include_str!("../data/keys/es256-1.sec1.pem");
    let public = include_str!("../data/keys/es256-1.pub.pem");
    let p384 = include_str!("../data/keys/p384.pem");
    let rsa = RS256.pem;
    let rsa_1024 = include_str!("../data/keys/rsa-1024.pem");
    let cases: &[BadConfig] = &[
        (&[("JWT_ALGORITHM", "PS256")], "JWT_ALGORITHM", "unknown algorithm"),
        (&[("JWT_ALGORITHM", "ES256")], "JWT_PRIVATE_KEY", "needs a private key"),
        (
            &[("JWT_ALGORITHM", "ES256"), ("JWT_PRIVATE_KEY", encrypted)],
            "JWT_PRIVATE_KEY",
            "encrypted",
        ),
        (&[("JWT_ALGORITHM", "ES256"), ("JWT_PRIVATE_KEY", sec1)], "JWT_PRIVATE_KEY", "PKCS#8"),
        (
            &[("JWT_ALGORITHM", "ES256"), ("JWT_PRIVATE_KEY", public)],
            "JWT_PRIVATE_KEY",
            "public key",
        ),
        (&[("JWT_ALGORITHM", "ES256"), ("JWT_PRIVATE_KEY", ed)], "JWT_PRIVATE_KEY", "Ed25519"),
        (&[("JWT_ALGORITHM", "ES256"), ("JWT_PRIVATE_KEY", p384)], "JWT_PRIVATE_KEY", "P-256"),
        (&[("JWT_ALGORITHM", "EdDSA"), ("JWT_PRIVATE_KEY", es)], "JWT_PRIVATE_KEY", "Ed25519"),
        (&[("JWT_ALGORITHM", "ES256"), ("JWT_PRIVATE_KEY", "garbage")], "JWT_PRIVATE_KEY", "PEM"),
        (
            &[("JWT_ALGORITHM", "RS256"), ("JWT_PRIVATE_KEY", rsa_1024)],
            "JWT_PRIVATE_KEY",
            "shorter than 2048 bits",
        ),
        (&[("JWT_ALGORITHM", "RS256"), ("JWT_PRIVATE_KEY", es)], "JWT_PRIVATE_KEY", "RSA"),
        (&[("JWT_ALGORITHM", "ES256"), ("JWT_PRIVATE_KEY", rsa)], "JWT_PRIVATE_KEY", "an RSA key"),
        (&[("JWT_ALGORITHM", "RS256")], "JWT_PRIVATE_KEY", "needs a private key"),
        (
            &[
                ("JWT_ALGORITHM", "ES256"),
                ("JWT_PRIVATE_KEY", es),
                ("JWT_SECRET", support::TEST_SECRET),
            ],
            "JWT_SECRET",
            "remove it",
        ),
        (
            &[("JWT_SECRET", support::TEST_SECRET), ("JWT_PRIVATE_KEY", es)],
            "JWT_PRIVATE_KEY",
            "remove it",
        ),
        (
            &[
                ("JWT_ALGORITHM", "ES256"),
                ("JWT_PRIVATE_KEY", es),
                ("JWT_ISSUER", "http://auth.example.com"),
            ],
            "JWT_ISSUER",
            "https://",
        ),
        (
            &[
                ("JWT_ALGORITHM", "ES256"),
                ("JWT_PRIVATE_KEY_PARAMETER", "/k"),
                ("JWKS_MAX_AGE_SECONDS", "600"),
                ("JWT_KEY_ACTIVATION_SECONDS", "60"),
            ],
            "JWT_KEY_ACTIVATION_SECONDS",
            "shorter than JWKS_MAX_AGE_SECONDS",
        ),
    ];
    let key_lines: Vec<&str> = [es, ed, encrypted, sec1, p384, rsa, rsa_1024]
        .iter()
        .flat_map(|pem| pem.lines())
        .filter(|line| !line.starts_with("-----"))
        .collect();
    for (vars, variable, problem) in cases {
        let env: Vec<(String, String)> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (status, output) = run_to_exit(&env);
        assert_eq!(status.code(), Some(2), "{variable}: {output}");
        assert!(output.contains(&format!("{variable}:")), "{variable} not named in {output}");
        assert!(output.contains(problem), "{problem:?} not in {output}");
        for line in &key_lines {
            assert!(!output.contains(line), "key material in {output}");
        }
    }
}
