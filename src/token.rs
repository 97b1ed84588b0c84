//! Minting and verifying the service's tokens: HS256 JWTs with the claims `email`, `exp` and
//! `nbf` (integer seconds).
//!
//! This module is the JWT mechanics only: [`KeyPair`] (keys derived from one secret, built once
//! per secret) and [`TokenRules`] (lifetime and the `Validation`, built once). Which key signs
//! and which keys may verify is decided by [`crate::keys`].

use crate::secret::Secret;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest token accepted for verification, in bytes. Ours are ~200; the cap keeps the
/// decoder's work bounded for hostile input.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The claims this service issues and returns from `/contents`, in that key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The email the token was issued for.
    pub email: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Not-before, seconds since the Unix epoch.
    pub nbf: u64,
}

/// A token failed verification, and why. The reason is for metrics only: every rejection
/// gets the same 401 (`ApiError::InvalidToken`), so a client learns nothing from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected(pub Rejection);

/// Why a token was rejected (the `outcome` label of the verification counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Not a token this service could have issued: shape, encoding, header, algorithm,
    /// `crit`, or claims missing or of the wrong type.
    Malformed,
    /// No key in force matched the signature.
    BadSignature,
    /// `exp` has passed, beyond the leeway.
    Expired,
    /// `nbf` is still ahead, beyond the leeway.
    NotYetValid,
}

/// Why one key did not accept a token: the signature did not match this key (another key
/// may still verify it), or the token is bad whatever the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMismatch {
    /// The HMAC did not match this key.
    Signature,
    /// Any other failure: shape, algorithm, `crit`, claims, times.
    Rejected(Rejection),
}

/// Signing could not produce a token (not expected with HMAC keys; reported as a 500).
#[derive(Debug, thiserror::Error)]
#[error("signing the token failed: {0}")]
pub struct SigningFailed(#[source] jsonwebtoken::errors::Error);

/// The signing and verifying keys derived from one secret, plus the header issued tokens
/// carry (with `kid` set when the secret has a version). Built once per secret.
pub struct KeyPair {
    header: Header,
    encoding_key: EncodingKey,
    decoding_key: DecodingKey,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair").field("kid", &self.header.kid).finish_non_exhaustive()
    }
}

impl KeyPair {
    /// Derives the keys from `secret`; issued tokens carry `kid` when it is given.
    pub fn new(secret: &Secret, kid: Option<String>) -> Self {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid;
        KeyPair {
            header,
            // from_secret only fails for an empty key, which the secret policy already refuses.
            encoding_key: EncodingKey::from_secret(secret.expose())
                .expect("the secret policy refuses empty secrets"),
            decoding_key: DecodingKey::from_secret(secret.expose())
                .expect("the secret policy refuses empty secrets"),
        }
    }

    /// The `kid` this pair puts in the tokens it signs.
    pub fn kid(&self) -> Option<&str> {
        self.header.kid.as_deref()
    }
}

/// The token rules: lifetime of issued tokens and the verification policy. Built once.
pub struct TokenRules {
    validation: Validation,
    ttl_seconds: u64,
}

impl std::fmt::Debug for TokenRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRules")
            .field("ttl_seconds", &self.ttl_seconds)
            .field("leeway", &self.validation.leeway)
            .finish()
    }
}

impl TokenRules {
    /// Algorithm pinned to HS256, `exp` and `nbf` both required and checked with
    /// `leeway_seconds` of clock skew; issued tokens live `ttl`.
    pub fn new(ttl: Duration, leeway_seconds: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp", "nbf"]);
        validation.validate_exp = true;
        // jsonwebtoken's default is NOT to check nbf; the API promises it.
        validation.validate_nbf = true;
        validation.leeway = leeway_seconds;
        TokenRules { validation, ttl_seconds: ttl.as_secs() }
    }

