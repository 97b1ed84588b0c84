//! Start-up configuration: every environment variable the binaries read, parsed and checked
//! once. An invalid value stops the process with a message naming the variable; nothing is
//! re-read while serving.
//!
//! One file per section, each reading its own variables with its own defaults:
//!
//! | file | section |
//! |---|---|
//! | `keys.rs` | [`KeysConfig`]: algorithm, key material (as data), rotation, JWKS caching |
//! | `tokens.rs` | [`TokensConfig`]: lifetime, leeway, `iss`, `aud` |
//! | `server.rs` | [`ServerConfig`]: listeners, client bounds, shutdown (the `server` binary) |
//! | `admission.rs` | [`AdmissionConfig`]: how much signature verification runs and waits at once |
//! | `users.rs` | [`AuthConfig`]: `AUTH_MODE`, the user store, password hashes, login throttling |
//! | `env.rs` | the lookup and the parsers the sections share |
//!
//! The request body cap, the log filter and the Lambda function's name are one variable each
//! and live here.

pub mod admission;
mod env;
pub mod keys;
pub mod server;
pub mod tokens;
pub mod users;

pub use admission::AdmissionConfig;
pub use keys::{KeyMaterial, KeysConfig};
pub use server::ServerConfig;
pub use tokens::TokensConfig;
pub use users::{AuthConfig, AuthMode, UserSource, UsersConfig};

use env::Env;

/// Default request body cap.
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 64 * 1024;
/// Largest `BODY_LIMIT_BYTES` accepted: 16 MiB, far above any `POST /auth` body.
pub const MAX_BODY_LIMIT_BYTES: usize = 16 * 1024 * 1024;

/// The variables read here rather than by a section.
const OWN_VARIABLES: &[&str] = &["BODY_LIMIT_BYTES", "LOG_LEVEL", "AWS_LAMBDA_FUNCTION_NAME"];

/// Every environment variable the binaries read (besides the AWS SDK's standard ones on the
/// SSM path). Deployment manifests are checked against this list.
pub fn variables() -> Vec<&'static str> {
    [
        keys::VARIABLES,
        tokens::VARIABLES,
        server::VARIABLES,
        admission::VARIABLES,
        users::VARIABLES,
        OWN_VARIABLES,
    ]
    .concat()
}

/// The whole configuration, read once at start-up.
#[derive(Debug)]
pub struct Config {
    /// The signing keys.
    pub keys: KeysConfig,
    /// The tokens issued and accepted.
    pub tokens: TokensConfig,
    /// The `server` binary's listeners and bounds (the Lambda binary ignores them).
    pub server: ServerConfig,
    /// The bounds on expensive work, on both adapters.
    pub admission: AdmissionConfig,
    /// Whether and how `POST /auth` checks credentials.
    pub auth: AuthConfig,
    /// Request body cap in bytes (`BODY_LIMIT_BYTES`), on both adapters.
    pub body_limit: usize,
    /// `tracing` filter directive (`LOG_LEVEL`), already validated.
    pub log_level: String,
    /// The Lambda function's name (`AWS_LAMBDA_FUNCTION_NAME`, set by the Lambda runtime): the
    /// `function` dimension of the CloudWatch metrics, so that stacks sharing an account and
    /// region keep separate figures.
    pub function_name: Option<String>,
}

/// A configuration value that could not be used. The message names the variable and never
/// contains the secret.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    variable: &'static str,
    problem: String,
}

