//! Application state: everything a request needs, built once at start-up and shared (in an
//! `Arc`) by every connection or Lambda invocation. Both binaries build it the same way, with
//! [`AppState::from_config`]: the key material (HMAC secret or private key) comes from the
//! environment or, when that is absent, from SSM (read once per process start — per cold start
//! on Lambda — then refreshed in the background while the process lives). [`start`] is the
//! whole start-up both `main`s share.

use crate::config::{Config, SecretSource};
use crate::keys::{KeyStore, MaterialError, Rotation, spawn_periodic_refresh};
use crate::secret::Strength;
use crate::ssm::SsmParameter;
use crate::token::{KeyPair, TokenRules};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Per-process state. Share it as `Arc<AppState>`: cloning the `Arc` is shallow.
#[derive(Debug)]
pub struct AppState {
    /// Mints and verifies tokens with the keys in force.
    pub keys: Arc<KeyStore>,
    /// Request body cap, in bytes.
    pub body_limit: usize,
    /// `Cache-Control: max-age` of the JWKS and discovery documents.
    pub jwks_max_age: Duration,
}

/// Why the state could not be built at start-up. The message never contains the material.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The material could not be read from SSM.
    #[error(transparent)]
    Ssm(#[from] crate::ssm::FetchError),
    /// The material read from SSM failed the policy.
    #[error("{variable}: SSM parameter {parameter:?} is not usable: {source}")]
    Material {
        /// The variable naming the parameter.
        variable: &'static str,
        /// The parameter name or ARN.
        parameter: String,
        /// Why.
        source: MaterialError,
    },
}

impl StartupError {
    /// The exit status: 2 when the configured parameter itself is wrong (a restart cannot
    /// help, as for any configuration error), 1 when SSM could not be read (it may work on the
    /// next try, which Kubernetes' restart with backoff provides).
    pub fn exit_code(&self) -> ExitCode {
        match self {
            StartupError::Ssm(err) if !err.is_configuration() => ExitCode::FAILURE,
            StartupError::Ssm(_) | StartupError::Material { .. } => ExitCode::from(2),
        }
    }
}

impl AppState {
    /// Builds the state from the configuration: obtains the secret (from the environment, or
    /// from SSM with bounded timeouts), builds the keys, and starts the periodic refresh when
    /// the secret comes from SSM. Needs a Tokio runtime.
    pub async fn from_config(config: &Config) -> Result<Arc<Self>, StartupError> {
        let rules = TokenRules::with_claims(
            config.key_policy.algorithm,
            config.token_ttl,
            config.leeway_seconds,
            config.issuer.clone(),
            config.audience.clone(),
        );
        let keys = match &config.secret {
            SecretSource::Env { keys, strength } => {
                warn_if_weak(*strength);
                // The configuration keeps the keys it checked; the store gets its own copy.
                Arc::new(KeyStore::with_key(KeyPair::clone(keys), rules))
            }
            SecretSource::Ssm { parameter, variable, refresh, grace, activation } => {
                let started = std::time::Instant::now();
                let ssm = SsmParameter::connect(parameter.clone(), variable).await?;
                let mut first = ssm.fetch().await?;
                let value = std::mem::take(&mut *first.value);
                let (keys, strength) =
                    config.key_policy.build(value, Some(first.version)).map_err(|source| {
                        StartupError::Material { variable, parameter: parameter.clone(), source }
                    })?;
                warn_if_weak(strength);
                tracing::info!(
                    parameter = ssm.name(),
                    version = first.version,
                    algorithm = config.key_policy.algorithm.name(),
                    kid = keys.kid(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    refresh_seconds = refresh.map_or(0, |period| period.as_secs()),
                    grace_seconds = grace.as_secs(),
                    activation_seconds = activation.as_secs(),
                    "JWT secret loaded from SSM"
                );
                let rotation = Rotation::new(Box::new(ssm), config.key_policy, *activation, *grace);
                let store = Arc::new(KeyStore::rotating(keys, first.version, rotation, rules));
                if let Some(period) = refresh {
                    spawn_periodic_refresh(Arc::clone(&store), *period);
                }
                store
            }
        };
        Ok(Arc::new(AppState {
            keys,
            body_limit: config.body_limit,
            jwks_max_age: config.jwks_max_age,
        }))
    }
}

/// What both binaries do first, in this order: read the configuration from the environment
/// (an invalid value is printed to stderr and ends the process with exit status 2), install
/// logging with `init_logs` (given the validated `LOG_LEVEL`; what it returns, such as a flush
/// guard, is handed back), then build the state (a failure is logged and ends the process with
/// status 1). `Err` is the exit code for `main` to return.
pub async fn start<Logs>(
    init_logs: impl FnOnce(&str) -> Logs,
) -> Result<(Config, Arc<AppState>, Logs), ExitCode> {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("simple-jwt-api: configuration error: {err}");
            return Err(ExitCode::from(2));
        }
    };
    let logs = init_logs(&config.log_level);
    match AppState::from_config(&config).await {
        Ok(state) => Ok((config, state, logs)),
        Err(err) => {
            tracing::error!(error = %err, "start-up failed");
            Err(err.exit_code())
        }
    }
}

fn warn_if_weak(strength: Strength) {
    if strength == Strength::Weak {
        tracing::warn!(
            "the JWT secret is shorter than 32 bytes; accepted only because \
             JWT_ALLOW_WEAK_SECRET=true. Replace it with `openssl rand -base64 48`"
        );
    }
}
