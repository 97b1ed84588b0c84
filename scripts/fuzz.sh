#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time and prints the executions per target.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 300 s, all targets)
#
# Needs the nightly toolchain (rustup toolchain install nightly) and cargo-fuzz, which this
# script installs when missing. New inputs go to target/fuzz/corpus/<target> (the checked-in
# seeds in fuzz/corpus/<target> are only read); crashes go to target/fuzz/artifacts/<target>
# and fail the script. A crash found here gets a regression test before it is fixed.
#
# Environment: FUZZ_JOBS=N runs N libFuzzer processes per target (-fork).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

seconds="${1:-300}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(dispatch verify)

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo +nightly install cargo-fuzz --locked --version "$CARGO_FUZZ"
fi

work="$target_dir/fuzz"
jobs="${FUZZ_JOBS:-}"
total=0
for target in "${targets[@]}"; do
    mkdir -p "$work/corpus/$target" "$work/artifacts/$target" "$work/logs"
    log="$work/logs/$target.log"
    echo "==> fuzzing $target for ${seconds}s (jobs: ${jobs:-1}); log: $log"
    marker="$work/artifacts/$target/.started"
    touch "$marker"
    status=0
    cargo +nightly fuzz run --fuzz-dir fuzz --target-dir "$work/build" "$target" \
        "$work/corpus/$target" "fuzz/corpus/$target" \
        -- -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/$target/" \
        ${jobs:+-fork="$jobs"} \
        >"$log" 2>&1 || status=$?
    # libFuzzer prints "stat::number_of_executed_units: N" per job at exit.
    runs=$(awk -F': *' '/stat::number_of_executed_units/ {n += $2} END {print n + 0}' "$log")
    if [ "$runs" -eq 0 ]; then
        # With -fork, the parent reports "#N ... DONE" instead.
        runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#' || echo 0)
    fi
    total=$((total + runs))
    echo "    $target: $runs executions, exit status $status"
    # Only artifacts of this run count; older ones stay for inspection.
    if [ "$status" -ne 0 ] || [ -n "$(find "$work/artifacts/$target" -type f -newer "$marker")" ]; then
        echo "    $target FAILED: see $log and $work/artifacts/$target/" >&2
        tail -40 "$log" >&2
        exit 1
    fi
done
echo "==> total: $total executions, no crash"
