#!/usr/bin/env python3
"""Helpers for scripts/load.sh (standard library only).

  free-port                  print a free TCP port on 127.0.0.1
  wait PORT [SECONDS]        wait until GET / on PORT answers 200 (exit 1 on timeout)
  token PORT                 POST /auth on PORT and print the token (for the harness only)
  startup RUNS [K=V...] -- CMD...
                             start CMD RUNS times with exactly the environment K=V... plus
                             PORT (a free port each time) and print the median time from
                             process start to the first 200 on GET /
  summary OHA_JSON CPU_TICKS CLK_TCK
                             one line from an oha --output-format json report, plus the server's
                             CPU time per answered request
  table RESULTS              the A/B table from the `label|round|summary` lines load.sh collected
  soak SECONDS NAME... -- OHA_JSON...
                             per-endpoint and total figures of the soak's oha runs; exit 1 on
                             any non-2xx response or connection error
  stats                      median, min and max of the microsecond figures on stdin, in ms
"""

import json
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
ENDPOINTS = ["GET /", "POST /auth", "GET /contents"]
# Issue 6's targets for our endpoints, against the baseline's GET / (req/s ratio; p99 <= 1.5x).
GOALS = {"GET /": 0.90, "POST /auth": 0.75, "GET /contents": 0.75}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers_200(port):
    """One raw HTTP/1.1 GET / over a fresh connection; False while nothing listens."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(REQUEST)
            return s.recv(16).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def wait(port, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers_200(port):
            return 0
        time.sleep(0.01)
    print(f"nothing answered 200 on 127.0.0.1:{port} within {seconds} s", file=sys.stderr)
    return 1


def token(port):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/auth",
        data=b'{"email":"load@example.com","password":"load-test"}',
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        print(json.load(response)["token"])
    return 0


def startup(runs, environment, command):
    """Time from just before spawning to the first 200, polling every ~0.2 ms."""
    times = []
    for _ in range(runs):
        port = free_port()
        env = dict(environment, PORT=str(port))
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = started + 5
            while not answers_200(port):
                if process.poll() is not None or time.perf_counter() > deadline:
                    print(f"{command[0]} did not answer (exit {process.poll()})", file=sys.stderr)
                    return 1
                time.sleep(0.0002)
            times.append((time.perf_counter() - started) * 1000)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    print(
        f"median_ms={statistics.median(times):.2f} min_ms={min(times):.2f} "
        f"max_ms={max(times):.2f} runs={runs}"
    )
    return 0


def oha(path):
    """The figures of one oha JSON report: answered requests, req/s, p50/p99 in µs, non-2xx
    responses and connection errors (oha's errorDistribution)."""
    with open(path) as report:
        data = json.load(report)
    statuses = data["statusCodeDistribution"]
    answered = sum(statuses.values())
    latency = data["latencyPercentiles"]
    return {
        "requests": answered,
        "rps": answered / data["summary"]["total"],
        "p50_us": (latency.get("p50") or 0) * 1e6,
        "p99_us": (latency.get("p99") or 0) * 1e6,
        "non2xx": sum(n for code, n in statuses.items() if not code.startswith("2")),
        "errors": sum(data["errorDistribution"].values()),
    }


def summary(path, ticks, hz):
    run = oha(path)
    run["cpu_us"] = ticks * 1e6 / hz / run["requests"] if run["requests"] else 0
    print(" ".join(f"{key}={value:.1f}" if isinstance(value, float) else f"{key}={value}"
                   for key, value in run.items()))
    return 0


def table(path):
    runs = {}
    with open(path) as results:
        for line in results:
            label, _, fields = line.rstrip("\n").split("|", 2)
            runs.setdefault(label, []).append(
                {k: float(v) for k, v in (item.split("=", 1) for item in fields.split())}
            )

    def med(label, key):
        return statistics.median(r[key] for r in runs[label])

    print("| target | runs | req/s (median) | p50 ms | p99 ms | non-2xx + errors | CPU µs/req "
          "| req/s vs base | p99 vs base | CPU µs vs base | req/s vs base GET / | target (issue 6) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    home = "baseline GET /"
    for name in ENDPOINTS:
        base = f"baseline {name}"
        for label in (base, f"ours {name}"):
            if label not in runs:
                continue
            rps, p99, cpu = med(label, "rps"), med(label, "p99_us"), med(label, "cpu_us")
            bad = int(sum(r["non2xx"] + r["errors"] for r in runs[label]))
            cells = [label, len(runs[label]), f"{rps:,.0f}", f"{med(label, 'p50_us') / 1000:.3f}",
                     f"{p99 / 1000:.3f}", bad, f"{cpu:.1f}"]
            if label == base:
                cells += ["(reference)"] + [""] * 4
            else:
                home_rps, home_p99 = rps / med(home, "rps"), p99 / med(home, "p99_us")
                ok = home_rps >= GOALS[name] and home_p99 <= 1.5 and bad == 0
                cells += [f"{rps / med(base, 'rps'):.2f}x", f"{p99 / med(base, 'p99_us'):.2f}x",
                          f"{cpu - med(base, 'cpu_us'):+.1f}", f"{home_rps:.2f}x",
                          f">= {GOALS[name]:.2f}x, p99 <= 1.5x: {'ok' if ok else 'MISS'}"]
            print("| " + " | ".join(str(c) for c in cells) + " |")
    return 0


def soak(seconds, names, paths):
    failed = False
    total = {"requests": 0, "rps": 0.0, "non2xx": 0, "errors": 0}
    for name, path in zip(names, paths):
        run = oha(path)
        for key in total:
            total[key] += run[key]
        print(f"    {name:<24} {run['requests']:>10,} requests, {run['rps']:>9,.0f} req/s, "
              f"p50 {run['p50_us'] / 1000:.2f} ms, p99 {run['p99_us'] / 1000:.2f} ms, "
              f"non-2xx {run['non2xx']}, errors {run['errors']}")
        if run["non2xx"] or run["errors"]:
            failed = True
            print(f"FAIL: {name}: non-2xx responses or connection errors")
    print(f"==> soak result: {total['requests']:,} requests in {seconds} s = "
          f"{total['rps']:,.0f} req/s; non-2xx: {total['non2xx']}; errors: {total['errors']}")
    return 1 if failed else 0


def stats():
    values = [float(line) / 1000 for line in sys.stdin if line.strip()]
    print(f"median {statistics.median(values):.3f} ms, min {min(values):.3f} ms, "
          f"max {max(values):.3f} ms")
    return 0


def main(argv):
    command, args = (argv[1], argv[2:]) if len(argv) > 1 else ("", [])
    if command == "free-port":
        print(free_port())
        return 0
    if command == "wait":
        return wait(int(args[0]), float(args[1]) if len(args) > 1 else 10.0)
    if command == "token":
        return token(int(args[0]))
    if command == "startup":
        split = args.index("--")
        environment = dict(item.split("=", 1) for item in args[1:split])
        return startup(int(args[0]), environment, args[split + 1:])
    if command == "summary":
        return summary(args[0], int(args[1]), int(args[2]))
    if command == "table":
        return table(args[0])
    if command == "soak":
        split = args.index("--")
        return soak(args[0], args[1:split], args[split + 1:])
    if command == "stats":
        return stats()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
