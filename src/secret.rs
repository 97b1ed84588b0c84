//! The HMAC secret: the policy it must meet and how it is held in memory.
//!
//! The secret is the raw bytes of the configured string, exactly as PyJWT and other HS256
//! implementations use it, so tokens interoperate. It is wiped from memory when dropped and
//! never printed: `Debug` is redacted and there is no `Display`.

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
}
