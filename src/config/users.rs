//! The users section: whether `POST /auth` checks credentials (`AUTH_MODE`), against which store,
//! with which password hashes, and how hard guessing is throttled.
//!
//! `AUTH_MODE=open` is the original app's behaviour (any non-empty email and password);
//! `AUTH_MODE=users` checks the password against one store: `USERS_FILE`, `USERS_PARAMETER` (an
//! SSM SecureString) or `USERS_TABLE` (DynamoDB). A store without `AUTH_MODE` means `users`;
//! neither means `open`, which start-up announces with a warning.

use super::ConfigError;
use super::env::Env;
use crate::password::{HashFloor, HashParameters, OWASP_PARAMETERS};
use crate::throttle::{AccountLimits, AddressLimits};
pub use crate::users::AuthMode;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

/// The variables of this section.
pub const VARIABLES: &[&str] = &[
    "AUTH_MODE",
    "USERS_FILE",
    "USERS_PARAMETER",
    "USERS_TABLE",
    "USERS_REFRESH_SECONDS",
    "PASSWORD_MEMORY_KIB",
    "PASSWORD_ITERATIONS",
    "PASSWORD_PARALLELISM",
    "PASSWORD_MIN_MEMORY_KIB",
    "PASSWORD_MIN_WORK",
    "PASSWORD_MAX_MEMORY_KIB",
    "PASSWORD_MIN_BCRYPT_COST",
    "LOGIN_CONCURRENCY",
    "LOGIN_QUEUE",
    "LOGIN_MAX_FAILURES",
    "LOGIN_FAILURE_WINDOW_SECONDS",
    "LOGIN_LOCKOUT_SECONDS",
    "LOGIN_MAX_LOCKOUT_SECONDS",
    "LOGIN_ADDRESS_BURST",
    "LOGIN_ADDRESS_PER_MINUTE",
    "TRUSTED_PROXY_HOPS",
];

/// Default memory the concurrent verifications may use together, which sizes the default
/// `LOGIN_CONCURRENCY`: 40 MiB, two OWASP verifications, inside the Deployment's 64 MiB limit
/// beside the ~15 MiB the rest of the process uses.
pub const LOGIN_MEMORY_BUDGET_KIB: u32 = 40 * 1024;

/// Where users are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSource {
    /// `USERS_FILE`: a file in `htpasswd`'s shape.
    File(PathBuf),
    /// `USERS_PARAMETER`: the same document in an SSM SecureString.
    Parameter(String),
    /// `USERS_TABLE`: a DynamoDB table (users and the shared failure counts).
    Table(String),
}

/// What `users` mode needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersConfig {
    /// The store.
    pub source: UserSource,
    /// How often a file or parameter is re-read (`USERS_REFRESH_SECONDS`).
    pub refresh: Duration,
    /// argon2id parameters of new hashes and of the dummy hash.
    pub write: HashParameters,
    /// What stored hashes must meet.
    pub floor: HashFloor,
    /// Password verifications at once (`LOGIN_CONCURRENCY`).
    pub concurrency: usize,
    /// Verifications that may wait for a slot (`LOGIN_QUEUE`).
    pub queue: usize,
    /// Per-account back-off.
    pub account: AccountLimits,
    /// Per-address token bucket.
    pub address: AddressLimits,
    /// Proxies in front whose `X-Forwarded-For` entry is trusted (`TRUSTED_PROXY_HOPS`).
    pub trusted_proxy_hops: usize,
}

/// The section: the mode, and in `users` mode what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// `AUTH_MODE`, explicit or implied.
    pub mode: AuthMode,
    /// Present exactly in `users` mode.
    pub users: Option<UsersConfig>,
}

