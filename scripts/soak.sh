#!/usr/bin/env bash
# Soak test: a bounded load run against the release `server` binary on loopback, sampling its
# resident memory, then SIGTERM. Prints requests/s, latency, errors and RSS start/end; fails
# on any error, on a non-zero exit, or if RSS grew by more than SOAK_MAX_RSS_GROWTH_KIB
# between the end of warm-up and the end of the run.
#
#   scripts/soak.sh [SECONDS]          (default 180; wrk is installed from apt when missing)
#
# Environment: SOAK_CONNECTIONS (64), SOAK_THREADS (2), SOAK_SAMPLE_SECONDS (5),
# SOAK_MAX_RSS_GROWTH_KIB (8192), SOAK_PROFILE (release; or dev for a quick look).
# The mix, per 10 requests: 3x GET /, 3x POST /auth, 3x GET /contents with a valid token, and
# 1x GET / with `Connection: close`, so connections are also opened and closed throughout.
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${1:-180}"
connections="${SOAK_CONNECTIONS:-64}"
threads="${SOAK_THREADS:-2}"
interval="${SOAK_SAMPLE_SECONDS:-5}"
max_growth="${SOAK_MAX_RSS_GROWTH_KIB:-8192}"
profile="${SOAK_PROFILE:-release}"
warmup=10

if ! command -v wrk >/dev/null; then
    apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
fi
cargo build --quiet --profile "$profile" --bin server
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
[ "$profile" = dev ] && binary="$target_dir/debug/server" || binary="$target_dir/$profile/server"

work="$(mktemp -d)"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Logging stays on (info: one access line per request, as in production) and goes through
# a filter that drops the access lines, so the log file stays small.
env -i PATH="$PATH" PORT=0 BIND_ADDRESS=127.0.0.1 LOG_LEVEL=info AWS_EC2_METADATA_DISABLED=true \
    JWT_SECRET="soak-test-secret-$(date +%s%N)-0123456789abcdef" \
    "$binary" > >(grep --line-buffered -v '"message":"request"' >"$work/server.log") 2>&1 &
server_pid=$!
port=""
for _ in $(seq 200); do
    port=$(sed -n 's/.*"message":"listening".*"address":"127\.0\.0\.1:\([0-9]*\)".*/\1/p' \
        "$work/server.log" | head -1)
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || { echo "server did not start:"; cat "$work/server.log"; exit 1; }
url="http://127.0.0.1:$port"

token=$(python3 - "$url" <<'PY'
import json, sys, urllib.request
request = urllib.request.Request(sys.argv[1] + "/auth", method="POST",
    data=b'{"email":"soak@example.com","password":"pw"}',
    headers={"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(request))["token"])
PY
)

cat >"$work/mix.lua" <<'LUA'
local token = os.getenv("SOAK_TOKEN")
local requests = {}
local function add(times, request) for _ = 1, times do requests[#requests + 1] = request end end
add(3, wrk.format("GET", "/"))
add(3, wrk.format("POST", "/auth", {["Content-Type"] = "application/json"},
    '{"email":"soak@example.com","password":"pw"}'))
add(3, wrk.format("GET", "/contents", {["Authorization"] = "Bearer " .. token}))
add(1, wrk.format("GET", "/", {["Connection"] = "close"}))
local i = 0
request = function()
    i = i % #requests + 1
    return requests[i]
end
LUA

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status"; }
echo "==> soak: $duration s, $connections connections, $threads wrk threads, $url ($profile build)"
echo "    RSS at start: $(rss) KiB"
SOAK_TOKEN="$token" wrk -t"$threads" -c"$connections" -d"${duration}s" --latency \
    -s "$work/mix.lua" "$url" >"$work/wrk.txt" 2>&1 &
wrk_pid=$!
samples="$work/rss.csv"
elapsed=0
while kill -0 "$wrk_pid" 2>/dev/null; do
    sleep "$interval"
    elapsed=$((elapsed + interval))
    kill -0 "$server_pid" 2>/dev/null || { echo "server died"; cat "$work/server.log"; exit 1; }
    echo "$elapsed,$(rss)" >>"$samples"
done
wait "$wrk_pid"
cat "$work/wrk.txt"

rss_warm=$(awk -F, -v w="$warmup" '$1 >= w {print $2; exit}' "$samples")
rss_end=$(tail -1 "$samples" | cut -d, -f2)
rss_max=$(cut -d, -f2 "$samples" | sort -n | tail -1)
requests=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.txt")
non2xx=$(awk '/Non-2xx or 3xx responses/ {print $NF}' "$work/wrk.txt")
socket_errors=$(awk -F'Socket errors: ' '/Socket errors/ {print $2}' "$work/wrk.txt")
echo "    RSS samples (s,KiB): $(tr '\n' ' ' <"$samples")"

kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
server_errors=$(grep -c '"level":"ERROR"' "$work/server.log" || true)
growth=$((rss_end - rss_warm))

echo "==> soak result: ${requests} requests in ${duration} s = ${rps} req/s;" \
    "non-2xx: ${non2xx:-0}; socket errors: ${socket_errors:-none};" \
    "RSS after ${warmup}s warm-up ${rss_warm} KiB, end ${rss_end} KiB (growth ${growth} KiB)," \
    "max ${rss_max} KiB; server error log lines: ${server_errors}; exit status after SIGTERM: $status"
# Timeouts are expected only at the very end, when wrk stops with requests in flight.
fail=0
[ "${non2xx:-0}" -eq 0 ] || { echo "FAIL: non-2xx responses"; fail=1; }
if [ -n "${socket_errors:-}" ] && ! [[ "$socket_errors" =~ ^connect\ 0,\ read\ 0,\ write\ 0,\ timeout\ [0-9]+$ ]]; then
    echo "FAIL: socket errors"
    fail=1
fi
[ "$growth" -le "$max_growth" ] || { echo "FAIL: RSS grew by $growth KiB"; fail=1; }
[ "$status" -eq 0 ] || { echo "FAIL: exit status $status"; fail=1; }
[ "$server_errors" -eq 0 ] || { echo "FAIL: server logged errors"; cat "$work/server.log"; fail=1; }
exit "$fail"
