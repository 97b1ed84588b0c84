//! Signing key material — the HMAC secret or the private key — the policy each must meet, and
//! how it is held in memory.
//!
//! - [`Secret`], the HMAC secret (HS256): the raw bytes of the configured string, exactly as
//!   PyJWT and other HS256 implementations use it, so tokens interoperate.
//! - [`PrivateKey`], a private key (ES256, EdDSA, RS256): an unencrypted PKCS#8 PEM document, as
//!   `openssl genpkey` writes it.
//!
//! Both are wiped from memory when dropped and never printed: `Debug` is redacted, there is
//! no `Display`, and no error message contains the material.

use std::fmt;
use zeroize::Zeroizing;

/// Minimum secret length for HS256: RFC 7518 §3.2 requires a key at least as long as the hash
/// output (256 bits).
pub const MIN_SECRET_BYTES: usize = 32;

/// An HMAC secret that met the policy. Zeroized on drop; `Debug` never shows the value.
pub struct Secret(Zeroizing<Vec<u8>>);

/// Why a secret was refused. Messages never contain the secret itself.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The value is empty.
    #[error("the JWT secret is empty")]
    Empty,
    /// The value is shorter than [`MIN_SECRET_BYTES`] and weak secrets were not allowed.
    #[error(
        "the JWT secret is {len} bytes; HS256 needs at least {MIN_SECRET_BYTES} (RFC 7518 \
         section 3.2). Generate one with `openssl rand -base64 48`, or set \
         JWT_ALLOW_WEAK_SECRET=true to keep using a short secret"
    )]
    TooShort {
        /// The length that was given, in bytes.
        len: usize,
    },
}

/// Whether a secret shorter than [`MIN_SECRET_BYTES`] was accepted because weak secrets are
/// allowed; the caller logs a warning for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strength {
    /// At least [`MIN_SECRET_BYTES`] long.
    Strong,
    /// Shorter, accepted only because `JWT_ALLOW_WEAK_SECRET=true`.
    Weak,
}

impl Secret {
    /// Applies the secret policy to `value`, taking ownership so that no unzeroized copy of
    /// the bytes is left behind.
    pub fn new(value: String, allow_weak: bool) -> Result<(Self, Strength), SecretError> {
        let bytes = Zeroizing::new(value.into_bytes());
        if bytes.is_empty() {
            return Err(SecretError::Empty);
        }
        if bytes.len() >= MIN_SECRET_BYTES {
            Ok((Secret(bytes), Strength::Strong))
        } else if allow_weak {
            Ok((Secret(bytes), Strength::Weak))
        } else {
            Err(SecretError::TooShort { len: bytes.len() })
        }
    }

    /// The raw secret bytes, for building signing and verifying keys.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([redacted; {} bytes])", self.0.len())
    }
}

/// What a PKCS#8 private key is for, read from its algorithm identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// An elliptic-curve key on P-256 (ES256).
    P256,
    /// An elliptic-curve key on another curve (ES384, ES512, ...).
    OtherCurve,
    /// An Ed25519 key (EdDSA).
    Ed25519,
    /// An RSA key (RS256).
    Rsa,
    /// Anything else.
    Unknown,
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyType::P256 => "an EC P-256 key",
            KeyType::OtherCurve => "an EC key on a curve other than P-256",
            KeyType::Ed25519 => "an Ed25519 key",
            KeyType::Rsa => "an RSA key",
            KeyType::Unknown => "a key of an unknown type",
        })
    }
}

/// An unencrypted PKCS#8 private key (the DER inside a `-----BEGIN PRIVATE KEY-----` PEM
/// block). Zeroized on drop; `Debug` never shows it.
pub struct PrivateKey {
    der: Zeroizing<Vec<u8>>,
    key_type: KeyType,
}