impl AuthConfig {
    pub(super) fn read(env: &Env) -> Result<Self, ConfigError> {
        let stores: Vec<(&'static str, String)> = ["USERS_FILE", "USERS_PARAMETER", "USERS_TABLE"]
            .into_iter()
            .filter_map(|name| env.trimmed(name).map(|value| (name, value)))
            .collect();
        if stores.len() > 1 {
            let names: Vec<&str> = stores.iter().map(|(name, _)| *name).collect();
            return Err(ConfigError::new(
                stores[1].0,
                format!("one user store at a time; {} are set", names.join(" and ")),
            ));
        }
        let mode = match env.trimmed("AUTH_MODE").map(|mode| mode.to_ascii_lowercase()).as_deref() {
            None if stores.is_empty() => AuthMode::Open,
            None | Some("users") => AuthMode::Users,
            Some("open") => AuthMode::Open,
            Some(other) => {
                return Err(ConfigError::new(
                    "AUTH_MODE",
                    format!("invalid value {other:?}: expected users or open"),
                ));
            }
        };
        let source = stores.into_iter().next().map(|(name, value)| match name {
            "USERS_FILE" => UserSource::File(value.into()),
            "USERS_PARAMETER" => UserSource::Parameter(value),
            _ => UserSource::Table(value),
        });
        let source = match (mode, source) {
            (AuthMode::Open, None) => return Ok(AuthConfig { mode, users: None }),
            (AuthMode::Open, Some(_)) => {
                return Err(ConfigError::new(
                    "AUTH_MODE",
                    "is open, which checks no password, but a user store is configured: unset AUTH_MODE or the store",
                ));
            }
            (AuthMode::Users, None) => {
                return Err(ConfigError::new(
                    "AUTH_MODE",
                    "is users but no store is set: set USERS_FILE, USERS_PARAMETER or USERS_TABLE",
                ));
            }
            (AuthMode::Users, Some(source)) => source,
        };
        let refresh = env.seconds_in("USERS_REFRESH_SECONDS", 300, 1..=86_400)?;
        let (write, floor) = hash_settings(env)?;
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let by_memory = (LOGIN_MEMORY_BUDGET_KIB / write.memory_kib.max(1)).max(1) as usize;
        let concurrency = env.count_in("LOGIN_CONCURRENCY", cpus.min(by_memory), 1..=256)?;
        let queue = env.count_in("LOGIN_QUEUE", 4 * concurrency, 0..=10_000)?;
        let account_defaults = AccountLimits::default();
        let account = AccountLimits {
            max_failures: env.count_in(
                "LOGIN_MAX_FAILURES",
                account_defaults.max_failures,
                1..=1_000,
            )?,
            window: env.seconds_in("LOGIN_FAILURE_WINDOW_SECONDS", 300, 1..=86_400)?,
            lockout: env.seconds_in("LOGIN_LOCKOUT_SECONDS", 60, 1..=86_400)?,
            max_lockout: env.seconds_in("LOGIN_MAX_LOCKOUT_SECONDS", 900, 1..=7 * 86_400)?,
        };
        if account.max_lockout < account.lockout {
            return Err(ConfigError::new(
                "LOGIN_MAX_LOCKOUT_SECONDS",
                "is shorter than LOGIN_LOCKOUT_SECONDS",
            ));
        }
        let nonzero = |variable: &'static str, default: u32| -> Result<NonZeroU32, ConfigError> {
            let value = env.count_in(variable, default, 1..=1_000_000)?;
            Ok(NonZeroU32::new(value).expect("range starts at 1"))
        };
        let address = AddressLimits {
            burst: nonzero("LOGIN_ADDRESS_BURST", 20)?,
            per_minute: nonzero("LOGIN_ADDRESS_PER_MINUTE", 10)?,
        };
        let trusted_proxy_hops = env.count_in("TRUSTED_PROXY_HOPS", 0, 0..=10)?;
        Ok(AuthConfig {
            mode,
            users: Some(UsersConfig {
                source,
                refresh,
                write,
                floor,
                concurrency,
                queue,
                account,
                address,
                trusted_proxy_hops,
            }),
        })
    }
}

/// The argon2id write parameters and the floor (`PASSWORD_*`), checked against each other.
pub(super) fn hash_settings(env: &Env) -> Result<(HashParameters, HashFloor), ConfigError> {
    let write = HashParameters {
        memory_kib: env.count_in(
            "PASSWORD_MEMORY_KIB",
            OWASP_PARAMETERS.memory_kib,
            8..=4 * 1024 * 1024,
        )?,
        iterations: env.count_in("PASSWORD_ITERATIONS", OWASP_PARAMETERS.iterations, 1..=100)?,
        parallelism: env.count_in("PASSWORD_PARALLELISM", OWASP_PARAMETERS.parallelism, 1..=16)?,
    };
    let defaults = HashFloor::default();
    let floor = HashFloor {
        min_memory_kib: env.count_in(
            "PASSWORD_MIN_MEMORY_KIB",
            defaults.min_memory_kib,
            8..=4 * 1024 * 1024,
        )?,
        min_work: env.count_in("PASSWORD_MIN_WORK", defaults.min_work, 8..=1 << 32)?,
        max_memory_kib: env.count_in(
            "PASSWORD_MAX_MEMORY_KIB",
            defaults.max_memory_kib,
            8..=4 * 1024 * 1024,
        )?,
        min_bcrypt_cost: env.count_in(
            "PASSWORD_MIN_BCRYPT_COST",
            defaults.min_bcrypt_cost,
            4..=31,
        )?,
    };
    floor.check(&write).map_err(|problem| {
        ConfigError::new(
            "PASSWORD_MEMORY_KIB",
            format!("the write parameters {write} fail the floor: {problem}"),
        )
    })?;
    Ok((write, floor))
}