    /// Mints a token for `email` with `keys`, valid from now for the configured lifetime.
    pub fn issue(&self, keys: &KeyPair, email: &str) -> Result<String, SigningFailed> {
        let now = unix_now();
        let claims = ClaimsRef { email, exp: now.saturating_add(self.ttl_seconds), nbf: now };
        jsonwebtoken::encode(&keys.header, &claims, &keys.encoding_key).map_err(SigningFailed)
    }

    /// Verifies `token` with `keys` and returns its claims. Accepted only if ALL of these
    /// hold: at most [`MAX_TOKEN_BYTES`]; three base64url segments with no padding, whitespace
    /// or other characters (canonical encoding is enforced by the decoder); header `alg`
    /// exactly HS256 and no `crit`; a valid HMAC-SHA256 signature (constant-time comparison
    /// in the `hmac` crate); integer `exp` and `nbf` present and within the leeway; a
    /// non-empty string `email`. Header key hints (`kid`, `jwk`, `jku`, `x5u`) never supply
    /// a key.
    pub fn verify(&self, keys: &KeyPair, token: &str) -> Result<Claims, KeyMismatch> {
        if !is_well_formed(token) || !has_strict_segments(token) {
            return Err(KeyMismatch::Rejected(Rejection::Malformed));
        }
        let data = jsonwebtoken::decode::<Claims>(token, &keys.decoding_key, &self.validation)
            .map_err(|err| {
                use jsonwebtoken::errors::ErrorKind;
                match err.kind() {
                    ErrorKind::InvalidSignature => KeyMismatch::Signature,
                    ErrorKind::ExpiredSignature => KeyMismatch::Rejected(Rejection::Expired),
                    ErrorKind::ImmatureSignature => KeyMismatch::Rejected(Rejection::NotYetValid),
                    _ => KeyMismatch::Rejected(Rejection::Malformed),
                }
            })?;
        if data.claims.email.trim().is_empty() {
            return Err(KeyMismatch::Rejected(Rejection::Malformed));
        }
        Ok(data.claims)
    }
}

/// The `kid` a token's header claims, if the token is well-formed and has one. Only a hint
/// for choosing among this service's own keys; never trusted on its own.
pub fn claimed_kid(token: &str) -> Option<String> {
    if !is_well_formed(token) {
        return None;
    }
    jsonwebtoken::decode_header(token).ok()?.kid
}

#[derive(Serialize)]
struct ClaimsRef<'a> {
    email: &'a str,
    exp: u64,
    nbf: u64,
}

/// What jsonwebtoken lets through and this service does not (both found by fuzzing):
/// - any `crit` header member, even `null` or `["b64"]` (jsonwebtoken reads `null` as absent
///   and accepts `b64`): RFC 7515 §4.1.11 allows only names the recipient understands, and
///   this service understands none;
/// - a payload that is not UTF-8 (serde skips ignored claims without validating them); a
///   claims set must be UTF-8 JSON (RFC 7519 §7.2).
fn has_strict_segments(token: &str) -> bool {
    use base64::Engine;
    let decode = |segment: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment);
    let mut segments = token.split('.');
    let (Some(header), Some(payload)) = (segments.next(), segments.next()) else {
        return false;
    };
    let header_ok = decode(header).ok().and_then(|bytes| {
        serde_json::from_slice::<HeaderMembers>(&bytes).ok().map(|members| !members.crit)
    });
    let payload_ok = decode(payload).is_ok_and(|bytes| std::str::from_utf8(&bytes).is_ok());
    header_ok == Some(true) && payload_ok
}

/// The header members checked before jsonwebtoken parses the header.
#[derive(Deserialize)]
struct HeaderMembers {
    /// Whether a `crit` member is present, whatever its value.
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// At most [`MAX_TOKEN_BYTES`], and exactly three non-empty segments of the base64url
/// alphabet separated by single dots.
fn is_well_formed(token: &str) -> bool {
    token.len() <= MAX_TOKEN_BYTES && is_compact_jws_shape(token)
}

fn is_compact_jws_shape(token: &str) -> bool {
    let mut segments = 0;
    for segment in token.split('.') {
        segments += 1;
        if segment.is_empty()
            || !segment.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return false;
        }
    }
    segments == 3
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";

