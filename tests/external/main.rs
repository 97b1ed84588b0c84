//! The integration tests that drive external tools, each started at most once for this binary
//! and installed on first use (Python tools into cached virtualenvs under the target directory,
//! at the versions `scripts/versions.env` pins): moto's SSM API, PyJWT, schemathesis,
//! cargo-lambda, and kubectl's kustomize. Run them with `cargo test --test external`.

mod interop;
mod key_refresh_health;
mod lambda_logs;
mod lambda_watch;
mod manifests;
mod manifests_rbac;
mod openapi;
mod prometheus;
mod public_keys;
mod ssm;
mod users;
