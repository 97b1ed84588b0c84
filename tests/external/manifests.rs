//! Consistency between the Kubernetes manifests and the binary, proved without a cluster:
//! the rendered manifests agree with what the binary reads, listens on and answers. (The image
//! itself is built and run as the pod runs it by `scripts/container.sh`.)

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use support::TEST_SECRET;
use support::client::{request, send};
use support::moto::{Moto, put_secret};
use support::server::ServerProcess;
use support::tools::{self, run};

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `kubectl kustomize k8s/overlays/internal` as JSON documents (PyYAML converts; kubectl needs no cluster).
fn rendered_manifests() -> Vec<Value> {
    let yaml = run(Command::new("kubectl").arg("kustomize").arg(manifest_dir().join("k8s/overlays/internal")));
    let python = tools::venv("pyyaml", &[tools::requirement("PyYAML", "PYYAML")]).join("python");
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

    let moto = Moto::shared();
    put_secret(&moto.client(), &parameter, TEST_SECRET).await;
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
