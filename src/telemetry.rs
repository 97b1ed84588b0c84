//! Log output: one JSON object per line on stdout, filtered by `LOG_LEVEL`.
//!
//! Only fields the code names explicitly are logged; request bodies and the `Authorization`
//! header never are, so secrets, tokens and passwords cannot reach a log line.

use tracing_subscriber::EnvFilter;

/// Parses a `LOG_LEVEL` value (`info`, `debug`, or a full `tracing` filter such as
/// `simple_jwt_api=debug,warn`).
pub fn parse_filter(directive: &str) -> Result<EnvFilter, String> {
    EnvFilter::builder().parse(directive).map_err(|err| format!("invalid filter: {err}"))
}

/// Installs the JSON log subscriber for the whole process. Call once, first thing in `main`,
/// with the level from [`crate::Config`] (already validated).
pub fn init(log_level: &str) {
    let filter = parse_filter(log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .init();
}
