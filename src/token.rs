//! Minting and verifying the service's tokens: HS256 JWTs with the claims `email`, `exp` and
//! `nbf` (integer seconds).
//!
//! Keys and the `Validation` are built once, in [`TokenService::new`], and reused for every
//! request. Verification is strict (see [`TokenService::verify`]) and every rejection is the
//! same opaque [`Rejected`], so callers cannot leak which check failed.

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

/// A token failed verification. Deliberately carries no detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected;

/// Signing could not produce a token (not expected with HMAC keys; reported as a 500).
#[derive(Debug)]
pub struct SigningFailed(jsonwebtoken::errors::Error);

impl std::fmt::Display for SigningFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "signing the token failed: {}", self.0)
    }
}

impl std::error::Error for SigningFailed {}

/// Mints and verifies tokens with one HMAC secret. Build once at start-up.
pub struct TokenService {
    header: Header,
    encoding_key: EncodingKey,
    decoding_key: DecodingKey,
    validation: Validation,
    ttl_seconds: u64,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("ttl_seconds", &self.ttl_seconds)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// Builds the keys and the validation rules: algorithm pinned to HS256, `exp` and `nbf`
    /// both required and checked with `leeway_seconds` of clock skew.
    pub fn new(secret: &Secret, ttl: Duration, leeway_seconds: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp", "nbf"]);
        validation.validate_exp = true;
        // jsonwebtoken's default is NOT to check nbf; the API promises it.
        validation.validate_nbf = true;
        validation.leeway = leeway_seconds;
        TokenService {
            header: Header::new(Algorithm::HS256),
            // from_secret only fails for an empty key, which the secret policy already refuses.
            encoding_key: EncodingKey::from_secret(secret.expose())
                .expect("the secret policy refuses empty secrets"),
            decoding_key: DecodingKey::from_secret(secret.expose())
                .expect("the secret policy refuses empty secrets"),
            validation,
            ttl_seconds: ttl.as_secs(),
        }
    }

    /// Mints a token for `email`, valid from now for the configured lifetime.
    pub fn issue(&self, email: &str) -> Result<String, SigningFailed> {
        let now = unix_now();
        let claims = ClaimsRef {
            email,
            exp: now.saturating_add(self.ttl_seconds),
            nbf: now,
        };
        jsonwebtoken::encode(&self.header, &claims, &self.encoding_key).map_err(SigningFailed)
    }

    /// Verifies `token` and returns its claims. Rejected unless ALL of these hold: at most
    /// [`MAX_TOKEN_BYTES`]; three base64url segments with no padding, whitespace or other
    /// characters (canonical encoding is enforced by the decoder); header `alg` exactly HS256
    /// and no `crit`; a valid HMAC-SHA256 signature (constant-time comparison in the `hmac`
    /// crate); integer `exp` and `nbf` present and within the leeway; a non-empty string
    /// `email`. Header key hints (`kid`, `jwk`, `jku`, `x5u`) are never used to pick a key.
    pub fn verify(&self, token: &str) -> Result<Claims, Rejected> {
        if token.len() > MAX_TOKEN_BYTES || !is_compact_jws_shape(token) {
            return Err(Rejected);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding_key, &self.validation)
            .map_err(|_| Rejected)?;
        // jsonwebtoken accepts `crit: ["b64"]`; this service understands no critical header.
        if data.header.crit.is_some() || data.claims.email.trim().is_empty() {
            return Err(Rejected);
        }
        Ok(data.claims)
    }
}

#[derive(Serialize)]
struct ClaimsRef<'a> {
    email: &'a str,
    exp: u64,
    nbf: u64,
}

/// Exactly three non-empty segments of the base64url alphabet, separated by single dots.
fn is_compact_jws_shape(token: &str) -> bool {
    let mut segments = 0;
    for segment in token.split('.') {
        segments += 1;
        if segment.is_empty()
            || !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return false;
        }
    }
    segments == 3
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";

    fn service() -> TokenService {
        let (secret, _) = Secret::new(SECRET.to_owned(), false).unwrap();
        TokenService::new(&secret, Duration::from_secs(3600), 5)
    }

    fn sign(header: &Header, claims: &serde_json::Value, key: &[u8]) -> String {
        encode(header, claims, &EncodingKey::from_secret(key).unwrap()).unwrap()
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
        let cases: Vec<(&str, String)> = vec![
            ("empty", String::new()),
            ("garbage", "not-a-token".into()),
            (
                "wrong secret",
                sign(
                    &Header::new(Algorithm::HS256),
                    &good,
                    b"another-secret-of-enough-length-000",
                ),
            ),
            (
                "HS384",
                sign(&Header::new(Algorithm::HS384), &good, SECRET.as_bytes()),
            ),
            (
                "HS512",
                sign(&Header::new(Algorithm::HS512), &good, SECRET.as_bytes()),
            ),
            (
                "alg none",
                format!(
                    "{}.{}.",
                    b64(r#"{"alg":"none","typ":"JWT"}"#),
                    b64(&good.to_string())
                ),
            ),
            (
                "alg none with sig",
                format!(
                    "{}.{}.c2ln",
                    b64(r#"{"alg":"none"}"#),
                    b64(&good.to_string())
                ),
            ),
            ("crit header", sign(&crit, &good, SECRET.as_bytes())),
            (
                "expired",
                hs256(json!({"email": "a@b.c", "exp": now - 60, "nbf": now - 120})),
            ),
            (
                "not yet valid",
                hs256(json!({"email": "a@b.c", "exp": now + 600, "nbf": now + 60})),
            ),
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
            (
                "negative nbf",
                hs256(json!({"email": "a@b.c", "exp": now + 600, "nbf": -1})),
            ),
            ("no email", hs256(json!({"exp": now + 600, "nbf": now}))),
            (
                "empty email",
                hs256(json!({"email": "", "exp": now + 600, "nbf": now})),
            ),
            (
                "numeric email",
                hs256(json!({"email": 7, "exp": now + 600, "nbf": now})),
            ),
            ("padded", format!("{valid}=")),
            ("two tokens", format!("{valid} {valid}")),
            ("four segments", format!("{valid}.{sig_start}")),
            (
                "too long",
                hs256(json!({"email": "a".repeat(MAX_TOKEN_BYTES), "exp": now + 600, "nbf": now})),
            ),
            ("non-canonical base64", non_canonical),
            ("truncated signature", valid[..valid.len() - 2].to_owned()),
        ];
        for (name, token) in cases {
            assert_eq!(
                service.verify(&token),
                Err(Rejected),
                "{name} must be rejected"
            );
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
        let claims = service
            .verify(&sign(&hinted, &extra, SECRET.as_bytes()))
            .unwrap();
        assert_eq!(
            claims,
            Claims {
                email: "a@b.c".into(),
                exp: now + 600,
                nbf: now
            }
        );
    }

    fn b64(text: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }
}
