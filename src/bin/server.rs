//! The EKS container entry point: configuration, state, and the hyper adapter.

use simple_jwt_api::{server, state, telemetry};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let (config, state, _logs) = match state::start(telemetry::init_buffered).await {
        Ok(started) => started,
        Err(exit_code) => return exit_code,
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