impl ConfigError {
    fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        ConfigError { variable, problem: problem.into() }
    }

    /// The variable at fault.
    pub fn variable(&self) -> &'static str {
        self.variable
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment in production, a map in
    /// tests). Unset and empty variables take their defaults, except `JWT_SECRET`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&lookup);
        let server = ServerConfig::read(&env)?;
        let keys = KeysConfig::read(&env)?;
        let tokens = TokensConfig::read(&env)?;
        let admission = AdmissionConfig::read(&env)?;
        let auth = AuthConfig::read(&env)?;
        let body_limit =
            env.count_in("BODY_LIMIT_BYTES", DEFAULT_BODY_LIMIT_BYTES, 1..=MAX_BODY_LIMIT_BYTES)?;
        let log_level = env.get("LOG_LEVEL").unwrap_or_else(|| "info".to_owned());
        crate::telemetry::parse_filter(&log_level)
            .map_err(|err| ConfigError::new("LOG_LEVEL", err))?;
        let function_name = env.trimmed("AWS_LAMBDA_FUNCTION_NAME");
        Ok(Config { keys, tokens, server, admission, auth, body_limit, log_level, function_name })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyPolicy, Rotation};
    use crate::token::SigningAlgorithm;
    use std::collections::HashMap;
    use std::time::Duration;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const ES256_PEM: &str = include_str!("../../tests/data/keys/es256-1.pem");

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    /// [`variables`] is exactly the set of names the parser looks up (env and SSM paths), and
    /// names each variable once.
    #[test]
    fn variables_list_is_exact() {
        let seen = std::cell::RefCell::new(std::collections::BTreeSet::new());
        let _ = Config::from_lookup(|name| {
            seen.borrow_mut().insert(name.to_owned());
            (name == "JWT_SECRET").then(|| SECRET.to_owned())
        });
        let _ = Config::from_lookup(|name| {
            seen.borrow_mut().insert(name.to_owned());
            None
        });
        let _ = Config::from_lookup(|name| {
            seen.borrow_mut().insert(name.to_owned());
            match name {
                "JWT_ALGORITHM" => Some("ES256".to_owned()),
                "JWT_PRIVATE_KEY_PARAMETER" => Some("/p".to_owned()),
                _ => None,
            }
        });
        let _ = Config::from_lookup(|name| {
            seen.borrow_mut().insert(name.to_owned());
            match name {
                "JWT_SECRET" => Some(SECRET.to_owned()),
                "USERS_FILE" => Some("/etc/users".to_owned()),
                _ => None,
            }
        });
        let listed: std::collections::BTreeSet<String> =
            variables().iter().map(|name| name.to_string()).collect();
        assert_eq!(listed.len(), variables().len(), "listed twice");
        assert_eq!(seen.into_inner(), listed);
    }

    /// With only a secret, every setting takes its documented default.
    #[test]
    fn defaults() {
        let config = config(&[("JWT_SECRET", SECRET)]).unwrap();
        let server = config.server;
        assert_eq!(server, ServerConfig::default(), "the server section's defaults are its own");
        assert_eq!(server.bind, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(server.drain_timeout, Duration::from_secs(10));
        assert_eq!(server.shutdown_delay, Duration::from_secs(5));
        assert_eq!(server.admin, Some("0.0.0.0:9090".parse().unwrap()));
        assert_eq!(server.header_read_timeout, Duration::from_secs(10));
        assert_eq!(server.body_read_timeout, Duration::from_secs(30));
        assert_eq!(server.max_connections, 10_000);
        assert!(server.h2c);
        assert_eq!(server.max_h2_streams, 32);
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(
            config.admission,
            AdmissionConfig { verify_limit: cpus, verify_queue: 16 * cpus }
        );
        assert_eq!(config.tokens.ttl, Duration::from_secs(1_209_600));
        assert_eq!(config.tokens.leeway_seconds, 30);
        assert_eq!((config.tokens.issuer, config.tokens.audience), (None, None));
        assert_eq!(config.body_limit, 65_536);
        assert_eq!(config.log_level, "info");
        assert_eq!(config.function_name, None);
        assert_eq!(
            config.keys.policy,
            KeyPolicy { algorithm: SigningAlgorithm::Hs256, allow_weak: false }
        );
        assert_eq!(config.keys.jwks_max_age, Duration::from_secs(300));
        let KeyMaterial::Inline { variable, value } = &config.keys.material else {
            panic!("env secret")
        };
        assert_eq!((*variable, value.as_str()), ("JWT_SECRET", SECRET), "as given, checked later");
    }

    /// Every variable is honoured when set.
    #[test]
    fn overrides() {
        let config = config(&[
            ("JWT_SECRET", "short"),
            ("JWT_ALLOW_WEAK_SECRET", "true"),
            ("PORT", "9000"),
            ("BIND_ADDRESS", "127.0.0.1"),
            ("TOKEN_TTL_SECONDS", "60"),
            ("TOKEN_LEEWAY_SECONDS", "0"),
            ("BODY_LIMIT_BYTES", "1024"),
            ("LOG_LEVEL", "debug"),
            ("SHUTDOWN_DRAIN_SECONDS", "3"),
            ("HEADER_READ_TIMEOUT_SECONDS", "2"),
            ("BODY_READ_TIMEOUT_SECONDS", "4"),
            ("MAX_CONNECTIONS", "50"),
            ("SHUTDOWN_DELAY_SECONDS", "0"),
            ("ADMIN_PORT", "9100"),
            ("ADMIN_BIND_ADDRESS", "127.0.0.1"),
            ("AWS_LAMBDA_FUNCTION_NAME", "jwt-prod"),
            ("H2C_ENABLED", "false"),
            ("MAX_H2_STREAMS", "100"),
            ("VERIFY_CONCURRENCY", "3"),
            ("VERIFY_QUEUE", "0"),
        ])
        .unwrap();
        assert_eq!(config.admission, AdmissionConfig { verify_limit: 3, verify_queue: 0 });
        let server = config.server;
        assert_eq!(server.bind, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(server.drain_timeout, Duration::from_secs(3));
        assert_eq!(server.header_read_timeout, Duration::from_secs(2));
        assert_eq!(server.body_read_timeout, Duration::from_secs(4));
        assert_eq!(server.max_connections, 50);
        assert_eq!(server.shutdown_delay, Duration::ZERO);
        assert_eq!(server.admin, Some("127.0.0.1:9100".parse().unwrap()));
        assert!(!server.h2c);
        assert_eq!(server.max_h2_streams, 100);
        assert_eq!(config.tokens.ttl, Duration::from_secs(60));
        assert_eq!(config.tokens.leeway_seconds, 0);
        assert_eq!(config.body_limit, 1024);
        assert_eq!(config.log_level, "debug");
        assert_eq!(config.function_name.as_deref(), Some("jwt-prod"));
        assert!(config.keys.policy.allow_weak);
    }

    /// Without JWT_SECRET the secret comes from SSM: the original's parameter name, a
    /// 300 s refresh and a one-hour grace by default; 0 disables refreshing.
    #[test]
    fn ssm_source() {
        let defaults = config(&[]).unwrap();
        let KeyMaterial::Parameter { name, variable, refresh, rotation } = defaults.keys.material
        else {
            panic!("ssm")
        };
        assert_eq!((name.as_str(), variable), ("JWT_SECRET", "JWT_SECRET_PARAMETER"));
        assert_eq!(rotation.activation, Duration::ZERO, "HS256 secrets sign at once");
        assert_eq!(refresh, Some(Duration::from_secs(300)));
        assert_eq!(rotation.grace, Duration::from_secs(3600));

        let arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/prod/jwt";
        let custom = config(&[
            ("JWT_SECRET_PARAMETER", arn),
            ("JWT_SECRET_REFRESH_SECONDS", "0"),
            ("JWT_SECRET_GRACE_SECONDS", "0"),
        ])
        .unwrap();
        let KeyMaterial::Parameter { name, refresh, rotation, .. } = custom.keys.material else {
            panic!("ssm")
        };
        assert_eq!(name, arn);
        assert_eq!(refresh, None);
        assert_eq!(rotation, Rotation { activation: Duration::ZERO, grace: Duration::ZERO });
    }

    /// ES256 and EdDSA: a private key from the environment (its thumbprint is the `kid`) or
    /// from SSM (published `JWT_KEY_ACTIVATION_SECONDS` before it signs, 900 s by default, past
    /// the JWKS max-age); issuer and audience are taken as given.
    #[test]
    fn public_key_modes() {
        let env = config(&[("JWT_ALGORITHM", "ES256"), ("JWT_PRIVATE_KEY", ES256_PEM)]).unwrap();
        assert_eq!(env.keys.policy.algorithm, SigningAlgorithm::Es256);
        let KeyMaterial::Inline { variable, .. } = &env.keys.material else { panic!("env key") };
        assert_eq!(*variable, "JWT_PRIVATE_KEY");

        let ssm = config(&[
            ("JWT_ALGORITHM", "EdDSA"),
            ("JWT_PRIVATE_KEY_PARAMETER", "/prod/jwt-key"),
            ("JWT_ISSUER", "https://auth.example.com"),
            ("JWT_AUDIENCE", "orders-api"),
        ])
        .unwrap();
        let KeyMaterial::Parameter { name, variable, rotation, .. } = &ssm.keys.material else {
            panic!("ssm")
        };
        assert_eq!((name.as_str(), *variable), ("/prod/jwt-key", "JWT_PRIVATE_KEY_PARAMETER"));
        assert_eq!(rotation.activation, Duration::from_secs(900));
        assert!(rotation.activation >= ssm.keys.jwks_max_age + Duration::from_secs(300));
        assert_eq!(rotation.grace, Duration::from_secs(3600));
        assert_eq!(ssm.tokens.issuer.as_deref(), Some("https://auth.example.com"));
        assert_eq!(ssm.tokens.audience.as_deref(), Some("orders-api"));

        let short = config(&[
            ("JWT_ALGORITHM", "ES256"),
            ("JWT_PRIVATE_KEY_PARAMETER", "/k"),
            ("JWKS_MAX_AGE_SECONDS", "1"),
            ("JWT_SECRET_REFRESH_SECONDS", "1"),
            ("JWT_KEY_ACTIVATION_SECONDS", "2"),
            ("JWT_ISSUER", "http://127.0.0.1:8080"),
        ])
        .unwrap();
        assert_eq!(short.keys.jwks_max_age, Duration::from_secs(1));
        let KeyMaterial::Parameter { rotation, .. } = short.keys.material else { panic!("ssm") };
        assert_eq!(rotation.activation, Duration::from_secs(2));
    }

    /// `ADMIN_PORT=off` (any case) turns the admin listener off; `0` asks for a free port,
    /// as `PORT=0` does.
    #[test]
    fn admin_port_off_and_zero() {
        for off in ["off", "OFF", " Off "] {
            let config = config(&[("JWT_SECRET", SECRET), ("ADMIN_PORT", off)]).unwrap();
            assert_eq!(config.server.admin, None, "{off:?}");
        }
        let config = config(&[("JWT_SECRET", SECRET), ("ADMIN_PORT", "0")]).unwrap();
        assert_eq!(config.server.admin, Some("0.0.0.0:0".parse().unwrap()));
    }

    /// Every count and duration out of its range: `u64::MAX`, and just past the bound.
    fn out_of_range_cases() -> Vec<(Vec<(&'static str, &'static str)>, &'static str)> {
        const MAX: &str = "18446744073709551615";
        let secret = ("JWT_SECRET", SECRET);
        let ssm = ("JWT_SECRET_PARAMETER", "/p");
        let es256 = [("JWT_ALGORITHM", "ES256"), ("JWT_PRIVATE_KEY_PARAMETER", "/k")];
        // (other variables it needs, the variable, values past its range besides u64::MAX)
        type Row<'a> = (&'a [(&'static str, &'static str)], &'static str, &'a [&'static str]);
        let table: &[Row] = &[
            (&[ssm], "JWT_SECRET_REFRESH_SECONDS", &["86401"]),
            (&[ssm], "JWT_SECRET_GRACE_SECONDS", &["31622401"]),
            (&es256, "JWT_KEY_ACTIVATION_SECONDS", &["604801"]),
            (&[secret], "JWKS_MAX_AGE_SECONDS", &["86401"]),
            (&[secret], "TOKEN_TTL_SECONDS", &["31622401"]),
            (&[secret], "TOKEN_LEEWAY_SECONDS", &["301"]),
            (&[secret], "BODY_LIMIT_BYTES", &["16777217"]),
            (&[secret], "HEADER_READ_TIMEOUT_SECONDS", &["3601"]),
            (&[secret], "BODY_READ_TIMEOUT_SECONDS", &["3601"]),
            (&[secret], "MAX_CONNECTIONS", &["1000001"]),
            (&[secret], "SHUTDOWN_DRAIN_SECONDS", &["3601"]),
            (&[secret], "SHUTDOWN_DELAY_SECONDS", &["3601"]),
            (&[secret], "MAX_H2_STREAMS", &["0", "1001"]),
            (&[secret], "VERIFY_CONCURRENCY", &["0", "1025"]),
            (&[secret], "VERIFY_QUEUE", &["100001"]),
        ];
        let mut cases = Vec::new();
        for (base, variable, past) in table {
            for value in past.iter().chain([&MAX]) {
                let mut vars = base.to_vec();
                vars.push((variable, value));
                cases.push((vars, *variable));
            }
        }
        cases
    }

    /// Each invalid value is refused with a message naming its variable, and the secret never
    /// appears in a message. (The material itself is checked at start-up: see
    /// `keys::policy`.)
    #[test]
    fn invalid_values_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("JWT_SECRET_REFRESH_SECONDS", "soon")], "JWT_SECRET_REFRESH_SECONDS"),
            (&[("JWT_SECRET_GRACE_SECONDS", "-1")], "JWT_SECRET_GRACE_SECONDS"),
            (&[("JWT_SECRET", SECRET), ("PORT", "http")], "PORT"),
            (&[("JWT_SECRET", SECRET), ("PORT", "70000")], "PORT"),
            (&[("JWT_SECRET", SECRET), ("BIND_ADDRESS", "localhost:1")], "BIND_ADDRESS"),
            (
                &[("JWT_SECRET", SECRET), ("JWT_ALLOW_WEAK_SECRET", "maybe")],
                "JWT_ALLOW_WEAK_SECRET",
            ),
            (&[("JWT_SECRET", SECRET), ("TOKEN_TTL_SECONDS", "0")], "TOKEN_TTL_SECONDS"),
            (&[("JWT_SECRET", SECRET), ("TOKEN_TTL_SECONDS", "-5")], "TOKEN_TTL_SECONDS"),
            (&[("JWT_SECRET", SECRET), ("TOKEN_LEEWAY_SECONDS", "301")], "TOKEN_LEEWAY_SECONDS"),
            (&[("JWT_SECRET", SECRET), ("BODY_LIMIT_BYTES", "0")], "BODY_LIMIT_BYTES"),
            (&[("JWT_SECRET", SECRET), ("MAX_CONNECTIONS", "0")], "MAX_CONNECTIONS"),
            (
                &[("JWT_SECRET", SECRET), ("BODY_READ_TIMEOUT_SECONDS", "0")],
                "BODY_READ_TIMEOUT_SECONDS",
            ),
            (&[("JWT_SECRET", SECRET), ("LOG_LEVEL", "loud=[")], "LOG_LEVEL"),
            (&[("JWT_SECRET", SECRET), ("SHUTDOWN_DRAIN_SECONDS", "x")], "SHUTDOWN_DRAIN_SECONDS"),
            (&[("JWT_SECRET", SECRET), ("SHUTDOWN_DELAY_SECONDS", "-1")], "SHUTDOWN_DELAY_SECONDS"),
            (&[("JWT_SECRET", SECRET), ("ADMIN_PORT", "65536")], "ADMIN_PORT"),
            (&[("JWT_SECRET", SECRET), ("ADMIN_PORT", "of")], "ADMIN_PORT"),
            (&[("JWT_SECRET", SECRET), ("ADMIN_BIND_ADDRESS", "any")], "ADMIN_BIND_ADDRESS"),
            (
                &[("JWT_SECRET", SECRET), ("HEADER_READ_TIMEOUT_SECONDS", "0")],
                "HEADER_READ_TIMEOUT_SECONDS",
            ),
            (&[("JWT_SECRET", SECRET), ("JWT_ALGORITHM", "PS256")], "JWT_ALGORITHM"),
            (&[("JWT_SECRET", SECRET), ("JWT_ALGORITHM", "es256")], "JWT_ALGORITHM"),
            (&[("JWT_ALGORITHM", "ES256"), ("JWT_SECRET", SECRET)], "JWT_SECRET"),
            (&[("JWT_SECRET", SECRET), ("JWT_PRIVATE_KEY", ES256_PEM)], "JWT_PRIVATE_KEY"),
            (&[("JWT_ALGORITHM", "ES256")], "JWT_PRIVATE_KEY"),
            (
                &[
                    ("JWT_ALGORITHM", "ES256"),
                    ("JWT_PRIVATE_KEY_PARAMETER", "/k"),
                    ("JWT_KEY_ACTIVATION_SECONDS", "10"),
                ],
                "JWT_KEY_ACTIVATION_SECONDS",
            ),
            (&[("JWT_SECRET", SECRET), ("JWKS_MAX_AGE_SECONDS", "-1")], "JWKS_MAX_AGE_SECONDS"),
            (&[("JWT_SECRET", SECRET), ("JWT_ISSUER", "http://auth.example.com")], "JWT_ISSUER"),
            (&[("JWT_SECRET", SECRET), ("JWT_ISSUER", "auth.example.com")], "JWT_ISSUER"),
            (&[("JWT_SECRET", SECRET), ("JWT_ISSUER", "https://a.example?x=1")], "JWT_ISSUER"),
            (
                &[
                    ("JWT_ALGORITHM", "ES256"),
                    ("JWT_PRIVATE_KEY_PARAMETER", "/k"),
                    ("JWT_SECRET_REFRESH_SECONDS", "600"),
                    ("JWKS_MAX_AGE_SECONDS", "300"),
                    ("JWT_KEY_ACTIVATION_SECONDS", "899"),
                ],
                "JWT_KEY_ACTIVATION_SECONDS",
            ),
            (&[("JWT_SECRET", SECRET), ("H2C_ENABLED", "maybe")], "H2C_ENABLED"),
        ];
        let cases = cases.iter().map(|(vars, variable)| (vars.to_vec(), *variable));
        for (vars, variable) in cases.chain(out_of_range_cases()) {
            let err = config(&vars).unwrap_err();
            assert_eq!(err.variable, variable, "{vars:?}");
            assert!(err.to_string().starts_with(variable));
            assert!(!err.to_string().contains("tooshort"), "{err}");
            assert!(!err.to_string().contains(&ES256_PEM[30..60]), "{err}");
        }
    }
}
