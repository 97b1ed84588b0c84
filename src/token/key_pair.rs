//! The keys derived from one secret or private key: what signs, what verifies, the header
//! issued tokens carry, and the public key as a JWK (RFC 7517) with its RFC 7638 `kid`.

use super::SigningAlgorithm;
use crate::key_material::{KeyError, KeyType, PrivateKey, Secret};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::Serialize;
use std::fmt;

/// A public key as published in the JWKS (RFC 7517 §4, RFC 7518 §6.2, RFC 8037 §2): only
/// public members, in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicJwk {
    /// `EC` or `OKP`.
    pub kty: &'static str,
    /// `P-256` or `Ed25519`.
    pub crv: &'static str,
    /// The x coordinate (EC) or the public key (OKP), base64url.
    pub x: String,
    /// The y coordinate (EC only), base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// The RFC 7638 SHA-256 thumbprint: the `kid` of the tokens this key signs.
    pub kid: String,
    /// `ES256` or `EdDSA`.
    pub alg: &'static str,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: &'static str,
}

/// The signing and verifying keys derived from one secret or private key, plus the header
/// issued tokens carry (with `kid` when the key has one). Built once per key; a clone is a
/// copy of the key bytes (zeroized on drop, like the original).
#[derive(Clone)]
pub struct KeyPair {
    pub(super) header: Header,
    pub(super) encoding_key: EncodingKey,
    pub(super) decoding_key: DecodingKey,
    jwk: Option<PublicJwk>,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("alg", &self.header.alg)
            .field("kid", &self.header.kid)
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// HS256 keys derived from `secret`; issued tokens carry `kid` when it is given.
    pub fn hmac(secret: &Secret, kid: Option<String>) -> Self {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid;
        KeyPair {
            header,
            // from_secret only fails for an empty key, which the secret policy already refuses.
            encoding_key: EncodingKey::from_secret(secret.expose())
                .expect("the secret policy refuses empty secrets"),
            decoding_key: DecodingKey::from_secret(secret.expose())
                .expect("the secret policy refuses empty secrets"),
            jwk: None,
        }
    }

