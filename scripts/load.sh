#!/usr/bin/env bash
# The load harness: every load, soak and start-up measurement of the service, on 127.0.0.1
# only, bounded in time; it stops and reaps every process it starts. Guide and last figures:
# docs/performance.md.
#
#   scripts/load.sh [ab]                  A/B: each of our endpoints next to the same endpoint
#                                         of the baseline (examples/baseline.rs), then peak RSS,
#                                         start-up to first 200 and binary size (~5 min + build)
#   scripts/load.sh soak [SECONDS]        mixed load on our server for SECONDS (default 180),
#                                         RSS sampled; fails on any error, on RSS growth or on a
#                                         non-zero exit after SIGTERM
#   scripts/load.sh overload [SECONDS]    ES256 server with the pod's settings under a flood of
#                                         forged tokens at 2x its CPU capacity for them
#                                         (oha, h2c, 100 connections x 100 streams) for SECONDS
#                                         (default 20), while valid requests and admin probes run:
#                                         their status and latency, and peak RSS (~1 min + build)
#   scripts/load.sh logins [COUNT]        users mode on the glibc and the musl build: COUNT
#                                         (default 400) right-password logins; logins/s and
#                                         resident memory before, after and at peak (~1 min + builds)
#   scripts/load.sh lambda-cold-start [RUNS]
#                                         process start -> first response of the `lambda` binary
#                                         under `cargo lambda watch` (default 10 runs)
#
# Environment (defaults in brackets):
#   ab:    ALGORITHM [HS256; RS256, ES256, EdDSA: both servers sign with the same test key of
#          tests/data/keys/, so each ratio is our overhead over the least work of that mode],
#          ROUNDS [5] x DURATION [5] s per target, CONNECTIONS [16], THREADS [1] (oha worker
#          threads), WARMUP [1] s, RSS_CONNECTIONS [256], RSS_DURATION [3] s, STARTS [20];
#          SERVER_ENV="K=V ..." extra environment for our server only;
#          SERVER_BIN and BASELINE_BIN measure given binaries (no build).
#   soak:  SOAK_CONNECTIONS [64], SOAK_SAMPLE_SECONDS [5], SOAK_MAX_RSS_GROWTH_KIB [8192],
#          SOAK_PROFILE [release; dev for a quick look]; SERVER_BIN as above.
#   overload: SERVER_BIN as above (e.g. an older build, to compare).
#   lambda-cold-start: LAMBDA_BIN [$target_dir/release/lambda, built when not given; e.g.
#          $target_dir/lambda/lambda/bootstrap from `cargo lambda build --release`].
# Needs: cargo (oha $OHA is built once under $target_dir/tools, with Debian's libssl-dev and
# pkg-config, installed when missing; a build may wait for cargo's lock on a shared target dir),
# python3 (standard library;
# scripts/load_helper.py parses oha's JSON); lambda-cold-start also pip (cargo-lambda and zig in
# the cached venv "lambda") and curl. Pins: scripts/versions.env.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

mode=${1:-ab}
helper=(python3 "$repo_root/scripts/load_helper.py")
secret="load-harness-secret-0123456789abcdef0123456789"
body='{"email":"load@example.com","password":"load-test"}'

work=$(mktemp -d)
pids=()  # processes to stop on exit
group="" # process group of `cargo lambda watch`
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
    if [[ -n $group ]]; then
        kill -TERM -- "-$group" 2>/dev/null || true
        wait "$group" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# oha is built from crates.io once per pinned version. The harness speaks plain HTTP, but oha
