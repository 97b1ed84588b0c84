#!/usr/bin/env bash
# Validates template.yaml offline with cfn-lint and the SAM CLI (`sam validate --lint`, then the
# plain translator check `sam validate`). Creates or reuses the venv target/venvs/sam with pinned
# versions. Needs only Python 3.11+ and PyPI; no AWS credentials, no network beyond pip.
#
# Usage: scripts/validate-sam.sh [TEMPLATE]   (default: template.yaml at the repo root)
set -euo pipefail

CFN_LINT_VERSION=1.58.0
SAM_CLI_VERSION=1.170.0

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
template="${1:-$repo_root/template.yaml}"
venv="${CARGO_TARGET_DIR:-$repo_root/target}/venvs/sam"
python="${PYTHON:-python3}"

# Offline and quiet: no telemetry, no instance-metadata probing, a dummy region for the translator.
export SAM_CLI_TELEMETRY=0
export AWS_EC2_METADATA_DISABLED=true
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-$AWS_REGION}"

have_pinned() {
    [[ -x "$venv/bin/cfn-lint" && -x "$venv/bin/sam" ]] || return 1
    "$venv/bin/python" - "$CFN_LINT_VERSION" "$SAM_CLI_VERSION" <<'EOF'
import sys
from importlib.metadata import version
sys.exit(0 if (version("cfn-lint"), version("aws-sam-cli")) == (sys.argv[1], sys.argv[2]) else 1)
EOF
}

if ! have_pinned; then
    echo "validate-sam: installing cfn-lint==$CFN_LINT_VERSION aws-sam-cli==$SAM_CLI_VERSION into $venv" >&2
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "cfn-lint==$CFN_LINT_VERSION" "aws-sam-cli==$SAM_CLI_VERSION"
fi

cd "$repo_root"
echo "validate-sam: cfn-lint $("$venv/bin/cfn-lint" --version | awk '{print $2}') $template"
"$venv/bin/cfn-lint" "$template"
echo "validate-sam: sam validate --lint"
"$venv/bin/sam" validate --lint --template-file "$template"
echo "validate-sam: sam validate (translator)"
"$venv/bin/sam" validate --template-file "$template" --region "$AWS_REGION"
echo "validate-sam: OK"