/// The `PASSWORD_*` settings alone, from the process environment: what the `server users`
/// command hashes with, the same as the service's.
pub fn hash_settings_from_env() -> Result<(HashParameters, HashFloor), ConfigError> {
    let lookup = |name: &str| std::env::var(name).ok();
    hash_settings(&Env::new(&lookup))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<AuthConfig, ConfigError> {
        let map: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let lookup = |name: &str| map.get(name).cloned();
        AuthConfig::read(&Env::new(&lookup))
    }

    /// No store and no mode: open. A store alone: users, with every documented default.
    #[test]
    fn modes_and_defaults() {
        assert_eq!(read(&[]).unwrap(), AuthConfig { mode: AuthMode::Open, users: None });
        assert_eq!(read(&[("AUTH_MODE", "open")]).unwrap().mode, AuthMode::Open);
        let config = read(&[("USERS_TABLE", "users")]).unwrap();
        assert_eq!(config.mode, AuthMode::Users);
        let users = config.users.unwrap();
        assert_eq!(users.source, UserSource::Table("users".into()));
        assert_eq!(users.write, OWASP_PARAMETERS);
        assert_eq!(users.floor, HashFloor::default());
        assert_eq!(users.account, AccountLimits::default());
        assert_eq!(users.address, AddressLimits::default());
        assert_eq!(users.refresh, Duration::from_secs(300));
        assert_eq!(users.trusted_proxy_hops, 0);
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(users.concurrency, cpus.min(2), "40 MiB budget / 19 MiB per verification");
        assert_eq!(users.queue, 4 * users.concurrency);
        let file = read(&[("AUTH_MODE", "USERS"), ("USERS_FILE", "/etc/users")]).unwrap();
        assert_eq!(file.users.unwrap().source, UserSource::File("/etc/users".into()));
    }

    /// Contradictions and out-of-range values name their variable.
    #[test]
    fn refusals() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("AUTH_MODE", "users")], "AUTH_MODE"),
            (&[("AUTH_MODE", "open"), ("USERS_FILE", "/f")], "AUTH_MODE"),
            (&[("AUTH_MODE", "maybe")], "AUTH_MODE"),
            (&[("USERS_FILE", "/f"), ("USERS_TABLE", "t")], "USERS_TABLE"),
            (&[("USERS_FILE", "/f"), ("PASSWORD_MEMORY_KIB", "4096")], "PASSWORD_MEMORY_KIB"),
            (&[("USERS_FILE", "/f"), ("PASSWORD_ITERATIONS", "0")], "PASSWORD_ITERATIONS"),
            (&[("USERS_FILE", "/f"), ("LOGIN_CONCURRENCY", "0")], "LOGIN_CONCURRENCY"),
            (
                &[("USERS_FILE", "/f"), ("LOGIN_MAX_FAILURES", "18446744073709551615")],
                "LOGIN_MAX_FAILURES",
            ),
            (
                &[("USERS_FILE", "/f"), ("LOGIN_LOCKOUT_SECONDS", "1000")],
                "LOGIN_MAX_LOCKOUT_SECONDS",
            ),
            (&[("USERS_FILE", "/f"), ("LOGIN_ADDRESS_BURST", "0")], "LOGIN_ADDRESS_BURST"),
            (&[("USERS_FILE", "/f"), ("TRUSTED_PROXY_HOPS", "11")], "TRUSTED_PROXY_HOPS"),
        ];
        for (vars, variable) in cases {
            let err = read(vars).unwrap_err();
            assert_eq!(err.variable(), *variable, "{vars:?}: {err}");
        }
    }
}