/// Why a private key was refused. Messages say what to do and never contain the key.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No PEM block at all.
    #[error("not a PEM private key (expected a -----BEGIN PRIVATE KEY----- block)")]
    NotPem,
    /// A PEM block of another kind than `PRIVATE KEY`.
    #[error("{0}")]
    WrongBlock(&'static str),
    /// The PEM body is not valid base64, or the DER is not a PKCS#8 structure.
    #[error("the PEM private key is malformed ({0})")]
    Malformed(&'static str),
    /// An RSA key shorter than 2048 bits (RFC 7518 §3.3 requires 2048 at least).
    #[error(
        "the RSA private key is shorter than 2048 bits; RS256 needs 2048 at least (RFC 7518 \
         section 3.3), 3072 recommended: generate one with `openssl genpkey -algorithm RSA \
         -pkeyopt rsa_keygen_bits:3072 -out key.pem`"
    )]
    RsaTooSmall,
    /// A valid key for another algorithm than the configured one.
    #[error(
        "the private key is {found}, but JWT_ALGORITHM={algorithm} needs {expected}; generate \
         one with `{command}`"
    )]
    WrongType {
        /// What the key is.
        found: KeyType,
        /// The configured algorithm's name.
        algorithm: &'static str,
        /// What that algorithm needs.
        expected: KeyType,
        /// The openssl command that makes a fitting key.
        command: &'static str,
    },
}

/// DER of the PKCS#8 algorithm identifiers this service recognises (RFC 5480, RFC 8410, RFC
/// 8017): `id-ecPublicKey` with the `prime256v1` parameter, `id-Ed25519`, `rsaEncryption`.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
const OID_RSA: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

impl PrivateKey {
    /// Reads the one `PRIVATE KEY` block of `pem` (other text around it is ignored, so is an
    /// `EC PARAMETERS` block). Refuses, with a message saying how to fix it: encrypted keys,
    /// public keys and certificates, SEC1 (`EC PRIVATE KEY`) and PKCS#1 (`RSA PRIVATE KEY`)
    /// keys, and bodies that are not base64 PKCS#8. Takes ownership so that no unzeroized copy
    /// of the text is left behind.
    pub fn from_pem(pem: String) -> Result<Self, KeyError> {
        let pem = Zeroizing::new(pem);
        let mut block: Option<(&str, Zeroizing<String>)> = None;
        let mut lines = pem.lines().map(str::trim);
        while let Some(line) = lines.next() {
            let Some(label) =
                line.strip_prefix("-----BEGIN ").and_then(|rest| rest.strip_suffix("-----"))
            else {
                continue;
            };
            let end = format!("-----END {label}-----");
            let mut body = Zeroizing::new(String::new());
            let mut closed = false;
            for line in lines.by_ref() {
                if line == end {
                    closed = true;
                    break;
                }
                body.push_str(line);
            }
            if !closed {
                return Err(KeyError::Malformed("a PEM block has no END line"));
            }
            match label {
                "EC PARAMETERS" => continue,
                "PRIVATE KEY" if block.is_none() => block = Some((label, body)),
                "PRIVATE KEY" => {
                    return Err(KeyError::WrongBlock(
                        "the value holds more than one private key; store exactly one",
                    ));
                }
                other => return Err(KeyError::WrongBlock(refusal(other))),
            }
        }
        let (_, body) = block.ok_or(KeyError::NotPem)?;
        use base64::Engine;
        let der = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(body.as_bytes())
                .map_err(|_| KeyError::Malformed("the PEM body is not base64"))?,
        );
        // PKCS#8 starts with a SEQUENCE, the version INTEGER and the AlgorithmIdentifier: the
        // algorithm OIDs sit within the first few dozen bytes.
        if der.first() != Some(&0x30) {
            return Err(KeyError::Malformed("the DER is not a PKCS#8 structure"));
        }
        let head = &der[..der.len().min(40)];
        let contains = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
        let key_type = if contains(OID_EC_PUBLIC_KEY) {
            if contains(OID_P256) { KeyType::P256 } else { KeyType::OtherCurve }
        } else if contains(OID_ED25519) {
            KeyType::Ed25519
        } else if contains(OID_RSA) {
            KeyType::Rsa
        } else {
            KeyType::Unknown
        };
        Ok(PrivateKey { der, key_type })
    }

    /// What the key is for, from its algorithm identifier (the key itself is checked when
    /// signing keys are built from it).
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The PKCS#8 DER bytes, for building the signing key.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

