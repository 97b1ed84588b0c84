#!/usr/bin/env bash
# Builds the repository's Dockerfile, verbatim, with a real Docker engine (BuildKit), and runs
# the image the way the Kubernetes Deployment runs the pod: read-only root, the manifest's
# UID:GID, no capabilities, no-new-privileges, the manifest's memory and CPU limits. Drives the
# API's core cases against it on 127.0.0.1, stops it with SIGTERM (exit 0 within the drain
# bound), compares `docker inspect` with the rendered Deployment, and reports the image's size,
# layers and files. Guide: docs/container.md.
#
# Usage: scripts/container.sh [--pull] [--arm64] [--lambda] [--sbom]
#   (none)    amd64 image on LOCAL STAND-INS for the base images (no image registry is needed);
#             such an image trusts this machine's CA bundle: local checks only, never push it
#   --pull    build on the real, digest-pinned base images (a machine with registry access)
#   --arm64   also cross-build the linux/arm64 image; run its binary under qemu-user-static
#   --lambda  also `cargo lambda build --release --arm64 --bin lambda`: zip size, template.yaml
#   --sbom    also a CycloneDX SBOM of the server binary (cargo-cyclonedx)
#
# Engine: uses $DOCKER_HOST or /var/run/docker.sock when an engine answers there; otherwise
# installs Debian's docker.io if needed and starts its own dockerd (data under
# $CARGO_TARGET_DIR/container/docker, so stand-ins and the build cache survive between runs;
# --iptables=false --bridge=none; stopped on exit). Needs root for that, apt (docker.io,
# mmdebstrap, qemu-user-static), python3, kubectl (kustomize), and the package registries
# (Debian, crates.io, rustup's dist server, PyPI). Never listens anywhere but 127.0.0.1.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

pull=false arm64=false lambda=false sbom=false
for arg in "$@"; do
    case "$arg" in
        --pull) pull=true ;;
        --arm64) arm64=true ;;
        --lambda) lambda=true ;;
        --sbom) sbom=true ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
    esac
done

state="$target_dir/container"
mkdir -p "$state"
# One run at a time: the engine's data root and the image tags are shared.
exec 8>"$state/lock"
flock 8

started=$SECONDS
say() { printf '[container %4ds] %s\n' "$((SECONDS - started))" "$*"; }
fail() { say "FAIL: $*" >&2; exit 1; }
# The Docker client from Debian's docker.io: it has BuildKit built in. The /usr/local/bin/docker
# client preinstalled on these machines has no buildx and silently falls back to the legacy
# builder, which leaves TARGETARCH empty.
docker=/usr/bin/docker
image=simple-jwt-api:container-check

