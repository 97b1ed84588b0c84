//! Start-up configuration: every environment variable the binaries read, parsed and checked
//! once. An invalid value stops the process with a message naming the variable; nothing is
//! re-read while serving.

use crate::keys::KeyPolicy;
use crate::secret::Strength;
use crate::token::{KeyPair, SigningAlgorithm};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Default listening port, as in the original service's container.
pub const DEFAULT_PORT: u16 = 8080;
/// Default token lifetime: 14 days, as in the original service.
pub const DEFAULT_TOKEN_TTL_SECONDS: u64 = 14 * 24 * 60 * 60;
/// Default clock-skew allowance for `exp` and `nbf`.
pub const DEFAULT_LEEWAY_SECONDS: u64 = 30;
/// Largest allowed leeway: more would make `exp`/`nbf` meaningless for short-lived tokens.
pub const MAX_LEEWAY_SECONDS: u64 = 300;
/// Default request body cap.
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 64 * 1024;
/// Default bound on draining in-flight requests after SIGTERM; shorter than Kubernetes'
/// default 30 s `terminationGracePeriodSeconds`.
pub const DEFAULT_DRAIN_SECONDS: u64 = 10;
/// Default time a client has to send a request's headers.
pub const DEFAULT_HEADER_READ_TIMEOUT_SECONDS: u64 = 10;
/// Default admin port (`/metrics`, `/healthz`, `/readyz`); 0 turns the admin listener off.
pub const DEFAULT_ADMIN_PORT: u16 = 9090;
/// Default time the public listener keeps serving after SIGTERM, with `/readyz` already
/// answering 503, so that Kubernetes removes the pod's endpoints and the load balancer its
/// target before connections are refused. Five seconds, as the preStop sleep it replaces;
/// plus the drain bound it stays within the default 30 s `terminationGracePeriodSeconds`.
pub const DEFAULT_SHUTDOWN_DELAY_SECONDS: u64 = 5;

/// Default SSM parameter holding the secret: the original deployment's name.
pub const DEFAULT_SECRET_PARAMETER: &str = "JWT_SECRET";
/// Default period between SSM re-reads.
pub const DEFAULT_REFRESH_SECONDS: u64 = 300;
/// Default time a rotated-out secret keeps verifying tokens. One hour: twelve times the
/// default refresh period, so tokens minted by pods that have not refreshed yet keep working
/// across the fleet, while a leaked old secret stops being useful soon after rotation.
/// Set it to `TOKEN_TTL_SECONDS` for rotations no user notices, or 0 to revoke at once.
pub const DEFAULT_GRACE_SECONDS: u64 = 3600;
/// Default `Cache-Control: max-age` of the JWKS: five minutes, Envoy's default JWKS cache
/// duration, so a verifier asks again about as often as a pod re-reads SSM.
pub const DEFAULT_JWKS_MAX_AGE_SECONDS: u64 = 300;
/// Default delay between a new private key being seen in SSM (and published) and it signing:
/// a verifier may hold a JWKS fetched from a pod that had not refreshed yet (up to one
/// refresh period, 300 s) for up to the JWKS max-age (300 s); 900 s covers both with margin.
pub const DEFAULT_ACTIVATION_SECONDS: u64 = 900;

/// Every environment variable the binaries read (besides the AWS SDK's standard ones on the
/// SSM path). Deployment manifests are checked against this list.
pub const VARIABLES: &[&str] = &[
    "PORT",
    "BIND_ADDRESS",
    "JWT_ALGORITHM",
    "JWT_SECRET",
    "JWT_ALLOW_WEAK_SECRET",
    "JWT_SECRET_PARAMETER",
    "JWT_PRIVATE_KEY",
    "JWT_PRIVATE_KEY_PARAMETER",
    "JWT_SECRET_REFRESH_SECONDS",
    "JWT_SECRET_GRACE_SECONDS",
    "JWT_KEY_ACTIVATION_SECONDS",
    "JWKS_MAX_AGE_SECONDS",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "TOKEN_TTL_SECONDS",
    "TOKEN_LEEWAY_SECONDS",
    "BODY_LIMIT_BYTES",
    "LOG_LEVEL",
    "SHUTDOWN_DRAIN_SECONDS",
    "SHUTDOWN_DELAY_SECONDS",
    "ADMIN_PORT",
    "ADMIN_BIND_ADDRESS",
    "AWS_LAMBDA_FUNCTION_NAME",
    "HEADER_READ_TIMEOUT_SECONDS",
    "BODY_READ_TIMEOUT_SECONDS",
    "MAX_CONNECTIONS",
];

