//! The prepared signing key of one secret or private key: parsed once, when the key is loaded,
//! and used for every token it signs.
//!
//! jsonwebtoken's `encode` rebuilds its backend key from the `EncodingKey` bytes on every call
//! (`EcdsaKeyPair::from_pkcs8`, `Ed25519KeyPair::from_pkcs8`, `RsaKeyPair::from_der` — the
//! PKCS#8 parse, the public point or modulus re-derived and checked, each time). Its public API
//! cannot hold a prepared key, so this service signs with aws-lc-rs directly and keeps
//! jsonwebtoken for verification, where the rules live.

use super::SigningAlgorithm;
use aws_lc_rs::error::KeyRejected;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RsaKeyPair,
};

/// A key ready to sign: the HMAC key schedule, or the parsed private key with its public half.
/// aws-lc-rs keeps the private material in AWS-LC's own memory and wipes it when dropped.
pub(super) enum Signer {
    /// Boxed: the key holds both precomputed SHA-256 states (1.2 KB), the others a pointer.
    Hmac(Box<hmac::Key>),
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

/// The public half of a private key, in the encodings JWKs use.
pub(super) enum PublicKey<'a> {
    /// A P-256 point: the x and y coordinates, 32 bytes each.
    P256 { x: &'a [u8], y: &'a [u8] },
    /// An Ed25519 public key, 32 bytes.
    Ed25519(&'a [u8]),
    /// An RSA modulus and public exponent, big-endian without leading zeros.
    Rsa { n: &'a [u8], e: &'a [u8] },
}

impl Signer {
    /// The HMAC-SHA256 key of `secret`.
    pub(super) fn hmac(secret: &[u8]) -> Self {
        Signer::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, secret)))
    }

    /// Parses the PKCS#8 DER `der` for `algorithm` (not HS256). aws-lc-rs checks the key:
    /// the public point against the private scalar, an RSA key's consistency and its size
    /// (2048 to 8192 bits).
    pub(super) fn from_pkcs8(algorithm: SigningAlgorithm, der: &[u8]) -> Result<Self, KeyRejected> {
        Ok(match algorithm {
            SigningAlgorithm::Es256 => {
                Signer::Es256(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)?)
            }
            SigningAlgorithm::EdDsa => Signer::EdDsa(Ed25519KeyPair::from_pkcs8(der)?),
            SigningAlgorithm::Rs256 => Signer::Rs256(RsaKeyPair::from_pkcs8(der)?),
            SigningAlgorithm::Hs256 => unreachable!("HS256 keys come from a secret"),
        })
    }

    /// The signature over `message` (a JWS signing input), in JWS form: the HMAC tag, the
    /// 64-byte `r || s` of ES256, the Ed25519 signature, the RSA signature of modulus length.
    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, aws_lc_rs::error::Unspecified> {
        match self {
            Signer::Hmac(key) => Ok(hmac::sign(key, message).as_ref().to_vec()),
            // aws-lc-rs ignores the rng argument of both (AWS-LC draws its own randomness).
            Signer::Es256(key) => Ok(key.sign(&SystemRandom::new(), message)?.as_ref().to_vec()),
            Signer::EdDsa(key) => Ok(key.sign(message).as_ref().to_vec()),
            Signer::Rs256(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut signature)?;
                Ok(signature)
            }
        }
    }

    /// The public half (`None` for an HMAC key).
    pub(super) fn public_key(&self) -> Option<PublicKey<'_>> {
        match self {
            Signer::Hmac(_) => None,
            Signer::Es256(key) => {
                // The SEC1 uncompressed point: 0x04 || x || y.
                let point = key.public_key().as_ref();
                Some(PublicKey::P256 { x: &point[1..33], y: &point[33..65] })
            }
            Signer::EdDsa(key) => Some(PublicKey::Ed25519(key.public_key().as_ref())),
            Signer::Rs256(key) => {
                let public = key.public_key();
                Some(PublicKey::Rsa {
                    n: public.modulus().big_endian_without_leading_zero(),
                    e: public.exponent().big_endian_without_leading_zero(),
                })
            }
        }
    }
}
