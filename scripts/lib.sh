# Shared by the scripts under scripts/: `source "$(dirname "$0")/lib.sh"`.
# Sets repo_root and target_dir, loads the tool pins (scripts/versions.env) and the offline
# environment, and defines `venv`, the same cached-virtualenv installer the tests use
# (tests/support/src/tools.rs: same directory, same stamp file), so a venv made by one is reused by
# the other.

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
# shellcheck source=versions.env
source "$repo_root/scripts/versions.env"

# Tools reach out unless told not to.
export AWS_EC2_METADATA_DISABLED=true SAM_CLI_TELEMETRY=0
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-$AWS_REGION}"

# venv NAME REQUIREMENT...: prints the bin/ directory of the virtualenv
# $target_dir/venvs/NAME, (re)creating it when its stamp does not list exactly REQUIREMENT...
# Serialised with the tests' installs by an exclusive lock on venvs/NAME.lock.
venv() {
    local name="$1"
    shift
    local root="$target_dir/venvs" wanted
    local dir="$root/$name"
    wanted="$(printf '%s\n' "$@")"
    wanted="${wanted%$'\n'}"
    mkdir -p "$root"
    (
        flock 9
        if [[ "$(cat "$dir/installed.txt" 2>/dev/null)" != "$wanted" ]]; then
            echo "installing into $dir: $*" >&2
            # Explicit exits: callers use $(venv ...), where errexit is not inherited.
            rm -rf "$dir" || exit 1
            "${PYTHON:-python3}" -m venv "$dir" || exit 1
            "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" >&2 || exit 1
            printf '%s' "$wanted" >"$dir/installed.txt"
        fi
    ) 9>"$root/$name.lock" || return 1
    echo "$dir/bin"
}
