#!/usr/bin/env bash
# Load harness (issue 6): the release `server` side by side with a bare hyper baseline
# (examples/baseline.rs, same adapter and runtime, constant "Healthy" answer), on 127.0.0.1.
#
#   scripts/load.sh                      # defaults: 5 rounds x 5 s, 1 wrk thread, 16 connections
#   ROUNDS=9 DURATION=10 scripts/load.sh # longer, steadier
#   SERVER_BIN=... BASELINE_BIN=... scripts/load.sh  # measure given binaries, no build
#   SERVER_ENV="LOG_LEVEL=warn" scripts/load.sh      # extra environment for our server only
#
# Measures, all in one run so that ratios compare like with like on a noisy machine:
#   1. A/B rounds: for each of our GET /, POST /auth, GET /contents, one wrk run against the
#      baseline's GET / and one against ours, alternating which goes first each round. Table:
#      median req/s, p50/p99 latency, non-2xx count, and OUR/BASELINE ratios.
#   2. Peak RSS (VmHWM) of a fresh server after RSS_CONNECTIONS-connection runs on each
#      endpoint (and of a fresh baseline on GET /).
#   3. Start-up: median time from process start to the first 200 on GET /, over STARTS starts.
#   4. Size of the stripped release `server` binary.
# Our server's access log (stdout, one JSON line per /auth and /contents request) goes through
# a pipe to a counter, as a container runtime would read it; the count is checked against wrk's.
# Needs: cargo, python3, wrk (installed with apt-get when missing, which needs root).
set -euo pipefail

DURATION=${DURATION:-5}               # seconds per measured wrk run
ROUNDS=${ROUNDS:-5}                   # A/B rounds
THREADS=${THREADS:-1}                 # wrk threads
CONNECTIONS=${CONNECTIONS:-16}        # wrk connections in the A/B rounds
WARMUP=${WARMUP:-1}                   # seconds of unrecorded load per target before the rounds
RSS_CONNECTIONS=${RSS_CONNECTIONS:-256}
RSS_DURATION=${RSS_DURATION:-3}       # seconds per endpoint in the RSS phase
STARTS=${STARTS:-20}                  # process starts timed for the start-up figure
read -r -a server_env <<<"${SERVER_ENV:-}" # K=V words added to our server's environment

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
helper=(python3 "$root/scripts/load_helper.py")
secret="load-harness-secret-0123456789abcdef0123456789"

if ! command -v wrk >/dev/null; then
    echo "wrk not found; installing it with apt-get" >&2
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

target_dir=${CARGO_TARGET_DIR:-$root/target}
if [[ -n ${SERVER_BIN:-} && -n ${BASELINE_BIN:-} ]]; then
    server_bin=$SERVER_BIN baseline_bin=$BASELINE_BIN # e.g. to measure an older build
else
    echo "building release binaries..." >&2
    cargo build --release --quiet --bin server --example baseline
    server_bin=$target_dir/release/server
    baseline_bin=$target_dir/release/examples/baseline
fi

