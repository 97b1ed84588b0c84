//! The EKS container entry point: configuration, state, metrics, the admin listener and the
//! hyper adapter, wired together.

use simple_jwt_api::metrics::Prometheus;
use simple_jwt_api::server::{self, Admin, Readiness};
use simple_jwt_api::{state, telemetry};
use std::process::ExitCode;
use std::sync::Arc;

#[tokio::main]
async fn main() -> ExitCode {
    let (config, state, _logs) = match state::start(telemetry::init_buffered).await {
        Ok(started) => started,
        Err(exit_code) => return exit_code,
    };
    let metrics = match Prometheus::install(config.key_policy.algorithm) {
        Ok(metrics) => metrics,
        Err(err) => {
            tracing::error!(error = %err, "cannot install the metrics exporter");
            return ExitCode::FAILURE;
        }
    };
    let listener = match server::listen(config.bind, "listening").await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(error = %err, address = %config.bind, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let readiness = Arc::new(Readiness::default());
    if let Some(address) = config.admin {
        match server::listen(address, "admin listening").await {
            Ok(admin) => {
                let admin_state = Admin { metrics, readiness: Arc::clone(&readiness) };
                tokio::spawn(server::serve_admin(admin, admin_state, config.header_read_timeout));
            }
            Err(err) => {
                tracing::error!(error = %err, %address, "cannot listen on the admin port");
                return ExitCode::FAILURE;
            }
        }
    }
    let shutdown =
        server::shutdown_after_delay(server::signal_received(), readiness, config.shutdown_delay);
    server::serve(listener, state, (&config).into(), shutdown).await;
    ExitCode::SUCCESS
}
