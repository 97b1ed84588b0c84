//! The AWS Lambda entry point: configuration, state and the metrics exporter once per cold
//! start, then the lambda_http runtime loop around the library's Lambda adapter.

use lambda_http::service_fn;
use simple_jwt_api::metrics::{BuildInfo, Emf};
use simple_jwt_api::{lambda, startup, telemetry};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    // The key material is read here, once per execution environment (from the environment or
    // SSM), and refreshed in the background like the server's.
    let (config, state, ()) = match startup::start(telemetry::init).await {
        Ok(started) => started,
        Err(exit_code) => return exit_code,
    };
    let build = BuildInfo { algorithm: config.keys.policy.algorithm, auth_mode: config.auth.mode };
    let metrics = match Emf::install(config.function_name.as_deref(), build, state.keys.clone()) {
        Ok(metrics) => metrics,
        Err(err) => {
            tracing::error!(error = %err, "cannot install the metrics exporter");
            return ExitCode::FAILURE;
        }
    };
    let handler = service_fn(|request| metrics.flushed(lambda::handle(&state, request)));
    match lambda_http::run(handler).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "the Lambda runtime loop ended");
            ExitCode::FAILURE
        }
    }
}
