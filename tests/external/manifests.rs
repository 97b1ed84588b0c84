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

pub(super) fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `kubectl kustomize k8s/overlays/internal` as JSON documents (PyYAML converts; kubectl needs no cluster).
fn rendered_manifests() -> Vec<Value> {
    rendered(&manifest_dir().join("k8s/overlays/internal"))
}

/// The internal overlay with the optional component `k8s/components/servicemonitor`, as
/// docs/operations.md tells an operator to write it, rendered.
pub(super) fn rendered_with_servicemonitor() -> Vec<Value> {
    let scratch = support::scratch_dir().join("kustomize-servicemonitor");
    std::fs::create_dir_all(&scratch).unwrap();
    // kustomize refuses absolute paths to other kustomizations: write relative ones.
    let k8s = manifest_dir().join("k8s").canonicalize().unwrap();
    let up = "../".repeat(scratch.canonicalize().unwrap().components().count() - 1);
    let k8s = format!("{up}{}", k8s.strip_prefix("/").unwrap().display());
    std::fs::write(
        scratch.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
             resources:\n  - {k8s}/overlays/internal\n\
             components:\n  - {k8s}/components/servicemonitor\n"
        ),
    )
    .unwrap();
    let docs = rendered(&scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    docs
}

/// `kubectl kustomize DIR` as JSON documents.
pub(super) fn rendered(dir: &Path) -> Vec<Value> {
    let yaml = run(Command::new("kubectl").arg("kustomize").arg(dir));
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
/// loopback) the binary listens on the container ports (public and admin); both probes'
/// paths answer 200 on their port; the scrape annotations name the admin port and a path that
/// answers Prometheus text there; the Service targets the public port only; the
/// NetworkPolicy admits both ports.
#[tokio::test]
async fn manifests_agree_with_the_binary() {
    let docs = rendered_manifests();
    let find =
        |kind: &str| docs.iter().find(|d| d["kind"] == kind).unwrap_or_else(|| panic!("no {kind}"));
    let deployment = find("Deployment");
    let containers = deployment["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    let ports = container["ports"].as_array().unwrap();
    let named = |name: &str| {
        let port = ports.iter().find(|port| port["name"] == name);
        port.unwrap_or_else(|| panic!("no container port named {name}"))["containerPort"]
            .as_u64()
            .unwrap() as u16
    };
    let container_port = named("http");
    let admin_port = named("admin");
    let resolve = |p: &Value| match p {
        Value::String(name) => named(name),
        number => number.as_u64().unwrap() as u16,
    };

    let mut env: Vec<(String, String)> = Vec::new();
    for var in container["env"].as_array().unwrap() {
        let name = var["name"].as_str().unwrap();
        assert!(
            simple_jwt_api::config::variables().contains(&name),
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
    // Users mode on the table the Deployment names, with one user in it.
    let table = env
        .iter()
        .find(|(k, _)| k == "USERS_TABLE")
        .map(|(_, v)| v.clone())
        .expect("the shipped Deployment checks credentials against a users table");
    assert!(env.contains(&("AUTH_MODE".into(), "users".into())), "users mode, explicitly");
    let dynamodb = support::moto::dynamodb(&moto.endpoint());
    support::moto::create_users_table(&dynamodb, &table).await;
    let user = simple_jwt_api::aws::dynamodb::user_item(
        "pod@example.com",
        &support::server::users_hash("pod-password"),
        false,
    );
    dynamodb.put_item().table_name(&table).set_item(Some(user)).send().await.unwrap();
    env.extend(moto.env());
    // The one deviation from the manifest: tests listen on loopback only.
    env.push(("BIND_ADDRESS".into(), "127.0.0.1".into()));
    env.push(("ADMIN_BIND_ADDRESS".into(), "127.0.0.1".into()));
    if !env.iter().any(|(k, _)| k == "PORT") {
        // The harness defaults PORT to 0; without PORT in the manifest the binary's default holds.
        env.push(("PORT".into(), simple_jwt_api::config::server::DEFAULT_PORT.to_string()));
    }
    let server = ServerProcess::start(&env);
    assert_eq!(server.address.port(), container_port, "the binary listens where the manifest says");
    let admin = server.admin();
    assert_eq!(admin.port(), admin_port, "the admin listener is where the manifest says");
    let on_port = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));

    let login = |password: &str| {
        let body = serde_json::json!({"email": "pod@example.com", "password": password});
        request("POST", "/auth", body.to_string())
    };
    assert_eq!(send(server.address, login("pod-password")).await.status(), 200, "the table's user");
    assert_eq!(send(server.address, login("guess")).await.status(), 401);

    for probe in ["readinessProbe", "livenessProbe"] {
        let http_get = &container[probe]["httpGet"];
        let port = resolve(&http_get["port"]);
        assert_eq!(port, admin_port, "{probe} is on the admin port");
        let path = http_get["path"].as_str().unwrap();
        let status = send(on_port(port), request("GET", path, "")).await.status();
        assert_eq!(status, 200, "{probe} {path}");
    }
    assert!(container["lifecycle"].is_null(), "no preStop: the server delays shutdown itself");

    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    let scrape_port: u16 = annotations["prometheus.io/port"].as_str().unwrap().parse().unwrap();
    assert_eq!(scrape_port, admin_port);
    let scrape_path = annotations["prometheus.io/path"].as_str().unwrap();
    let scraped = send(on_port(scrape_port), request("GET", scrape_path, "")).await;
    assert_eq!(scraped.status(), 200);
    assert!(String::from_utf8_lossy(scraped.body()).contains("# TYPE simple_jwt_api_"));

    let services: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Service").collect();
    assert_eq!(services.len(), 1, "one Service, the one the Ingress routes to");
    let service_ports = services[0]["spec"]["ports"].as_array().unwrap();
    assert_eq!(service_ports.len(), 1, "the admin port is not on the Service");
    assert_eq!(resolve(&service_ports[0]["targetPort"]), container_port);
    assert_eq!(service_ports[0]["port"], 80);

    let policy = find("NetworkPolicy");
    let admitted: Vec<u64> = policy["spec"]["ingress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| rule["ports"].as_array().unwrap().iter())
        .map(|port| port["port"].as_u64().unwrap())
        .collect();
    for port in [container_port, admin_port] {
        assert!(admitted.contains(&u64::from(port)), "the NetworkPolicy does not admit {port}");
    }
}

/// The optional component `k8s/components/servicemonitor`, rendered onto the internal overlay
/// (how an operator would use it), adds a ServiceMonitor (the Prometheus Operator's CRD, which
/// the default overlays leave out so they validate against the plain Kubernetes schemas) and a
/// headless metrics Service, and they fit the Deployment: the ServiceMonitor selects the
/// metrics Service and not the Ingress's, its port names that Service's port, which targets the
/// pod's admin port, with the scrape path of the pod annotations, all in one namespace.
#[test]
fn servicemonitor_component_scrapes_the_admin_port() {
    let docs = rendered_with_servicemonitor();
    let one = |kind: &str| {
        let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
        assert_eq!(found.len(), 1, "{kind}");
        found[0]
    };
    let monitor = one("ServiceMonitor");
    let deployment = one("Deployment");
    let pod = &deployment["spec"]["template"];
    let selector = monitor["spec"]["selector"]["matchLabels"].as_object().unwrap();
    let selected: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "Service")
        .filter(|service| {
            selector.iter().all(|(key, value)| &service["metadata"]["labels"][key] == value)
        })
        .collect();
    assert_eq!(selected.len(), 1, "the ServiceMonitor selects exactly one Service");
    let service = selected[0];
    assert_eq!(service["metadata"]["name"], "simple-jwt-api-metrics");
    for (key, value) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&pod["metadata"]["labels"][key], value, "the metrics Service selects the pods");
    }
    let endpoint = &monitor["spec"]["endpoints"][0];
    let port = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|port| port["name"] == endpoint["port"])
        .expect("the ServiceMonitor's port is a port of the metrics Service");
    assert_eq!(port["targetPort"], "admin");
    let admin = pod["spec"]["containers"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "admin")
        .expect("the pod names its admin port");
    assert_eq!(port["port"], admin["containerPort"]);
    assert_eq!(endpoint["path"], pod["metadata"]["annotations"]["prometheus.io/path"]);
    for object in [monitor, service, deployment] {
        assert_eq!(object["metadata"]["namespace"], "simple-jwt-api");
    }
}