/// What to say about a PEM block that is not an unencrypted PKCS#8 private key.
fn refusal(label: &str) -> &'static str {
    match label {
        "ENCRYPTED PRIVATE KEY" => {
            "the private key is encrypted; store it unencrypted (SSM SecureString encrypts it \
             at rest): `openssl pkcs8 -in key.pem -out plain.pem`"
        }
        "EC PRIVATE KEY" | "RSA PRIVATE KEY" | "OPENSSH PRIVATE KEY" => {
            "the private key is not in PKCS#8 form; convert it with `openssl pkcs8 -topk8 \
             -nocrypt -in key.pem -out pkcs8.pem`"
        }
        "PUBLIC KEY" | "EC PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => {
            "this is a public key or certificate; the service needs the private key (a \
             -----BEGIN PRIVATE KEY----- block)"
        }
        _ => "not a PEM private key (expected a -----BEGIN PRIVATE KEY----- block)",
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({:?}, [redacted])", self.key_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Secrets of 32 bytes and more are strong; shorter ones need the explicit opt-in.
    #[test]
    fn policy_by_length() {
        let strong = "x".repeat(MIN_SECRET_BYTES);
        assert_eq!(Secret::new(strong, false).unwrap().1, Strength::Strong);
        let short = "x".repeat(MIN_SECRET_BYTES - 1);
        assert_eq!(
            Secret::new(short.clone(), false).unwrap_err(),
            SecretError::TooShort { len: 31 }
        );
        assert_eq!(Secret::new(short, true).unwrap().1, Strength::Weak);
        assert_eq!(Secret::new(String::new(), true).unwrap_err(), SecretError::Empty);
    }

    /// Neither `Debug` nor the error messages show the secret's bytes.
    #[test]
    fn never_printed() {
        let value = "correct-horse-battery-staple-0123456789";
        let (secret, _) = Secret::new(value.to_owned(), false).unwrap();
        assert!(!format!("{secret:?}").contains(value));
        assert_eq!(secret.expose(), value.as_bytes());
        let err = Secret::new("hunter2".to_owned(), false).unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        assert!(err.to_string().contains("openssl rand"));
    }

    const ES256: &str = include_str!("../tests/data/keys/es256-1.pem");

    /// Each PKCS#8 key is read and classified by its algorithm identifier; text around the
    /// block and an `EC PARAMETERS` block are ignored.
    #[test]
    fn pkcs8_keys_are_classified() {
        let cases = [
            (ES256, KeyType::P256),
            (include_str!("../tests/data/keys/ed25519-1.pem"), KeyType::Ed25519),
            (include_str!("../tests/data/keys/p384.pem"), KeyType::OtherCurve),
            (include_str!("../tests/data/keys/rsa-1024.pem"), KeyType::Rsa),
        ];
        for (pem, key_type) in cases {
            assert_eq!(PrivateKey::from_pem(pem.to_owned()).unwrap().key_type(), key_type);
        }
        let wrapped = format!(
            "comment\n-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC \
             PARAMETERS-----\n{ES256}trailing"
        );
        assert_eq!(PrivateKey::from_pem(wrapped).unwrap().key_type(), KeyType::P256);
    }

    /// Everything that is not one unencrypted PKCS#8 private key is refused with a message
    /// that says what to do and never contains the key; `Debug` is redacted.
    #[test]
    fn other_pem_is_refused_without_echoing() {
        let cases: [(String, &str); 8] = [
            (include_str!("../tests/data/keys/es256-1.encrypted.pem").into(), "encrypted"),
            (include_str!("../tests/data/keys/es256-1.sec1.pem").into(), "openssl pkcs8 -topk8"),
            (include_str!("../tests/data/keys/es256-1.pub.pem").into(), "public key"),
            ("not a key at all".into(), "-----BEGIN PRIVATE KEY-----"),
            (String::new(), "-----BEGIN PRIVATE KEY-----"),
            (ES256.replace("-----END PRIVATE KEY-----", ""), "no END line"),
            (ES256.replacen('M', "!", 1), "not base64"),
            (format!("{ES256}{ES256}"), "more than one"),
        ];
        for (pem, message) in cases {
            let err = PrivateKey::from_pem(pem.clone()).unwrap_err().to_string();
            assert!(err.contains(message), "{err}");
            for line in pem.lines().filter(|line| !line.starts_with("-----") && line.len() > 20) {
                assert!(!err.contains(line), "{err}");
            }
        }
        let key = PrivateKey::from_pem(ES256.to_owned()).unwrap();
        assert_eq!(format!("{key:?}"), "PrivateKey(P256, [redacted])");
    }
}
