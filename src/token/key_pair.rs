//! The keys derived from one secret or private key: what signs, what verifies, the header
//! issued tokens carry, and the public key as a JWK (RFC 7517) with its RFC 7638 `kid`.

use super::SigningAlgorithm;
use super::signer::{PublicKey, Signer};
use crate::key_material::{KeyError, KeyType, PrivateKey, Secret};
use jsonwebtoken::{Algorithm, DecodingKey, Header};
use serde::Serialize;
use std::fmt;

/// A public key as published in the JWKS (RFC 7517 §4, RFC 7518 §6.2-6.3, RFC 8037 §2): only
/// public members, in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicJwk {
    /// `EC`, `OKP` or `RSA`.
    pub kty: &'static str,
    /// `P-256` or `Ed25519` (not for RSA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<&'static str>,
    /// The x coordinate (EC) or the public key (OKP), base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// The y coordinate (EC only), base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// The modulus (RSA only), base64url of its big-endian bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// The public exponent (RSA only), base64url of its big-endian bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// The RFC 7638 SHA-256 thumbprint: the `kid` of the tokens this key signs.
    pub kid: String,
    /// `ES256`, `EdDSA` or `RS256`.
    pub alg: &'static str,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: &'static str,
}

/// The signing and verifying keys derived from one secret or private key, plus the header
/// issued tokens carry (with `kid` when the key has one). Built once per key: the signing key
/// is parsed here, never per token. Shared behind an `Arc` by the keyring; the private
/// material lives in AWS-LC's memory (wiped on drop) and, for the verifying HMAC key,
/// jsonwebtoken's (zeroized on drop).
pub struct KeyPair {
    pub(super) header: Header,
    /// The `base64url(header) + "."` every token this key signs starts with.
    pub(super) encoded_header: String,
    pub(super) signer: Signer,
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

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The compact-JWS header segment of `header`, with its trailing dot.
fn encoded_header(header: &Header) -> String {
    let json = serde_json::to_vec(header).expect("a header always serializes");
    let mut encoded = b64(&json);
    encoded.push('.');
    encoded
}

impl KeyPair {
    /// HS256 keys derived from `secret`; issued tokens carry `kid` when it is given.
    pub fn hmac(secret: &Secret, kid: Option<String>) -> Self {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid;
        KeyPair {
            encoded_header: encoded_header(&header),
            header,
            signer: Signer::hmac(secret.expose()),
            // from_secret only fails for an empty key, which the secret policy already refuses.
            decoding_key: DecodingKey::from_secret(secret.expose())
                .expect("the secret policy refuses empty secrets"),
            jwk: None,
        }
    }

    /// ES256, EdDSA or RS256 keys from a PKCS#8 private key; `kid` is the RFC 7638 thumbprint
    /// of the public key, so every pod and every verifier computes the same one. Refuses a key
    /// of the wrong type for `algorithm`, an RSA key shorter than 2048 bits, and one that fails
    /// a sign-then-verify self-test.
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
            SigningAlgorithm::Rs256 => (KeyType::Rsa, RSA_COMMAND),
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
        let signer = Signer::from_pkcs8(algorithm, key.der()).map_err(|rejected| match rejected
            .description_()
        {
            "TooSmall" => KeyError::RsaTooSmall,
            "TooLarge" => KeyError::Malformed("the RSA key is longer than 8192 bits"),
            _ => KeyError::Malformed("the key does not parse as PKCS#8"),
        })?;
        let malformed = |_| KeyError::Malformed("the public key is not usable");
        let name = algorithm.name();
        let (public, decoding_key, canonical) = match signer.public_key() {
            Some(PublicKey::P256 { x, y }) => {
                let (x, y) = (b64(x), b64(y));
                let decoding_key = DecodingKey::from_ec_components(&x, &y).map_err(malformed)?;
                let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
                let jwk = PublicJwk {
                    kty: "EC",
                    crv: Some("P-256"),
                    x: Some(x),
                    y: Some(y),
                    n: None,
                    e: None,
                    kid: String::new(),
                    alg: name,
                    use_: "sig",
                };
                (jwk, decoding_key, canonical)
            }
            Some(PublicKey::Ed25519(public)) => {
                let x = b64(public);
                let decoding_key = DecodingKey::from_ed_components(&x).map_err(malformed)?;
                let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
                let jwk = PublicJwk {
                    kty: "OKP",
                    crv: Some("Ed25519"),
                    x: Some(x),
                    y: None,
                    n: None,
                    e: None,
                    kid: String::new(),
                    alg: name,
                    use_: "sig",
                };
                (jwk, decoding_key, canonical)
            }
            Some(PublicKey::Rsa { n, e }) => {
                let decoding_key = DecodingKey::from_rsa_raw_components(n, e);
                let (n, e) = (b64(n), b64(e));
                let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
                let jwk = PublicJwk {
                    kty: "RSA",
                    crv: None,
                    x: None,
                    y: None,
                    n: Some(n),
                    e: Some(e),
                    kid: String::new(),
                    alg: name,
                    use_: "sig",
                };
                (jwk, decoding_key, canonical)
            }
            None => unreachable!("a private key has a public half"),
        };
        // RFC 7638: SHA-256 over the required members, lexicographic order, no whitespace.
        let kid =
            b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes())
                .as_ref());
        let public = PublicJwk { kid: kid.clone(), ..public };
        let mut header = Header::new(algorithm.jwt());
        header.kid = Some(kid);
        let pair = KeyPair {
            encoded_header: encoded_header(&header),
            header,
            signer,
            decoding_key,
            jwk: Some(public),
        };
        // A key that parses but cannot produce a signature its own public key accepts must
        // not reach the request path.
        let message = b"simple-jwt-api key self-test";
        let signature =
            pair.signer.sign(message).map_err(|_| KeyError::Malformed("the key cannot sign"))?;
        let alg = pair.header.alg;
        match jsonwebtoken::crypto::verify(&b64(&signature), message, &pair.decoding_key, alg) {
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

    /// The signature of `message` with this pair's signing key, base64url.
    pub(super) fn sign_b64(&self, message: &[u8]) -> Result<String, aws_lc_rs::error::Unspecified> {
        self.signer.sign(message).map(|signature| b64(&signature))
    }
}