    struct Service {
        rules: TokenRules,
        keys: KeyPair,
    }

    impl Service {
        fn issue(&self, email: &str) -> Result<String, SigningFailed> {
            self.rules.issue(&self.keys, email)
        }
        fn verify(&self, token: &str) -> Result<Claims, KeyMismatch> {
            self.rules.verify(&self.keys, token)
        }
    }

    fn service() -> Service {
        let (secret, _) = Secret::new(SECRET.to_owned(), false).unwrap();
        Service {
            rules: TokenRules::new(Duration::from_secs(3600), 5),
            keys: KeyPair::new(&secret, None),
        }
    }

    fn sign(header: &Header, claims: &serde_json::Value, key: &[u8]) -> String {
        encode(header, claims, &EncodingKey::from_secret(key).unwrap()).unwrap()
    }

    /// A token over raw header and payload bytes (not necessarily UTF-8), correctly signed.
    fn sign_raw(header: &[u8], payload: &[u8]) -> String {
        use base64::Engine;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let input = format!("{}.{}", b64(header), b64(payload));
        let key = EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::HS256).unwrap();
        format!("{input}.{signature}")
    }

    fn hs256(claims: serde_json::Value) -> String {
        sign(&Header::new(Algorithm::HS256), &claims, SECRET.as_bytes())
    }

    /// An issued token has the HS256/JWT header, exactly email/exp/nbf, exp = nbf + TTL, and
    /// verifies (this also proves a crypto backend is compiled in).
    #[test]
    fn issue_then_verify() {
        let service = service();
        let token = service.issue("a@b.c").unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        let claims = service.verify(&token).unwrap();
        assert_eq!(claims.email, "a@b.c");
        assert_eq!(claims.exp - claims.nbf, 3600);
        assert!(claims.nbf.abs_diff(unix_now()) <= 1);
        let payload: serde_json::Value =
            jsonwebtoken::dangerous::insecure_decode_claims(&token).unwrap();
        assert_eq!(payload.as_object().unwrap().len(), 3);
    }

    /// Every verification rule rejects the token it is about.
    #[test]
    fn rejection_rules() {
        let service = service();
        let now = unix_now();
        let good = json!({"email": "a@b.c", "exp": now + 600, "nbf": now});
        let valid = hs256(good.clone());
        assert!(service.verify(&valid).is_ok());

        let mut crit = Header::new(Algorithm::HS256);
        crit.crit = Some(vec!["b64".into()]);
        crit.extras.insert("b64", true);
        let (sig_start, _) = valid.rsplit_once('.').unwrap();
        let non_canonical = {
            // Flip the unused low bits of the signature's last base64url character.
            let mut bytes = valid.clone().into_bytes();
            let last = bytes.last_mut().unwrap();
            *last = if *last == b'A' { b'B' } else { b'A' };
            String::from_utf8(bytes).unwrap()
        };
        let mut non_utf8_payload =
            format!(r#"{{"email":"a@b.c","x":"?","exp":{},"nbf":{now}}}"#, now + 600).into_bytes();
        *non_utf8_payload.iter_mut().find(|b| **b == b'?').unwrap() = 0xFD;
        let cases: Vec<(&str, String)> = vec![
            ("empty", String::new()),
            ("garbage", "not-a-token".into()),
            (
                "wrong secret",
                sign(&Header::new(Algorithm::HS256), &good, b"another-secret-of-enough-length-000"),
            ),
            ("HS384", sign(&Header::new(Algorithm::HS384), &good, SECRET.as_bytes())),
            ("HS512", sign(&Header::new(Algorithm::HS512), &good, SECRET.as_bytes())),
            (
                "alg none",
                format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(&good.to_string())),
            ),
            (
                "alg none with sig",
                format!("{}.{}.c2ln", b64(r#"{"alg":"none"}"#), b64(&good.to_string())),
            ),
            ("crit header", sign(&crit, &good, SECRET.as_bytes())),
            ("expired", hs256(json!({"email": "a@b.c", "exp": now - 60, "nbf": now - 120}))),
            ("not yet valid", hs256(json!({"email": "a@b.c", "exp": now + 600, "nbf": now + 60}))),
            ("no exp", hs256(json!({"email": "a@b.c", "nbf": now}))),
            ("no nbf", hs256(json!({"email": "a@b.c", "exp": now + 600}))),
            (
                "string exp",
                hs256(json!({"email": "a@b.c", "exp": (now + 600).to_string(), "nbf": now})),
            ),
            (
                "string nbf",
                hs256(json!({"email": "a@b.c", "exp": now + 600, "nbf": now.to_string()})),
            ),
            (
                "float exp",
                hs256(json!({"email": "a@b.c", "exp": (now + 600) as f64 + 0.5, "nbf": now})),
            ),
            ("negative nbf", hs256(json!({"email": "a@b.c", "exp": now + 600, "nbf": -1}))),
            ("no email", hs256(json!({"exp": now + 600, "nbf": now}))),
            ("empty email", hs256(json!({"email": "", "exp": now + 600, "nbf": now}))),
            ("numeric email", hs256(json!({"email": 7, "exp": now + 600, "nbf": now}))),
            ("padded", format!("{valid}=")),
            ("two tokens", format!("{valid} {valid}")),
            ("four segments", format!("{valid}.{sig_start}")),
            (
                "too long",
                hs256(json!({"email": "a".repeat(MAX_TOKEN_BYTES), "exp": now + 600, "nbf": now})),
            ),
            ("non-canonical base64", non_canonical),
            ("truncated signature", valid[..valid.len() - 2].to_owned()),
            ("null crit", sign_raw(br#"{"alg":"HS256","crit":null}"#, good.to_string().as_bytes())),
            ("non-UTF-8 payload", sign_raw(br#"{"alg":"HS256"}"#, &non_utf8_payload)),
        ];
        for (name, token) in cases {
            let result = service.verify(&token);
            assert!(result.is_err(), "{name} must be rejected");
            // Only a signature mismatch lets the caller try another key.
            if name == "wrong secret" {
                assert_eq!(result, Err(KeyMismatch::Signature));
            } else if !name.contains("signature") && !name.contains("canonical") {
                let expected = match name {
                    "expired" => Rejection::Expired,
                    "not yet valid" => Rejection::NotYetValid,
                    _ => Rejection::Malformed,
                };
                assert_eq!(result, Err(KeyMismatch::Rejected(expected)), "{name}");
            }
        }
    }

    /// Within the leeway an expired or not-yet-valid token is still accepted; extra claims and
    /// header key hints are ignored.
    #[test]
    fn leeway_and_ignored_fields() {
        let service = service();
        let now = unix_now();
        let slightly_expired = hs256(json!({"email": "a@b.c", "exp": now - 2, "nbf": now - 100}));
        assert!(service.verify(&slightly_expired).is_ok());
        let slightly_early = hs256(json!({"email": "a@b.c", "exp": now + 100, "nbf": now + 2}));
        assert!(service.verify(&slightly_early).is_ok());

        let mut hinted = Header::new(Algorithm::HS256);
        hinted.kid = Some("some-other-key".into());
        hinted.jku = Some("https://attacker.example/jwks.json".into());
        hinted.x5u = Some("https://attacker.example/cert.pem".into());
        let extra =
            json!({"email": "a@b.c", "exp": now + 600, "nbf": now, "admin": true, "iat": now});
        let claims = service.verify(&sign(&hinted, &extra, SECRET.as_bytes())).unwrap();
        assert_eq!(claims, Claims { email: "a@b.c".into(), exp: now + 600, nbf: now });
    }

    fn b64(text: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }
}
