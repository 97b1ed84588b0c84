//! Start-up, as both binaries do it: the configuration, the logs, then the state — with the
//! key material read from its source (the environment, or SSM with bounded timeouts) and
//! turned into keys by the key store, one path for every source, and the periodic refresh
//! started when the source can change; then, in `users` mode, the user store and the login
//! bounds (`users.rs`).

mod users;

pub use users::UsersError;

use crate::admission::Admission;
use crate::aws::ssm::SsmParameter;
use crate::config::admission::QUEUE_WAIT;
use crate::config::{Config, KeyMaterial};
use crate::keys::{KeyStore, LoadError, Rotation};
use crate::source::{self, Inline, Source, SourceError};
use crate::state::AppState;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Why the state could not be built. The message names what is at fault, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The signing keys could not be loaded.
    #[error(transparent)]
    Keys(#[from] LoadError),
    /// `users` mode could not start (its store, its table, its parameters).
    #[error(transparent)]
    Users(#[from] UsersError),
}

/// The AWS SDK configuration, loaded when a source first needs it and then shared by every
/// client (SSM for keys and users, DynamoDB): a process that reads nothing from AWS never loads
/// it.
#[derive(Default)]
pub struct Aws(tokio::sync::OnceCell<aws_config::SdkConfig>);

impl Aws {
    /// The configuration ([`crate::aws::sdk_config`]), loaded on first use.
    pub async fn config(&self) -> &aws_config::SdkConfig {
        self.0.get_or_init(crate::aws::sdk_config).await
    }
}

impl StartupError {
    /// The exit status. Keys: 2 when the configuration is at fault (the material, or the
    /// source's own setup: a restart cannot help, as for any configuration error), 1 when the
    /// source could not be read (it may work on the next try, which Kubernetes' restart with
    /// backoff provides). Users: always 2, naming the variable of the store.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            StartupError::Keys(err) if err.is_configuration() => ExitCode::from(2),
            StartupError::Keys(_) => ExitCode::FAILURE,
            StartupError::Users(_) => ExitCode::from(2),
        }
    }
}

/// What both binaries do first, in this order: read the configuration from the environment
/// (an invalid value is printed to stderr and ends the process with exit status 2), install
/// logging with `init_logs` (given the validated `LOG_LEVEL`; what it returns, such as a flush
/// guard, is handed back), then build the state (a failure is logged and ends the process with
/// [`StartupError::exit_code`]). `Err` is the exit code for `main` to return.
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
    match build_state(&config).await {
        Ok(state) => Ok((config, state, logs)),
        Err(err) => {
            tracing::error!(error = %err, "start-up failed");
            Err(err.exit_code())
        }
    }
}

/// Builds the state from the configuration: loads the keys from their source and, when the
/// source can change, re-reads it every refresh period while the process lives (once per
/// process start — per cold start on Lambda — then in the background). Needs a Tokio runtime.
pub async fn build_state(config: &Config) -> Result<Arc<AppState>, StartupError> {
    let aws = Aws::default();
    let (source, refresh, rotation) = key_source(&config.keys.material, &aws).await?;
    let rules = config.tokens.rules(config.keys.policy.algorithm);
    let mut keys = KeyStore::load(source, config.keys.policy, rotation, rules).await?;
    if config.keys.policy.algorithm.is_public_key() {
        // A public-key signature check costs 10-40x an HS256 one (ES256 ~55 µs in process):
        // bounded, so a flood of forged tokens is answered 503 instead of queueing without
        // limit.
        let bound = config.admission;
        let admission = Admission::new(bound.verify_limit, bound.verify_queue, QUEUE_WAIT);
        keys = keys.with_admission(Arc::new(admission));
    }
    let keys = Arc::new(keys);
    if let (Some(period), true) = (refresh, keys.refreshes()) {
        tracing::info!(refresh_seconds = period.as_secs(), "refreshing the key material");
        let store = Arc::clone(&keys);
        source::refresh_every(period, move || {
            let store = Arc::clone(&store);
            async move { store.refresh().await }
        });
    }
    let logins = users::logins(&config.auth, &aws).await?;
    Ok(Arc::new(AppState {
        keys,
        body_limit: config.body_limit,
        jwks_max_age: config.keys.jwks_max_age,
        logins,
    }))
}

/// The source of the key material, its refresh period and how its new versions take over.
async fn key_source(
    material: &KeyMaterial,
    aws: &Aws,
) -> Result<(Box<dyn Source>, Option<Duration>, Rotation), LoadError> {
    match material {
        KeyMaterial::Inline { variable, value } => {
            let fixed = Rotation { activation: Duration::ZERO, grace: Duration::ZERO };
            Ok((Box::new(Inline::new(variable, value.clone())), None, fixed))
        }
        KeyMaterial::Parameter { variable, name, refresh, rotation } => {
            let parameter = SsmParameter::new(aws.config().await, name.clone(), variable)
                .map_err(SourceError::from)?;
            Ok((Box::new(parameter), *refresh, *rotation))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_material::SecretError;
    use crate::keys::MaterialError;

    /// Every start-up failure has its exit status: 2 for what a restart cannot mend (material
    /// that fails the policy, a parameter of the wrong type), 1 for what it may (a source that
    /// cannot be read now).
    #[test]
    fn exit_codes() {
        let material = LoadError::Material {
            origin: "JWT_SECRET".into(),
            source: MaterialError::Secret(SecretError::Empty),
        };
        let cases = [
            (StartupError::Keys(material), 2),
            (StartupError::Keys(SourceError::Misconfigured("a String".into()).into()), 2),
            (StartupError::Keys(SourceError::Unavailable("unreachable".into()).into()), 1),
        ];
        for (error, code) in cases {
            assert_eq!(error.exit_code(), ExitCode::from(code), "{error}");
        }
    }

    /// A state built from the environment serves tokens at once and refreshes nothing.
    #[tokio::test]
    async fn state_from_the_environment() {
        let config = Config::from_lookup(|name| {
            (name == "JWT_SECRET").then(|| "0123456789abcdef0123456789abcdef".to_owned())
        })
        .unwrap();
        let state = build_state(&config).await.unwrap();
        assert!(!state.keys.refreshes());
        assert_eq!(state.body_limit, 65_536);
        let token = state.keys.issue("a@b.c").unwrap();
        assert_eq!(state.keys.verify(&token).await.unwrap().email, "a@b.c");
    }
}
