//! The public-key modes (ES256, EdDSA, RS256): the test keys, the environment that selects
//! them, and the conformance table every adapter must pass in those modes — the `.well-known`
//! documents, issued tokens that verify with the published key, and the attacks on public-key
//! JWTs (key confusion, `none`, keys outside our set, header key hints, missing or wrong
//! `iss`/`aud`), each answered with the same 401.

use crate::cases::{Case, ExpectBody, now};
use bytes::Bytes;
use http::Request;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, encode};
use serde_json::{Value, json};
use simple_jwt_api::key_material::PrivateKey;
use simple_jwt_api::token::{KeyPair, SigningAlgorithm};

/// The issuer the public-key servers are configured with (loopback http is allowed for tests).
pub const ISSUER: &str = "http://127.0.0.1:9/issuer";
/// The audience the public-key servers are configured with.
pub const AUDIENCE: &str = "orders-api";

/// A test key pair of one algorithm (`tests/data/keys/`).
#[derive(Clone, Copy, Debug)]
pub struct TestKey {
    /// The algorithm it serves.
    pub algorithm: SigningAlgorithm,
    /// The PKCS#8 PEM private key.
    pub pem: &'static str,
    /// Another key of the same type, outside the service's set.
    pub outside_pem: &'static str,
    /// The JOSE `alg`.
    pub alg: Algorithm,
}

/// The ES256 test key.
pub const ES256: TestKey = TestKey {
    algorithm: SigningAlgorithm::Es256,
    pem: include_str!("../../data/keys/es256-1.pem"),
    outside_pem: include_str!("../../data/keys/es256-outside.pem"),
    alg: Algorithm::ES256,
};
/// The EdDSA test key.
pub const EDDSA: TestKey = TestKey {
    algorithm: SigningAlgorithm::EdDsa,
    pem: include_str!("../../data/keys/ed25519-1.pem"),
    outside_pem: include_str!("../../data/keys/ed25519-2.pem"),
    alg: Algorithm::EdDSA,
};
/// The RS256 test key (2048 bits).
pub const RS256: TestKey = TestKey {
    algorithm: SigningAlgorithm::Rs256,
    pem: include_str!("../../data/keys/rsa-2048-1.pem"),
    outside_pem: include_str!("../../data/keys/rsa-2048-outside.pem"),
    alg: Algorithm::RS256,
};
/// Every public-key mode's test key.
pub const ALL: [TestKey; 3] = [ES256, EDDSA, RS256];
/// A second RS256 key (for rotations).
pub const RS256_NEXT_PEM: &str = include_str!("../../data/keys/rsa-2048-2.pem");
/// A second ES256 key (for rotations).
pub const ES256_NEXT_PEM: &str = include_str!("../../data/keys/es256-2.pem");

impl TestKey {
    /// The environment that makes a server sign with this key, with issuer and audience.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("JWT_ALGORITHM", self.algorithm.name()),
            ("JWT_PRIVATE_KEY", self.pem),
            ("JWT_ISSUER", ISSUER),
            ("JWT_AUDIENCE", AUDIENCE),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The key pair the service derives (its public JWK and `kid`).
    pub fn pair(&self) -> KeyPair {
        pair(self.algorithm, self.pem)
    }

    /// The public JWK as the JWKS must publish it.
    pub fn jwk(&self) -> Value {
        serde_json::to_value(self.pair().public_jwk().unwrap()).unwrap()
    }

    /// The service's `kid` for this key.
    pub fn kid(&self) -> String {
        self.pair().kid().unwrap().to_owned()
    }

    /// Signs `claims` with this key (or the outside one) under `header`.
    pub fn sign(&self, header: &Header, claims: &Value, outside: bool) -> String {
        let pem = if outside { self.outside_pem } else { self.pem };
        encode(header, claims, &encoding_key(self.algorithm, pem)).unwrap()
    }

    /// Verifies `token` with this key's public JWK, requiring the issuer and audience;
    /// returns its claims.
    pub fn verify(&self, token: &str) -> Result<Value, String> {
        let jwk: Jwk = serde_json::from_value(self.jwk()).unwrap();
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
        let mut validation = Validation::new(self.alg);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|e| format!("token does not verify: {e}"))?;
        if data.header.kid.as_deref() != Some(self.kid().as_str()) {
            return Err(format!("kid is {:?}", data.header.kid));
        }
        Ok(data.claims)
    }
}

fn pair(algorithm: SigningAlgorithm, pem: &str) -> KeyPair {
    KeyPair::from_private_key(algorithm, &PrivateKey::from_pem(pem.to_owned()).unwrap()).unwrap()
}