work=$(mktemp -d)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    pids=()
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME BINARY [K=V...]: starts BINARY on a free port with a clean environment (plus
# K=V...); sets $port and $pid. stdout goes through a FIFO to an awk counter of access lines
# (total, non-2xx).
start() {
    local name=$1 binary=$2
    shift 2
    port=$("${helper[@]}" free-port)
    mkfifo "$work/$name.fifo"
    awk '/"message":"request"/ { n++; if ($0 !~ /"status":2[0-9][0-9][,}]/) bad++ }
         END { printf "%d %d\n", n, bad }' <"$work/$name.fifo" >"$work/$name.count" &
    pids+=($!)
    env -i PATH="$PATH" PORT="$port" BIND_ADDRESS=127.0.0.1 JWT_SECRET="$secret" \
        AWS_EC2_METADATA_DISABLED=true "$@" "$binary" >"$work/$name.fifo" 2>"$work/$name.err" &
    pid=$!
    pids+=("$pid")
    if ! "${helper[@]}" wait "$port" 10; then
        cat "$work/$name.err" >&2
        exit 1
    fi
}

# stop PID: SIGTERM and wait (the server drains; the log counter then sees EOF).
stop() {
    kill -TERM "$1"
    wait "$1" || true
}

# wrk_run LABEL PID PORT SCRIPT PATH CONNECTIONS SECONDS [ROUND]: one wrk run against the
# process PID; its RESULT line, plus the CPU time PID used per request (user + system), is
# appended to $work/all, and to $work/results (with LABEL and ROUND) when ROUND is given.
wrk_run() {
    local label=$1 target=$2 port=$3 script=$4 path=$5 connections=$6 seconds=$7 round=${8:-}
    local out result ticks_before ticks_after requests cpu
    ticks_before=$(cpu_ticks "$target")
    out=$(TOKEN=$token wrk -t"$THREADS" -c"$connections" -d"${seconds}s" \
        -s "scripts/wrk/$script.lua" "http://127.0.0.1:$port$path")
    ticks_after=$(cpu_ticks "$target")
    result=$(grep '^RESULT' <<<"$out")
    requests=$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' <<<"$result")
    cpu=$(awk -v t=$((ticks_after - ticks_before)) -v hz="$clock_ticks" -v n="$requests" \
        'BEGIN { printf "%.2f", n ? t * 1e6 / hz / n : 0 }')
    result="$result cpu_us=$cpu"
    echo "$label|${round:-warmup}|$result" >>"$work/all"
    if [[ -n $round ]]; then
        echo "$label|$round|$result" >>"$work/results"
        printf '  round %s  %-20s %s\n' "$round" "$label" "${result#RESULT }" >&2
    fi
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime of all threads
clock_ticks=$(getconf CLK_TCK)

load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 1. A/B rounds --------------------------------------------------------------------------
start baseline "$baseline_bin"
base_pid=$pid base_port=$port
start ours "$server_bin" "${server_env[@]}"
ours_pid=$pid ours_port=$port
token=$("${helper[@]}" token "$ours_port")

echo "A/B: $ROUNDS rounds x ${DURATION}s, wrk -t$THREADS -c$CONNECTIONS (warm-up ${WARMUP}s each)" >&2
targets=("GET /|get|/" "POST /auth|auth|/auth" "GET /contents|contents|/contents")
for spec in "${targets[@]}"; do
    IFS='|' read -r name script path <<<"$spec"
    wrk_run "warmup ours $name" "$ours_pid" "$ours_port" "$script" "$path" "$CONNECTIONS" "$WARMUP"
done
wrk_run "warmup baseline" "$base_pid" "$base_port" get / "$CONNECTIONS" "$WARMUP"
for ((round = 1; round <= ROUNDS; round++)); do
    for spec in "${targets[@]}"; do
        IFS='|' read -r name script path <<<"$spec"
        if ((round % 2)); then
            wrk_run "baseline GET /" "$base_pid" "$base_port" get / "$CONNECTIONS" "$DURATION" "$round"
            wrk_run "ours $name" "$ours_pid" "$ours_port" "$script" "$path" "$CONNECTIONS" "$DURATION" "$round"
        else
            wrk_run "ours $name" "$ours_pid" "$ours_port" "$script" "$path" "$CONNECTIONS" "$DURATION" "$round"
            wrk_run "baseline GET /" "$base_pid" "$base_port" get / "$CONNECTIONS" "$DURATION" "$round"
        fi
    done
done
stop "$ours_pid"
stop "$base_pid"
wait # the log counters
pids=()
# Access lines expected: one per /auth and /contents request (+ the token request); a
# successful GET / is a health check, logged at DEBUG only.
ours_requests=$(grep -E '^(warmup )?ours (POST /auth|GET /contents)' "$work/all" |
    sed -n 's/.* requests=\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 1 }')
read -r ours_lines ours_bad_lines <"$work/ours.count"

# --- 2. peak RSS under RSS_CONNECTIONS connections -------------------------------------------
echo "RSS: fresh processes, ${RSS_DURATION}s per endpoint at $RSS_CONNECTIONS connections" >&2
rss() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; } # kB
start rss-ours "$server_bin" "${server_env[@]}"
token=$("${helper[@]}" token "$port")
ours_idle_kb=$(rss "$pid" VmRSS)
for spec in "${targets[@]}"; do
    IFS='|' read -r name script path <<<"$spec"
    wrk_run "rss ours $name" "$pid" "$port" "$script" "$path" "$RSS_CONNECTIONS" "$RSS_DURATION"
done
ours_peak_kb=$(rss "$pid" VmHWM)
stop "$pid"
start rss-baseline "$baseline_bin"
base_idle_kb=$(rss "$pid" VmRSS)
wrk_run "rss baseline GET /" "$pid" "$port" get / "$RSS_CONNECTIONS" "$RSS_DURATION"
base_peak_kb=$(rss "$pid" VmHWM)
stop "$pid"
wait
pids=()

# --- 3. start-up to first 200 -----------------------------------------------------------------
echo "start-up: $STARTS starts each" >&2
startup() { # startup BINARY [K=V...]: the helper starts BINARY with exactly this environment
    local binary=$1
    shift
    "${helper[@]}" startup "$STARTS" PATH="$PATH" BIND_ADDRESS=127.0.0.1 JWT_SECRET="$secret" \
        AWS_EC2_METADATA_DISABLED=true "$@" -- "$binary"
}
ours_startup=$(startup "$server_bin" "${server_env[@]}")
base_startup=$(startup "$baseline_bin")

# --- 4. binary size ---------------------------------------------------------------------------
size=$(stat -c %s "$server_bin")
if command -v strip >/dev/null; then
    strip -o "$work/server.stripped" "$server_bin"
    size=$(stat -c %s "$work/server.stripped")
fi

# --- report ----------------------------------------------------------------------------------
mib() { awk -v kb="$1" 'BEGIN { printf "%.1f MiB", kb / 1024 }'; }
ms() { sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p' <<<"$1"; }
echo
echo "## simple-jwt-api load harness — $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1);" \
    "$(uname -sr); $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "load average (1/5/15 min): $load_start at start, $(cut -d' ' -f1-3 /proc/loadavg) at end"
echo "A/B: $ROUNDS rounds x ${DURATION}s per target, wrk -t$THREADS -c$CONNECTIONS, alternating order;" \
    "ratios are OUR median / BASELINE median (baseline: $((ROUNDS * 3)) runs of GET /)"
if ((${#server_env[@]})); then
    echo "our server's extra environment (SERVER_ENV): ${server_env[*]}"
fi
echo "CPU us/req: user + system CPU time of the measured server process per completed request" \
    "(all its threads; the least noisy figure on a shared machine)"
echo
"${helper[@]}" table "$work/results"
echo
printf '| %-48s | %-22s | %-18s |\n' measure value target
printf '|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..50})" "$(printf -- '-%.0s' {1..24})" "$(printf -- '-%.0s' {1..20})"
access_verdict() {
    if ((ours_lines >= ours_requests && ours_bad_lines == 0)); then
        echo "one per request: ok"
    elif ((${#server_env[@]})); then
        echo "(SERVER_ENV set)" # e.g. LOG_LEVEL=warn: no access lines expected
    else
        echo "MISS"
    fi
}
verdict() { awk -v v="$1" -v max="$2" -v unit="$3" 'BEGIN { print "<= " max " " unit ": " ((v <= max) ? "ok" : "MISS") }'; }
printf '| %-48s | %-22s | %-18s |\n' \
    "peak RSS, ours, $RSS_CONNECTIONS conns (idle $(mib "$ours_idle_kb"))" "$(mib "$ours_peak_kb")" \
    "$(verdict "$(awk -v kb="$ours_peak_kb" 'BEGIN { print kb / 1024 }')" 20 MiB)" \
    "peak RSS, baseline, $RSS_CONNECTIONS conns (idle $(mib "$base_idle_kb"))" "$(mib "$base_peak_kb")" "(reference)" \
    "start-up to first 200, ours (median of $STARTS)" "$(ms "$ours_startup") ms" "$(verdict "$(ms "$ours_startup")" 20 ms)" \
    "start-up to first 200, baseline" "$(ms "$base_startup") ms" "(reference)" \
    "stripped release server binary" "$(awk -v b="$size" 'BEGIN { printf "%.2f MiB", b / 1048576 }')" \
    "$(verdict "$(awk -v b="$size" 'BEGIN { print b / 1048576 }')" 8 MiB)" \
    "access-log lines, ours (/auth + /contents requests)" "$ours_lines ($ours_requests)" \
    "$(access_verdict)"
echo
echo "start-up detail: ours $ours_startup; baseline $base_startup"
echo "RSS-phase runs ($RSS_CONNECTIONS conns):"
grep -F "rss " "$work/all" | sed 's/|warmup|RESULT/:/' | sed 's/^/  /'