/// Default time a request body has to arrive in full once its head has been read.
pub const DEFAULT_BODY_READ_TIMEOUT_SECONDS: u64 = 30;
/// Default cap on connections open at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// Where the signing key material (HMAC secret or private key) comes from.
#[derive(Debug)]
pub enum SecretSource {
    /// `JWT_SECRET` (HS256) or `JWT_PRIVATE_KEY` (ES256, EdDSA) was set; the value already
    /// met the policy and the keys are built.
    Env {
        /// The keys derived from the value (boxed: a key pair is large beside the SSM variant).
        keys: Box<KeyPair>,
        /// Whether a secret is shorter than recommended (accepted only with
        /// `JWT_ALLOW_WEAK_SECRET`).
        strength: Strength,
    },
    /// The material is read from an SSM parameter at start-up and then periodically.
    Ssm {
        /// Parameter name or full ARN (`JWT_SECRET_PARAMETER` or `JWT_PRIVATE_KEY_PARAMETER`).
        parameter: String,
        /// The variable that named it, for error messages.
        variable: &'static str,
        /// Re-read period; `None` never re-reads (`JWT_SECRET_REFRESH_SECONDS=0`).
        refresh: Option<Duration>,
        /// How long a replaced key keeps verifying (`JWT_SECRET_GRACE_SECONDS`).
        grace: Duration,
        /// How long a new key is published before it signs (`JWT_KEY_ACTIVATION_SECONDS`;
        /// always zero for HS256, whose secret is never published).
        activation: Duration,
    },
}

/// The whole configuration, read once at start-up.
#[derive(Debug)]
pub struct Config {
    /// Address the server binds (`BIND_ADDRESS`:`PORT`).
    pub bind: SocketAddr,
    /// The key material, or where to fetch it.
    pub secret: SecretSource,
    /// How key material becomes keys: the algorithm (`JWT_ALGORITHM`) and whether secrets
    /// shorter than 32 bytes are accepted (`JWT_ALLOW_WEAK_SECRET`).
    pub key_policy: KeyPolicy,
    /// `iss` of issued tokens, required of verified ones, and the base of the discovery
    /// document's URLs (`JWT_ISSUER`).
    pub issuer: Option<String>,
    /// `aud` of issued tokens, required of verified ones (`JWT_AUDIENCE`).
    pub audience: Option<String>,
    /// `Cache-Control: max-age` of the JWKS and discovery responses (`JWKS_MAX_AGE_SECONDS`).
    pub jwks_max_age: Duration,
    /// Lifetime of issued tokens (`TOKEN_TTL_SECONDS`).
    pub token_ttl: Duration,
    /// Clock-skew leeway for `exp`/`nbf`, in seconds (`TOKEN_LEEWAY_SECONDS`).
    pub leeway_seconds: u64,
    /// Request body cap in bytes (`BODY_LIMIT_BYTES`).
    pub body_limit: usize,
    /// `tracing` filter directive (`LOG_LEVEL`), already validated.
    pub log_level: String,
    /// Bound on graceful drain after SIGTERM/SIGINT (`SHUTDOWN_DRAIN_SECONDS`).
    pub drain_timeout: Duration,
    /// Time the public listener keeps serving after SIGTERM, not ready
    /// (`SHUTDOWN_DELAY_SECONDS`).
    pub shutdown_delay: Duration,
    /// Address of the admin listener (`ADMIN_BIND_ADDRESS`:`ADMIN_PORT`); `None` when
    /// `ADMIN_PORT=0`.
    pub admin: Option<SocketAddr>,
    /// The Lambda function's name (`AWS_LAMBDA_FUNCTION_NAME`, set by the Lambda runtime): the
    /// `function` dimension of the CloudWatch metrics, so that stacks sharing an account and
    /// region keep separate figures.
    pub function_name: Option<String>,
    /// Time allowed to receive a request's headers, and longest idle time of a connection
    /// (`HEADER_READ_TIMEOUT_SECONDS`).
    pub header_read_timeout: Duration,
    /// Time allowed to receive a request body once its head is read (`BODY_READ_TIMEOUT_SECONDS`).
    pub body_read_timeout: Duration,
    /// Most connections open at once (`MAX_CONNECTIONS`).
    pub max_connections: usize,
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
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment in production, a map in
    /// tests). Unset and empty variables take their defaults, except `JWT_SECRET`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());

