//! Reading the HMAC secret from AWS Systems Manager Parameter Store.
//!
//! Region, credentials and endpoint come from the SDK's standard sources (`AWS_REGION`, IRSA
//! web identity on EKS, the execution role on Lambda, env/profile locally,
//! `AWS_ENDPOINT_URL(_SSM)`). Timeouts and retries are explicit so that a bad setup fails
//! start-up within [`STARTUP_BOUND`] instead of hanging the pod: Kubernetes' restart with
//! backoff is the right recovery. Error messages name the parameter, never its value.

use crate::secret::{Secret, Strength};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ssm::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use std::time::Duration;

/// TCP connect timeout to the SSM endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound on one HTTP attempt (connect + response).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// Bound on one `GetParameter` call, retries included: the start-up failure bound.
pub const STARTUP_BOUND: Duration = Duration::from_secs(8);
/// Attempts per call (the first plus retries) for transient errors.
pub const MAX_ATTEMPTS: u32 = 3;

/// A named SSM parameter and a client configured to read it.
#[derive(Debug, Clone)]
pub struct SsmParameter {
    client: aws_sdk_ssm::Client,
    name: String,
    region: String,
}

/// A secret read from SSM, with the parameter version it came from.
#[derive(Debug)]
pub struct FetchedSecret {
    /// The secret, already checked against the policy.
    pub secret: Secret,
    /// Whether it is shorter than recommended.
    pub strength: Strength,
    /// The parameter version (it becomes the `kid` of tokens signed with it).
    pub version: i64,
}

/// Why the secret could not be read. Never contains the secret.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No region is configured.
    #[error(
        "no AWS region configured for reading the JWT secret from SSM: set AWS_REGION (or set \
         JWT_SECRET to skip SSM)"
    )]
    NoRegion,
    /// The parameter does not exist in this region.
    #[error(
        "SSM parameter {name:?} not found in region {region}: create it with `aws ssm \
         put-parameter --type SecureString --name {name} --value ...`, or point \
         JWT_SECRET_PARAMETER at the right name"
    )]
    NotFound {
        /// Parameter name or ARN.
        name: String,
        /// Region asked.
        region: String,
    },
    /// The caller may not read (or decrypt) the parameter.
    #[error(
        "access denied reading SSM parameter {name:?}: the role needs ssm:GetParameter on it \
         (and kms:Decrypt for a customer-managed key) ({detail})"
    )]
    AccessDenied {
        /// Parameter name or ARN.
        name: String,
        /// The service's message.
        detail: String,
    },
    /// The endpoint could not be reached or did not answer in time.
    #[error("could not read SSM parameter {name:?} within {}s: {detail}", STARTUP_BOUND.as_secs())]
    Unreachable {
        /// Parameter name or ARN.
        name: String,
        /// What the SDK reported (includes credential errors).
        detail: String,
    },
    /// Any other service error.
    #[error("reading SSM parameter {name:?} failed: {detail}")]
    Service {
        /// Parameter name or ARN.
        name: String,
        /// What the SDK reported.
        detail: String,
    },
    /// The parameter has no value, or its value fails the secret policy.
    #[error("SSM parameter {name:?} is not a usable secret: {detail}")]
    Policy {
        /// Parameter name or ARN.
        name: String,
        /// Why.
        detail: String,
    },
}

/// The SDK's HTTPS client: hyper + rustls with the `ring` provider, trusting the system's CA
/// roots (`/etc/ssl/certs` — the container image ships them).
pub fn https_client() -> aws_sdk_ssm::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

impl SsmParameter {
    /// Loads the SDK configuration (standard sources, explicit timeouts and retries) for
    /// reading parameter `name` (a name or a full ARN). Fails only when no region is set.
    pub async fn connect(name: String) -> Result<Self, FetchError> {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https_client())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .read_timeout(ATTEMPT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(STARTUP_BOUND)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .load()
            .await;
        let region = config.region().ok_or(FetchError::NoRegion)?.to_string();
        Ok(SsmParameter { client: aws_sdk_ssm::Client::new(&config), name, region })
    }

    /// The parameter name or ARN.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads the parameter (`WithDecryption=true`) and applies the secret policy.
    pub async fn fetch(&self, allow_weak: bool) -> Result<FetchedSecret, FetchError> {
        let output = self
            .client
            .get_parameter()
            .name(&self.name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|err| self.classify(err))?;
        let policy = |detail: String| FetchError::Policy { name: self.name.clone(), detail };
        let parameter =
            output.parameter.ok_or_else(|| policy("the response has no parameter".into()))?;
        let version = parameter.version;
        let value = parameter.value.ok_or_else(|| policy("the parameter has no value".into()))?;
        let (secret, strength) =
            Secret::new(value, allow_weak).map_err(|err| policy(err.to_string()))?;
        Ok(FetchedSecret { secret, strength, version })
    }

    fn classify(&self, err: SdkError<GetParameterError>) -> FetchError {
        let name = self.name.clone();
        if let SdkError::ServiceError(service) = &err {
            let error = service.err();
            if error.is_parameter_not_found() {
                return FetchError::NotFound { name, region: self.region.clone() };
            }
            let code = error.code().unwrap_or_default();
            if code.contains("AccessDenied")
                || code.contains("KMS")
                || code == "UnrecognizedClientException"
            {
                return FetchError::AccessDenied {
                    name,
                    detail: error.message().unwrap_or(code).to_owned(),
                };
            }
            return FetchError::Service { name, detail: DisplayErrorContext(&err).to_string() };
        }
        FetchError::Unreachable { name, detail: DisplayErrorContext(&err).to_string() }
    }
}
