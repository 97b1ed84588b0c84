//! The signing algorithms (`JWT_ALGORITHM`) and their JOSE names.

use jsonwebtoken::Algorithm;
use std::fmt;
use std::str::FromStr;

/// The signing algorithm (`JWT_ALGORITHM`). The verifier accepts this one only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SigningAlgorithm {
    /// HMAC-SHA256 with a shared secret: whoever can verify can also mint.
    #[default]
    Hs256,
    /// ECDSA on P-256 with SHA-256 (RFC 7518 §3.4); public keys published as a JWKS.
    Es256,
    /// Ed25519 signatures (RFC 8037); public keys published as a JWKS.
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3), keys of 2048 bits or more; public keys
    /// published as a JWKS. The one algorithm every JWT verifier takes (API Gateway's JWT
    /// authorizer, Azure APIM, OpenID Connect Discovery's required `RS256`).
    Rs256,
}

impl SigningAlgorithm {
    /// The JOSE name, as in the `alg` header.
    pub fn name(self) -> &'static str {
        match self {
            SigningAlgorithm::Hs256 => "HS256",
            SigningAlgorithm::Es256 => "ES256",
            SigningAlgorithm::EdDsa => "EdDSA",
            SigningAlgorithm::Rs256 => "RS256",
        }
    }

    /// Whether tokens are signed with a private key whose public half can be published.
    pub fn is_public_key(self) -> bool {
        self != SigningAlgorithm::Hs256
    }

    pub(crate) fn jwt(self) -> Algorithm {
        match self {
            SigningAlgorithm::Hs256 => Algorithm::HS256,
            SigningAlgorithm::Es256 => Algorithm::ES256,
            SigningAlgorithm::EdDsa => Algorithm::EdDSA,
            SigningAlgorithm::Rs256 => Algorithm::RS256,
        }
    }
}

impl FromStr for SigningAlgorithm {
    type Err = String;

    /// The exact JOSE names (`alg` values are case-sensitive, RFC 7515 §4.1.1).
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "HS256" => Ok(SigningAlgorithm::Hs256),
            "ES256" => Ok(SigningAlgorithm::Es256),
            "EdDSA" => Ok(SigningAlgorithm::EdDsa),
            "RS256" => Ok(SigningAlgorithm::Rs256),
            other => {
                Err(format!("unknown algorithm {other:?}: expected HS256, ES256, EdDSA or RS256"))
            }
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
