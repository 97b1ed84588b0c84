//! The EKS container entry point: configuration, state, and the hyper adapter.

use simple_jwt_api::{AppState, Config, server, telemetry};
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
    let _logs = telemetry::init_buffered(&config.log_level);
    let state = match AppState::from_config(&config).await {
        Ok(state) => state,
        Err(err) => {
            tracing::error!(error = %err, "start-up failed");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.bind).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(error = %err, address = %config.bind, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(address) => tracing::info!(%address, "listening"),
        Err(err) => tracing::warn!(error = %err, "listening on an unknown address"),
    }
    server::serve(listener, state, (&config).into(), server::shutdown_signal()).await;
    ExitCode::SUCCESS
}