/// How to make a fitting RSA key (3072 bits, the guide's recommendation).
const RSA_COMMAND: &str =
    "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out key.pem";

#[cfg(test)]
mod tests {
    use super::*;

    const ES256_1: &str = include_str!("../../tests/data/keys/es256-1.pem");
    const ES256_1_PUBLIC: &str = include_str!("../../tests/data/keys/es256-1.pub.pem");
    const ED25519_1: &str = include_str!("../../tests/data/keys/ed25519-1.pem");
    const ED25519_1_PUBLIC: &str = include_str!("../../tests/data/keys/ed25519-1.pub.pem");
    const P384: &str = include_str!("../../tests/data/keys/p384.pem");
    const RSA_2048_1: &str = include_str!("../../tests/data/keys/rsa-2048-1.pem");
    const RSA_2048_1_PUBLIC: &str = include_str!("../../tests/data/keys/rsa-2048-1.pub.pem");

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
        assert_eq!(jwk.x.as_deref(), Some(b64(&point[1..33]).as_str()));
        assert_eq!(jwk.y.as_deref(), Some(b64(&point[33..]).as_str()));
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            b64(&point[1..33]),
            b64(&point[33..])
        );
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
        let x = b64(&spki[spki.len() - 32..]);
        assert_eq!(jwk.x.as_deref(), Some(x.as_str()));
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        assert_eq!(jwk.kid, b64(&sha2::Sha256::digest(canonical)));
        let json = serde_json::to_value(jwk).unwrap();
        let members: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x"], "no private member");
        assert_eq!(json["alg"], "EdDSA");
        assert!(pair(SigningAlgorithm::Es256, ES256_1).kid() == es.kid(), "deterministic");

        // RSA: n and e are the modulus and exponent of the SubjectPublicKeyInfo openssl wrote
        // (a 2048-bit modulus: 256 bytes behind its DER header; e = 65537 at the end).
        let rs = pair(SigningAlgorithm::Rs256, RSA_2048_1);
        let jwk = rs.public_jwk().unwrap();
        let spki = pem_der(RSA_2048_1_PUBLIC);
        let n = b64(&spki[spki.len() - 5 - 256..spki.len() - 5]);
        assert_eq!(&spki[spki.len() - 5..], [0x02, 0x03, 0x01, 0x00, 0x01], "e = 65537");
        assert_eq!(jwk.n.as_deref(), Some(n.as_str()));
        assert_eq!(jwk.e.as_deref(), Some("AQAB"));
        let canonical = format!(r#"{{"e":"AQAB","kty":"RSA","n":"{n}"}}"#);
        assert_eq!(jwk.kid, b64(&sha2::Sha256::digest(canonical)));
        let json = serde_json::to_value(jwk).unwrap();
        let members: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"], "no private member");
        assert_eq!((json["kty"].as_str(), json["alg"].as_str()), (Some("RSA"), Some("RS256")));
        let rs3072 =
            pair(SigningAlgorithm::Rs256, include_str!("../../tests/data/keys/rsa-3072.pem"));
        assert_eq!(rs3072.public_jwk().unwrap().n.as_ref().map(String::len), Some(512));
    }

    /// An RSA key below 2048 bits is refused, saying so and how to make a 3072-bit one.
    #[test]
    fn short_rsa_keys_are_refused() {
        let pem = include_str!("../../tests/data/keys/rsa-1024.pem");
        let key = PrivateKey::from_pem(pem.to_owned()).unwrap();
        let err = KeyPair::from_private_key(SigningAlgorithm::Rs256, &key).unwrap_err();
        assert_eq!(err, KeyError::RsaTooSmall);
        let message = err.to_string();
        assert!(message.contains("2048") && message.contains("rsa_keygen_bits:3072"), "{message}");
    }

    /// Keys that do not fit the algorithm are refused with a message that says what was
    /// found and how to make the right one, never the key.
    #[test]
    fn key_type_must_fit_the_algorithm() {
        let cases = [
            (SigningAlgorithm::Es256, ED25519_1, "an Ed25519 key"),
            (SigningAlgorithm::Es256, P384, "curve other than P-256"),
            (SigningAlgorithm::EdDsa, ES256_1, "an EC P-256 key"),
            (SigningAlgorithm::EdDsa, RSA_2048_1, "an RSA key"),
            (SigningAlgorithm::Rs256, ES256_1, "an EC P-256 key"),
            (SigningAlgorithm::Rs256, ED25519_1, "an Ed25519 key"),
        ];
        for (algorithm, pem, found) in cases {
            let key = PrivateKey::from_pem(pem.to_owned()).unwrap();
            let err = KeyPair::from_private_key(algorithm, &key).unwrap_err().to_string();
            assert!(err.contains(found) && err.contains("openssl genpkey"), "{err}");
            assert!(!err.contains(&pem[30..50]), "{err}");
        }
    }
}