    /// ES256 or EdDSA keys from a PKCS#8 private key; `kid` is the RFC 7638 thumbprint of the
    /// public key, so every pod and every verifier computes the same one. Refuses a key of the
    /// wrong type for `algorithm`, and one that fails a sign-then-verify self-test.
    pub fn from_private_key(
        algorithm: SigningAlgorithm,
        key: &PrivateKey,
    ) -> Result<Self, KeyError> {
        let (expected, command) = match algorithm {
            SigningAlgorithm::Es256 => (
                KeyType::P256,
                "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem",
            ),
            SigningAlgorithm::EdDsa => {
                (KeyType::Ed25519, "openssl genpkey -algorithm ed25519 -out key.pem")
            }
            SigningAlgorithm::Hs256 => {
                unreachable!("HS256 keys come from a secret, not a private key")
            }
        };
        if key.key_type() != expected {
            return Err(KeyError::WrongType {
                found: key.key_type(),
                algorithm: algorithm.name(),
                expected,
                command,
            });
        }
        let alg = algorithm.jwt();
        let encoding_key = match algorithm {
            SigningAlgorithm::Es256 => EncodingKey::from_ec_der(key.der()),
            _ => EncodingKey::from_ed_der(key.der()),
        };
        let malformed = |_| KeyError::Malformed("the key does not parse as PKCS#8");
        let jwk = Jwk::from_encoding_key(&encoding_key, alg).map_err(malformed)?;
        let decoding_key = DecodingKey::from_jwk(&jwk).map_err(malformed)?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).map_err(malformed)?;
        let public = match jwk.algorithm {
            AlgorithmParameters::EllipticCurve(ec) => PublicJwk {
                kty: "EC",
                crv: "P-256",
                x: ec.x,
                y: Some(ec.y),
                kid: kid.clone(),
                alg: algorithm.name(),
                use_: "sig",
            },
            AlgorithmParameters::OctetKeyPair(okp) => PublicJwk {
                kty: "OKP",
                crv: "Ed25519",
                x: okp.x,
                y: None,
                kid: kid.clone(),
                alg: algorithm.name(),
                use_: "sig",
            },
            _ => return Err(KeyError::Malformed("unexpected public key parameters")),
        };
        let mut header = Header::new(alg);
        header.kid = Some(kid);
        let pair = KeyPair { header, encoding_key, decoding_key, jwk: Some(public) };
        // A key that parses but cannot produce a signature its own public key accepts must
        // not reach the request path.
        let message = b"simple-jwt-api key self-test";
        let signature = jsonwebtoken::crypto::sign(message, &pair.encoding_key, alg)
            .map_err(|_| KeyError::Malformed("the key cannot sign"))?;
        match jsonwebtoken::crypto::verify(&signature, message, &pair.decoding_key, alg) {
            Ok(true) => Ok(pair),
            _ => Err(KeyError::Malformed("the key's signature does not verify")),
        }
    }

    /// The `kid` this pair puts in the tokens it signs.
    pub fn kid(&self) -> Option<&str> {
        self.header.kid.as_deref()
    }

    /// The public key as a JWK (`None` for an HMAC secret, which is never published).
    pub fn public_jwk(&self) -> Option<&PublicJwk> {
        self.jwk.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ES256_1: &str = include_str!("../../tests/data/keys/es256-1.pem");
    const ES256_1_PUBLIC: &str = include_str!("../../tests/data/keys/es256-1.pub.pem");
    const ED25519_1: &str = include_str!("../../tests/data/keys/ed25519-1.pem");
    const ED25519_1_PUBLIC: &str = include_str!("../../tests/data/keys/ed25519-1.pub.pem");
    const P384: &str = include_str!("../../tests/data/keys/p384.pem");

    fn pair(algorithm: SigningAlgorithm, pem: &str) -> KeyPair {
        KeyPair::from_private_key(algorithm, &PrivateKey::from_pem(pem.to_owned()).unwrap())
            .unwrap()
    }

    /// The DER body of a PEM document (test keys only).
    fn pem_der(pem: &str) -> Vec<u8> {
        use base64::Engine;
        let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD.decode(body).unwrap()
    }

    /// The published JWK is exactly the public key openssl derives (the end of its
    /// SubjectPublicKeyInfo), with only public members, and `kid` is its RFC 7638 thumbprint
    /// computed here independently (SHA-256 of the required members in lexicographic order).
    #[test]
    fn jwk_and_thumbprint() {
        use base64::Engine;
        use sha2::Digest;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let es = pair(SigningAlgorithm::Es256, ES256_1);
        let jwk = es.public_jwk().unwrap();
        let spki = pem_der(ES256_1_PUBLIC);
        let point = &spki[spki.len() - 65..];
        assert_eq!(point[0], 0x04, "uncompressed point");
        assert_eq!(jwk.x, b64(&point[1..33]));
        assert_eq!(jwk.y.as_deref(), Some(b64(&point[33..]).as_str()));
        let canonical =
            format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, jwk.x, b64(&point[33..]));
        assert_eq!(jwk.kid, b64(&sha2::Sha256::digest(canonical)));
        assert_eq!(es.kid(), Some(jwk.kid.as_str()));
        let json = serde_json::to_value(jwk).unwrap();
        let members: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x", "y"], "no private member");
        assert_eq!(
            (json["kty"].as_str(), json["alg"].as_str(), json["use"].as_str()),
            (Some("EC"), Some("ES256"), Some("sig"))
        );

        let ed = pair(SigningAlgorithm::EdDsa, ED25519_1);
        let jwk = ed.public_jwk().unwrap();
        let spki = pem_der(ED25519_1_PUBLIC);
        assert_eq!(jwk.x, b64(&spki[spki.len() - 32..]));
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, jwk.x);
        assert_eq!(jwk.kid, b64(&sha2::Sha256::digest(canonical)));
        let json = serde_json::to_value(jwk).unwrap();
        let members: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x"], "no private member");
        assert_eq!(json["alg"], "EdDSA");
        assert!(pair(SigningAlgorithm::Es256, ES256_1).kid() == es.kid(), "deterministic");
    }

    /// Keys that do not fit the algorithm are refused with a message that says what was
    /// found and how to make the right one, never the key.
    #[test]
    fn key_type_must_fit_the_algorithm() {
        let cases = [
            (SigningAlgorithm::Es256, ED25519_1, "an Ed25519 key"),
            (SigningAlgorithm::Es256, P384, "curve other than P-256"),
            (SigningAlgorithm::EdDsa, ES256_1, "an EC P-256 key"),
            (SigningAlgorithm::EdDsa, include_str!("../../tests/data/keys/rsa.pem"), "an RSA key"),
        ];
        for (algorithm, pem, found) in cases {
            let key = PrivateKey::from_pem(pem.to_owned()).unwrap();
            let err = KeyPair::from_private_key(algorithm, &key).unwrap_err().to_string();
            assert!(err.contains(found) && err.contains("openssl genpkey"), "{err}");
            assert!(!err.contains(&pem[30..50]), "{err}");
        }
    }
}