# does not build without a TLS feature; native-tls links the system OpenSSL, where the default
# (rustls with aws-lc) would compile a C crypto library first.
install_oha() {
    oha="$target_dir/tools/oha-$OHA/bin/oha"
    if [[ ! -x $oha ]]; then
        echo "installing oha $OHA under $target_dir/tools" >&2
        # Its native-tls feature links the system OpenSSL: headers and pkg-config from Debian.
        if [[ $(dpkg-query -W -f='${Status}\n' libssl-dev pkg-config 2>/dev/null |
            grep -c 'ok installed') != 2 ]]; then
            apt-get update -qq && apt-get install -y -qq libssl-dev pkg-config >/dev/null
        fi
        cargo install --locked --quiet oha --version "$OHA" --no-default-features \
            --features native-tls --root "$target_dir/tools/oha-$OHA"
    fi
}

# start NAME BINARY [K=V...]: starts BINARY on a free port of 127.0.0.1 with a clean environment
# (plus K=V...) and waits for GET / to answer 200; sets $port and $pid. Its stdout goes through
# a FIFO to an awk filter that counts access lines ($work/NAME.count: total, non-2xx), as a
# container runtime would read them, and keeps every other line in $work/NAME.log.
start() {
    local name=$1 binary=$2
    shift 2
    port=$("${helper[@]}" free-port)
    mkfifo "$work/$name.fifo"
    awk -v logfile="$work/$name.log" '
        /"message":"request"/ { n++; if ($0 !~ /"status":2[0-9][0-9][,}]/) bad++; next }
        { print >logfile }
        END { printf "%d %d\n", n, bad }' <"$work/$name.fifo" >"$work/$name.count" &
    pids+=($!)
    # No admin listener (it would take port 9090 on every start) and no shutdown delay (the
    # harness stops servers with SIGTERM and waits for them): neither changes the request path.
    env -i PATH="$PATH" PORT="$port" BIND_ADDRESS=127.0.0.1 JWT_SECRET="$secret" \
        ADMIN_PORT=off SHUTDOWN_DELAY_SECONDS=0 AWS_EC2_METADATA_DISABLED=true "$@" "$binary" >"$work/$name.fifo" 2>>"$work/$name.log" &
    pid=$!
    pids+=("$pid")
    if ! "${helper[@]}" wait "$port" 10; then
        cat "$work/$name.log" >&2
        exit 1
    fi
}

# stop PID: SIGTERM, wait (the server drains; its log filter then sees EOF); sets $status.
stop() {
    status=0
    kill -TERM "$1"
    wait "$1" || status=$?
}

# endpoint NAME: sets $path and the oha arguments that make a request to endpoint NAME.
endpoint() {
    case $1 in
    "GET /") path=/ request=() ;;
    "POST /auth") path=/auth request=(-m POST -T application/json -d "$body") ;;
    "GET /contents") path=/contents request=(-H "Authorization: Bearer $token") ;;
    esac
}
endpoints=("GET /" "POST /auth" "GET /contents")

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime, all threads
clock_ticks=$(getconf CLK_TCK)
rss() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; } # kB

# measure LABEL PID PORT ENDPOINT CONNECTIONS SECONDS [ROUND]: one oha run against process PID.
# Its summary (requests, req/s, p50/p99, non-2xx, errors) plus the CPU time PID spent per
# answered request go to $work/all, and with LABEL and ROUND to $work/results when ROUND is set.
measure() {
    local label=$1 target=$2 port=$3 name=$4 connections=$5 seconds=$6 round=${7:-}
    local before after result
    endpoint "$name"
    before=$(cpu_ticks "$target")
    "$oha" --no-tui --output-format json -o "$work/run.json" -w -z "${seconds}s" \
        -c "$connections" --worker-threads "$THREADS" "${request[@]}" "http://127.0.0.1:$port$path"
    after=$(cpu_ticks "$target")
    result=$("${helper[@]}" summary "$work/run.json" $((after - before)) "$clock_ticks")
    echo "$label|${round:-warmup}|$result" >>"$work/all"
    if [[ -n $round ]]; then
        echo "$label|$round|$result" >>"$work/results"
        printf '  round %s  %-24s %s\n' "$round" "$label" "$result" >&2
    fi
}

build() { # build PROFILE TARGET...: cargo build, quietly
    echo "building ($1): ${*:2}" >&2
    cargo build --quiet --profile "$1" "${@:2}"
}

