"""Deploy-file rules that no generic linter knows, checked on the rendered kustomize output.

Called by scripts/validate.sh with the PyYAML venv's python:

    check_deploy.py --dockerfile Dockerfile --admin admin.yaml --overlay NAME=rendered.yaml...
    check_deploy.py --self-test

Rules, each one a finding of the "secure by default" review (SECURITY.md):
  tls          no Service of type LoadBalancer without TLS on every port, no NodePort; every
               Ingress listens on HTTPS only, with a certificate and a TLS 1.3 policy, and speaks
               HTTP/1.1 to the pods
  scheme       an Ingress states its scheme; internet-facing only in the overlay of that name
  namespace    every object sits in a namespace that k8s/admin creates with Pod Security
               enforce/audit/warn = restricted
  deployer     every object is one the pipeline's Role (k8s/admin) may create and patch, so
               nothing cluster-scoped, no RBAC, no Namespace: the pipeline cannot apply those
  pod-security every container meets the restricted profile (what admission would refuse)
  replicas     no `replicas` on a workload that a HorizontalPodAutoscaler scales
  digest       every external base image of the Dockerfile comes from a global ARG whose default
               is pinned by digest (NAME[:TAG]@sha256:<64 hex>), e.g.
                 ARG RUST_IMAGE=public.ecr.aws/docker/library/rust:1.95.0-slim-bookworm@sha256:...
                 FROM ${RUST_IMAGE} AS chef
               (a build argument, so a local build can pass a stand-in; a digest cannot name one)
Prints one line per rule and target, then every failure; exits 1 if any rule failed.
"""

import argparse
import json
import re
import shlex
import sys

import yaml

RESTRICTED = "restricted"
PSA_MODES = ("enforce", "audit", "warn")
TLS13_POLICY = re.compile(r"^ELBSecurityPolicy-TLS13-")
DIGEST_REF = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
ALB = "alb.ingress.kubernetes.io/"
NLB = "service.beta.kubernetes.io/aws-load-balancer-"
SCALABLE = ("Deployment", "StatefulSet", "ReplicaSet")


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def name(obj):
    return f"{obj['kind']}/{obj['metadata']['name']}"


def api_group(obj):
    version = obj["apiVersion"]
    return version.split("/")[0] if "/" in version else ""


def plural(kind):
    lower = kind.lower()
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    if lower.endswith("s"):
        return lower + "es"
    return lower + "s"


# --- manifests -----------------------------------------------------------------------------


def check_tls(docs, overlay):
    errors = []
    for obj in docs:
        annotations = obj["metadata"].get("annotations") or {}
        if obj["kind"] == "Service":
            kind = obj["spec"].get("type", "ClusterIP")
            if kind == "NodePort":
                errors.append(f"{name(obj)}: NodePort serves cleartext on every node")
            if kind == "LoadBalancer":
                ports = {str(p.get("name")) for p in obj["spec"]["ports"]}
                ports |= {str(p["port"]) for p in obj["spec"]["ports"]}
                tls_ports = annotations.get(NLB + "ssl-ports", "")
                covered = tls_ports.strip() == "*" or all(
                    str(p.get("name")) in tls_ports.split(",") or str(p["port"]) in tls_ports.split(",")
                    for p in obj["spec"]["ports"]
                )
                if not annotations.get(NLB + "ssl-cert") or not covered:
                    errors.append(
                        f"{name(obj)}: type LoadBalancer without TLS on every port "
                        f"({NLB}ssl-cert and ssl-ports covering {sorted(ports)})"
                    )
        if obj["kind"] == "Ingress":
            try:
                listeners = json.loads(annotations.get(ALB + "listen-ports", "[]"))
            except json.JSONDecodeError:
                listeners = []
            protocols = {proto for listener in listeners for proto in listener}
            if protocols != {"HTTPS"}:
                errors.append(f"{name(obj)}: listen-ports must be HTTPS only, got {listeners or 'the default HTTP:80'}")
            if not annotations.get(ALB + "certificate-arn", "").startswith("arn:"):
                errors.append(f"{name(obj)}: no certificate-arn")
            if not TLS13_POLICY.match(annotations.get(ALB + "ssl-policy", "")):
                errors.append(f"{name(obj)}: ssl-policy is not a TLS 1.3 policy")
            if annotations.get(ALB + "backend-protocol-version", "HTTP1") != "HTTP1":
                errors.append(f"{name(obj)}: the ALB must speak HTTP/1.1 to the pods (memory bound)")
    return errors


