//! The EKS container entry point: configuration, state, metrics, the admin listener and the
//! hyper adapter, wired together.

use simple_jwt_api::metrics::Prometheus;
use simple_jwt_api::server::{self, Admin, Readiness};
use simple_jwt_api::{startup, telemetry};
use std::process::ExitCode;
use std::sync::Arc;

#[tokio::main]
async fn main() -> ExitCode {
    let (config, state, _logs) = match startup::start(telemetry::init_buffered).await {
        Ok(started) => started,
        Err(exit_code) => return exit_code,
    };
    let metrics = match Prometheus::install(config.keys.policy.algorithm, state.keys.clone()) {
        Ok(metrics) => metrics,
        Err(err) => {
            tracing::error!(error = %err, "cannot install the metrics exporter");
            return ExitCode::FAILURE;
        }
    };
    let options = config.server;
    let listener = match server::listen(options.bind, "listening").await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(error = %err, address = %options.bind, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let readiness = Arc::new(Readiness::default());
    if let Some(address) = options.admin {
        let admin = Admin { metrics, readiness: Arc::clone(&readiness), keys: state.keys.clone() };
        if let Err(err) = server::start_admin(address, admin) {
            tracing::error!(error = %err, %address, "cannot listen on the admin port");
            return ExitCode::FAILURE;
        }
    }
    let shutdown =
        server::shutdown_after_delay(server::signal_received(), readiness, options.shutdown_delay);
    server::serve(listener, state, options, shutdown).await;
    ExitCode::SUCCESS
}