        let port = parse_or(&get, "PORT", DEFAULT_PORT)?;
        let address: IpAddr = parse_or(&get, "BIND_ADDRESS", IpAddr::V4(Ipv4Addr::UNSPECIFIED))?;
        let algorithm: SigningAlgorithm = get("JWT_ALGORITHM")
            .map_or(Ok(SigningAlgorithm::Hs256), |raw| {
                raw.trim().parse().map_err(|err: String| ConfigError::new("JWT_ALGORITHM", err))
            })?;
        let key_policy =
            KeyPolicy { algorithm, allow_weak: parse_bool(&get, "JWT_ALLOW_WEAK_SECRET")? };
        let (value_variable, parameter_variable, other_value, other_parameter) = if algorithm
            .is_public_key()
        {
            ("JWT_PRIVATE_KEY", "JWT_PRIVATE_KEY_PARAMETER", "JWT_SECRET", "JWT_SECRET_PARAMETER")
        } else {
            ("JWT_SECRET", "JWT_SECRET_PARAMETER", "JWT_PRIVATE_KEY", "JWT_PRIVATE_KEY_PARAMETER")
        };
        // Material meant for the other kind of algorithm is a mistake worth stopping for: it
        // would otherwise be ignored silently.
        for variable in [other_value, other_parameter] {
            if get(variable).is_some() {
                return Err(ConfigError::new(
                    variable,
                    format!(
                        "is set, but JWT_ALGORITHM={algorithm} reads {value_variable} or \
                         {parameter_variable}; remove it"
                    ),
                ));
            }
        }
        let jwks_max_age = parse_or(&get, "JWKS_MAX_AGE_SECONDS", DEFAULT_JWKS_MAX_AGE_SECONDS)?;
        let secret = match lookup(value_variable) {
            Some(value) => {
                let (keys, strength) = key_policy
                    .build(value, None)
                    .map_err(|err| ConfigError::new(value_variable, err.to_string()))?;
                SecretSource::Env { keys: Box::new(keys), strength }
            }
            None => {
                let parameter = match get(parameter_variable) {
                    Some(parameter) => parameter.trim().to_owned(),
                    None if !algorithm.is_public_key() => DEFAULT_SECRET_PARAMETER.to_owned(),
                    None => {
                        return Err(ConfigError::new(
                            value_variable,
                            format!(
                                "JWT_ALGORITHM={algorithm} needs a private key: set \
                                 {value_variable} (PKCS#8 PEM) or {parameter_variable} (an SSM \
                                 SecureString holding it)"
                            ),
                        ));
                    }
                };
                let refresh =
                    parse_or(&get, "JWT_SECRET_REFRESH_SECONDS", DEFAULT_REFRESH_SECONDS)?;
                let grace = parse_or(&get, "JWT_SECRET_GRACE_SECONDS", DEFAULT_GRACE_SECONDS)?;
                let activation = if algorithm.is_public_key() {
                    let activation =
                        parse_or(&get, "JWT_KEY_ACTIVATION_SECONDS", DEFAULT_ACTIVATION_SECONDS)?;
                    if activation < jwks_max_age {
                        return Err(ConfigError::new(
                            "JWT_KEY_ACTIVATION_SECONDS",
                            format!(
                                "is {activation}, shorter than JWKS_MAX_AGE_SECONDS \
                                 ({jwks_max_age}): verifiers caching the JWKS would meet \
                                 tokens signed with a key they do not hold yet"
                            ),
                        ));
                    }
                    activation
                } else {
                    0
                };
                SecretSource::Ssm {
                    parameter,
                    variable: parameter_variable,
                    refresh: (refresh > 0).then(|| Duration::from_secs(refresh)),
                    grace: Duration::from_secs(grace),
                    activation: Duration::from_secs(activation),
                }
            }
        };
        let issuer = get("JWT_ISSUER").map(|raw| raw.trim().to_owned());
        if let Some(issuer) = &issuer {
            check_issuer(issuer).map_err(|problem| ConfigError::new("JWT_ISSUER", problem))?;
        }
        let audience = get("JWT_AUDIENCE").map(|raw| raw.trim().to_owned());
        let token_ttl_seconds: u64 =
            parse_or(&get, "TOKEN_TTL_SECONDS", DEFAULT_TOKEN_TTL_SECONDS)?;
        if token_ttl_seconds == 0 {
            return Err(ConfigError::new("TOKEN_TTL_SECONDS", "must be at least 1"));
        }
        let leeway_seconds = parse_or(&get, "TOKEN_LEEWAY_SECONDS", DEFAULT_LEEWAY_SECONDS)?;
        if leeway_seconds > MAX_LEEWAY_SECONDS {
            return Err(ConfigError::new(
                "TOKEN_LEEWAY_SECONDS",
                format!("must be at most {MAX_LEEWAY_SECONDS}"),
            ));
        }
        let body_limit = parse_or(&get, "BODY_LIMIT_BYTES", DEFAULT_BODY_LIMIT_BYTES)?;
        if body_limit == 0 {
            return Err(ConfigError::new("BODY_LIMIT_BYTES", "must be at least 1"));
        }
        let log_level = get("LOG_LEVEL").unwrap_or_else(|| "info".to_owned());
        crate::telemetry::parse_filter(&log_level)
            .map_err(|err| ConfigError::new("LOG_LEVEL", err))?;
        let drain_seconds = parse_or(&get, "SHUTDOWN_DRAIN_SECONDS", DEFAULT_DRAIN_SECONDS)?;
        let delay_seconds =
            parse_or(&get, "SHUTDOWN_DELAY_SECONDS", DEFAULT_SHUTDOWN_DELAY_SECONDS)?;
        let admin_port = parse_or(&get, "ADMIN_PORT", DEFAULT_ADMIN_PORT)?;
        let admin_address: IpAddr =
            parse_or(&get, "ADMIN_BIND_ADDRESS", IpAddr::V4(Ipv4Addr::UNSPECIFIED))?;
        let function_name = get("AWS_LAMBDA_FUNCTION_NAME").map(|name| name.trim().to_owned());
        let header_seconds =
            parse_or(&get, "HEADER_READ_TIMEOUT_SECONDS", DEFAULT_HEADER_READ_TIMEOUT_SECONDS)?;
        if header_seconds == 0 {
            return Err(ConfigError::new("HEADER_READ_TIMEOUT_SECONDS", "must be at least 1"));
        }
        let body_seconds =
            parse_or(&get, "BODY_READ_TIMEOUT_SECONDS", DEFAULT_BODY_READ_TIMEOUT_SECONDS)?;
        if body_seconds == 0 {
            return Err(ConfigError::new("BODY_READ_TIMEOUT_SECONDS", "must be at least 1"));
        }
        let max_connections = parse_or(&get, "MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS)?;
        if max_connections == 0 {
            return Err(ConfigError::new("MAX_CONNECTIONS", "must be at least 1"));
        }

        Ok(Config {
            bind: SocketAddr::new(address, port),
            secret,
            key_policy,
            issuer,
            audience,
            jwks_max_age: Duration::from_secs(jwks_max_age),
            token_ttl: Duration::from_secs(token_ttl_seconds),
            leeway_seconds,
            body_limit,
            log_level,
            drain_timeout: Duration::from_secs(drain_seconds),
            shutdown_delay: Duration::from_secs(delay_seconds),
            admin: (admin_port != 0).then(|| SocketAddr::new(admin_address, admin_port)),
            function_name,
            header_read_timeout: Duration::from_secs(header_seconds),
            body_read_timeout: Duration::from_secs(body_seconds),
            max_connections,
        })
    }
}

