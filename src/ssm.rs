//! Reading the signing key material (HMAC secret or private key) from AWS Systems Manager
//! Parameter Store.
//!
//! Region, credentials and endpoint come from the SDK's standard sources (`AWS_REGION`, IRSA
//! web identity on EKS, the execution role on Lambda, env/profile locally,
//! `AWS_ENDPOINT_URL(_SSM)`). Timeouts and retries are explicit so that a bad setup fails
//! start-up within [`STARTUP_BOUND`] instead of hanging the pod: Kubernetes' restart with
//! backoff is the right recovery. Error messages name the parameter, never its value.
//!
//! Only a `SecureString` parameter is accepted: a plaintext `String` leaves the key readable by
//! anyone with `ssm:GetParameter` (or `DescribeParameters` history) and unprotected by KMS, so
//! it is refused at start-up and, at refresh, the last good key is kept.

use crate::keys::{BoxFuture, KeySource, Material};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ssm::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use aws_sdk_ssm::types::ParameterType;
use std::time::Duration;
use zeroize::Zeroizing;

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
    variable: &'static str,
}

/// Why the material could not be read. Never contains the material.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No region is configured.
    #[error(
        "no AWS region configured for reading {variable} from SSM: set AWS_REGION (or set \
         {} to skip SSM)",
        without_parameter(variable)
    )]
    NoRegion {
        /// The variable that names the parameter.
        variable: &'static str,
    },
    /// The parameter does not exist in this region.
    #[error(
        "SSM parameter {name:?} not found in region {region}: create it with `aws ssm \
         put-parameter --type SecureString --name {name} --value ...`, or point \
         {variable} at the right name"
    )]
    NotFound {
        /// Parameter name or ARN.
        name: String,
        /// Region asked.
        region: String,
        /// The variable that names the parameter.
        variable: &'static str,
    },
    /// The parameter is not a `SecureString`.
    #[error(
        "SSM parameter {name:?} (named by {variable}) is of type {found}, not SecureString: \
         the key would be stored unencrypted. Store it again with `aws ssm put-parameter \
         --type SecureString --overwrite ...` (a type cannot be changed in place: delete the \
         parameter first)"
    )]
    NotSecureString {
        /// Parameter name or ARN.
        name: String,
        /// The variable that names the parameter.
        variable: &'static str,
        /// The type it has.
        found: String,
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
    /// The response has no parameter or the parameter no value.
    #[error("SSM parameter {name:?} is not a usable secret: {detail}")]
    Policy {
        /// Parameter name or ARN.
        name: String,
        /// Why.
        detail: String,
    },
}

impl FetchError {
    /// Whether the parameter itself is wrong (its type or content), so that a restart cannot
    /// help: start-up then exits with status 2, like any configuration error.
    pub fn is_configuration(&self) -> bool {
        match self {
            FetchError::NotSecureString { .. } | FetchError::Policy { .. } => true,
            FetchError::NoRegion { .. }
            | FetchError::NotFound { .. }
            | FetchError::AccessDenied { .. }
            | FetchError::Unreachable { .. }
            | FetchError::Service { .. } => false,
        }
    }
}

/// `JWT_SECRET` for `JWT_SECRET_PARAMETER`: the variable that bypasses SSM.
fn without_parameter(variable: &str) -> &str {
    variable.strip_suffix("_PARAMETER").unwrap_or(variable)
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
    /// reading parameter `name` (a name or a full ARN), named by the environment variable
    /// `variable` (for error messages). Fails only when no region is set.
    pub async fn connect(name: String, variable: &'static str) -> Result<Self, FetchError> {
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
        let region = config.region().ok_or(FetchError::NoRegion { variable })?.to_string();
        Ok(SsmParameter { client: aws_sdk_ssm::Client::new(&config), name, region, variable })
    }

    /// The parameter name or ARN.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The environment variable that names the parameter.
    pub fn variable(&self) -> &'static str {
        self.variable
    }

    /// Reads the parameter (`WithDecryption=true`) and checks that it is a `SecureString`
    /// with a value. The key policy is applied by the caller.
    pub async fn fetch(&self) -> Result<Material, FetchError> {
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
        let value = Zeroizing::new(
            parameter.value.ok_or_else(|| policy("the parameter has no value".into()))?,
        );
        match parameter.r#type {
            Some(ParameterType::SecureString) => Ok(Material { value, version }),
            other => Err(FetchError::NotSecureString {
                name: self.name.clone(),
                variable: self.variable,
                found: other.map_or_else(|| "unknown".to_owned(), |t| t.as_str().to_owned()),
            }),
        }
    }

    fn classify(&self, err: SdkError<GetParameterError>) -> FetchError {
        let name = self.name.clone();
        if let SdkError::ServiceError(service) = &err {
            let error = service.err();
            if error.is_parameter_not_found() {
                return FetchError::NotFound {
                    name,
                    region: self.region.clone(),
                    variable: self.variable,
                };
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

impl KeySource for SsmParameter {
    fn fetch(&self) -> BoxFuture<'_, Result<Material, FetchError>> {
        Box::pin(SsmParameter::fetch(self))
    }
}