def check_scheme(docs, overlay):
    errors = []
    for obj in docs:
        if obj["kind"] != "Ingress":
            continue
        scheme = (obj["metadata"].get("annotations") or {}).get(ALB + "scheme")
        if scheme is None:
            errors.append(f"{name(obj)}: no explicit scheme")
        elif scheme == "internet-facing" and overlay != "internet-facing":
            errors.append(f"{name(obj)}: internet-facing outside the internet-facing overlay")
        elif scheme not in ("internal", "internet-facing"):
            errors.append(f"{name(obj)}: unknown scheme {scheme!r}")
        if scheme == "internet-facing" and not (obj["metadata"].get("annotations") or {}).get(ALB + "wafv2-acl-arn"):
            errors.append(f"{name(obj)}: internet-facing without a WAF web ACL (wafv2-acl-arn)")
        if not (obj["metadata"].get("annotations") or {}).get(ALB + "inbound-cidrs"):
            errors.append(f"{name(obj)}: no inbound-cidrs (the ALB would accept 0.0.0.0/0)")
    return errors


def namespaces(admin):
    return {d["metadata"]["name"]: d for d in admin if d["kind"] == "Namespace"}


def check_namespace(docs, admin):
    errors = []
    known = namespaces(admin)
    for ns_name, ns in known.items():
        labels = ns["metadata"].get("labels") or {}
        for mode in PSA_MODES:
            value = labels.get(f"pod-security.kubernetes.io/{mode}")
            if value != RESTRICTED:
                errors.append(f"Namespace/{ns_name}: pod-security.kubernetes.io/{mode} is {value!r}, not restricted")
    for obj in docs:
        ns = obj["metadata"].get("namespace")
        if ns is None:
            errors.append(f"{name(obj)}: no namespace")
        elif ns not in known:
            errors.append(f"{name(obj)}: namespace {ns} is not created by k8s/admin")
    return errors


def check_deployer(docs, admin):
    allowed = set()
    for role in (d for d in admin if d["kind"] == "Role"):
        for rule in role.get("rules", []):
            if {"create", "patch", "get"} <= set(rule.get("verbs", [])):
                for group in rule.get("apiGroups", []):
                    for resource in rule.get("resources", []):
                        allowed.add((role["metadata"]["namespace"], group, resource))
    errors = []
    if not allowed:
        errors.append("k8s/admin has no Role that may create anything")
    for obj in docs:
        key = (obj["metadata"].get("namespace"), api_group(obj), plural(obj["kind"]))
        if key not in allowed:
            errors.append(f"{name(obj)}: the deployer Role may not create and patch {key[2]} in {key[0]}")
    return errors


def pod_specs(docs):
    for obj in docs:
        spec = obj.get("spec") or {}
        if obj["kind"] == "Pod":
            yield obj, spec
        elif "template" in spec:
            yield obj, spec["template"].get("spec") or {}
        elif obj["kind"] == "CronJob":
            yield obj, spec["jobTemplate"]["spec"]["template"]["spec"]


