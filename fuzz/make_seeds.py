#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/ (standard library only; re-run after changing
the fuzz secret). Seeds are real requests and real tokens: valid ones (signed with the fuzz
secret, expiring in 2100) and every kind of forgery the case table knows. Files named
regression-* are inputs that made a target fail once (see tests/integration/fuzz_regressions.rs); they
are kept by hand, not written here."""
import base64, hashlib, hmac, json, pathlib

SECRET = b"fuzzing-secret-0123456789abcdef-0123456789"  # = simple_jwt_api_fuzz::SECRET
FAR = 4102444800  # 2100-01-01
ROOT = pathlib.Path(__file__).resolve().parent / "corpus"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(header: dict, claims: dict, key: bytes = SECRET, digest=hashlib.sha256) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(signature)}"


HS256 = {"alg": "HS256", "typ": "JWT"}
GOOD = {"email": "user@example.com", "exp": FAR, "nbf": 0}
valid = token(HS256, GOOD)
tokens = {
    "valid": valid,
    "valid_extra_claims": token(HS256, {**GOOD, "admin": True, "iat": 1}),
    "valid_kid": token({**HS256, "kid": "other", "jku": "https://x/jwks"}, GOOD),
    "expired": token(HS256, {**GOOD, "exp": 1000}),
    "not_yet_valid": token(HS256, {**GOOD, "nbf": FAR}),
    "no_exp": token(HS256, {"email": "a@b.c", "nbf": 0}),
    "string_exp": token(HS256, {**GOOD, "exp": str(FAR)}),
    "float_exp": token(HS256, {**GOOD, "exp": FAR + 0.5}),
    "empty_email": token(HS256, {**GOOD, "email": ""}),
    "wrong_key": token(HS256, GOOD, b"another-secret-of-enough-length-000"),
    "hs384": token({"alg": "HS384", "typ": "JWT"}, GOOD, digest=hashlib.sha384),
    "hs512": token({"alg": "HS512", "typ": "JWT"}, GOOD, digest=hashlib.sha512),
    "alg_none": b64(b'{"alg":"none","typ":"JWT"}') + "." + b64(json.dumps(GOOD).encode()) + ".",
    "crit": token({**HS256, "crit": ["b64"], "b64": True}, GOOD),
    "padded": valid + "==",
    "garbage": "not-a-jwt",
}

dispatch = {
    "get_root": b"GET /\n\n",
    "post_root": b"POST /\ncontent-type: application/json\n\n{\"a\":1}",
    "put_root": b"PUT /\n\n",
    "query": b"GET /?probe=1\n\n",
    "auth": b"POST /auth\ncontent-type: application/json\n\n"
    b'{"email":"user@example.com","password":"s3cr3t-pw"}',
    "auth_no_content_type": b'POST /auth\n\n{"email":"a@b.c","password":"p"}',
    "auth_charset": b"POST /auth\r\nContent-Type: application/json; charset=utf-8\r\n"
    b"x-request-id: req-1\r\n\r\n{\"email\":\"a@b.c\",\"password\":\"p\",\"admin\":true}",
    "auth_text_plain": b"POST /auth\ncontent-type: text/plain\n\n{}",
    "auth_bad_json": b"POST /auth\ncontent-type: application/json\n\n{\"email\": ",
    "auth_numeric_email": b"POST /auth\ncontent-type: application/json\n\n"
    b'{"email":1,"password":"p"}',
    "auth_unicode": b"POST /auth\ncontent-type: application/vnd.api+json\n\n"
    b'{"email":"\\u00e9\\ud83d\\ude00@x","password":"\\u0000"}',
    "get_auth": b"GET /auth\n\n",
    "contents_none": b"GET /contents\n\n",
    "contents_basic": b"GET /contents\nauthorization: Basic dXNlcjpwYXNz\n\n",
    "contents_two": f"GET /contents\nauthorization: Bearer {valid}\nauthorization: Bearer {valid}\n\n".encode(),
    "not_found": b"GET /nope\n\n",
    "trailing_slash": b"POST /auth/\n\n{}",
    "absolute_uri": b"GET http://example.com/contents?x=1\n\n",
}
for name, value in tokens.items():
    dispatch[f"contents_{name}"] = f"GET /contents\nAuthorization: Bearer {value}\n\n".encode()

verify = {f"raw_{name}": b"\x00" + value.encode() for name, value in tokens.items()}
for name, (header, claims) in {
    "good": (HS256, GOOD),
    "no_typ": ({"alg": "HS256"}, GOOD),
    "crit": ({**HS256, "crit": ["exp"]}, GOOD),
    "alg_none": ({"alg": "none"}, GOOD),
    "negative_nbf": (HS256, {**GOOD, "nbf": -1}),
    "big_exp": (HS256, {**GOOD, "exp": 2**64}),
    "dup_email": (HS256, None),
}.items():
    header_json = json.dumps(header).encode()
    payload = (
        b'{"email":"a@b.c","email":"","exp":4102444800,"nbf":0}'
        if claims is None
        else json.dumps(claims).encode()
    )
    verify[f"signed_{name}"] = b"\x01" + header_json + b"\xff" + payload
    verify[f"forged_{name}"] = b"\x02" + header_json + b"\xff" + payload + b"\xff" + b"c2ln"

for target, seeds in (("dispatch", dispatch), ("verify", verify)):
    directory = ROOT / target
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in seeds.items():
        (directory / name).write_bytes(data)
    print(f"{target}: {len(seeds)} seeds in {directory}")