apt_install() {
    local missing=() package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' \
            || missing+=("$package")
    done
    ((${#missing[@]} == 0)) && return 0
    say "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ---------------------------------------------------------------------------------------------
# Engine
# ---------------------------------------------------------------------------------------------
apt_install docker.io python3 ca-certificates
own_dockerd_pid=""
container_ids=()
cleanup() {
    local id
    for id in "${container_ids[@]}"; do "$docker" rm -f "$id" >/dev/null 2>&1 || true; done
    if [[ -n "$own_dockerd_pid" ]]; then
        kill -TERM "$own_dockerd_pid" 2>/dev/null || true
        # dockerd stops its containerd and exits within a few seconds.
        for _ in $(seq 50); do kill -0 "$own_dockerd_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$own_dockerd_pid" 2>/dev/null || true
    fi
    [[ -n "${scratch:-}" ]] && rm -rf "$scratch"
    return 0
}
trap cleanup EXIT
scratch="$(mktemp -d)"

if [[ -z "${DOCKER_HOST:-}" ]] && ! "$docker" info >/dev/null 2>&1; then
    # Our own engine. The exec root holds sockets, so it stays short (unix socket paths are
    # limited to 108 bytes); the data root (images, build cache) lives under the target dir.
    exec_root=/run/simple-jwt-api-docker
    mkdir -p "$exec_root" "$state/docker"
    export DOCKER_HOST="unix://$exec_root/docker.sock"
    if [[ -f "$exec_root/dockerd.pid" ]] && kill -0 "$(cat "$exec_root/dockerd.pid")" 2>/dev/null; then
        fail "a dockerd from an earlier run is still running (pid $(cat "$exec_root/dockerd.pid")); stop it first"
    fi
    say "starting dockerd (data root $state/docker, log $state/dockerd.log)"
    # No bridge and no iptables: this machine's network is not ours to rewire. Containers and
    # build steps use the host's network namespace (--network host) and listen on 127.0.0.1.
    dockerd --data-root "$state/docker" --exec-root "$exec_root" \
        --pidfile "$exec_root/dockerd.pid" -H "$DOCKER_HOST" \
        --iptables=false --ip-masq=false --bridge=none >"$state/dockerd.log" 2>&1 &
    own_dockerd_pid=$!
    for _ in $(seq 150); do
        "$docker" info >/dev/null 2>&1 && break
        kill -0 "$own_dockerd_pid" 2>/dev/null || { tail -20 "$state/dockerd.log" >&2; fail "dockerd exited"; }
        sleep 0.2
    done
    "$docker" info >/dev/null 2>&1 || fail "dockerd did not answer in 30 s (see $state/dockerd.log)"
    net=(--network host)
else
    say "using the running engine at ${DOCKER_HOST:-unix:///var/run/docker.sock}"
    net=()
    # An engine with a bridge still lets RUN steps use the host network; ours needs it.
    "$docker" info --format '{{.Name}}' >/dev/null
fi
say "engine: $("$docker" version --format 'server {{.Server.Version}}, client {{.Client.Version}}')"

# ---------------------------------------------------------------------------------------------
# Base images: the Dockerfile's pinned default, or a local stand-in with the same name
# ---------------------------------------------------------------------------------------------
rust_arg="$(sed -n 's/^ARG RUST_IMAGE=//p' Dockerfile)"
[[ "$rust_arg" == *@sha256:* ]] || fail "Dockerfile: ARG RUST_IMAGE=... is not pinned by digest"
rust_tag="${rust_arg%@sha256:*}"
build_args=()

# make_rust_standin NAME: a Debian root filesystem from the Debian mirror (mmdebstrap) with what
# the official slim Rust image has (gcc, libc6-dev, ca-certificates, rustup with the minimal
# profile of the tagged Rust version under /usr/local/{rustup,cargo}), plus this machine's CA
# bundle, imported and tagged NAME. Reused while its recipe label matches.
make_rust_standin() {
    local name="$1" tag version suite recipe have rootfs
    tag="${name##*:}"
    [[ "$tag" =~ ^([0-9]+\.[0-9]+\.[0-9]+)-slim-([a-z]+)$ ]] \
        || fail "cannot make a stand-in for '$name' (expected a tag like 1.95.0-slim-bookworm)"
    version="${BASH_REMATCH[1]}" suite="${BASH_REMATCH[2]}"
    # The CA bundle is part of the recipe: a changed bundle makes a new stand-in.
    recipe="standin-v1 rust=$version debian=$suite ca=$(sha256sum /etc/ssl/certs/ca-certificates.crt | cut -c1-16)"
    have="$("$docker" image inspect -f '{{index .Config.Labels "org.simple-jwt-api.standin"}}' "$name" 2>/dev/null || true)"
    if [[ "$have" == "$recipe" ]]; then
        say "stand-in $name is cached ($recipe)"
        return 0
    fi
    apt_install mmdebstrap
    say "making stand-in $name: mmdebstrap $suite + rustup $version (minimal) + host CA bundle"
    # Customize hooks run on the host with the new root as "$1", while mmdebstrap still has
    # /proc and /dev mounted in it (rustup-init needs /proc).
    rootfs="$scratch/standin.tar"
    # shellcheck disable=SC2016 # "$1" is expanded by mmdebstrap's hook shell, not here.
    mmdebstrap --quiet --variant=apt --include=ca-certificates,gcc,libc6-dev \
        --customize-hook='install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$1/usr/local/share/ca-certificates/host-ca-bundle.crt"' \
        --customize-hook='cp /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/ca-certificates.crt"' \
        --customize-hook="cp '$(command -v rustup)' \"\$1/tmp/rustup-init\"" \
        --customize-hook="chroot \"\$1\" env RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo /tmp/rustup-init -y -q --no-modify-path --profile minimal --default-toolchain $version >'$state/standin-rustup.log' 2>&1" \
        --customize-hook='rm -f "$1/tmp/rustup-init" && chmod -R a+w "$1/usr/local/rustup" "$1/usr/local/cargo"' \
        "$suite" "$rootfs" \
        "deb http://deb.debian.org/debian $suite main" \
        "deb http://deb.debian.org/debian $suite-updates main" \
        "deb http://deb.debian.org/debian-security $suite-security main"
    # rustup-init is the rustup binary under that name; it installs as the official image does.
    # TLS to the package registries from this machine needs this machine's CA bundle, hence the
    # first two hooks.
    "$docker" import \
        --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
        --change 'ENV CARGO_HOME=/usr/local/cargo' \
        --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change "ENV RUST_VERSION=$version" \
        --change "LABEL org.simple-jwt-api.standin=\"$recipe\"" \
        --change 'CMD ["bash"]' \
        "$rootfs" "$name" >/dev/null
    rm -f "$rootfs"
    say "stand-in $name made ($("$docker" image inspect -f '{{.Size}}' "$name" | awk '{printf "%.0f MB", $1/1e6}'))"
}

if $pull; then
    say "building on the real base images: $rust_arg (pulled)"
    build_args+=(--pull)
else
    make_rust_standin "$rust_tag"
    build_args+=(--build-arg "RUST_IMAGE=$rust_tag")
    cat <<EOF
[container] ############################################################################
[container] #  LOCAL STAND-IN BASE: $rust_tag
[container] #  is NOT the official image. It was made on this machine (mmdebstrap + rustup) and
[container] #  carries THIS MACHINE'S CA bundle. The image built on it is for local checks only:
[container] #  NEVER push it. Build with --pull on a machine with registry access for a real one.
[container] ############################################################################
EOF
fi

# The data root survives between runs, and every run with changed sources adds a cargo build's
# worth of cache layers (GBs with LTO): without a bound the machine's disk fills (seen in CI:
# "No space left on device" inside `cargo chef cook`). Keep the newest cache, within a budget
# that still holds one amd64 and one arm64 dependency build, and drop untagged images of earlier
# runs. The stand-in base images are tagged, so they stay.
"$docker" image prune -f >/dev/null
"$docker" builder prune -f --keep-storage "${CONTAINER_CACHE_BUDGET:-8GB}" >/dev/null \
    || fail "docker builder prune failed"
say "build cache after pruning: $("$docker" system df --format '{{.Type}} {{.Size}}' | paste -sd, - | sed 's/,/, /g')"
df -h "$state" | awk 'NR == 2 {printf "[container] disk: %s free of %s on %s\n", $4, $2, $6}'

# build PLATFORM TAG: the Dockerfile verbatim, BuildKit, plain progress into a log.
build() {
    local platform="$1" tag="$2" log="$state/build-${1//\//-}.log" begin=$SECONDS
    say "docker build --platform $platform -t $tag (log $log)"
    if ! DOCKER_BUILDKIT=1 "$docker" build --progress=plain --platform "$platform" \
        "${net[@]}" "${build_args[@]}" -t "$tag" . >"$log" 2>&1; then
        tail -40 "$log" >&2
        fail "docker build for $platform failed"
    fi
    say "built $tag for $platform in $((SECONDS - begin)) s"
}

build linux/amd64 "$image"

# ---------------------------------------------------------------------------------------------
# Image contents, size and layers
# ---------------------------------------------------------------------------------------------
# image_tool.py: reads `docker save` output (layers, files, one file out) and compares the image
# configuration with the rendered Deployment. Standard library only, plus PyYAML for the YAML.
tool="$scratch/image_tool.py"
cat >"$tool" <<'PY'
import hashlib, io, json, sys, tarfile

def layers(save_tar):
    """Yields (layer name, TarFile) for each layer of a `docker save` archive, base first."""
    outer = tarfile.open(save_tar)
    manifest = json.load(outer.extractfile("manifest.json"))
    for name in manifest[0]["Layers"]:
        yield name, tarfile.open(fileobj=io.BytesIO(outer.extractfile(name).read()))

def files(save_tar):
    """Regular files of the image (path -> size), layers applied in order."""
    out = {}
    for _, layer in layers(save_tar):
        for member in layer.getmembers():
            path = "/" + member.name.lstrip("./")
            if member.isfile():
                out[path] = member.size
    return out

def extract(save_tar, path, dest):
    data = None
    for _, layer in layers(save_tar):
        for member in layer.getmembers():
            if "/" + member.name.lstrip("./") == path and member.isfile():
                data = layer.extractfile(member).read()
    if data is None:
        sys.exit(f"{path} is not in the image")
    with open(dest, "wb") as f:
        f.write(data)

def quantity_bytes(q):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in units.items():
        if q.endswith(suffix):
            return int(float(q[: -len(suffix)]) * factor)
    return int(q)

def quantity_cpus(q):
    q = str(q)
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)

def deployment(rendered):
    import yaml
    docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
    deps = [d for d in docs if d.get("kind") == "Deployment"]
    if len(deps) != 1:
        sys.exit(f"expected one Deployment in the rendered manifests, found {len(deps)}")
    pod = deps[0]["spec"]["template"]["spec"]
    containers = pod["containers"]
    if len(containers) != 1:
        sys.exit(f"expected one container in the Deployment, found {len(containers)}")
    return deps[0], pod, containers[0]

def pod_settings(rendered):
    """The run parameters the Deployment gives the container, as KEY=VALUE lines for bash."""
    dep, pod, c = deployment(rendered)
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    limits = c.get("resources", {}).get("limits", {})
    env = {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}
    out = {
        "uid": csc.get("runAsUser", psc.get("runAsUser")),
        "gid": csc.get("runAsGroup", psc.get("runAsGroup")),
        "memory_bytes": quantity_bytes(limits["memory"]),
        "memory": limits["memory"],
        "cpus": quantity_cpus(limits["cpu"]),
        "cpu": limits["cpu"],
        "drain_seconds": int(env.get("SHUTDOWN_DRAIN_SECONDS", 10)),
        "delay_seconds": int(env.get("SHUTDOWN_DELAY_SECONDS", 5)),
        "grace_seconds": pod.get("terminationGracePeriodSeconds", 30),
        "body_limit": int(env.get("BODY_LIMIT_BYTES", 65536)),
    }
    problems = []
    if csc.get("readOnlyRootFilesystem") is not True:
        problems.append("the container's root filesystem is not read-only")
    if "ALL" not in csc.get("capabilities", {}).get("drop", []):
        problems.append("the container does not drop ALL capabilities")
    if csc.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    if problems:
        sys.exit("Deployment: " + "; ".join(problems))
    # The environment the pod gets, less what this check replaces: the ports and addresses
    # (127.0.0.1 and free ports), the SSM parameter (a secret in the environment instead) and
    # the DynamoDB users table (the test users file, mounted read-only, instead).
    skip = {"PORT", "BIND_ADDRESS", "ADMIN_PORT", "ADMIN_BIND_ADDRESS", "JWT_SECRET_PARAMETER",
            "USERS_TABLE"}
    with open(sys.argv[3], "w") as f:
        for k, v in env.items():
            if k not in skip:
                f.write(f"{k}={v}\n")
    for k, v in out.items():
        print(f"{k}={v}")

def compare(rendered, inspect_json):
    """Every mismatch between the image's configuration and what the Deployment expects."""
    dep, pod, c = deployment(rendered)
    cfg = json.load(open(inspect_json))[0]["Config"]
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    gid = csc.get("runAsGroup", psc.get("runAsGroup"))
    problems, seen = [], []
    user = cfg.get("User") or ""
    seen.append(f"User {user!r} vs runAsUser:runAsGroup {uid}:{gid}")
    if user != f"{uid}:{gid}":
        problems.append(f"image USER {user!r} != Deployment runAsUser:runAsGroup {uid}:{gid}")
    if (csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True) and user.split(":")[0] in ("", "0", "root"):
        problems.append("Deployment requires runAsNonRoot but the image runs as root")
    exposed = sorted((cfg.get("ExposedPorts") or {}).keys())
    ports = sorted(f"{p['containerPort']}/{p.get('protocol', 'TCP').lower()}" for p in c.get("ports", []))
    seen.append(f"ExposedPorts {exposed} vs containerPort {ports}")
    if exposed != ports:
        problems.append(f"image EXPOSE {exposed} != Deployment ports {ports}")
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    if "PORT" in env and f"{env['PORT']}/tcp" not in exposed:
        problems.append(f"Deployment PORT={env['PORT']} is not among the image's EXPOSE {exposed}")
    if "ADMIN_PORT" in env and f"{env['ADMIN_PORT']}/tcp" not in exposed:
        problems.append(f"Deployment ADMIN_PORT={env['ADMIN_PORT']} is not among the image's EXPOSE {exposed}")
    entry = cfg.get("Entrypoint") or []
    seen.append(f"Entrypoint {entry} vs command {c.get('command')} args {c.get('args')}")
    if "command" in c and c["command"] != entry:
        problems.append(f"Deployment command {c['command']} != image ENTRYPOINT {entry}")
    if entry != ["/server"]:
        problems.append(f"image ENTRYPOINT {entry} != ['/server']")
    if cfg.get("Cmd") and "args" not in c:
        problems.append(f"image CMD {cfg['Cmd']} would be passed as arguments")
    for line in seen:
        print("  " + line)
    if problems:
        sys.exit("MISMATCH: " + "; ".join(problems))

def elf_machine(path):
    with open(path, "rb") as f:
        head = f.read(20)
    if head[:4] != b"\x7fELF":
        sys.exit(f"{path} is not an ELF file")
    return {62: "x86-64", 183: "aarch64"}.get(int.from_bytes(head[18:20], "little"), "other")

cmd = sys.argv[1]
if cmd == "files":
    for path, size in sorted(files(sys.argv[2]).items()):
        print(f"{path} {size}")
elif cmd == "layers":
    for name, layer in layers(sys.argv[2]):
        n = sum(1 for m in layer.getmembers() if m.isfile())
        print(f"{n} file(s)")
elif cmd == "extract":
    extract(sys.argv[2], sys.argv[3], sys.argv[4])
elif cmd == "pod":
    pod_settings(sys.argv[2])
elif cmd == "compare":
    compare(sys.argv[2], sys.argv[3])
elif cmd == "elf":
    print(elf_machine(sys.argv[2]))
PY

# check_image_files TAG SAVE_TAR: the image holds exactly the binary and the CA bundle.
check_image_files() {
    local tag="$1" save="$2" listing
    "$docker" save -o "$save" "$tag"
    listing="$(python3 "$tool" files "$save")"
    printf '%s\n' "$listing" | sed 's/^/  file /'
    [[ "$(printf '%s\n' "$listing" | cut -d' ' -f1 | tr '\n' ' ')" == "/etc/ssl/certs/ca-certificates.crt /server " ]] \
        || fail "$tag holds files other than /server and /etc/ssl/certs/ca-certificates.crt"
    say "$tag: $("$docker" image inspect -f '{{.Size}}' "$tag" | awk '{printf "%d bytes (%.2f MB)", $1, $1/1e6}'), $(python3 "$tool" layers "$save" | wc -l) layers: $(python3 "$tool" layers "$save" | paste -sd, - | sed 's/,/, /g')"
}
check_image_files "$image" "$scratch/image.tar"
"$docker" history --format '  layer {{.Size}}	{{.CreatedBy}}' "$image" | cut -c1-110

# ---------------------------------------------------------------------------------------------
# The Deployment: render it, compare it with the image, take its run parameters
# ---------------------------------------------------------------------------------------------
pybin="$(venv pyyaml "PyYAML==$PYYAML")"
# The deploy helper is restructuring k8s/ into a base and overlays; use the internal overlay
# when it exists.
k8s_dir=k8s
[[ -d k8s/overlays/internal ]] && k8s_dir=k8s/overlays/internal
kubectl kustomize "$k8s_dir" >"$scratch/rendered.yaml"
"$docker" image inspect "$image" >"$scratch/inspect.json"
say "docker inspect vs the Deployment rendered from $k8s_dir:"
"$pybin/python" "$tool" compare "$scratch/rendered.yaml" "$scratch/inspect.json"
pod_env="$scratch/pod.env"
settings="$("$pybin/python" "$tool" pod "$scratch/rendered.yaml" "$pod_env")"
declare -A pod=()
while IFS='=' read -r key value; do
    [[ "$key" =~ ^[a-z_]+$ && "$value" =~ ^[0-9A-Za-z.]+$ ]] || fail "unexpected pod setting '$key=$value'"
    pod[$key]="$value"
done <<<"$settings"
say "pod settings: user ${pod[uid]}:${pod[gid]}, memory ${pod[memory]}, cpu ${pod[cpu]}, drain ${pod[drain_seconds]} s, body limit ${pod[body_limit]} B"

# ---------------------------------------------------------------------------------------------
# Run it as the pod runs
# ---------------------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# A fresh secret per run, passed by name (`-e JWT_SECRET`) so it is on no command line and in
# no output.
JWT_SECRET="$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')"
export JWT_SECRET

# The driver: the API's core cases over 127.0.0.1, standard library only. Prints case names and
# statuses, never a token or the secret.
driver="$scratch/driver.py"
cat >"$driver" <<'PY'
import base64, hashlib, hmac, http.client, json, os, sys, time

port, body_limit = int(sys.argv[1]), int(sys.argv[2])
secret = os.environ["JWT_SECRET"].encode()

def request(method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()

def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

def verify(token):
    """HS256 signature and claims of a token, checked here without any JWT library."""
    head, payload, sig = token.split(".")
    mac = hmac.new(secret, f"{head}.{payload}".encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(mac, b64d(sig)), "signature does not verify with the secret"
    assert json.loads(b64d(head))["alg"] == "HS256"
    return json.loads(b64d(payload))

results = []
def case(name, fn):
    try:
        fn()
        results.append(True)
        print(f"  ok    {name}")
    except Exception as e:  # a failed assertion or a broken connection both fail the case
        results.append(False)
        print(f"  FAIL  {name}: {type(e).__name__} {e}")

state = {}
def health():
    s, h, b = request("GET", "/")
    assert (s, json.loads(b)) == (200, "Healthy"), (s, b[:80])
def auth():
    s, h, b = request("POST", "/auth", json.dumps({"email": "user@example.com", "password": "s3cr3t-pw"}).encode(),
                      {"content-type": "application/json"})
    assert s == 200, s
    assert h.get("cache-control") == "no-store", h.get("cache-control")
    token = json.loads(b)["token"]
    claims = verify(token)
    assert claims["email"] == "user@example.com" and claims["exp"] > time.time(), sorted(claims)
    state["token"], state["claims"] = token, claims
def contents():
    s, h, b = request("GET", "/contents", headers={"authorization": "Bearer " + state["token"]})
    assert s == 200, s
    assert json.loads(b) == state["claims"], "claims differ from the token's"
def tampered():
    head, payload, sig = state["token"].split(".")
    forged = json.loads(b64d(payload)); forged["email"] = "admin@example.com"
    p = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    s, h, b = request("GET", "/contents", headers={"authorization": f"Bearer {head}.{p}.{sig}"})
    assert s == 401 and "invalid_token" in h.get("www-authenticate", ""), (s, h.get("www-authenticate"))
def missing():
    s, h, b = request("GET", "/contents")
    assert s == 401 and h.get("www-authenticate", "").startswith("Bearer"), s
def unknown():
    s, h, b = request("GET", "/no-such-path")
    assert s == 404 and json.loads(b)["message"], s
def oversized():
    s, h, b = request("POST", "/auth", b" " * (body_limit + 1), {"content-type": "application/json"})
    assert s == 413, s
def wrong_method():
    s, h, b = request("PUT", "/")
    assert s == 405 and h.get("allow") == "GET, POST", (s, h.get("allow"))
def wrong_type():
    s, h, b = request("POST", "/auth", b"email=a&password=b", {"content-type": "text/plain"})
    assert s == 415, s
def malformed():
    s, h, b = request("POST", "/auth", b'{"email": ', {"content-type": "application/json"})
    assert s == 400, s
def wrong_password():
    s, h, b = request("POST", "/auth", json.dumps({"email": "user@example.com", "password": "nope"}).encode(),
                      {"content-type": "application/json"})
    assert (s, json.loads(b)) == (401, {"message": "invalid email or password"}), (s, b[:80])
def login_flood():
    """400 logins from 400 addresses (the pod trusts one proxy hop) at 32 at a time, while
    GET /contents is asked 40 times: the excess is shed with 503, /contents stays 200."""
    import concurrent.futures, threading
    statuses, latencies, done = {}, [], threading.Event()
    def one(n):
        body = json.dumps({"email": f"flood{n}@example.com", "password": "x"}).encode()
        headers = {"content-type": "application/json", "x-forwarded-for": f"198.18.{n // 200}.{n % 200}"}
        return request("POST", "/auth", body, headers)[0]
    def reader():
        while not done.is_set() and len(latencies) < 40:
            t = time.monotonic()
            s, _, _ = request("GET", "/contents", headers={"authorization": "Bearer " + state["token"]})
            assert s == 200, s
            latencies.append(time.monotonic() - t)
    with concurrent.futures.ThreadPoolExecutor(33) as pool:
        contents_reader = pool.submit(reader)
        for s in pool.map(one, range(400)):
            statuses[s] = statuses.get(s, 0) + 1
        done.set()
        contents_reader.result()
    latencies.sort()
    print(f"        login flood: {statuses}; GET /contents median {latencies[len(latencies) // 2] * 1000:.1f} ms, "
          f"max {latencies[-1] * 1000:.1f} ms over {len(latencies)}")
    assert set(statuses) <= {401, 503}, statuses
    assert latencies, "no /contents answer during the flood"

case("GET / is 200 \"Healthy\"", health)
case("POST /auth is 200 with an HS256 token for the email", auth)
case("GET /contents with that token is 200 with its claims", contents)
case("GET /contents with a tampered token is 401 invalid_token", tampered)
case("GET /contents without a token is 401 Bearer", missing)
case("an unknown path is 404", unknown)
case(f"a body over BODY_LIMIT_BYTES ({body_limit}) is 413", oversized)
case("PUT / is 405 with Allow", wrong_method)
case("POST /auth text/plain is 415", wrong_type)
case("POST /auth malformed JSON is 400", malformed)
case("POST /auth with a wrong password is the one 401", wrong_password)
case("a login flood is shed (401/503) while GET /contents answers 200", login_flood)
print(f"  {sum(results)} of {len(results)} cases passed")
sys.exit(0 if all(results) else 1)
PY

http_status() { # PORT PATH: the status of GET PATH on 127.0.0.1:PORT (000 if no answer)
    python3 -c 'import http.client,sys
try:
    c=http.client.HTTPConnection("127.0.0.1",int(sys.argv[1]),timeout=2); c.request("GET",sys.argv[2]); print(c.getresponse().status)
except OSError:
    print("000")' "$1" "$2"
}

wait_healthy() { # PORT SECONDS: until GET / answers 200
    local port="$1" deadline=$((SECONDS + $2))
    until python3 -c 'import http.client,sys; c=http.client.HTTPConnection("127.0.0.1",int(sys.argv[1]),timeout=1); c.request("GET","/"); sys.exit(c.getresponse().status!=200)' "$port" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

port="$(free_port)"
admin_port="$(free_port)"
say "docker run $image as the pod: --read-only --user ${pod[uid]}:${pod[gid]} --cap-drop ALL --security-opt no-new-privileges --memory ${pod[memory]} --cpus ${pod[cpus]}, 127.0.0.1:$port"
run_args=(
    --detach --read-only --user "${pod[uid]}:${pod[gid]}" --cap-drop ALL
    --security-opt no-new-privileges
    --memory "${pod[memory_bytes]}" --memory-swap "${pod[memory_bytes]}" --cpus "${pod[cpus]}"
    --network host --env-file "$pod_env"
    -e BIND_ADDRESS=127.0.0.1 -e PORT="$port" -e JWT_SECRET
    -e ADMIN_BIND_ADDRESS=127.0.0.1 -e ADMIN_PORT="$admin_port"
    # users mode on the test users file instead of the Deployment's DynamoDB table
    -v "$repo_root/tests/data/users.htpasswd:/etc/simple-jwt-api/users:ro"
    -e USERS_FILE=/etc/simple-jwt-api/users
)
cid="$("$docker" run "${run_args[@]}" "$image")"
container_ids+=("$cid")
# show_logs: the container's log, with the secret masked, when something fails.
show_logs() { "$docker" logs "$cid" 2>&1 | tail -30 | sed "s/$JWT_SECRET/<secret>/g" >&2; }
wait_healthy "$port" 20 || { show_logs; fail "the container did not answer GET / within 20 s"; }
python3 "$driver" "$port" "${pod[body_limit]}" || { show_logs; fail "API cases against the container"; }
# The pod's probes: liveness and readiness on the admin port.
for probe in /healthz /readyz; do
    [[ "$(http_status "$admin_port" "$probe")" == 200 ]] || { show_logs; fail "admin $probe is not 200"; }
done
say "admin port: /healthz 200, /readyz 200"
say "memory in use: $("$docker" stats --no-stream --format '{{.MemUsage}}' "$cid")"
# The login flood must not have OOM-killed or restarted the process.
[[ "$("$docker" inspect -f '{{.State.Running}} {{.State.OOMKilled}} {{.RestartCount}}' "$cid")" == "true false 0" ]] \
    || { show_logs; fail "the container did not survive the login flood (running, OOM-killed, restarts: $("$docker" inspect -f '{{.State.Running}} {{.State.OOMKilled}} {{.RestartCount}}' "$cid"))"; }
if "$docker" logs "$cid" 2>&1 | grep -qF "$JWT_SECRET"; then fail "the container logged the secret"; fi

# SIGTERM, as the kubelet sends it: readiness drops at once, the public port keeps serving for
# the shutdown delay, then the server drains and exits 0, within delay + drain bound (and so
# within terminationGracePeriodSeconds).
t0="$(date +%s%N)"
"$docker" kill --signal TERM "$cid" >/dev/null
ready=""
for _ in $(seq 50); do
    ready="$(http_status "$admin_port" /readyz)"
    [[ "$ready" == 503 ]] && break
    sleep 0.1
done
[[ "$ready" == 503 ]] || { show_logs; fail "/readyz still answers $ready after SIGTERM"; }
ready_ms=$((($(date +%s%N) - t0) / 1000000))
served="$(http_status "$port" /)"
[[ "$served" == 200 ]] || { show_logs; fail "GET / answered $served during the shutdown delay"; }
code="$("$docker" wait "$cid")"
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
bound_s=$((pod[delay_seconds] + pod[drain_seconds]))
say "SIGTERM -> /readyz 503 after $ready_ms ms, GET / still 200, exit code $code after $elapsed_ms ms (delay ${pod[delay_seconds]} s + drain bound ${pod[drain_seconds]} s, grace ${pod[grace_seconds]} s)"
[[ "$code" == 0 ]] || { show_logs; fail "exit code $code after SIGTERM"; }
((elapsed_ms < bound_s * 1000)) || fail "took ${elapsed_ms} ms to stop, over delay + drain bound"
state_json="$("$docker" inspect -f '{{.State.OOMKilled}} {{.HostConfig.ReadonlyRootfs}} {{.Config.User}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}}' "$cid")"
say "ran with: OOMKilled ReadonlyRootfs User CapDrop SecurityOpt = $state_json"
"$docker" rm "$cid" >/dev/null

# ---------------------------------------------------------------------------------------------
# Optional: arm64 image, Lambda artifact, SBOM
# ---------------------------------------------------------------------------------------------
if $arm64; then
    apt_install qemu-user-static
    build linux/arm64 "$image-arm64"
    check_image_files "$image-arm64" "$scratch/image-arm64.tar"
    python3 "$tool" extract "$scratch/image-arm64.tar" /server "$scratch/server-arm64"
    chmod +x "$scratch/server-arm64"
    machine="$(python3 "$tool" elf "$scratch/server-arm64")"
    [[ "$machine" == aarch64 ]] || fail "the arm64 image's /server is $machine"
    port="$(free_port)"
    say "running the arm64 /server under qemu-aarch64-static on 127.0.0.1:$port"
    # The pod's environment (BODY_LIMIT_BYTES, ...), as for the amd64 container.
    (
        set -a
        # shellcheck source=/dev/null
        source "$pod_env"
        exec env BIND_ADDRESS=127.0.0.1 PORT="$port" ADMIN_PORT=off LOG_LEVEL=warn \
            qemu-aarch64-static "$scratch/server-arm64"
    ) &
    qpid=$!
    if ! wait_healthy "$port" 60; then kill "$qpid" 2>/dev/null; fail "arm64 binary: no health answer in 60 s"; fi
    python3 "$driver" "$port" "${pod[body_limit]}" || { kill "$qpid"; fail "API cases against the arm64 binary"; }
    kill -TERM "$qpid"
    code=0; wait "$qpid" || code=$?
    [[ "$code" == 0 ]] || fail "arm64 binary exited $code after SIGTERM"
    say "arm64: /server is an aarch64 ELF, answered GET / and the API cases under qemu-user-static, exit 0 on SIGTERM"
fi

if $lambda; then
    lambda_bin="$(venv lambda "cargo-lambda==$CARGO_LAMBDA" "ziglang==$ZIGLANG")"
    rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1
    begin=$SECONDS
    say "cargo lambda build --release --arm64 --bin lambda --output-format zip"
    PATH="$lambda_bin:$PATH" cargo lambda build --release --arm64 --bin lambda \
        --output-format zip --locked >"$state/lambda-build.log" 2>&1 \
        || { tail -30 "$state/lambda-build.log" >&2; fail "cargo lambda build"; }
    zip="$target_dir/lambda/lambda/bootstrap.zip"
    [[ -f "$zip" ]] || fail "no $zip"
    python3 - "$zip" "$scratch/bootstrap" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = z.namelist()
assert names == ["bootstrap"], names
open(sys.argv[2], "wb").write(z.read("bootstrap"))
PY
    machine="$(python3 "$tool" elf "$scratch/bootstrap")"
    [[ "$machine" == aarch64 ]] || fail "bootstrap is $machine, not aarch64"
    arch="$("$pybin/python" - template.yaml <<'PY'
import sys, yaml
class Loader(yaml.SafeLoader):
    pass
# CloudFormation short forms (!Ref, !Sub, ...) as plain values.
Loader.add_multi_constructor("!", lambda loader, suffix, node: (
    loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else
    loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode) else
    loader.construct_mapping(node)))
t = yaml.load(open(sys.argv[1]), Loader=Loader)
print(t["Parameters"]["Architecture"]["Default"])
PY
)"
    [[ "$arch" == arm64 ]] || fail "template.yaml's Architecture default is '$arch', the artifact is arm64"
    say "lambda: $zip $(stat -c %s "$zip") bytes zipped (bootstrap $(stat -c %s "$scratch/bootstrap") bytes, aarch64) in $((SECONDS - begin)) s; template.yaml Architecture default: $arch"
fi

if $sbom; then
    tools="$target_dir/tools/cargo-cyclonedx-$CARGO_CYCLONEDX"
    if [[ ! -x "$tools/bin/cargo-cyclonedx" ]]; then
        say "cargo install cargo-cyclonedx $CARGO_CYCLONEDX"
        cargo install --quiet --locked --version "$CARGO_CYCLONEDX" --root "$tools" cargo-cyclonedx
    fi
    # The SBOM describes exactly the build context the image is built from (the files
    # .dockerignore lets in), for the image's target; written outside the checkout.
    context="$scratch/sbom-context"
    mkdir -p "$context"
    cp -r Cargo.toml Cargo.lock src benches "$context/"
    PATH="$tools/bin:$PATH" cargo cyclonedx --manifest-path "$context/Cargo.toml" \
        --format json --describe binaries --target x86_64-unknown-linux-musl --spec-version 1.5 \
        >"$state/sbom.log" 2>&1 || { tail -20 "$state/sbom.log" >&2; fail "cargo cyclonedx"; }
    out="$(find "$context" -name '*server*.cdx.json' | head -1)"
    [[ -n "$out" ]] || { find "$context" -maxdepth 2 >&2; fail "cargo cyclonedx wrote no server SBOM"; }
    cp "$out" "$state/server.cdx.json"
    say "SBOM: $state/server.cdx.json, $(python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); print(len(b.get("components", [])), "components, CycloneDX", b["specVersion"])' "$state/server.cdx.json")"
fi

say "all container checks passed"
