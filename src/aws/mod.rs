//! The AWS services the service reads at start-up and while it runs, on one SDK configuration.
//!
//! [`sdk_config`] loads the configuration every client shares: region, credentials and endpoint
//! from the SDK's standard sources (`AWS_REGION`, IRSA web identity on EKS, the execution role
//! on Lambda, env/profile locally, `AWS_ENDPOINT_URL(_<SERVICE>)`), with explicit timeouts and
//! retries so that a bad setup fails within [`CALL_BOUND`] instead of hanging the pod, over the
//! one HTTPS client ([`https_client`]). Each service has its file: [`ssm`] (Parameter Store),
//! [`dynamodb`] (the users table).
//! Error messages name the resource, never its value.

pub mod dynamodb;
pub mod ssm;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use std::time::Duration;

/// TCP connect timeout to an AWS endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound on one HTTP attempt (connect + response).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// Bound on one call, retries included: the start-up failure bound.
pub const CALL_BOUND: Duration = Duration::from_secs(8);
/// Attempts per call (the first plus retries) for transient errors.
pub const MAX_ATTEMPTS: u32 = 3;

/// The SDK's HTTPS client: hyper + rustls with the AWS-LC provider (the library that also signs
/// and verifies tokens), trusting the system's CA roots (`/etc/ssl/certs` — the container image
/// ships them). (Every SDK crate re-exports the same `SharedHttpClient` type.)
pub fn https_client() -> aws_sdk_ssm::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .build_https()
}

/// The configuration every client is built from: the standard sources, [`https_client`], and
/// the timeouts and retries above. Loaded once per process, when a service is first needed.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(ATTEMPT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(CALL_BOUND)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .load()
        .await
}
