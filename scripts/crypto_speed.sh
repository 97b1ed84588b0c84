#!/usr/bin/env bash
# Token signing and verification per algorithm against OpenSSL, in one run on one machine:
# criterion's `token` group (benches/api.rs: `issue ALG` and `verify ALG`, the service's own
# calls, JSON and base64 included) and `openssl speed` for the same primitives (P-256 ECDSA,
# Ed25519, RSA 2048). Prints, per algorithm and operation, our time, our time minus HS256's (the
# signature's share: what the curve or RSA adds to a token), OpenSSL's time for the primitive,
# and the ratio of the two. The goal (issue 23): that ratio at most 1.3.
#
# Usage: scripts/crypto_speed.sh
# Needs: cargo (the bench builds with the release profile: several minutes the first time) and
# openssl. Run it on an idle machine, or read only the ratios: both halves run back to back.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

seconds=${OPENSSL_SECONDS:-3}
echo "== cargo bench --bench api -- token/" >&2
cargo bench --bench api -- --noplot 'token/' >&2
echo "== openssl speed -seconds $seconds ecdsap256 ed25519 rsa2048 ($(openssl version))" >&2
speed="$(openssl speed -seconds "$seconds" ecdsap256 ed25519 rsa2048 2>/dev/null)"
printf '%s\n' "$speed" | grep -E 'bits (ecdsa|EdDSA)|^rsa' >&2

CRITERION_DIR="$target_dir/criterion/token" OPENSSL_SPEED="$speed" python3 - <<'PY'
import json, os, re
base = os.environ["CRITERION_DIR"]
def ours(name):
    with open(os.path.join(base, name, "new", "estimates.json")) as f:
        return json.load(f)["mean"]["point_estimate"] / 1000.0  # ns -> us
speed = os.environ["OPENSSL_SPEED"]
def per_op(pattern):
    # The sign/s and verify/s columns of the line that names the primitive.
    line = next(l for l in speed.splitlines() if re.search(pattern, l))
    sign_s, verify_s = (float(x) for x in line.split()[-2:])
    return 1e6 / sign_s, 1e6 / verify_s
openssl = {
    "ES256": per_op(r"ecdsa \(nistp256\)"),
    "EdDSA": per_op(r"EdDSA \(Ed25519\)"),
    "RS256": per_op(r"^rsa 2048 bits"),
}
hs = {"issue": ours("issue HS256"), "verify": ours("verify HS256")}
print(f"HS256 issue {hs['issue']:.2f} us, verify {hs['verify']:.2f} us (the base: JSON, base64, HMAC)")
print("| algorithm | operation | ours (us) | ours - HS256 (us) | openssl (us) | ratio |")
print("|---|---|---|---|---|---|")
for alg, (sign, verify) in openssl.items():
    for op, theirs in (("issue", sign), ("verify", verify)):
        total = ours(f"{op} {alg}")
        extra = total - hs[op]
        print(f"| {alg} | {'sign' if op == 'issue' else 'verify'} | {total:.1f} | {extra:.1f} | {theirs:.1f} | {extra / theirs:.2f}x |")
PY
