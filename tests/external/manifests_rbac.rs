//! What the pipeline applies, against what its Role lets it apply: a real kube-apiserver
//! refused the ServiceMonitor of the documented overlay (`servicemonitors.monitoring.coreos.com
//! "simple-jwt-api" is forbidden: User "pipeline" cannot get resource "servicemonitors"`). These
//! checks need no cluster: the overlays rendered with `kubectl kustomize`, read as the API
//! server reads them.

use super::manifests::{manifest_dir, rendered, rendered_with_servicemonitor};
use serde_json::Value;

/// The API group and resource (lower-case plural, as RBAC names it) of a rendered object.
fn group_and_resource(object: &Value) -> (String, String) {
    let api_version = object["apiVersion"].as_str().expect("apiVersion");
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group).to_owned();
    let kind = object["kind"].as_str().expect("kind").to_ascii_lowercase();
    let resource = if let Some(stem) = kind.strip_suffix('y') {
        format!("{stem}ies")
    } else if kind.ends_with('s') {
        format!("{kind}es")
    } else {
        format!("{kind}s")
    };
    (group, resource)
}

/// Whether `rule` grants `verb` on `group`/`resource`.
fn grants(rule: &Value, group: &str, resource: &str, verb: &str) -> bool {
    let has = |key: &str, wanted: &str| {
        rule[key]
            .as_array()
            .is_some_and(|values| values.iter().any(|value| value == wanted || value == "*"))
    };
    has("apiGroups", group) && has("resources", resource) && has("verbs", verb)
}

/// Every kind that the default overlays and the documented ServiceMonitor overlay render is
/// one the deployer Role (`k8s/admin`) may get, create, update and patch — what `kubectl
/// apply` needs — in the Role's own namespace, where every rendered object lives.
#[test]
fn deployer_role_covers_every_kind_the_documented_overlays_render() {
    let admin = rendered(&manifest_dir().join("k8s/admin"));
    let role = admin
        .iter()
        .find(|d| d["kind"] == "Role" && d["metadata"]["name"] == "simple-jwt-api-deployer")
        .expect("the deployer Role");
    let namespace = role["metadata"]["namespace"].as_str().unwrap();
    let rules = role["rules"].as_array().unwrap();
    let overlays = [
        ("internal", rendered(&manifest_dir().join("k8s/overlays/internal"))),
        ("internet-facing", rendered(&manifest_dir().join("k8s/overlays/internet-facing"))),
        ("internal + components/servicemonitor", rendered_with_servicemonitor()),
    ];
    let mut kinds = std::collections::BTreeSet::new();
    for (overlay, docs) in &overlays {
        for object in docs {
            let (group, resource) = group_and_resource(object);
            let name = &object["metadata"]["name"];
            assert_eq!(object["metadata"]["namespace"], namespace, "{overlay}: {resource} {name}");
            for verb in ["get", "create", "update", "patch"] {
                assert!(
                    rules.iter().any(|rule| grants(rule, &group, &resource, verb)),
                    "{overlay}: the deployer Role may not {verb} {resource}.{group} ({name})"
                );
            }
            kinds.insert(format!("{resource}.{group}"));
        }
    }
    assert!(kinds.contains("servicemonitors.monitoring.coreos.com"), "{kinds:?}");
    eprintln!("the deployer Role covers {} kinds: {kinds:?}", kinds.len());
}

/// The NetworkPolicy admits the admin port from a narrower set of peers than the app port:
/// not the whole VPC that reaches 8080, but the node and ALB subnets and the monitoring
/// namespace.
#[test]
fn admin_port_is_admitted_from_fewer_peers_than_the_app_port() {
    let docs = rendered(&manifest_dir().join("k8s/overlays/internal"));
    let policy = docs.iter().find(|d| d["kind"] == "NetworkPolicy").expect("a NetworkPolicy");
    let rules = policy["spec"]["ingress"].as_array().unwrap();
    let rule_for = |port: u64| {
        let found: Vec<&Value> = rules
            .iter()
            .filter(|rule| rule["ports"].as_array().unwrap().iter().any(|p| p["port"] == port))
            .collect();
        assert_eq!(found.len(), 1, "one rule admits {port}");
        found[0]
    };
    let (app, admin) = (rule_for(8080), rule_for(9090));
    assert!(admin["ports"].as_array().unwrap().iter().all(|p| p["port"] == 9090));
    let cidrs = |rule: &Value| -> Vec<String> {
        rule["from"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|peer| peer["ipBlock"]["cidr"].as_str().map(str::to_owned))
            .collect()
    };
    let vpc = cidrs(app);
    for cidr in cidrs(admin) {
        assert!(!vpc.contains(&cidr), "9090 is admitted from the app port's {cidr}");
    }
    let monitoring = admin["from"].as_array().unwrap().iter().any(|peer| {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "monitoring"
    });
    assert!(monitoring, "the monitoring namespace may scrape: {admin}");
}
