//! The AWS Lambda entry point: configuration and state once per cold start, then the
//! lambda_http runtime loop around the library's Lambda adapter.

use lambda_http::service_fn;
use simple_jwt_api::{lambda, state, telemetry};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    // The secret is read here, once per execution environment (from JWT_SECRET or SSM), and
    // refreshed in the background like the server's.
    let (_config, state, ()) = match state::start(telemetry::init).await {
        Ok(started) => started,
        Err(exit_code) => return exit_code,
    };
    match lambda_http::run(service_fn(|request| lambda::handle(&state, request))).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "the Lambda runtime loop ended");
            ExitCode::FAILURE
        }
    }
}
