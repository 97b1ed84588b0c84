//! Shared test support: the real `server` binary as a child process, an HTTP client, the
//! conformance case table that every adapter must pass, and installers for the Python tools
//! some tests drive. Each test crate uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod cases;
pub mod client;
pub mod moto;
pub mod server;
pub mod tools;

/// The HMAC secret every test server is started with (at least 32 bytes).
pub const TEST_SECRET: &str = "integration-test-secret-0123456789abcdef";
