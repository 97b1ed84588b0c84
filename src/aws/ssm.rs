//! Reading documents (the signing key material, ...) from AWS Systems Manager Parameter Store:
//! an SSM parameter as a [`Source`].
//!
//! Only a `SecureString` parameter is accepted: a plaintext `String` leaves the value readable by
//! anyone with `ssm:GetParameter` (or `DescribeParameters` history) and unprotected by KMS, so
//! it is refused at start-up and, at refresh, the last good value is kept. SSM's failures are
//! classified here ([`FetchError`], with messages that say what to do) and handed on as the
//! source-agnostic [`SourceError`].

use crate::source::{BoxFuture, Document, Source, SourceError};
use aws_sdk_ssm::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use aws_sdk_ssm::types::ParameterType;
use zeroize::Zeroizing;

/// A named SSM parameter and a client configured to read it.
#[derive(Debug, Clone)]
pub struct SsmParameter {
    client: aws_sdk_ssm::Client,
    name: String,
    region: String,
    variable: &'static str,
}

/// Why a parameter could not be read. Never contains its value.
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
    #[error("could not read SSM parameter {name:?} within {}s: {detail}", super::CALL_BOUND.as_secs())]
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

impl From<FetchError> for SourceError {
    fn from(err: FetchError) -> Self {
        if err.is_configuration() {
            SourceError::Misconfigured(err.to_string())
        } else {
            SourceError::Unavailable(err.to_string())
        }
    }
}

impl SsmParameter {
    /// A client for reading parameter `name` (a name or a full ARN) with the shared SDK
    /// configuration ([`super::sdk_config`]), named by the environment variable `variable` (for
    /// messages). Fails only when no region is set.
    pub fn new(
        config: &aws_config::SdkConfig,
        name: String,
        variable: &'static str,
    ) -> Result<Self, FetchError> {
        let region = config.region().ok_or(FetchError::NoRegion { variable })?.to_string();
        Ok(SsmParameter { client: aws_sdk_ssm::Client::new(config), name, region, variable })
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
    /// with a value. What the value means is decided by the caller.
    pub async fn fetch(&self) -> Result<Document, FetchError> {
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
            Some(ParameterType::SecureString) => Ok(Document { value, version: Some(version) }),
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

impl Source for SsmParameter {
    fn fetch(&self) -> BoxFuture<'_, Result<Document, SourceError>> {
        Box::pin(async move { SsmParameter::fetch(self).await.map_err(SourceError::from) })
    }

    fn describe(&self) -> String {
        format!("{}: SSM parameter {:?}", self.variable, self.name)
    }

    fn changes(&self) -> bool {
        true
    }
}
