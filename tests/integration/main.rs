//! The integration tests that need nothing but Rust: the dispatch function in process through
//! the Lambda adapter, and the real `server` binary over loopback sockets. Fast: run them with
//! `cargo test --test integration` (with the unit tests: `cargo test --lib --test integration`).
//! Tests that drive external tools (moto, PyJWT, schemathesis, cargo-lambda, kubectl) are in
//! the `external` test binary.

mod admin_starvation;
mod api;
mod configuration_ranges;
mod container_context;
mod fuzz_regressions;
mod lambda_events;
mod operations;
mod overload;
mod public_keys;
mod shutdown;
mod slow_clients;
mod users;
