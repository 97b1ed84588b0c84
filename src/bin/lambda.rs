//! The AWS Lambda entry point: configuration and state once per cold start, then the
//! lambda_http runtime loop around the library's Lambda adapter.

use lambda_http::service_fn;
use simple_jwt_api::{AppState, Config, lambda, telemetry};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("simple-jwt-api: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&config.log_level);
    // The secret is read here, once per execution environment (from JWT_SECRET or SSM), and
    // refreshed in the background like the server's.
    let state = match AppState::from_config(&config).await {
        Ok(state) => state,
        Err(err) => {
            tracing::error!(error = %err, "start-up failed");
            return ExitCode::FAILURE;
        }
    };
    match lambda_http::run(service_fn(|request| lambda::handle(&state, request))).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "the Lambda runtime loop ended");
            ExitCode::FAILURE
        }
    }
}
