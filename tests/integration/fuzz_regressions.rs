//! Regression tests for what fuzzing (`scripts/fuzz.sh`) found, one per finding, replaying
//! the crashing input against the real `server` binary.

use jsonwebtoken::{Algorithm, EncodingKey};
use support::TEST_SECRET;
use support::client::contents;
use support::server::{ServerProcess, env_with_secret};

/// A compact token over raw `header` and `payload` bytes (which need not be UTF-8), with a
/// valid HS256 signature under the test secret.
fn signed_raw(header: &[u8], payload: &[u8]) -> String {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let signing_input = format!("{}.{}", b64(header), b64(payload));
    let key = EncodingKey::from_secret(TEST_SECRET.as_bytes()).unwrap();
    let signature =
        jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, Algorithm::HS256).unwrap();
    format!("{signing_input}.{signature}")
}

async fn contents_status(server: &ServerProcess, token: &str) -> u16 {
    contents(server.address, token).await.status().as_u16()
}

/// Fuzz finding 1 (`verify` target, `crash-69d2a9c0…`): a correctly signed token whose
/// payload is not valid UTF-8 — here the byte 0xFD inside an extra claim the service ignores
/// — was accepted, because serde_json skips ignored values without validating them. A
/// claims set must be UTF-8 JSON (RFC 7519 §7.2, RFC 8259 §8.1), so it must be rejected like
/// any malformed token. Only a holder of the secret can produce such a token, so this is a
/// strictness bug, not a forgery. The same token with valid UTF-8 is accepted (control).
#[tokio::test]
async fn token_with_non_utf8_claims_is_rejected() {
    let server = ServerProcess::start(&env_with_secret(TEST_SECRET));
    let header = br#"{"alg": "HS256", "typ": "JWT"}"#;
    let control = signed_raw(header, br#"{"email":"a@b.c","emaUl":"x","exp":4102444800,"nbf":0}"#);
    assert_eq!(contents_status(&server, &control).await, 200);
    let crash = signed_raw(
        header,
        b"{\"email\":\"a@b.c\",\"emaUl\":\"\xfd\",\"exp\":4102444800,\"nbf\":0}",
    );
    assert_eq!(contents_status(&server, &crash).await, 401);
}

/// Companion to finding 1: the same byte in the header (where jsonwebtoken keeps unknown
/// fields as JSON values, validating them) is already rejected; this keeps it so.
#[tokio::test]
async fn token_with_non_utf8_header_is_rejected() {
    let server = ServerProcess::start(&env_with_secret(TEST_SECRET));
    let claims = br#"{"email":"a@b.c","exp":4102444800,"nbf":0}"#;
    let control = signed_raw(br#"{"alg":"HS256","x":"y"}"#, claims);
    assert_eq!(contents_status(&server, &control).await, 200);
    let token = signed_raw(b"{\"alg\":\"HS256\",\"x\":\"\xfd\"}", claims);
    assert_eq!(contents_status(&server, &token).await, 401);
}

/// Finding 2 (met while triaging finding 1, then the fuzzer's oracle checks it): a header
/// with `"crit": null` is accepted, because jsonwebtoken reads a null `crit` as absent.
/// RFC 7515 §4.1.11 allows `crit` only as a non-empty array of names the recipient
/// understands, and this service understands none, so any `crit` member must be rejected.
/// Again only a holder of the secret can produce it.
#[tokio::test]
async fn token_with_null_crit_is_rejected() {
    let server = ServerProcess::start(&env_with_secret(TEST_SECRET));
    let claims = br#"{"email":"a@b.c","exp":4102444800,"nbf":0}"#;
    let token = signed_raw(br#"{"alg":"HS256","crit":null}"#, claims);
    assert_eq!(contents_status(&server, &token).await, 401);
}
