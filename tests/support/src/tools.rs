//! External tools the tests drive (PyJWT, moto, schemathesis, cargo-lambda, ...), installed on
//! first use into cached virtualenvs under the cargo target directory, so `cargo test` alone
//! works on a fresh machine. A missing tool is installed, never skipped; an install failure
//! fails the test. Versions come from `scripts/versions.env`, the one file that pins every
//! external tool; `scripts/lib.sh` installs into the same directories with the same stamps, so
//! the scripts and the tests share venvs.

use std::fs::File;
use std::path::PathBuf;
use std::process::Command;

/// `scripts/versions.env`, compiled in.
const VERSIONS: &str = include_str!("../../../scripts/versions.env");

/// The version `scripts/versions.env` pins for `name` (e.g. `pin("MOTO")` is `"5.2.5"`).
pub fn pin(name: &str) -> &'static str {
    VERSIONS
        .lines()
        .filter_map(|line| line.split_once('='))
        .find(|(key, _)| key.trim() == name)
        .map(|(_, value)| value.trim())
        .unwrap_or_else(|| panic!("scripts/versions.env pins no {name}"))
}

/// `package==version` with the version pinned for `name`.
pub fn requirement(package: &str, name: &str) -> String {
    format!("{package}=={}", pin(name))
}

/// Returns the `bin/` directory of the virtualenv `name`, creating it and installing
/// `requirements` first if the cached one does not list exactly them. Safe to call from several
/// test threads and processes at once (an exclusive file lock serialises installs).
pub fn venv(name: &str, requirements: &[String]) -> PathBuf {
    let root = crate::scratch_dir().join("..").join("venvs");
    std::fs::create_dir_all(&root).unwrap();
    let dir = root.join(name);
    let lock = File::create(root.join(format!("{name}.lock"))).unwrap();
    lock.lock().expect("lock the venv directory");
    let stamp = dir.join("installed.txt");
    let wanted = requirements.join("\n");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let _ = std::fs::remove_dir_all(&dir);
        run(Command::new("python3").args(["-m", "venv"]).arg(&dir));
        run(Command::new(dir.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(requirements));
        std::fs::write(&stamp, wanted).unwrap();
    }
    dir.join("bin")
}

/// Runs `command` to completion, failing the test with its output unless it succeeds, and
/// returns its standard output.
pub fn run(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// The PyJWT virtualenv's Python interpreter.
pub fn pyjwt_python() -> PathBuf {
    venv("pyjwt", &[requirement("PyJWT", "PYJWT")]).join("python")
}

/// The Python interpreter of the JOSE virtualenv: PyJWT with `cryptography` (for ES256 and
/// EdDSA) and jwcrypto, a second JOSE implementation independent of PyJWT.
pub fn jose_python() -> PathBuf {
    venv(
        "jose",
        &[
            requirement("PyJWT", "PYJWT"),
            requirement("cryptography", "CRYPTOGRAPHY"),
            requirement("jwcrypto", "JWCRYPTO"),
        ],
    )
    .join("python")
}

/// The path of `binary`, installing Debian's `package` with apt first when no `binary` is on
/// `PATH` (the tests run as root on the machines they are made for; elsewhere the install
/// fails the test with apt's own message). One install at a time across test threads.
pub fn debian_tool(package: &str, binary: &str) -> PathBuf {
    static APT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let on_path = || {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|dir| dir.join(binary))
            .find(|path| path.is_file())
    };
    let _apt = APT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(path) = on_path() {
        return path;
    }
    run(Command::new("apt-get").args(["update", "-qq"]).env("DEBIAN_FRONTEND", "noninteractive"));
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends", package])
        .env("DEBIAN_FRONTEND", "noninteractive"));
    on_path().unwrap_or_else(|| panic!("{binary} not on PATH after installing {package}"))
}
