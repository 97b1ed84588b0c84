//! Test support for simple-jwt-api's integration tests, shared by both test binaries:
//!
//! | module | gives |
//! |---|---|
//! | [`cases`] | the conformance table every adapter must pass, and its runner |
//! | [`client`] | an HTTP/1.1 client that sends requests exactly as built |
//! | [`server`] | the real `server` binary as a child process on a loopback port |
//! | [`events`], [`fixtures`] | Lambda events built from requests, and the `tests/data/` fixtures |
//! | [`metrics`] | the admin port's `/metrics`, scraped and looked up by series |
//! | [`moto`] | moto's SSM API: one server per test binary, started on first use |
//! | [`public_keys`] | the ES256/EdDSA test keys and their conformance table |
//! | [`tools`] | the pinned Python tools (`scripts/versions.env`) in cached virtualenvs |

pub mod cases;
pub mod client;
pub mod events;
pub mod fixtures;
pub mod metrics;
pub mod moto;
pub mod public_keys;
pub mod relay;
pub mod server;
pub mod tools;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The HMAC secret every test server is started with (at least 32 bytes).
pub const TEST_SECRET: &str = "integration-test-secret-0123456789abcdef";

/// The repository root.
pub fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The cargo profile directory the running test binary was built into (`target/debug`):
/// the `server` and `lambda` binaries sit there, next to `deps/`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("deps/");
    deps.parent().expect("the profile directory").to_path_buf()
}

/// A binary of this package, built by cargo for the integration tests.
pub fn binary(name: &str) -> PathBuf {
    let path = profile_dir().join(name);
    assert!(path.exists(), "{} is not built: run the tests with cargo test", path.display());
    path
}

/// Scratch space under the target directory (`target/tmp`), created on first use.
pub fn scratch_dir() -> PathBuf {
    let dir = profile_dir().parent().expect("the target directory").join("tmp");
    std::fs::create_dir_all(&dir).expect("create target/tmp");
    dir
}

/// Waits (polling, at most `limit`) until `ready` holds; returns when it first did.
pub async fn until<F: AsyncFnMut() -> bool>(limit: Duration, what: &str, mut ready: F) -> Instant {
    let deadline = Instant::now() + limit;
    loop {
        if ready().await {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "{what} did not happen within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
