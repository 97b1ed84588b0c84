#!/usr/bin/env bash
# Measures the `lambda` binary's time from process start to first response under a local Lambda
# runtime API (a proxy for cold-start init): `cargo lambda watch --only-lambda-apis` provides the
# runtime API and its Function URL front; each run starts the binary with AWS_LAMBDA_RUNTIME_API
# pointing at it, sends `GET /` through the front at the same moment, and stops the clock when
# the response arrives. The secret comes from JWT_SECRET (no SSM call), so this is the init of
# the binary itself: config, logging, keys, runtime client, first /next poll, one dispatch.
#
# Usage: scripts/lambda-cold-start.sh [BINARY] [RUNS]
#   BINARY  default $TARGET/release/lambda (build it with `cargo build --release --bin lambda`;
#           or pass $TARGET/lambda/lambda/bootstrap from `cargo lambda build --release`)
#   RUNS    default 10
# $TARGET is $CARGO_TARGET_DIR, or target/ in the repository. Needs cargo-lambda: uses
# $TARGET/venvs/lambda (created by `cargo test --test lambda_watch`) or creates it with the same
# pinned versions.
set -euo pipefail

CARGO_LAMBDA_VERSION=1.9.2
ZIGLANG_VERSION=0.17.0

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
binary="${1:-$target_dir/release/lambda}"
runs="${2:-10}"
venv="$target_dir/venvs/lambda"
export AWS_EC2_METADATA_DISABLED=true

[[ -x "$binary" ]] || { echo "lambda-cold-start: no executable $binary" >&2; exit 2; }
if ! "$venv/bin/cargo-lambda" lambda --help >/dev/null 2>&1 \
    || ! grep -qx "cargo-lambda==$CARGO_LAMBDA_VERSION" "$venv/installed.txt" 2>/dev/null; then
    echo "lambda-cold-start: installing cargo-lambda==$CARGO_LAMBDA_VERSION into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIGLANG_VERSION"
    printf 'cargo-lambda==%s\nziglang==%s' "$CARGO_LAMBDA_VERSION" "$ZIGLANG_VERSION" \
        > "$venv/installed.txt"
fi
export PATH="$venv/bin:$PATH"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cd "$repo_root"
# Own process group, so everything watch starts goes with it.
setsid cargo lambda watch -A 127.0.0.1 -P "$port" --only-lambda-apis >"$target_dir/lambda-cold-start-watch.log" 2>&1 &
watch_pid=$!
trap 'kill -TERM -- -"$watch_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done

timings=()
for run in $(seq 1 "$runs"); do
    start=$(date +%s%N)
    env -i PATH="$PATH" \
        AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$port/.rt/lambda" \
        AWS_LAMBDA_FUNCTION_NAME=lambda AWS_LAMBDA_FUNCTION_VERSION=1 \
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 AWS_EC2_METADATA_DISABLED=true \
        AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true \
        JWT_SECRET="cold-start-measurement-secret-0123456789abcdef" \
        "$binary" >/dev/null 2>&1 &
    function_pid=$!
    status="$(curl -s -o /dev/null -w '%{http_code}' -m 30 "http://127.0.0.1:$port/lambda-url/lambda/")"
    end=$(date +%s%N)
    kill "$function_pid" 2>/dev/null || true
    wait "$function_pid" 2>/dev/null || true
    [[ "$status" == 200 ]] || { echo "run $run: HTTP $status" >&2; exit 1; }
    ms=$(( (end - start) / 1000 ))
    timings+=("$ms")
    printf 'run %2d: %d.%03d ms\n' "$run" $((ms / 1000)) $((ms % 1000))
done

mapfile -t sorted < <(printf '%s\n' "${timings[@]}" | sort -n)
n=${#sorted[@]}
if (( n % 2 )); then median=${sorted[$((n / 2))]}; else median=$(( (sorted[n / 2 - 1] + sorted[n / 2]) / 2 )); fi
printf 'binary: %s (%s bytes)\n' "$binary" "$(stat -c %s "$binary")"
printf 'process start -> first response, %d runs: median %d.%03d ms, min %d.%03d ms, max %d.%03d ms\n' \
    "$n" $((median / 1000)) $((median % 1000)) $((sorted[0] / 1000)) $((sorted[0] % 1000)) \
    $((sorted[n - 1] / 1000)) $((sorted[n - 1] % 1000))
