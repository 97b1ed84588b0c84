//! Absurd configuration values stop the real `server` binary at start-up with exit status 2
//! and a message naming the variable: the review found `u64::MAX` panicking every connection
//! (`HEADER_READ_TIMEOUT_SECONDS`), ending the key refresh for good at the first rotation
//! (`JWT_SECRET_GRACE_SECONDS`) and exiting 101 (`MAX_CONNECTIONS`).

use support::TEST_SECRET;
use support::server::run_to_exit;

const U64_MAX: &str = "18446744073709551615";

/// The other variables a path needs, and the variables read on it.
type Path<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

/// Every range-checked count and duration, at `u64::MAX`, is refused with exit status 2 and
/// its name in the output, on the path that reads it (SSM for the refresh and grace, ES256
/// from SSM for the activation).
#[test]
fn every_range_checked_variable_exits_2_at_u64_max() {
    let secret = [("JWT_SECRET", TEST_SECRET)];
    let ssm = [("JWT_SECRET_PARAMETER", "/simple-jwt-api/never-read")];
    let es256 =
        [("JWT_ALGORITHM", "ES256"), ("JWT_PRIVATE_KEY_PARAMETER", "/simple-jwt-api/never-read")];
    let table: &[Path] = &[
        (&ssm, &["JWT_SECRET_REFRESH_SECONDS", "JWT_SECRET_GRACE_SECONDS"]),
        (&es256, &["JWT_KEY_ACTIVATION_SECONDS"]),
        (
            &secret,
            &[
                "JWKS_MAX_AGE_SECONDS",
                "TOKEN_TTL_SECONDS",
                "TOKEN_LEEWAY_SECONDS",
                "BODY_LIMIT_BYTES",
                "HEADER_READ_TIMEOUT_SECONDS",
                "BODY_READ_TIMEOUT_SECONDS",
                "MAX_CONNECTIONS",
                "SHUTDOWN_DRAIN_SECONDS",
                "SHUTDOWN_DELAY_SECONDS",
                "MAX_H2_STREAMS",
                "VERIFY_CONCURRENCY",
                "VERIFY_QUEUE",
            ],
        ),
    ];
    for (base, variables) in table {
        for variable in *variables {
            let mut env: Vec<(String, String)> =
                base.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            env.push((variable.to_string(), U64_MAX.to_owned()));
            let (status, output) = run_to_exit(&env);
            assert_eq!(status.code(), Some(2), "{variable}: {output}");
            assert!(output.contains(&format!("{variable}:")), "{variable} not named in {output}");
        }
    }
}