/// An issuer is the URL verifiers fetch `/.well-known/openid-configuration` under (OpenID
/// Connect Discovery 1.0 §4): `https`, or `http` on a loopback host for local tests; no query
/// or fragment.
fn check_issuer(issuer: &str) -> Result<(), String> {
    let uri: http::Uri =
        issuer.parse().map_err(|err| format!("invalid value {issuer:?}: {err}"))?;
    let host = uri.host().unwrap_or_default();
    let loopback = host == "localhost"
        || host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if loopback => {}
        _ => {
            return Err(format!(
                "invalid value {issuer:?}: must be an https:// URL (http:// only on a loopback \
                 host, for tests)"
            ));
        }
    }
    if host.is_empty() || uri.query().is_some() || issuer.contains('#') {
        return Err(format!("invalid value {issuer:?}: needs a host, and no query or fragment"));
    }
    Ok(())
}

fn parse_or<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    match get(variable) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|err| ConfigError::new(variable, format!("invalid value {raw:?}: {err}"))),
    }
}

fn parse_bool(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<bool, ConfigError> {
    match get(variable).map(|raw| raw.trim().to_ascii_lowercase()).as_deref() {
        None | Some("false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some(other) => Err(ConfigError::new(
            variable,
            format!("invalid value {other:?}: expected true or false"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const ES256_PEM: &str = include_str!("../tests/data/keys/es256-1.pem");

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    /// [`VARIABLES`] is exactly the set of names the parser looks up (env and SSM paths).
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
        let listed: std::collections::BTreeSet<String> =
            VARIABLES.iter().map(|name| name.to_string()).collect();
        assert_eq!(seen.into_inner(), listed);
    }

    /// With only a secret, every setting takes its documented default.
    #[test]
    fn defaults() {
        let config = config(&[("JWT_SECRET", SECRET)]).unwrap();
        assert_eq!(config.bind, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(config.token_ttl, Duration::from_secs(1_209_600));
        assert_eq!(config.leeway_seconds, 30);
        assert_eq!(config.body_limit, 65_536);
        assert_eq!(config.log_level, "info");
        assert_eq!(config.drain_timeout, Duration::from_secs(10));
        assert_eq!(config.shutdown_delay, Duration::from_secs(5));
        assert_eq!(config.admin, Some("0.0.0.0:9090".parse().unwrap()));
        assert_eq!(config.function_name, None);
        assert_eq!(config.header_read_timeout, Duration::from_secs(10));
        assert_eq!(config.body_read_timeout, Duration::from_secs(30));
        assert_eq!(config.max_connections, 10_000);
        assert_eq!(
            config.key_policy,
            KeyPolicy { algorithm: SigningAlgorithm::Hs256, allow_weak: false }
        );
        assert_eq!((config.issuer, config.audience), (None, None));
        assert_eq!(config.jwks_max_age, Duration::from_secs(300));
        let SecretSource::Env { keys, strength } = &config.secret else { panic!("env secret") };
        assert_eq!(keys.kid(), None);
        assert_eq!(*strength, Strength::Strong);
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
        ])
        .unwrap();
        assert_eq!(config.bind, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(config.token_ttl, Duration::from_secs(60));
        assert_eq!(config.leeway_seconds, 0);
        assert_eq!(config.body_limit, 1024);
        assert_eq!(config.log_level, "debug");
        assert_eq!(config.drain_timeout, Duration::from_secs(3));
        assert_eq!(config.header_read_timeout, Duration::from_secs(2));
        assert_eq!(config.body_read_timeout, Duration::from_secs(4));
        assert_eq!(config.max_connections, 50);
        assert_eq!(config.shutdown_delay, Duration::ZERO);
        assert_eq!(config.admin, Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(config.function_name.as_deref(), Some("jwt-prod"));
        let SecretSource::Env { strength, .. } = &config.secret else { panic!("env secret") };
        assert_eq!(*strength, Strength::Weak);
    }

    /// Without JWT_SECRET the secret comes from SSM: the original's parameter name, a
    /// 300 s refresh and a one-hour grace by default; 0 disables refreshing.
    #[test]
    fn ssm_source() {
        let defaults = config(&[]).unwrap();
        let SecretSource::Ssm { parameter, variable, refresh, grace, activation } = defaults.secret
        else {
            panic!("ssm")
        };
        assert_eq!((parameter.as_str(), variable), ("JWT_SECRET", "JWT_SECRET_PARAMETER"));
        assert_eq!(activation, Duration::ZERO, "HS256 secrets sign at once");
        assert_eq!(refresh, Some(Duration::from_secs(300)));
        assert_eq!(grace, Duration::from_secs(3600));

        let arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/prod/jwt";
        let custom = config(&[
            ("JWT_SECRET_PARAMETER", arn),
            ("JWT_SECRET_REFRESH_SECONDS", "0"),
            ("JWT_SECRET_GRACE_SECONDS", "0"),
        ])
        .unwrap();
        let SecretSource::Ssm { parameter, refresh, grace, .. } = custom.secret else {
            panic!("ssm")
        };
        assert_eq!(parameter, arn);
        assert_eq!(refresh, None);
        assert_eq!(grace, Duration::ZERO);
    }

    /// ES256 and EdDSA: a private key from the environment (its thumbprint is the `kid`) or
    /// from SSM (published `JWT_KEY_ACTIVATION_SECONDS` before it signs, 900 s by default, past
    /// the JWKS max-age); issuer and audience are taken as given.
    #[test]
    fn public_key_modes() {
        let env = config(&[("JWT_ALGORITHM", "ES256"), ("JWT_PRIVATE_KEY", ES256_PEM)]).unwrap();
        assert_eq!(env.key_policy.algorithm, SigningAlgorithm::Es256);
        let SecretSource::Env { keys, .. } = &env.secret else { panic!("env key") };
        assert_eq!(keys.kid().map(str::len), Some(43), "base64url SHA-256 thumbprint");

        let ssm = config(&[
            ("JWT_ALGORITHM", "EdDSA"),
            ("JWT_PRIVATE_KEY_PARAMETER", "/prod/jwt-key"),
            ("JWT_ISSUER", "https://auth.example.com"),
            ("JWT_AUDIENCE", "orders-api"),
        ])
        .unwrap();
        let SecretSource::Ssm { parameter, variable, activation, grace, .. } = &ssm.secret else {
            panic!("ssm")
        };
        assert_eq!((parameter.as_str(), *variable), ("/prod/jwt-key", "JWT_PRIVATE_KEY_PARAMETER"));
        assert_eq!(*activation, Duration::from_secs(900));
        assert!(*activation > ssm.jwks_max_age);
        assert_eq!(*grace, Duration::from_secs(3600));
        assert_eq!(ssm.issuer.as_deref(), Some("https://auth.example.com"));
        assert_eq!(ssm.audience.as_deref(), Some("orders-api"));

        let short = config(&[
            ("JWT_ALGORITHM", "ES256"),
            ("JWT_PRIVATE_KEY_PARAMETER", "/k"),
            ("JWKS_MAX_AGE_SECONDS", "1"),
            ("JWT_KEY_ACTIVATION_SECONDS", "2"),
            ("JWT_ISSUER", "http://127.0.0.1:8080"),
        ])
        .unwrap();
        assert_eq!(short.jwks_max_age, Duration::from_secs(1));
        let SecretSource::Ssm { activation, .. } = short.secret else { panic!("ssm") };
        assert_eq!(activation, Duration::from_secs(2));
    }

    /// `ADMIN_PORT=0` turns the admin listener off, whatever its bind address.
    #[test]
    fn admin_port_zero_is_off() {
        let config = config(&[("JWT_SECRET", SECRET), ("ADMIN_PORT", "0")]).unwrap();
        assert_eq!(config.admin, None);
    }

    /// Each invalid value is refused with a message naming its variable, and the secret never
    /// appears in a message.
    #[test]
    fn invalid_values_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("JWT_SECRET", "")], "JWT_SECRET"),
            (&[("JWT_SECRET_REFRESH_SECONDS", "soon")], "JWT_SECRET_REFRESH_SECONDS"),
            (&[("JWT_SECRET_GRACE_SECONDS", "-1")], "JWT_SECRET_GRACE_SECONDS"),
            (&[("JWT_SECRET", "tooshort")], "JWT_SECRET"),
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
            (&[("JWT_SECRET", SECRET), ("ADMIN_BIND_ADDRESS", "any")], "ADMIN_BIND_ADDRESS"),
            (
                &[("JWT_SECRET", SECRET), ("HEADER_READ_TIMEOUT_SECONDS", "0")],
                "HEADER_READ_TIMEOUT_SECONDS",
            ),
            (&[("JWT_SECRET", SECRET), ("JWT_ALGORITHM", "RS256")], "JWT_ALGORITHM"),
            (&[("JWT_SECRET", SECRET), ("JWT_ALGORITHM", "es256")], "JWT_ALGORITHM"),
            (&[("JWT_ALGORITHM", "ES256"), ("JWT_SECRET", SECRET)], "JWT_SECRET"),
            (&[("JWT_SECRET", SECRET), ("JWT_PRIVATE_KEY", ES256_PEM)], "JWT_PRIVATE_KEY"),
            (&[("JWT_ALGORITHM", "ES256")], "JWT_PRIVATE_KEY"),
            (&[("JWT_ALGORITHM", "ES256"), ("JWT_PRIVATE_KEY", "tooshort")], "JWT_PRIVATE_KEY"),
            (&[("JWT_ALGORITHM", "EdDSA"), ("JWT_PRIVATE_KEY", ES256_PEM)], "JWT_PRIVATE_KEY"),
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
        ];
        for (vars, variable) in cases {
            let err = config(vars).unwrap_err();
            assert_eq!(err.variable, *variable, "{vars:?}");
            assert!(err.to_string().starts_with(variable));
            assert!(!err.to_string().contains("tooshort"), "{err}");
            assert!(!err.to_string().contains(&ES256_PEM[30..60]), "{err}");
        }
    }
}
