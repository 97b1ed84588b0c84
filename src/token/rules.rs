//! The token rules: the claims of issued tokens, and everything a token must satisfy to
//! verify — shape, encoding, algorithm, signature, times, claims.

use super::{KeyPair, SigningAlgorithm, unix_now};
use jsonwebtoken::Validation;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

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
    /// The signature did not match this key.
    Signature,
    /// Any other failure: shape, algorithm, `crit`, claims, times.
    Rejected(Rejection),
}

/// Signing could not produce a token (not expected with keys that passed their self-test;
/// reported as a 500).
#[derive(Debug, thiserror::Error)]
#[error("signing the token failed: {0}")]
pub struct SigningFailed(#[source] aws_lc_rs::error::Unspecified);

/// The token rules: algorithm, lifetime and claims of issued tokens, and the verification
/// policy. Built once.
pub struct TokenRules {
    validation: Validation,
    algorithm: SigningAlgorithm,
    ttl_seconds: u64,
    issuer: Option<String>,
    audience: Option<String>,
}

impl fmt::Debug for TokenRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRules")
            .field("algorithm", &self.algorithm)
            .field("ttl_seconds", &self.ttl_seconds)
            .field("leeway", &self.validation.leeway)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl TokenRules {
    /// HS256 rules without `iss` or `aud` (see [`TokenRules::with_claims`]).
    pub fn new(ttl: Duration, leeway_seconds: u64) -> Self {
        Self::with_claims(SigningAlgorithm::Hs256, ttl, leeway_seconds, None, None)
    }

    /// Algorithm pinned to `algorithm`; `exp` and `nbf` both required and checked with
    /// `leeway_seconds` of clock skew; issued tokens live `ttl`. With `issuer`, tokens carry
    /// `iss` and verification requires it to equal `issuer`; the same for `audience` and
    /// `aud`. Without them, tokens carry exactly `email`, `exp` and `nbf`.
    pub fn with_claims(
        algorithm: SigningAlgorithm,
        ttl: Duration,
        leeway_seconds: u64,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> Self {
        let mut validation = Validation::new(algorithm.jwt());
        validation.algorithms = vec![algorithm.jwt()];
        let mut required = vec!["exp", "nbf"];
        if let Some(issuer) = &issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        if let Some(audience) = &audience {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        validation.validate_exp = true;
        // jsonwebtoken's default is NOT to check nbf; the API promises it.
        validation.validate_nbf = true;
        validation.leeway = leeway_seconds;
        TokenRules { validation, algorithm, ttl_seconds: ttl.as_secs(), issuer, audience }
    }

    /// The algorithm tokens are signed and verified with.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The configured issuer (`iss`), if any.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// Mints a token for `email` with `keys`, valid from now for the configured lifetime.
    pub fn issue(&self, keys: &KeyPair, email: &str) -> Result<String, SigningFailed> {
        let now = unix_now();
        let claims = ClaimsRef {
            email,
            exp: now.saturating_add(self.ttl_seconds),
            nbf: now,
            iss: self.issuer.as_deref(),
            aud: self.audience.as_deref(),
        };
        // The compact JWS, as jsonwebtoken::encode builds it, over the header encoded once
        // per key and signed with the key prepared once (see `signer.rs`).
        use base64::Engine;
        let json = serde_json::to_vec(&claims).expect("the claims always serialize");
        let mut token = String::with_capacity(keys.encoded_header.len() + json.len() * 2 + 350);
        token.push_str(&keys.encoded_header);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(&json, &mut token);
        let signature = keys.sign_b64(token.as_bytes()).map_err(SigningFailed)?;
        token.push('.');
        token.push_str(&signature);
        Ok(token)
    }

    /// Verifies `token` with `keys` and returns its claims. Accepted only if ALL of these
    /// hold: at most [`MAX_TOKEN_BYTES`]; three base64url segments with no padding, whitespace
    /// or other characters (canonical encoding is enforced by the decoder); header `alg`
    /// exactly the configured algorithm and no `crit`; a valid signature (HMAC compared in
    /// constant time by the `hmac` crate; ECDSA or Ed25519 checked against `keys`' public key);
    /// integer `exp` and `nbf` present and within the leeway; `iss` and `aud` equal to the
    /// configured ones when configured; a non-empty string `email`. Header key hints (`kid`,
    /// `jwk`, `jku`, `x5u`) never supply a key.
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
    header_kid(token).ok().flatten()
}

/// The `kid` a token's header claims, or `Err` when the token is not even well-formed (its
/// shape, its length, a header that does not parse): then no key need be tried.
pub fn header_kid(token: &str) -> Result<Option<String>, Rejected> {
    const MALFORMED: Rejected = Rejected(Rejection::Malformed);
    if !is_well_formed(token) {
        return Err(MALFORMED);
    }
    jsonwebtoken::decode_header(token).map(|header| header.kid).map_err(|_| MALFORMED)
}

/// The claims as issued. `iss` and `aud` follow the three original claims and are left out
/// when not configured, so HS256 tokens without them are byte for byte what they always were.
#[derive(Serialize)]
struct ClaimsRef<'a> {
    email: &'a str,
    exp: u64,
    nbf: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_material::{PrivateKey, Secret};
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
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
            keys: KeyPair::hmac(&secret, None),
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

    /// The prepared signer writes exactly the token jsonwebtoken's `encode` writes for the
    /// same header and claims, for the deterministic algorithms (HS256, EdDSA, RS256 PKCS#1
    /// v1.5); ES256 signatures are randomised, and verify instead.
    #[test]
    fn issued_tokens_are_what_jsonwebtoken_encodes() {
        let (secret, _) = Secret::new(SECRET.to_owned(), false).unwrap();
        let hmac = KeyPair::hmac(&secret, Some("7".into()));
        let mut pairs = vec![(hmac, EncodingKey::from_secret(SECRET.as_bytes()).unwrap())];
        for (algorithm, pem) in [
            (SigningAlgorithm::EdDsa, ED25519_1),
            (SigningAlgorithm::Rs256, RSA_2048_1),
            (SigningAlgorithm::Es256, ES256_1),
        ] {
            pairs.push((pair(algorithm, pem), encoding_key(algorithm, pem)));
        }
        for (keys, encoding_key) in pairs {
            let rules = rules(algorithm_of(&keys), true);
            let token = rules.issue(&keys, "a@b.c").unwrap();
            let issued: Claims = jsonwebtoken::dangerous::insecure_decode_claims(&token).unwrap();
            let claims = ClaimsRef {
                email: "a@b.c",
                exp: issued.exp,
                nbf: issued.nbf,
                iss: Some(ISSUER),
                aud: Some(AUDIENCE),
            };
            let expected = encode(&keys.header, &claims, &encoding_key).unwrap();
            if keys.header.alg == Algorithm::ES256 {
                let (signed, _) = token.rsplit_once('.').unwrap();
                assert_eq!(signed, expected.rsplit_once('.').unwrap().0);
                assert!(rules.verify(&keys, &expected).is_ok());
            } else {
                assert_eq!(token, expected, "{:?}", keys.header.alg);
            }
            assert!(rules.verify(&keys, &token).is_ok());
        }
    }

    fn algorithm_of(keys: &KeyPair) -> SigningAlgorithm {
        match keys.header.alg {
            Algorithm::HS256 => SigningAlgorithm::Hs256,
            Algorithm::ES256 => SigningAlgorithm::Es256,
            Algorithm::EdDSA => SigningAlgorithm::EdDsa,
            _ => SigningAlgorithm::Rs256,
        }
    }

    /// jsonwebtoken's key for the PKCS#8 PEM `pem` (to forge and compare tokens).
    fn encoding_key(algorithm: SigningAlgorithm, pem: &str) -> EncodingKey {
        let key = PrivateKey::from_pem(pem.to_owned()).unwrap();
        match algorithm {
            SigningAlgorithm::Es256 => EncodingKey::from_ec_der(key.der()),
            SigningAlgorithm::EdDsa => EncodingKey::from_ed_der(key.der()),
            // from_rsa_der wants PKCS#1; the PEM reader unwraps PKCS#8.
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        }
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

    const ES256_1: &str = include_str!("../../tests/data/keys/es256-1.pem");
    const ES256_1_PUBLIC: &str = include_str!("../../tests/data/keys/es256-1.pub.pem");
    const ES256_OUTSIDE: &str = include_str!("../../tests/data/keys/es256-outside.pem");
    const ED25519_1: &str = include_str!("../../tests/data/keys/ed25519-1.pem");
    const ED25519_1_PUBLIC: &str = include_str!("../../tests/data/keys/ed25519-1.pub.pem");
    const ED25519_2: &str = include_str!("../../tests/data/keys/ed25519-2.pem");
    const P384: &str = include_str!("../../tests/data/keys/p384.pem");
    const RSA_2048_1: &str = include_str!("../../tests/data/keys/rsa-2048-1.pem");
    const RSA_2048_1_PUBLIC: &str = include_str!("../../tests/data/keys/rsa-2048-1.pub.pem");
    const RSA_2048_OUTSIDE: &str = include_str!("../../tests/data/keys/rsa-2048-outside.pem");
    const ISSUER: &str = "https://issuer.example";
    const AUDIENCE: &str = "orders-api";

    fn pair(algorithm: SigningAlgorithm, pem: &str) -> KeyPair {
        KeyPair::from_private_key(algorithm, &PrivateKey::from_pem(pem.to_owned()).unwrap())
            .unwrap()
    }

    fn rules(algorithm: SigningAlgorithm, claims: bool) -> TokenRules {
        let (issuer, audience) =
            if claims { (Some(ISSUER.into()), Some(AUDIENCE.into())) } else { (None, None) };
        TokenRules::with_claims(algorithm, Duration::from_secs(600), 5, issuer, audience)
    }

    /// ES256, EdDSA and RS256 tokens carry the algorithm, the thumbprint `kid`, and
    /// `iss`/`aud` when configured (after the three original claims); they verify with the same
    /// rules.
    #[test]
    fn public_key_issue_then_verify() {
        for (algorithm, pem, alg) in [
            (SigningAlgorithm::Es256, ES256_1, Algorithm::ES256),
            (SigningAlgorithm::EdDsa, ED25519_1, Algorithm::EdDSA),
            (SigningAlgorithm::Rs256, RSA_2048_1, Algorithm::RS256),
        ] {
            for with_claims in [false, true] {
                let keys = pair(algorithm, pem);
                let rules = rules(algorithm, with_claims);
                let token = rules.issue(&keys, "a@b.c").unwrap();
                let header = jsonwebtoken::decode_header(&token).unwrap();
                assert_eq!((header.alg, header.kid.as_deref()), (alg, keys.kid()));
                let claims = rules.verify(&keys, &token).unwrap();
                assert_eq!(claims.email, "a@b.c");
                let payload = {
                    use base64::Engine;
                    let segment = token.split('.').nth(1).unwrap();
                    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment);
                    String::from_utf8(bytes.unwrap()).unwrap()
                };
                let original =
                    format!(r#"{{"email":"a@b.c","exp":{},"nbf":{}"#, claims.exp, claims.nbf);
                if with_claims {
                    let expected = format!(r#"{original},"iss":"{ISSUER}","aud":"{AUDIENCE}"}}"#);
                    assert_eq!(payload, expected);
                } else {
                    assert_eq!(payload, format!("{original}}}"));
                }
            }
        }
    }

    /// The attacks on public-key modes, each rejected: only a signature mismatch lets the
    /// caller try another of its own keys; everything else is refused outright.
    #[test]
    fn public_key_attacks() {
        let now = unix_now();
        let good =
            json!({"email": "a@b.c", "exp": now + 600, "nbf": now, "iss": ISSUER, "aud": AUDIENCE});
        for (algorithm, pem, public_pem, alg) in [
            (SigningAlgorithm::Es256, ES256_1, ES256_1_PUBLIC, Algorithm::ES256),
            (SigningAlgorithm::EdDsa, ED25519_1, ED25519_1_PUBLIC, Algorithm::EdDSA),
            (SigningAlgorithm::Rs256, RSA_2048_1, RSA_2048_1_PUBLIC, Algorithm::RS256),
        ] {
            let keys = pair(algorithm, pem);
            let rules = rules(algorithm, true);
            let our_key = encoding_key(algorithm, pem);
            let ours = |header: &Header, claims: &serde_json::Value| {
                encode(header, claims, &our_key).unwrap()
            };
            let (outside_pem, outside_alg) = match algorithm {
                SigningAlgorithm::Es256 => (ES256_OUTSIDE, Algorithm::ES256),
                SigningAlgorithm::Rs256 => (RSA_2048_OUTSIDE, Algorithm::RS256),
                _ => (ED25519_2, Algorithm::EdDSA),
            };
            let outside_key = encoding_key(algorithm, outside_pem);
            let theirs = |header: &Header| encode(header, &good, &outside_key).unwrap();
            let mut header = Header::new(alg);
            header.kid = keys.kid().map(str::to_owned);
            assert!(rules.verify(&keys, &ours(&header, &good)).is_ok(), "{algorithm}");

            let public_jwk = serde_json::to_string(keys.public_jwk().unwrap()).unwrap();
            let mut with_jwk = Header::new(outside_alg);
            with_jwk.jwk =
                Some(jsonwebtoken::jwk::Jwk::from_encoding_key(&outside_key, outside_alg).unwrap());
            let mut with_jku = Header::new(outside_alg);
            with_jku.kid = keys.kid().map(str::to_owned);
            with_jku.jku = Some("https://attacker.example/jwks.json".into());
            with_jku.x5u = Some("https://attacker.example/cert.pem".into());
            let mut hs256 = Header::new(Algorithm::HS256);
            hs256.kid = keys.kid().map(str::to_owned);
            let mut crit = header.clone();
            crit.crit = Some(vec!["exp".into()]);
            let p384 = {
                let key = PrivateKey::from_pem(P384.to_owned()).unwrap();
                let mut header = Header::new(Algorithm::ES384);
                header.kid = keys.kid().map(str::to_owned);
                encode(&header, &good, &EncodingKey::from_ec_der(key.der())).unwrap()
            };
            let without = |claim: &str| {
                let mut claims = good.clone();
                claims.as_object_mut().unwrap().remove(claim);
                ours(&header, &claims)
            };
            let with = |claim: &str, value: &str| {
                let mut claims = good.clone();
                claims[claim] = json!(value);
                ours(&header, &claims)
            };
            let cases: Vec<(&str, String, KeyMismatch)> = vec![
                (
                    "HS256 keyed with the public JWK",
                    sign(&hs256, &good, public_jwk.as_bytes()),
                    KeyMismatch::Rejected(Rejection::Malformed),
                ),
                (
                    "HS256 keyed with the public PEM",
                    sign(&hs256, &good, public_pem.as_bytes()),
                    KeyMismatch::Rejected(Rejection::Malformed),
                ),
                (
                    "alg none",
                    format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(&good.to_string())),
                    KeyMismatch::Rejected(Rejection::Malformed),
                ),
                ("outside key", theirs(&Header::new(outside_alg)), KeyMismatch::Signature),
                ("outside key, our kid", theirs(&with_jku), KeyMismatch::Signature),
                ("outside key in a jwk header", theirs(&with_jwk), KeyMismatch::Signature),
                ("ES384", p384, KeyMismatch::Rejected(Rejection::Malformed)),
                ("crit", ours(&crit, &good), KeyMismatch::Rejected(Rejection::Malformed)),
                ("no iss", without("iss"), KeyMismatch::Rejected(Rejection::Malformed)),
                (
                    "wrong iss",
                    with("iss", "https://attacker.example"),
                    KeyMismatch::Rejected(Rejection::Malformed),
                ),
                ("no aud", without("aud"), KeyMismatch::Rejected(Rejection::Malformed)),
                (
                    "wrong aud",
                    with("aud", "other-api"),
                    KeyMismatch::Rejected(Rejection::Malformed),
                ),
                (
                    "expired",
                    ours(
                        &header,
                        &json!({"email": "a@b.c", "exp": now - 60, "nbf": now - 120, "iss": ISSUER, "aud": AUDIENCE}),
                    ),
                    KeyMismatch::Rejected(Rejection::Expired),
                ),
            ];
            for (name, token, expected) in cases {
                assert_eq!(
                    rules.verify(&keys, &token).map(|_| ()),
                    Err(expected),
                    "{algorithm}: {name}"
                );
            }
        }
        // The other public-key algorithm's tokens are refused by the pinned algorithm.
        let es = pair(SigningAlgorithm::Es256, ES256_1);
        let ed = pair(SigningAlgorithm::EdDsa, ED25519_1);
        let ed_token = rules(SigningAlgorithm::EdDsa, true).issue(&ed, "a@b.c").unwrap();
        assert_eq!(
            rules(SigningAlgorithm::Es256, true).verify(&es, &ed_token),
            Err(KeyMismatch::Rejected(Rejection::Malformed))
        );
        let rs = pair(SigningAlgorithm::Rs256, RSA_2048_1);
        let rs_token = rules(SigningAlgorithm::Rs256, true).issue(&rs, "a@b.c").unwrap();
        assert_eq!(
            rules(SigningAlgorithm::Es256, true).verify(&es, &rs_token),
            Err(KeyMismatch::Rejected(Rejection::Malformed))
        );
        // Our own RSA key under another RSA algorithm (PSS, SHA-384/512) is not RS256.
        let rsa_key = encoding_key(SigningAlgorithm::Rs256, RSA_2048_1);
        for alg in [Algorithm::PS256, Algorithm::RS384, Algorithm::RS512] {
            let mut header = Header::new(alg);
            header.kid = rs.kid().map(str::to_owned);
            let token = encode(&header, &good, &rsa_key).unwrap();
            assert_eq!(
                rules(SigningAlgorithm::Rs256, true).verify(&rs, &token),
                Err(KeyMismatch::Rejected(Rejection::Malformed)),
                "{alg:?}"
            );
        }
    }

    /// With `iss` and `aud` configured, HS256 tokens carry and require them too.
    #[test]
    fn hs256_with_issuer_and_audience() {
        let (secret, _) = Secret::new(SECRET.to_owned(), false).unwrap();
        let keys = KeyPair::hmac(&secret, None);
        let rules = rules(SigningAlgorithm::Hs256, true);
        let token = rules.issue(&keys, "a@b.c").unwrap();
        assert!(rules.verify(&keys, &token).is_ok());
        let now = unix_now();
        let plain = hs256(json!({"email": "a@b.c", "exp": now + 600, "nbf": now}));
        assert_eq!(rules.verify(&keys, &plain), Err(KeyMismatch::Rejected(Rejection::Malformed)));
    }

    fn b64(text: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }
}