fn encoding_key(algorithm: SigningAlgorithm, pem: &str) -> EncodingKey {
    let key = PrivateKey::from_pem(pem.to_owned()).unwrap();
    match algorithm {
        SigningAlgorithm::Es256 => EncodingKey::from_ec_der(key.der()),
        // from_rsa_der wants PKCS#1; the PEM reader unwraps PKCS#8.
        SigningAlgorithm::Rs256 => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        _ => EncodingKey::from_ed_der(key.der()),
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn get(path: &str, authorization: Option<&str>) -> Request<Bytes> {
    let mut builder = Request::builder().method("GET").uri(path);
    if let Some(token) = authorization {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(Bytes::new()).unwrap()
}

/// The public-key conformance table for `key`'s algorithm.
pub fn cases(key: TestKey) -> Vec<Case> {
    let now = now();
    let good =
        json!({"email": "pk@b.c", "exp": now + 600, "nbf": now, "iss": ISSUER, "aud": AUDIENCE});
    let mut ours = Header::new(key.alg);
    ours.kid = Some(key.kid());
    let with = |claim: &str, value: Option<&str>| {
        let mut claims = good.clone();
        match value {
            Some(value) => claims[claim] = json!(value),
            None => {
                claims.as_object_mut().unwrap().remove(claim);
            }
        }
        key.sign(&ours, &claims, false)
    };
    let public_jwk = key.jwk().to_string();
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = Some(key.kid());
    let mut jwk_header = Header::new(key.alg);
    jwk_header.jwk = Some(
        Jwk::from_encoding_key(&encoding_key(key.algorithm, key.outside_pem), key.alg).unwrap(),
    );
    let mut jku_header = ours.clone();
    jku_header.jku = Some("https://attacker.example/jwks.json".into());
    jku_header.x5u = Some("https://attacker.example/cert.pem".into());
    let mut crit = ours.clone();
    crit.crit = Some(vec!["exp".into()]);
    let other = if key.algorithm == SigningAlgorithm::Es256 { EDDSA } else { ES256 };
    let mut other_header = Header::new(other.alg);
    other_header.kid = Some(key.kid());

    let unauthorized = |name: &str, token: String| Case {
        name: format!("{}: {name} is 401", key.algorithm),
        request: get("/contents", Some(&token)),
        status: 401,
        body: ExpectBody::Message,
        headers: vec![("www-authenticate", "Bearer error=\"invalid_token\"")],
    };
    let issued = move |json: &Value| -> Result<(), String> {
        let token = json["token"].as_str().ok_or("no token")?;
        let claims = key.verify(token)?;
        let names: Vec<&str> = claims.as_object().unwrap().keys().map(String::as_str).collect();
        if names != ["aud", "email", "exp", "iss", "nbf"] || claims["email"] != "pk@b.c" {
            return Err(format!("claims are {claims}"));
        }
        Ok(())
    };
    let max_age = "public, max-age=300";
    vec![
        Case {
            name: format!("{}: the JWKS publishes the signing key", key.algorithm),
            request: get("/.well-known/jwks.json", None),
            status: 200,
            body: ExpectBody::Json(json!({"keys": [key.jwk()]})),
            headers: vec![("cache-control", max_age)],
        },
        Case {
            name: format!("{}: the discovery document points at the JWKS", key.algorithm),
            request: get("/.well-known/openid-configuration", None),
            status: 200,
            body: ExpectBody::Json(json!({
                "issuer": ISSUER,
                "jwks_uri": format!("{ISSUER}/.well-known/jwks.json"),
                "id_token_signing_alg_values_supported": [key.algorithm.name()],
            })),
            headers: vec![("cache-control", max_age)],
        },
        Case {
            name: format!("{}: POST on the JWKS is 405", key.algorithm),
            request: Request::post("/.well-known/jwks.json").body(Bytes::new()).unwrap(),
            status: 405,
            body: ExpectBody::Message,
            headers: vec![("allow", "GET")],
        },
        Case {
            name: format!("{}: an issued token verifies with the published key", key.algorithm),
            request: Request::post("/auth")
                .header("content-type", "application/json")
                .body(Bytes::from_static(br#"{"email":"pk@b.c","password":"x"}"#))
                .unwrap(),
            status: 200,
            body: ExpectBody::Check(Box::new(issued)),
            headers: vec![("cache-control", "no-store")],
        },
        Case {
            name: format!("{}: a token signed with our key is 200", key.algorithm),
            request: get("/contents", Some(&key.sign(&ours, &good, false))),
            status: 200,
            body: ExpectBody::Json(json!({"email": "pk@b.c", "exp": now + 600, "nbf": now})),
            headers: vec![],
        },
        unauthorized(
            "HS256 keyed with the public JWK",
            crate::cases::sign(&hs256, &good, public_jwk.as_bytes()),
        ),
        unauthorized(
            "alg none",
            format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(good.to_string().as_bytes())),
        ),
        unauthorized("an outside key", key.sign(&Header::new(key.alg), &good, true)),
        unauthorized("an outside key borrowing our kid", key.sign(&ours, &good, true)),
        unauthorized("an outside key in a jwk header", key.sign(&jwk_header, &good, true)),
        unauthorized("jku and x5u headers", key.sign(&jku_header, &good, true)),
        unauthorized("the other public-key algorithm", other.sign(&other_header, &good, false)),
        unauthorized("a crit header", key.sign(&crit, &good, false)),
        unauthorized("no iss", with("iss", None)),
        unauthorized("a wrong iss", with("iss", Some("https://attacker.example"))),
        unauthorized("no aud", with("aud", None)),
        unauthorized("a wrong aud", with("aud", Some("another-api"))),
        unauthorized(
            "expired",
            key.sign(&ours, &json!({"email": "pk@b.c", "exp": now - 120, "nbf": now - 600, "iss": ISSUER, "aud": AUDIENCE}), false),
        ),
    ]
}
