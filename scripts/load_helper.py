#!/usr/bin/env python3
"""Helpers for scripts/load.sh (standard library only).

  free-port                  print a free TCP port on 127.0.0.1
  wait PORT [SECONDS]        wait until GET / on PORT answers 200 (exit 1 on timeout)
  token PORT                 POST /auth on PORT and print the token
  startup RUNS [K=V...] -- CMD...
                             start CMD RUNS times with exactly the environment K=V... plus
                             PORT (a free port each time) and print the median time from
                             process start to the first 200 on GET /
  table RESULTS              print the summary table from the RESULT lines load.sh collected
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


def parse(line):
    """`label|round|RESULT k=v ...` -> (label, dict)."""
    label, _, rest = line.rstrip("\n").split("|", 2)
    fields = dict(item.split("=", 1) for item in rest.split()[1:])
    return label, {k: float(v) for k, v in fields.items()}


def table(path):
    runs = {}
    with open(path) as results:
        for line in results:
            if "|" in line:
                label, fields = parse(line)
                runs.setdefault(label, []).append(fields)
    base = runs.get("baseline GET /")
    if not base:
        print("no baseline runs recorded", file=sys.stderr)
        return 1

    def med(label, key):
        return statistics.median(r[key] for r in runs[label])

    base_rps, base_p99 = med("baseline GET /", "rps"), med("baseline GET /", "p99_us")
    header = (
        f"| {'target':<22} | {'rounds':>6} | {'req/s (median)':>14} | {'p50 ms':>7} | "
        f"{'p99 ms':>7} | {'non-2xx':>7} | {'CPU us/req':>10} | {'req/s vs base':>13} | "
        f"{'p99 vs base':>11} | {'target':<21} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    goals = {"ours GET /": 0.90, "ours POST /auth": 0.75, "ours GET /contents": 0.75}
    for label in ["baseline GET /", "ours GET /", "ours POST /auth", "ours GET /contents"]:
        if label not in runs:
            continue
        rps, p50, p99 = med(label, "rps"), med(label, "p50_us"), med(label, "p99_us")
        bad = int(sum(r["non2xx"] + r["sockerr"] for r in runs[label]))
        rps_ratio, p99_ratio = rps / base_rps, p99 / base_p99
        if label in goals:
            ok = rps_ratio >= goals[label] and p99_ratio <= 1.5 and bad == 0
            goal = f">={goals[label]:.2f}x, <=1.5x: {'ok' if ok else 'MISS'}"
        else:
            goal = "(reference)"
        cpu = med(label, "cpu_us") if all("cpu_us" in r for r in runs[label]) else float("nan")
        print(
            f"| {label:<22} | {len(runs[label]):>6} | {rps:>14,.0f} | {p50 / 1000:>7.3f} | "
            f"{p99 / 1000:>7.3f} | {bad:>7} | {cpu:>10.1f} | {rps_ratio:>12.2f}x | "
            f"{p99_ratio:>10.2f}x | {goal:<21} |"
        )
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    command, args = argv[1], argv[2:]
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
        return startup(int(args[0]), environment, args[split + 1 :])
    if command == "table":
        return table(args[0])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