def check_pod_security(docs):
    errors = []
    for obj, spec in pod_specs(docs):
        pod_ctx = spec.get("securityContext") or {}
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(flag):
                errors.append(f"{name(obj)}: {flag}")
        if any("hostPath" in v for v in spec.get("volumes") or []):
            errors.append(f"{name(obj)}: hostPath volume")
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            ctx = c.get("securityContext") or {}
            where = f"{name(obj)} container {c['name']}"
            if ctx.get("privileged"):
                errors.append(f"{where}: privileged")
            if ctx.get("allowPrivilegeEscalation") is not False:
                errors.append(f"{where}: allowPrivilegeEscalation is not false")
            if not ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")):
                errors.append(f"{where}: runAsNonRoot is not true")
            if ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 0:
                errors.append(f"{where}: runAsUser 0")
            if (ctx.get("capabilities") or {}).get("drop") != ["ALL"]:
                errors.append(f"{where}: capabilities do not drop ALL")
            if set((ctx.get("capabilities") or {}).get("add") or []) - {"NET_BIND_SERVICE"}:
                errors.append(f"{where}: adds capabilities")
            seccomp = (ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                errors.append(f"{where}: no RuntimeDefault seccomp profile")
    return errors


def check_replicas(docs):
    scaled = {
        (d["metadata"].get("namespace"), d["spec"]["scaleTargetRef"]["kind"], d["spec"]["scaleTargetRef"]["name"])
        for d in docs
        if d["kind"] == "HorizontalPodAutoscaler"
    }
    return [
        f"{name(d)}: sets replicas although a HorizontalPodAutoscaler scales it"
        for d in docs
        if d["kind"] in SCALABLE
        and (d["metadata"].get("namespace"), d["kind"], d["metadata"]["name"]) in scaled
        and "replicas" in d["spec"]
    ]


# --- Dockerfile ----------------------------------------------------------------------------


def instructions(text):
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    out, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, rest = current.partition(" ")
        out.append((keyword.upper(), rest.strip()))
        current = ""
    return out


def check_digest(text):
    errors = []
    global_args, stages, seen_from = {}, set(), False

    def resolve(ref, what):
        match = re.fullmatch(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", ref)
        if not match:
            return [f"{what} {ref!r}: an external image must come from a global ARG pinned by digest"]
        arg = match.group(1)
        if arg not in global_args:
            return [f"{what} {ref!r}: ARG {arg} is not declared before the first FROM"]
        default = global_args[arg]
        if default is None or not DIGEST_REF.match(default):
            return [f"{what} {ref!r}: ARG {arg} default {default!r} is not NAME[:TAG]@sha256:<64 hex>"]
        return []

    external = 0
    for keyword, rest in instructions(text):
        if keyword == "ARG" and not seen_from:
            for word in shlex.split(rest):
                arg, eq, default = word.partition("=")
                global_args[arg] = default if eq else None
        elif keyword == "FROM":
            seen_from = True
            words = [w for w in rest.split() if not w.startswith("--")]
            image = words[0]
            if len(words) >= 3 and words[1].upper() == "AS":
                stage = words[2].lower()
            else:
                stage = None
            if image.lower() != "scratch" and image.lower() not in stages:
                external += 1
                errors += resolve(image, "FROM")
            if stage:
                stages.add(stage)
        elif keyword in ("COPY", "ADD", "RUN"):
            for source in re.findall(r"--(?:from|mount=[^ ]*from)=([^ ,]+)", rest):
                if source.lower() in stages or source.isdigit():
                    continue
                external += 1
                errors += resolve(source, f"{keyword} --from")
    if external == 0 and not errors:
        errors.append("no external base image found: is this the Dockerfile?")
    return errors


# --- driver --------------------------------------------------------------------------------


def run_all(dockerfile_text, admin, overlays):
    """[(rule, target, errors)] for every rule and target."""
    results = [("digest", "Dockerfile", check_digest(dockerfile_text))]
    results.append(("namespace", "k8s/admin", check_namespace([], admin)))
    for overlay, docs in overlays.items():
        results += [
            ("tls", overlay, check_tls(docs, overlay)),
            ("scheme", overlay, check_scheme(docs, overlay)),
            ("namespace", overlay, check_namespace(docs, admin)),
            ("deployer", overlay, check_deployer(docs, admin)),
            ("pod-security", overlay, check_pod_security(docs)),
            ("replicas", overlay, check_replicas(docs)),
        ]
    return results


GOOD_DOCKERFILE = """\
ARG RUST_IMAGE=public.ecr.aws/docker/library/rust:1.95.0-slim-bookworm@sha256:{hex}
FROM ${{RUST_IMAGE}} AS chef
RUN echo \\
    continued
FROM chef AS builder
FROM scratch
COPY --from=builder /out/server /server
""".format(hex="0123456789abcdef" * 4)


def self_test(admin, overlays):
    """Each rule must reject a document that breaks it; the shipped files are the passing case."""
    import copy

    failures = []

    def expect(rule, errors):
        if not errors:
            failures.append(f"self-test: rule {rule} accepted a file that breaks it")

    def expect_clean(rule, errors):
        if errors:
            failures.append(f"self-test: rule {rule} rejected a good file: {errors}")

    expect_clean("digest", check_digest(GOOD_DOCKERFILE))
    expect("digest", check_digest("FROM public.ecr.aws/docker/library/rust:1.95.0-slim-bookworm AS chef\n"))
    expect("digest", check_digest("ARG IMG=rust:1.95.0\nFROM ${IMG}\n"))
    expect("digest", check_digest("FROM rust@sha256:" + "a" * 64 + "\n"))
    expect("digest", check_digest("FROM scratch\nCOPY --from=alpine:3 /x /x\n"))
    expect("digest", check_digest("FROM scratch\nARG IMG=rust@sha256:" + "a" * 64 + "\nFROM ${IMG}\n"))

    docs = copy.deepcopy(next(iter(overlays.values())))
    svc = next(d for d in docs if d["kind"] == "Service")
    svc["spec"]["type"] = "LoadBalancer"
    expect("tls", check_tls(docs, "x"))
    svc["metadata"].setdefault("annotations", {})[NLB + "ssl-cert"] = "arn:aws:acm:x"
    svc["metadata"]["annotations"][NLB + "ssl-ports"] = "*"
    expect_clean("tls", [e for e in check_tls(docs, "x") if e.startswith("Service")])
    svc["spec"]["type"] = "NodePort"
    expect("tls", check_tls(docs, "x"))

    docs = copy.deepcopy(next(iter(overlays.values())))
    ing = next(d for d in docs if d["kind"] == "Ingress")
    ing["metadata"]["annotations"][ALB + "listen-ports"] = '[{"HTTP": 80}, {"HTTPS": 443}]'
    expect("tls", check_tls(docs, "x"))
    ing["metadata"]["annotations"][ALB + "scheme"] = "internet-facing"
    expect("scheme", check_scheme(docs, "internal"))

    docs = copy.deepcopy(next(iter(overlays.values())))
    next(d for d in docs if d["kind"] == "Deployment")["spec"]["replicas"] = 3
    expect("replicas", check_replicas(docs))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    expect("pod-security", check_pod_security(docs))

    docs = copy.deepcopy(next(iter(overlays.values())))
    docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "simple-jwt-api"}})
    docs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})
    expect("deployer", check_deployer(docs, admin))
    expect("namespace", check_namespace(docs, admin))

    weak = copy.deepcopy(admin)
    next(d for d in weak if d["kind"] == "Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/warn"] = "baseline"
    expect("namespace", check_namespace([], weak))
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dockerfile", required=True)
    parser.add_argument("--admin", required=True, help="rendered k8s/admin")
    parser.add_argument("--overlay", action="append", required=True, metavar="NAME=RENDERED.yaml")
    parser.add_argument("--self-test", action="store_true", help="also prove each rule rejects a bad file")
    args = parser.parse_args()

    admin = load(args.admin)
    overlays = {}
    for spec in args.overlay:
        overlay, _, path = spec.partition("=")
        overlays[overlay] = load(path)
    with open(args.dockerfile, encoding="utf-8") as f:
        dockerfile_text = f.read()

    failed = []
    for rule, target, errors in run_all(dockerfile_text, admin, overlays):
        print(f"{'ok  ' if not errors else 'FAIL'} {rule:<13} {target}")
        failed += [f"{rule} {target}: {e}" for e in errors]
    if args.self_test:
        problems = self_test(admin, overlays)
        print(f"{'ok  ' if not problems else 'FAIL'} self-test     every rule rejects a file that breaks it")
        failed += problems
    if failed:
        print("\n" + "\n".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
