//! The EKS container entry point: configuration, state, metrics, the admin listener and the
//! hyper adapter, wired together.

use simple_jwt_api::config::Config;
use simple_jwt_api::metrics::{BuildInfo, Prometheus};
use simple_jwt_api::server::{self, Admin, Readiness};
use simple_jwt_api::{command, startup, telemetry};
use std::process::ExitCode;
use std::sync::Arc;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|command| command == "users") {
        return command::users(&args[1..]).await;
    }
    let (config, state, _logs) = match startup::start(telemetry::init_buffered).await {
        Ok(started) => started,
        Err(exit_code) => return exit_code,
    };
    let metrics = match Prometheus::install(build_info(&config), state.keys.clone()) {
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

fn build_info(config: &Config) -> BuildInfo {
    BuildInfo { algorithm: config.keys.policy.algorithm, auth_mode: config.auth.mode }
}
