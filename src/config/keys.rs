//! The signing-key section: the algorithm, where the key material comes from (as data: it is
//! checked and turned into keys at start-up, [`crate::startup`]), how a rotated key takes over,
//! and how long verifiers may cache the published keys.

use super::ConfigError;
use super::env::Env;
use crate::keys::{KeyPolicy, Rotation};
use crate::token::SigningAlgorithm;
use std::ops::RangeInclusive;
use std::time::Duration;
use zeroize::Zeroizing;

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

/// Accepted range of `JWT_SECRET_REFRESH_SECONDS` (0: never re-read; at most a day).
pub const REFRESH_RANGE: RangeInclusive<u64> = 0..=86_400;
/// Accepted range of `JWT_SECRET_GRACE_SECONDS` (at most 366 days, the longest token lifetime).
pub const GRACE_RANGE: RangeInclusive<u64> = 0..=31_622_400;
/// Accepted range of `JWT_KEY_ACTIVATION_SECONDS` (at most a week).
pub const ACTIVATION_RANGE: RangeInclusive<u64> = 0..=604_800;
/// Accepted range of `JWKS_MAX_AGE_SECONDS` (at most a day).
pub const JWKS_MAX_AGE_RANGE: RangeInclusive<u64> = 0..=86_400;

/// The variables of this section.
pub const VARIABLES: &[&str] = &[
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
];

/// Where the signing key material (HMAC secret or private key) comes from. Only data: the
/// material has not been checked yet.
pub enum KeyMaterial {
    /// `JWT_SECRET` (HS256) or `JWT_PRIVATE_KEY` (RS256, ES256, EdDSA): the value itself.
    Inline {
        /// The variable that held it, for messages.
        variable: &'static str,
        /// The value (zeroized on drop).
        value: Zeroizing<String>,
    },
    /// An SSM parameter, read at start-up and then periodically.
    Parameter {
        /// The variable that named it (`JWT_SECRET_PARAMETER` or `JWT_PRIVATE_KEY_PARAMETER`).
        variable: &'static str,
        /// Parameter name or full ARN.
        name: String,
        /// Re-read period; `None` never re-reads (`JWT_SECRET_REFRESH_SECONDS=0`).
        refresh: Option<Duration>,
        /// How a new version takes over (`JWT_KEY_ACTIVATION_SECONDS`, always zero for HS256
        /// whose secret is never published; `JWT_SECRET_GRACE_SECONDS`).
        rotation: Rotation,
    },
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyMaterial::Inline { variable, .. } => write!(f, "Inline({variable}, [redacted])"),
            KeyMaterial::Parameter { variable, name, refresh, rotation } => f
                .debug_struct("Parameter")
                .field("variable", variable)
                .field("name", name)
                .field("refresh", refresh)
                .field("rotation", rotation)
                .finish(),
        }
    }
}

/// The signing-key section.
#[derive(Debug)]
pub struct KeysConfig {
    /// How material becomes keys: the algorithm (`JWT_ALGORITHM`) and whether secrets
    /// shorter than 32 bytes are accepted (`JWT_ALLOW_WEAK_SECRET`).
    pub policy: KeyPolicy,
    /// The key material, or where to fetch it.
    pub material: KeyMaterial,
    /// `Cache-Control: max-age` of the JWKS and discovery responses (`JWKS_MAX_AGE_SECONDS`).
    pub jwks_max_age: Duration,
}

impl KeysConfig {
    pub(super) fn read(env: &Env) -> Result<Self, ConfigError> {
        let algorithm: SigningAlgorithm =
            env.get("JWT_ALGORITHM").map_or(Ok(SigningAlgorithm::Hs256), |raw| {
                raw.trim().parse().map_err(|err: String| ConfigError::new("JWT_ALGORITHM", err))
            })?;
        let policy = KeyPolicy { algorithm, allow_weak: env.flag("JWT_ALLOW_WEAK_SECRET")? };
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
            if env.get(variable).is_some() {
                return Err(ConfigError::new(
                    variable,
                    format!(
                        "is set, but JWT_ALGORITHM={algorithm} reads {value_variable} or \
                         {parameter_variable}; remove it"
                    ),
                ));
            }
        }
        let jwks_max_age = env.seconds_in(
            "JWKS_MAX_AGE_SECONDS",
            DEFAULT_JWKS_MAX_AGE_SECONDS,
            JWKS_MAX_AGE_RANGE,
        )?;
        let material = match env.raw(value_variable) {
            Some(value) => {
                KeyMaterial::Inline { variable: value_variable, value: Zeroizing::new(value) }
            }
            None => {
                let name = match env.trimmed(parameter_variable) {
                    Some(name) => name,
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
                let refresh = env.seconds_in(
                    "JWT_SECRET_REFRESH_SECONDS",
                    DEFAULT_REFRESH_SECONDS,
                    REFRESH_RANGE,
                )?;
                let grace =
                    env.seconds_in("JWT_SECRET_GRACE_SECONDS", DEFAULT_GRACE_SECONDS, GRACE_RANGE)?;
                let activation = if algorithm.is_public_key() {
                    let activation = env.seconds_in(
                        "JWT_KEY_ACTIVATION_SECONDS",
                        DEFAULT_ACTIVATION_SECONDS,
                        ACTIVATION_RANGE,
                    )?;
                    // A verifier may hold a JWKS fetched from a pod that has not re-read SSM
                    // yet (up to one refresh period) for up to the max-age: the new key must
                    // not sign before both have passed.
                    let needed = refresh + jwks_max_age;
                    if activation < needed {
                        return Err(ConfigError::new(
                            "JWT_KEY_ACTIVATION_SECONDS",
                            format!(
                                "is {}, shorter than JWKS_MAX_AGE_SECONDS ({}) plus \
                                 JWT_SECRET_REFRESH_SECONDS ({}): verifiers caching the JWKS \
                                 would meet tokens signed with a key they do not hold yet",
                                activation.as_secs(),
                                jwks_max_age.as_secs(),
                                refresh.as_secs(),
                            ),
                        ));
                    }
                    activation
                } else {
                    Duration::ZERO
                };
                KeyMaterial::Parameter {
                    variable: parameter_variable,
                    name,
                    refresh: (!refresh.is_zero()).then_some(refresh),
                    rotation: Rotation { activation, grace },
                }
            }
        };
        Ok(KeysConfig { policy, material, jwks_max_age })
    }
}
