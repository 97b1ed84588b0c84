//! How key material becomes keys: the only place where an HMAC secret and a private key take
//! different paths.

use crate::key_material::{KeyError, PrivateKey, Secret, SecretError, Strength};
use crate::source::Document;
use crate::token::{KeyPair, SigningAlgorithm};

/// How material becomes keys, for the configured algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    /// The signing algorithm.
    pub algorithm: SigningAlgorithm,
    /// Whether HMAC secrets shorter than 32 bytes are accepted (`JWT_ALLOW_WEAK_SECRET`).
    pub allow_weak: bool,
}

/// Why material was refused. Never contains the material.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MaterialError {
    /// The HMAC secret failed the secret policy.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The private key failed the key policy.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl KeyPolicy {
    /// Applies the policy to `document` and derives the keys; its version becomes the `kid`
    /// of an HMAC secret (a private key's `kid` is its thumbprint). Takes ownership so that
    /// no unzeroized copy of the material is left behind.
    pub fn build(&self, mut document: Document) -> Result<(KeyPair, Strength), MaterialError> {
        let value = std::mem::take(&mut *document.value);
        match self.algorithm {
            SigningAlgorithm::Hs256 => {
                let (secret, strength) = Secret::new(value, self.allow_weak)?;
                let kid = document.version.map(|version| version.to_string());
                Ok((KeyPair::hmac(&secret, kid), strength))
            }
            SigningAlgorithm::Es256 | SigningAlgorithm::EdDsa | SigningAlgorithm::Rs256 => {
                let key = PrivateKey::from_pem(value)?;
                Ok((KeyPair::from_private_key(self.algorithm, &key)?, Strength::Strong))
            }
        }
    }

    /// What the material is called in log lines: `JWT secret` (HS256) or `JWT signing key`.
    pub fn kind(&self) -> &'static str {
        if self.algorithm.is_public_key() { "JWT signing key" } else { "JWT secret" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn document(value: &str, version: Option<i64>) -> Document {
        Document { value: Zeroizing::new(value.to_owned()), version }
    }

    /// A secret's version is its `kid` (none without a version); a weak secret needs the
    /// opt-in and says so; a private key's `kid` is its thumbprint whatever the version; the
    /// wrong material for the algorithm is refused with the policy's error, never the value.
    #[test]
    fn secrets_and_private_keys() {
        let hs256 = KeyPolicy { algorithm: SigningAlgorithm::Hs256, allow_weak: false };
        let secret = "a-secret-of-at-least-32-bytes-0123456789";
        let (keys, strength) = hs256.build(document(secret, Some(7))).unwrap();
        assert_eq!((keys.kid(), strength), (Some("7"), Strength::Strong));
        assert_eq!(hs256.build(document(secret, None)).unwrap().0.kid(), None);
        assert!(matches!(
            hs256.build(document("short", None)),
            Err(MaterialError::Secret(SecretError::TooShort { len: 5 }))
        ));
        let weak = KeyPolicy { allow_weak: true, ..hs256 };
        assert_eq!(weak.build(document("short", None)).unwrap().1, Strength::Weak);

        let pem = include_str!("../../tests/data/keys/es256-1.pem");
        let es256 = KeyPolicy { algorithm: SigningAlgorithm::Es256, allow_weak: false };
        let (keys, _) = es256.build(document(pem, Some(3))).unwrap();
        assert_eq!(keys.kid().map(str::len), Some(43), "a base64url SHA-256 thumbprint");
        let err = es256.build(document(secret, None)).unwrap_err();
        assert!(matches!(err, MaterialError::Key(KeyError::NotPem)), "{err}");
        let eddsa = KeyPolicy { algorithm: SigningAlgorithm::EdDsa, allow_weak: false };
        let err = eddsa.build(document(pem, None)).unwrap_err().to_string();
        assert!(err.contains("Ed25519") && !err.contains(&pem[40..70]), "{err}");
        assert_eq!((hs256.kind(), eddsa.kind()), ("JWT secret", "JWT signing key"));
    }
}
