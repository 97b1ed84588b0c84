//! Consistency between the deployment files and the binary, proved without Docker or a
//! cluster: the exact binary the Dockerfile builds runs from an otherwise empty root (as in
//! the `scratch` image), and the rendered Kubernetes manifests agree with what the binary
//! reads, listens on and answers.

mod common;

use common::TEST_SECRET;
use common::client::{json, request, send};
use common::moto::{Moto, put_secret};
use common::server::{ServerProcess, env_with_secret};
use common::tools::{self, run};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Rust target the Dockerfile builds for amd64.
const MUSL_TARGET: &str = "x86_64-unknown-linux-musl";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().to_path_buf()
}

/// Builds the server exactly as the Dockerfile's builder stage does (release profile,
/// `--locked`, static musl target), installing the target and `musl-tools` if missing.
fn dockerfile_binary() -> PathBuf {
    let dockerfile = std::fs::read_to_string(manifest_dir().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(
            "cargo build --release --locked --target \"$(cat /rust-target)\" --bin server"
        ) && dockerfile.contains(&format!("amd64) rust_target={MUSL_TARGET}")),
        "the Dockerfile's build command changed: update this test to match it"
    );
    run(Command::new("rustup").args(["target", "add", MUSL_TARGET]));
    if Command::new("musl-gcc").arg("--version").output().is_err() {
        run(Command::new("apt-get").arg("update").arg("-qq"));
        run(Command::new("apt-get").args(["install", "-y", "-qq", "musl-tools"]));
    }
    run(Command::new(env!("CARGO"))
        .args(["build", "--release", "--locked", "--target", MUSL_TARGET, "--bin", "server"])
        .current_dir(manifest_dir())
        .env("CARGO_TARGET_DIR", target_dir()));
    target_dir().join(MUSL_TARGET).join("release").join("server")
}

/// The Dockerfile's binary is fully static (no interpreter, no shared libraries) and, copied
/// alone with the CA roots into an empty directory and run there under `chroot` as the
/// image's non-root user, serves the API. Prints its size.
#[tokio::test]
async fn dockerfile_binary_runs_from_an_empty_root() {
    let binary = dockerfile_binary();
    let headers =
        run(Command::new("readelf").args(["--program-headers", "--dynamic"]).arg(&binary));
    assert!(!headers.contains("INTERP") && !headers.contains("(NEEDED)"), "not static:\n{headers}");
    eprintln!("static release server binary: {} bytes", std::fs::metadata(&binary).unwrap().len());

    let root =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("scratch-root-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("etc/ssl/certs")).unwrap();
    std::fs::copy(&binary, root.join("server")).unwrap();
    std::fs::copy(
        "/etc/ssl/certs/ca-certificates.crt",
        root.join("etc/ssl/certs/ca-certificates.crt"),
    )
    .unwrap();
    let entries: Vec<_> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries.len(), 2, "the root holds only /server and /etc: {entries:?}");

    let mut chroot = Command::new("chroot");
    chroot.arg("--userspec=65532:65532").arg(&root).arg("/server");
    let server = ServerProcess::start_command(chroot, &env_with_secret(TEST_SECRET));
    let health = send(server.address, request("GET", "/", "")).await;
    assert_eq!((health.status().as_u16(), json(&health)), (200, Value::from("Healthy")));
    let auth =
        send(server.address, request("POST", "/auth", r#"{"email":"a@b.c","password":"p"}"#)).await;
    assert_eq!(auth.status(), 200);
    drop(server);
    std::fs::remove_dir_all(&root).unwrap();
}

/// `kubectl kustomize k8s/` as JSON documents (PyYAML converts; kubectl needs no cluster).
fn rendered_manifests() -> Vec<Value> {
    let yaml = run(Command::new("kubectl").arg("kustomize").arg(manifest_dir().join("k8s")));
    let python = tools::venv("pyyaml", &["PyYAML==6.0.2"]).join("python");
    let script = "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))";
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), yaml.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The rendered manifests agree with the binary: every env var the Deployment sets is one the
/// binary reads; run with exactly that env (its SSM parameter served by moto, bound to
/// loopback) the binary listens on the container port; both probes' paths answer 200; the
/// Service targets that port.
#[tokio::test]
async fn manifests_agree_with_the_binary() {
    let docs = rendered_manifests();
    let find =
        |kind: &str| docs.iter().find(|d| d["kind"] == kind).unwrap_or_else(|| panic!("no {kind}"));
    let deployment = find("Deployment");
    let containers = deployment["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    let port = &container["ports"][0];
    let container_port = port["containerPort"].as_u64().unwrap() as u16;
    let resolve = |p: &Value| match p {
        Value::String(name) => {
            assert_eq!(p, &port["name"], "unknown port name {name}");
            container_port
        }
        number => number.as_u64().unwrap() as u16,
    };

    let mut env: Vec<(String, String)> = Vec::new();
    for var in container["env"].as_array().unwrap() {
        let name = var["name"].as_str().unwrap();
        assert!(
            simple_jwt_api::config::VARIABLES.contains(&name),
            "the Deployment sets {name}, which the binary does not read"
        );
        env.push((name.to_owned(), var["value"].as_str().expect("plain value").to_owned()));
    }
    let parameter = env
        .iter()
        .find(|(k, _)| k == "JWT_SECRET_PARAMETER")
        .map(|(_, v)| v.clone())
        .expect("the Deployment names the SSM parameter");

    let moto = Moto::start().await;
    put_secret(&moto.client().await, &parameter, TEST_SECRET).await;
    env.extend(moto.env());
    // The one deviation from the manifest: tests listen on loopback only.
    env.push(("BIND_ADDRESS".into(), "127.0.0.1".into()));
    if !env.iter().any(|(k, _)| k == "PORT") {
        // The harness defaults PORT to 0; without PORT in the manifest the binary's default holds.
        env.push(("PORT".into(), simple_jwt_api::config::DEFAULT_PORT.to_string()));
    }
    let server = ServerProcess::start(&env);
    assert_eq!(server.address.port(), container_port, "the binary listens where the manifest says");

    for probe in ["readinessProbe", "livenessProbe"] {
        let http_get = &container[probe]["httpGet"];
        assert_eq!(resolve(&http_get["port"]), container_port, "{probe} port");
        let path = http_get["path"].as_str().unwrap();
        assert_eq!(
            send(server.address, request("GET", path, "")).await.status(),
            200,
            "{probe} {path}"
        );
    }
    let service = find("Service");
    assert_eq!(resolve(&service["spec"]["ports"][0]["targetPort"]), container_port);
    assert_eq!(service["spec"]["ports"][0]["port"], 80);
}