ab() {
    DURATION=${DURATION:-5} ROUNDS=${ROUNDS:-5} THREADS=${THREADS:-1}
    CONNECTIONS=${CONNECTIONS:-16} WARMUP=${WARMUP:-1} STARTS=${STARTS:-20}
    RSS_CONNECTIONS=${RSS_CONNECTIONS:-256} RSS_DURATION=${RSS_DURATION:-3}
    local server_env server_bin baseline_bin mode_env=()
    read -r -a server_env <<<"${SERVER_ENV:-}"
    ALGORITHM=${ALGORITHM:-HS256}
    case $ALGORITHM in
    HS256) ;;
    RS256) mode_env=(JWT_SECRET= JWT_ALGORITHM=RS256 JWT_PRIVATE_KEY="$(cat "$repo_root/tests/data/keys/rsa-2048-1.pem")") ;;
    ES256) mode_env=(JWT_SECRET= JWT_ALGORITHM=ES256 JWT_PRIVATE_KEY="$(cat "$repo_root/tests/data/keys/es256-1.pem")") ;;
    EdDSA) mode_env=(JWT_SECRET= JWT_ALGORITHM=EdDSA JWT_PRIVATE_KEY="$(cat "$repo_root/tests/data/keys/ed25519-1.pem")") ;;
    *) echo "ALGORITHM: HS256, RS256, ES256 or EdDSA, not $ALGORITHM" >&2; exit 2 ;;
    esac
    install_oha
    if [[ -n ${SERVER_BIN:-} && -n ${BASELINE_BIN:-} ]]; then
        server_bin=$SERVER_BIN baseline_bin=$BASELINE_BIN # e.g. to measure an older build
    else
        build release --bin server --example baseline
        server_bin=$target_dir/release/server baseline_bin=$target_dir/release/examples/baseline
    fi
    local load_start
    load_start=$(cut -d' ' -f1-3 /proc/loadavg)

    # 1. A/B rounds: our endpoint and the baseline's same endpoint, alternating which goes first.
    local base_pid base_port ours_pid ours_port name round
    start baseline "$baseline_bin" "${mode_env[@]}"
    base_pid=$pid base_port=$port
    start ours "$server_bin" "${mode_env[@]}" "${server_env[@]}"
    ours_pid=$pid ours_port=$port
    token=$("${helper[@]}" token "$ours_port")
    echo "A/B: $ROUNDS rounds x ${DURATION}s, oha -c$CONNECTIONS --worker-threads $THREADS" \
        "(warm-up ${WARMUP}s each)" >&2
    for name in "${endpoints[@]}"; do
        measure "ours $name" "$ours_pid" "$ours_port" "$name" "$CONNECTIONS" "$WARMUP"
        measure "baseline $name" "$base_pid" "$base_port" "$name" "$CONNECTIONS" "$WARMUP"
    done
    for ((round = 1; round <= ROUNDS; round++)); do
        for name in "${endpoints[@]}"; do
            if ((round % 2)); then
                measure "baseline $name" "$base_pid" "$base_port" "$name" "$CONNECTIONS" "$DURATION" "$round"
                measure "ours $name" "$ours_pid" "$ours_port" "$name" "$CONNECTIONS" "$DURATION" "$round"
            else
                measure "ours $name" "$ours_pid" "$ours_port" "$name" "$CONNECTIONS" "$DURATION" "$round"
                measure "baseline $name" "$base_pid" "$base_port" "$name" "$CONNECTIONS" "$DURATION" "$round"
            fi
        done
    done
    stop "$ours_pid"
    stop "$base_pid"
    wait # the log filters
    pids=()
    # Access lines expected: one per /auth and /contents request (+ the token request); a
    # successful GET / is a health check, logged at DEBUG only.
    local ours_requests ours_lines ours_bad_lines
    ours_requests=$(grep -E '^ours (POST /auth|GET /contents)[|]' "$work/all" |
        sed -n 's/.*requests=\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 1 }')
    read -r ours_lines ours_bad_lines <"$work/ours.count"

    # 2. Peak RSS (VmHWM) of fresh processes after RSS_CONNECTIONS connections on each endpoint.
    echo "RSS: fresh processes, ${RSS_DURATION}s per endpoint at $RSS_CONNECTIONS connections" >&2
    local who ours_idle_kb ours_peak_kb baseline_idle_kb baseline_peak_kb
    for who in ours baseline; do
        if [[ $who == ours ]]; then
            start rss-ours "$server_bin" "${mode_env[@]}" "${server_env[@]}"
        else
            start rss-baseline "$baseline_bin" "${mode_env[@]}"
        fi
        token=$("${helper[@]}" token "$port")
        printf -v "${who}_idle_kb" %s "$(rss "$pid" VmRSS)"
        for name in "${endpoints[@]}"; do
            measure "rss $who $name" "$pid" "$port" "$name" "$RSS_CONNECTIONS" "$RSS_DURATION"
        done
        printf -v "${who}_peak_kb" %s "$(rss "$pid" VmHWM)"
        stop "$pid"
    done
    wait
    pids=()

    # 3. Start-up: process start to the first 200 on GET /, secret from the environment.
    echo "start-up: $STARTS starts each" >&2
    local ours_startup baseline_startup
    startup() { # startup BINARY [K=V...]: the helper starts BINARY with exactly this environment
        "${helper[@]}" startup "$STARTS" PATH="$PATH" BIND_ADDRESS=127.0.0.1 JWT_SECRET="$secret" \
            ADMIN_PORT=off SHUTDOWN_DELAY_SECONDS=0 AWS_EC2_METADATA_DISABLED=true "${@:2}" -- "$1"
    }
    ours_startup=$(startup "$server_bin" "${mode_env[@]}" "${server_env[@]}")
    baseline_startup=$(startup "$baseline_bin" "${mode_env[@]}")

    # 4. Size of the stripped release `server` binary.
    local size
    strip -o "$work/server.stripped" "$server_bin"
    size=$(stat -c %s "$work/server.stripped")

    # Report.
    echo
    echo "## simple-jwt-api load harness, A/B — $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1);" \
        "$(uname -sr); $("$oha" --version)"
    echo "load average (1/5/15 min): $load_start at start, $(cut -d' ' -f1-3 /proc/loadavg) at end"
    echo "mode: JWT_ALGORITHM=$ALGORITHM (both servers)"
    echo "A/B: $ROUNDS rounds x ${DURATION}s per target, oha -c$CONNECTIONS --worker-threads" \
        "$THREADS, alternating order; ratios are OUR median / the baseline's median on the SAME" \
        "endpoint; the last column compares with the baseline's GET / (the targets of issue 6)"
    if ((${#server_env[@]})); then
        echo "our server's extra environment (SERVER_ENV): ${server_env[*]}"
    fi
    echo "CPU us/req: user + system CPU time of the measured server process per answered" \
        "request (all its threads; the least noisy figure on a shared machine)"
    echo
    "${helper[@]}" table "$work/results"
    echo
    local access
    if ((ours_lines >= ours_requests && ours_bad_lines == 0)); then
        access="one per request: ok"
    elif ((${#server_env[@]})); then
        access="(SERVER_ENV set)" # e.g. LOG_LEVEL=warn: no access lines expected
    else
        access="MISS"
    fi
    mib() { awk -v kb="$1" 'BEGIN { printf "%.1f MiB", kb / 1024 }'; }
    ms() { sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p' <<<"$1"; }
    verdict() { awk -v v="$1" -v max="$2" -v unit="$3" 'BEGIN { print "<= " max " " unit ": " ((v <= max) ? "ok" : "MISS") }'; }
    echo "| measure | value | target |"
    echo "|---|---|---|"
    echo "| peak RSS, ours, $RSS_CONNECTIONS conns (idle $(mib "$ours_idle_kb")) | $(mib "$ours_peak_kb") |" \
        "$(verdict "$(awk -v kb="$ours_peak_kb" 'BEGIN { print kb / 1024 }')" 20 MiB) |"
    echo "| peak RSS, baseline, $RSS_CONNECTIONS conns (idle $(mib "$baseline_idle_kb")) | $(mib "$baseline_peak_kb") | (reference) |"
    echo "| start-up to first 200, ours (median of $STARTS) | $(ms "$ours_startup") ms |" \
        "$(verdict "$(ms "$ours_startup")" 20 ms) |"
    echo "| start-up to first 200, baseline | $(ms "$baseline_startup") ms | (reference) |"
    echo "| stripped release server binary | $(awk -v b="$size" 'BEGIN { printf "%.2f MiB", b / 1048576 }') |" \
        "$(verdict "$(awk -v b="$size" 'BEGIN { print b / 1048576 }')" 8 MiB) |"
    echo "| access-log lines, ours (/auth + /contents requests) | $ours_lines ($ours_requests) | $access |"
    echo
    echo "start-up detail: ours $ours_startup; baseline $baseline_startup"
    echo "RSS-phase runs ($RSS_CONNECTIONS conns):"
    grep -F "rss " "$work/all" | sed 's/|warmup|/: /; s/^/  /'
}

soak() {
    local duration=${1:-180} connections=${SOAK_CONNECTIONS:-64} interval=${SOAK_SAMPLE_SECONDS:-5}
    local max_growth=${SOAK_MAX_RSS_GROWTH_KIB:-8192} profile=${SOAK_PROFILE:-release} warmup=10
    local binary=${SERVER_BIN:-}
    install_oha
    if [[ -z $binary ]]; then
        build "$profile" --bin server
        binary=$target_dir/$profile/server
        [[ $profile == dev ]] && binary=$target_dir/debug/server
    fi
    # Logging stays on (info: one access line per request, as in production).
    start soak "$binary" LOG_LEVEL=info
    local server_pid=$pid url="http://127.0.0.1:$port"
    token=$("${helper[@]}" token "$port")

    # The mix: a quarter of the connections per endpoint, the last quarter GET / on a new
    # connection per request, so connections are also opened and closed throughout.
    local share=$((connections / 4)) name i=0 load_pids=()
    echo "==> soak: ${duration}s, $connections connections ($share per endpoint, $share on GET /" \
        "with a new connection per request), $url, $binary"
    echo "    RSS at start: $(rss "$server_pid" VmRSS) KiB"
    for name in "${endpoints[@]}" "GET / (new connection)"; do
        endpoint "${name% (new connection)}"
        [[ $name == *new* ]] && request+=(--disable-keepalive)
        "$oha" --no-tui --output-format json -o "$work/soak$i.json" -w -z "${duration}s" \
            -c "$share" --worker-threads 1 "${request[@]}" "$url$path" &
        load_pids+=($!)
        pids+=($!)
        i=$((i + 1))
    done
    local elapsed=0 samples=$work/rss.csv
    while kill -0 "${load_pids[@]}" 2>/dev/null; do
        sleep "$interval"
        elapsed=$((elapsed + interval))
        kill -0 "$server_pid" 2>/dev/null || { echo "server died"; cat "$work/soak.log"; exit 1; }
        echo "$elapsed,$(rss "$server_pid" VmRSS)" >>"$samples"
    done
    local fail=0
    for i in "${load_pids[@]}"; do wait "$i" || { echo "FAIL: oha exited with an error"; fail=1; }; done
    echo "    RSS samples (s,KiB): $(tr '\n' ' ' <"$samples")"

    local rss_warm rss_end rss_max server_errors growth
    rss_warm=$(awk -F, -v w="$warmup" '$1 >= w { print $2; exit }' "$samples")
    rss_end=$(tail -1 "$samples" | cut -d, -f2)
    rss_max=$(cut -d, -f2 "$samples" | sort -n | tail -1)
    stop "$server_pid"
    wait # the log filter
    pids=()
    server_errors=$(grep -c '"level":"ERROR"' "$work/soak.log" || true)
    growth=$((rss_end - rss_warm))
    # Per-endpoint and total figures; fails on any non-2xx or connection error.
    "${helper[@]}" soak "$duration" "${endpoints[@]}" "GET / (new connection)" -- "$work"/soak{0,1,2,3}.json ||
        fail=1
    echo "==> RSS after ${warmup}s warm-up ${rss_warm} KiB, end ${rss_end} KiB (growth ${growth} KiB)," \
        "max ${rss_max} KiB; access lines $(cut -d' ' -f1 "$work/soak.count"); server error log" \
        "lines: ${server_errors}; exit status after SIGTERM: $status"
    ((growth <= max_growth)) || { echo "FAIL: RSS grew by $growth KiB"; fail=1; }
    ((status == 0)) || { echo "FAIL: exit status $status"; fail=1; }
    ((server_errors == 0)) || { echo "FAIL: server logged errors"; cat "$work/soak.log"; fail=1; }
    return "$fail"
}

# Time from process start to first response of the `lambda` binary under a local Lambda runtime
# API (a proxy for cold-start init): `cargo lambda watch --only-lambda-apis` provides the runtime
# API and its Function URL front; each run starts the binary with AWS_LAMBDA_RUNTIME_API pointing
# at it, sends GET / through the front at the same moment, and stops the clock when the response
# arrives. The secret comes from JWT_SECRET (no SSM call), so this is the binary's own init:
# config, logging, keys, runtime client, first /next poll, one dispatch.
lambda_cold_start() {
    local runs=${1:-10} binary=${LAMBDA_BIN:-}
    if [[ -z $binary ]]; then
        build release --bin lambda
        binary=$target_dir/release/lambda
    fi
    [[ -x $binary ]] || { echo "lambda-cold-start: no executable $binary" >&2; exit 2; }
    local bin
    bin=$(venv lambda "cargo-lambda==$CARGO_LAMBDA" "ziglang==$ZIGLANG")
    port=$("${helper[@]}" free-port)
    # Its own process group (setsid), so that cleanup stops everything watch starts.
    PATH="$bin:$PATH" setsid cargo lambda watch -A 127.0.0.1 -P "$port" --only-lambda-apis \
        >"$work/watch.log" 2>&1 &
    group=$!
    local i
    for i in $(seq 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        if ((i == 600)) || ! kill -0 "$group" 2>/dev/null; then
            echo "cargo lambda watch did not listen on 127.0.0.1:$port" >&2
            cat "$work/watch.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    local run begin end code function_pid
    for ((run = 1; run <= runs; run++)); do
        begin=$(date +%s%N)
        env -i PATH="$PATH" AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$port/.rt/lambda" \
            AWS_LAMBDA_FUNCTION_NAME=lambda AWS_LAMBDA_FUNCTION_VERSION=1 \
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 AWS_EC2_METADATA_DISABLED=true \
            AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true JWT_SECRET="$secret" \
            "$binary" >/dev/null 2>&1 &
        function_pid=$!
        pids+=("$function_pid")
        code=$(curl -s -o /dev/null -w '%{http_code}' -m 30 "http://127.0.0.1:$port/lambda-url/lambda/") || true
        end=$(date +%s%N)
        kill "$function_pid" 2>/dev/null || true
        wait "$function_pid" 2>/dev/null || true
        pids=()
        [[ $code == 200 ]] || { echo "run $run: HTTP $code" >&2; cat "$work/watch.log" >&2; exit 1; }
        echo $(((end - begin) / 1000)) >>"$work/cold.us"
        printf 'run %2d: %s ms\n' "$run" "$(awk '{ v = $1 } END { printf "%.3f", v / 1000 }' "$work/cold.us")"
    done
    printf 'binary: %s (%s bytes)\n' "$binary" "$(stat -c %s "$binary")"
    printf 'process start -> first response, %d runs: %s\n' "$runs" \
        "$("${helper[@]}" stats <"$work/cold.us")"
}

# The review's CPU exhaustion as a load run (docs/performance.md, "Overload"): the release
# server in ES256 mode with the Deployment's bounds and an admin port; forged tokens (our own
# token with one signature character changed: our kid, so each costs a full ES256 check).
# First the CPU capacity: the CPUs over the server CPU time one forged token costs (oha -c4
# -p8 for 5 s, all 401). Then the
# flood: oha --http2 -c100 -p100 -q 2x capacity for SECONDS; meanwhile one client sends valid
# tokens one after the other (curl, a new connection each, 10 s timeout) and a prober asks
# /readyz and /healthz every 200 ms with the probes' 2 s timeout.
overload() {
    local duration=${1:-20} binary=${SERVER_BIN:-}
    install_oha
    if [[ -z $binary ]]; then
        build release --bin server
        binary=$target_dir/release/server
    fi
    local admin_port key url
    admin_port=$("${helper[@]}" free-port)
    key=$(cat "$repo_root/tests/data/keys/es256-1.pem")
    start overload "$binary" JWT_SECRET= JWT_ALGORITHM=ES256 JWT_PRIVATE_KEY="$key" \
        MAX_CONNECTIONS=1000 BODY_LIMIT_BYTES=4096 ADMIN_PORT="$admin_port" ADMIN_BIND_ADDRESS=127.0.0.1
    local server_pid=$pid
    url="http://127.0.0.1:$port/contents"
    token=$("${helper[@]}" token "$port")
    local signature=${token##*.} swap=A
    [[ ${signature:10:1} == A ]] && swap=B
    local forged="${token%.*}.${signature:0:10}$swap${signature:11}"
    distribution() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["statusCodeDistribution"])' "$1"; }

    # CPU capacity: the CPUs over the server's CPU time per forged token (all 401 here).
    local cpu_before cpu_after per_request capacity
    cpu_before=$(cpu_ticks "$server_pid")
    "$oha" --no-tui --output-format json -o "$work/capacity.json" -z 5s -c 4 -p 8 --http2 \
        -H "Authorization: Bearer $forged" "$url"
    cpu_after=$(cpu_ticks "$server_pid")
    per_request=$("${helper[@]}" summary "$work/capacity.json" $((cpu_after - cpu_before)) "$clock_ticks" |
        sed -n 's/.*cpu_us=\([0-9.]*\).*/\1/p')
    capacity=$(awk -v us="$per_request" -v cpus="$(nproc)" 'BEGIN { printf "%d", cpus * 1e6 / us }')
    echo "capacity: $capacity forged tokens/s ($per_request us of server CPU each on $(nproc) CPUs;" \
        "$(distribution "$work/capacity.json"))" >&2

    local rate=$((2 * capacity))
    cpu_before=$(cpu_ticks "$server_pid")
    "$oha" --no-tui --output-format json -o "$work/flood.json" -z "${duration}s" -c 100 -p 100 \
        --http2 -q "$rate" -H "Authorization: Bearer $forged" "$url" &
    local flood=$!
    pids+=("$flood")
    sleep 1
    local until=$((SECONDS + duration - 2))
    while ((SECONDS < until)); do
        curl -s -o /dev/null -m 10 -w '%{http_code} %{time_total}\n' \
            -H "Authorization: Bearer $token" "$url" >>"$work/valid" || echo "000 10" >>"$work/valid"
    done &
    local valid=$!
    while ((SECONDS < until)); do
        for path in /readyz /healthz; do
            curl -s -o /dev/null -m 2 -w '%{http_code} %{time_total}\n' \
                "http://127.0.0.1:$admin_port$path" >>"$work/probes" || echo "000 2" >>"$work/probes"
        done
        sleep 0.2
    done &
    local probes=$!
    wait "$valid" "$probes" "$flood"
    cpu_after=$(cpu_ticks "$server_pid")
    local peak
    peak=$(rss "$server_pid" VmHWM)
    stop "$server_pid"
    # status and latency figures of a curl log: total, 200s, p50/p99/max seconds, codes seen
    figures() {
        sort -k2 -n "$1" | awk '{ t[NR] = $2; c[$1]++; if ($1 == 200) ok++ }
            END { codes = ""; for (k in c) codes = codes k ":" c[k] " ";
                  printf "%d requests, %d x 200 (%.0f %%), latency p50 %.3f s p99 %.3f s max %.3f s; codes %s\n",
                      NR, ok, 100 * ok / NR, t[int(NR * 0.5) + 1], t[int(NR * 0.99) + 1], t[NR], codes }'
    }
    echo
    echo "## overload — $(date -u +%Y-%m-%dT%H:%MZ), $binary"
    echo "machine: $(nproc) CPUs; load average at end $(cut -d' ' -f1-3 /proc/loadavg); $("$oha" --version)"
    echo "capacity: $capacity forged tokens/s ($per_request us of server CPU each);" \
        "flood asked $rate/s for ${duration}s:" \
        "$("${helper[@]}" summary "$work/flood.json" $((cpu_after - cpu_before)) "$clock_ticks")" \
        "$(distribution "$work/flood.json")"
    echo "valid requests: $(figures "$work/valid")"
    echo "probes (/readyz, /healthz; 2 s timeout): $(figures "$work/probes")"
    echo "peak RSS: $(awk -v kb="$peak" 'BEGIN { printf "%.1f MiB", kb / 1024 }') (pod limit 64 MiB)"
}

# logins [COUNT]: users mode, on the glibc build (what Lambda runs) and the musl build (the
# image): COUNT [400] right-password logins through POST /auth at 2 x LOGIN_CONCURRENCY
# connections; logins/s, and the resident memory before, after and at peak (VmRSS, VmHWM).
logins() {
    local count=${1:-400} cpus build binary name rss_before
    cpus=$(nproc)
    install_oha
    local login='{"email":"user@example.com","password":"s3cr3t-pw"}'
    echo
    echo "## logins — $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "machine: $cpus CPUs; LOGIN_CONCURRENCY=$cpus; load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
    for build in glibc musl; do
        if [[ $build == glibc ]]; then
            cargo build --release --locked --quiet --bin server
            binary="$target_dir/release/server"
        else
            cargo build --release --locked --quiet --bin server --target x86_64-unknown-linux-musl
            binary="$target_dir/x86_64-unknown-linux-musl/release/server"
        fi
        name="logins-$build"
        start "$name" "$binary" USERS_FILE="$repo_root/tests/data/users.htpasswd" \
            LOGIN_CONCURRENCY="$cpus" LOGIN_ADDRESS_BURST=1000000 LOGIN_ADDRESS_PER_MINUTE=1000000
        rss_before=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
        "$oha" --no-tui --output-format json -o "$work/$name.json" -n "$count" -c $((2 * cpus)) \
            -m POST -T application/json -d "$login" "http://127.0.0.1:$port/auth" >/dev/null
        echo "$build: $("${helper[@]}" summary "$work/$name.json" 0 100 | sed 's/ cpu_us=0//')" \
            "RSS before $(awk -v kb="$rss_before" 'BEGIN { printf "%.1f MiB", kb / 1024 }')," \
            "after $(awk '/^VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/$pid/status")," \
            "peak $(awk '/^VmHWM/ {printf "%.1f MiB", $2 / 1024}' "/proc/$pid/status")"
        stop "$pid"
    done
}

case $mode in
ab) ab ;;
logins) logins "${@:2}" ;;
overload) overload "${@:2}" ;;
soak) soak "${@:2}" ;;
lambda-cold-start) lambda_cold_start "${@:2}" ;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2
    exit 2
    ;;
esac
