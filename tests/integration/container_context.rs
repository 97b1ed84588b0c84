//! The container image's build context, checked without a container engine.
//!
//! The Dockerfile copies the build context (`COPY . .`), and `.dockerignore` decides what that
//! context holds. When `Cargo.toml` names a file the context leaves out (a `[[bench]]`, a
//! `build.rs`, a new binary), `cargo chef cook` fails inside the image build while every
//! `cargo` command on the full checkout stays green; `cargo metadata` does not notice either.
//! These tests copy exactly what `.dockerignore` lets in to a temporary tree and compile the
//! image's binary there, so such a change fails in the fast test layer, in about a second once
//! the dependencies are compiled. The real image build is `scripts/container.sh`
//! (docs/container.md).

use std::path::{Path, PathBuf};
use std::process::Command;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The paths `.dockerignore` lets in, relative to the repository root.
///
/// Only the allow-list form is understood: a `*` line that leaves everything out, then one
/// `!path` line per file or directory let back in. Any other pattern panics, so the file stays
/// in the form this test (and a reader) can reason about exactly.
fn allowed_paths(dockerignore: &str) -> Vec<PathBuf> {
    let mut lines = dockerignore
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'));
    assert_eq!(lines.next(), Some("*"), ".dockerignore must start with `*` (an allow-list)");
    lines
        .map(|line| {
            let path = line.strip_prefix('!').unwrap_or_else(|| {
                panic!(".dockerignore: `{line}` is not a `!path` line of the allow-list")
            });
            let path = path.trim_start_matches('/').trim_end_matches('/');
            assert!(
                !path.is_empty() && !path.contains(['*', '?', '[']) && !path.contains(".."),
                ".dockerignore: `{line}` is not a plain path"
            );
            PathBuf::from(path)
        })
        .collect()
}

/// Copies `from` (a file, or a directory recursively) to `to`, keeping modification times so
/// cargo finds the copy's fingerprints fresh on the next run.
fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap_or_else(|err| panic!("copy {}: {err}", from.display()));
        let modified = std::fs::metadata(from).unwrap().modified().unwrap();
        std::fs::File::options().write(true).open(to).unwrap().set_modified(modified).unwrap();
    }
}

/// A fresh tree holding exactly what `.dockerignore` lets into the build context. Made anew
/// each run (no stale files), at the same path each run: cargo keys a path package's artifacts
/// by its path, so a stable path lets a warm run reuse them.
fn build_context() -> PathBuf {
    let dockerignore = std::fs::read_to_string(manifest_dir().join(".dockerignore")).unwrap();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("container-context");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    for path in allowed_paths(&dockerignore) {
        // A line for a path that does not exist (once: `!build.rs`) lets in nothing; the
        // compile below is what decides whether the context is enough.
        let source = manifest_dir().join(&path);
        if source.exists() {
            copy_tree(&source, &root.join(&path));
        }
    }
    root
}

/// `.dockerignore` lets in everything `Cargo.toml` needs to compile the image's binary: in a
/// tree holding only the build context, `cargo check --locked --offline --bin server` passes.
/// (It failed with ``can't find `api` bench at `benches/api.rs` `` before `!benches/` was
/// added.) Dependencies are shared with the test build through the same target directory, so
/// only this package's check runs again.
#[test]
fn build_context_compiles_the_server() {
    let context = build_context();
    // The shared target directory (CARGO_TARGET_TMPDIR is `<target dir>/tmp`): registry
    // dependencies are reused; the copied package gets artifacts of its own (its path differs).
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap();
    let mut check = Command::new(env!("CARGO"));
    check
        .args(["check", "--locked", "--offline", "--quiet", "--bin", "server"])
        .current_dir(&context)
        .env("CARGO_TARGET_DIR", target_dir);
    // Not the variables cargo sets for this test process: a build script that reruns when
    // CARGO_MANIFEST_DIR changes (ring's did; aws-lc-sys's compiles a whole C library) would
    // make every run after a plain `cargo check` cold.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || ["CARGO_CRATE_NAME", "CARGO_PRIMARY_PACKAGE"].contains(&name.as_ref())
        {
            check.env_remove(name.as_ref());
        }
    }
    let output = check.output().unwrap();
    assert!(
        output.status.success(),
        "`cargo check --bin server` fails on the image's build context (what .dockerignore \
         lets in): let the missing path in with a `!path` line.\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `.dockerignore` is an allow-list of the paths the build needs and nothing else: it parses
/// as `*` plus `!path` lines, lets in the manifest, the lock file (the Dockerfile builds with
/// `--locked`) and the sources, and none of `.git`, `target`, `.env*`, `fuzz` or `k8s` (history,
/// gigabytes of build output, secrets, and files that would only bust the layer cache).
#[test]
fn build_context_is_an_allow_list_without_secrets_or_build_output() {
    let dockerignore = std::fs::read_to_string(manifest_dir().join(".dockerignore")).unwrap();
    let allowed = allowed_paths(&dockerignore);
    for needed in ["Cargo.toml", "Cargo.lock", "src"] {
        assert!(allowed.contains(&PathBuf::from(needed)), ".dockerignore leaves out {needed}");
    }
    for path in &allowed {
        let first = path.components().next().unwrap().as_os_str().to_string_lossy();
        assert!(
            ![".git", "target", "fuzz", "k8s"].contains(&first.as_ref())
                && !first.starts_with(".env"),
            ".dockerignore lets in {}",
            path.display()
        );
    }
}
