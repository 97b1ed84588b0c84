//! The load harness's baseline (`scripts/load.sh`): each endpoint of the API answered with the
//! least work it needs, on the `server` binary's own hyper adapter — [`serve_with`], the same
//! accept loop, HTTP/1.1 + h2c builder, connection limit, timeouts, `TCP_NODELAY`, graceful
//! shutdown and Tokio runtime — with the same crates for the token work:
//!
//! - `GET /`: a constant `"Healthy"`;
//! - `POST /auth`: reads `email` from the JSON body, signs `{email, exp, nbf}` and answers
//!   `{"token"}` — HS256 with jsonwebtoken (keys built once); RS256, ES256 or EdDSA with an
//!   aws-lc-rs key pair parsed once (jsonwebtoken's `encode` would re-parse the PKCS#8 key per
//!   token, which is not the least work);
//! - `GET /contents`: takes the `Bearer` token, decodes and verifies it with jsonwebtoken
//!   (the configured algorithm, `exp` and `nbf` required and checked) and answers
//!   `{email, exp, nbf}`.
//!
//! Nothing else: no logging, no request id, no `Cache-Control`, no content-type or password
//! check, no key rotation, no strict token-shape checks; any failure is a bare 400, 401 or 404.
//! Comparing each of our endpoints with the same endpoint here measures what the service adds
//! on top of the unavoidable work (HMAC, JSON), not the cost of that work.
//!
//! Reads `JWT_ALGORITHM` (default HS256; also RS256, ES256, EdDSA) with `JWT_SECRET` (HS256) or
//! `JWT_PRIVATE_KEY` (a PKCS#8 PEM: the harness passes both servers the same one), `PORT`
//! (default 8081) and `BIND_ADDRESS` (default 127.0.0.1); stops on SIGTERM or SIGINT. Run it
//! with `cargo run --release --example baseline`.

use aws_lc_rs::signature;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use simple_jwt_api::config::tokens::DEFAULT_TOKEN_TTL_SECONDS;
use simple_jwt_api::server::{ServerConfig, serve_with, shutdown_signal};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The token's claims, as the service issues them.
#[derive(Serialize, Deserialize)]
struct Claims {
    email: String,
    exp: u64,
    nbf: u64,
}

/// The one field of the `POST /auth` body the token needs.
#[derive(Deserialize)]
struct Login {
    email: String,
}

/// The `POST /auth` answer.
#[derive(Serialize)]
struct TokenBody<'a> {
    token: &'a str,
}

/// Built once, shared by every request (cloning the `Arc` is shallow).
struct Keys {
    signer: Signer,
    header: Header,
    decoding: DecodingKey,
    validation: Validation,
}

/// The signing key, prepared once.
enum Signer {
    Hmac(EncodingKey),
    Es256(signature::EcdsaKeyPair),
    EdDsa(signature::Ed25519KeyPair),
    Rs256(signature::RsaKeyPair),
}

#[tokio::main]
async fn main() {
    let algorithm = std::env::var("JWT_ALGORITHM").unwrap_or_else(|_| "HS256".into());
    let (alg, signer, decoding) = if algorithm == "HS256" {
        let secret = std::env::var("JWT_SECRET").expect("JWT_SECRET must be set");
        let secret = secret.as_bytes();
        let encoding = EncodingKey::from_secret(secret).expect("a non-empty JWT_SECRET");
        let decoding = DecodingKey::from_secret(secret).expect("a non-empty JWT_SECRET");
        (Algorithm::HS256, Signer::Hmac(encoding), decoding)
    } else {
        let pem = std::env::var("JWT_PRIVATE_KEY").expect("JWT_PRIVATE_KEY must be set");
        let der = pem_body(&pem);
        let (alg, signer) = match algorithm.as_str() {
            "ES256" => (
                Algorithm::ES256,
                Signer::Es256(
                    signature::EcdsaKeyPair::from_pkcs8(
                        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                        &der,
                    )
                    .expect("a P-256 PKCS#8 key"),
                ),
            ),
            "EdDSA" => (
                Algorithm::EdDSA,
                Signer::EdDsa(
                    signature::Ed25519KeyPair::from_pkcs8(&der).expect("an Ed25519 PKCS#8 key"),
                ),
            ),
            "RS256" => (
                Algorithm::RS256,
                Signer::Rs256(signature::RsaKeyPair::from_pkcs8(&der).expect("an RSA PKCS#8 key")),
            ),
            other => panic!("JWT_ALGORITHM: unknown algorithm {other:?}"),
        };
        let decoding = decoding_key(&signer);
        (alg, signer, decoding)
    };
    let mut validation = Validation::new(alg);
    validation.set_required_spec_claims(&["exp", "nbf"]);
    validation.validate_nbf = true; // jsonwebtoken's default is not to check it
    let keys = Arc::new(Keys { signer, header: Header::new(alg), decoding, validation });

    let port: u16 = env_or("PORT", 8081);
    let address: IpAddr = env_or("BIND_ADDRESS", IpAddr::from([127, 0, 0, 1]));
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(address, port))
        .await
        .expect("bind the baseline's listener");
    eprintln!("baseline listening on {}", listener.local_addr().unwrap());
    // The server's defaults: what `server` runs with when no variable overrides them.
    serve_with(listener, ServerConfig::default(), shutdown_signal(), move |request| {
        let keys = Arc::clone(&keys);
        async move { Ok::<_, Infallible>(answer(&keys, request).await) }
    })
    .await;
}

async fn answer(keys: &Keys, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let status = match (request.method(), request.uri().path()) {
        (&Method::GET, "/") => return json(Bytes::from_static(br#""Healthy""#)),
        (&Method::POST, "/auth") => match auth(keys, request).await {
            Some(body) => return json(body),
            None => StatusCode::BAD_REQUEST,
        },
        (&Method::GET, "/contents") => match contents(keys, &request) {
            Some(body) => return json(body),
            None => StatusCode::UNAUTHORIZED,
        },
        _ => StatusCode::NOT_FOUND,
    };
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// `POST /auth`: `{"token"}` for the body's `email`.
async fn auth(keys: &Keys, request: Request<Incoming>) -> Option<Bytes> {
    let body = request.into_body().collect().await.ok()?.to_bytes();
    let Login { email } = serde_json::from_slice(&body).ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    let claims = Claims { email, exp: now + DEFAULT_TOKEN_TTL_SECONDS, nbf: now };
    let token = sign(keys, &claims)?;
    Some(serde_json::to_vec(&TokenBody { token: &token }).ok()?.into())
}

/// The compact JWS of `claims`: jsonwebtoken's `encode` for HS256, the prepared key otherwise.
fn sign(keys: &Keys, claims: &Claims) -> Option<String> {
    let key = match &keys.signer {
        Signer::Hmac(key) => return jsonwebtoken::encode(&keys.header, claims, key).ok(),
        other => other,
    };
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let header = b64(&serde_json::to_vec(&keys.header).ok()?);
    let message = format!("{header}.{}", b64(&serde_json::to_vec(claims).ok()?));
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let signature = match key {
        Signer::Es256(key) => key.sign(&rng, message.as_bytes()).ok()?.as_ref().to_vec(),
        Signer::EdDsa(key) => key.sign(message.as_bytes()).as_ref().to_vec(),
        Signer::Rs256(key) => {
            let mut signature = vec![0; key.public_modulus_len()];
            key.sign(&signature::RSA_PKCS1_SHA256, &rng, message.as_bytes(), &mut signature)
                .ok()?;
            signature
        }
        Signer::Hmac(_) => unreachable!(),
    };
    Some(format!("{message}.{}", b64(&signature)))
}

/// jsonwebtoken's verifying key for the public half of `signer`.
fn decoding_key(signer: &Signer) -> DecodingKey {
    use signature::KeyPair;
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    match signer {
        Signer::Es256(key) => {
            let point = key.public_key().as_ref();
            DecodingKey::from_ec_components(&b64(&point[1..33]), &b64(&point[33..])).unwrap()
        }
        Signer::EdDsa(key) => {
            DecodingKey::from_ed_components(&b64(key.public_key().as_ref())).unwrap()
        }
        Signer::Rs256(key) => {
            let public = key.public_key();
            DecodingKey::from_rsa_raw_components(
                public.modulus().big_endian_without_leading_zero(),
                public.exponent().big_endian_without_leading_zero(),
            )
        }
        Signer::Hmac(_) => unreachable!(),
    }
}

/// The DER inside a PEM block.
fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body.trim()).expect("a base64 PEM body")
}

/// `GET /contents`: the claims of the verified `Bearer` token.
fn contents(keys: &Keys, request: &Request<Incoming>) -> Option<Bytes> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?;
    let data = jsonwebtoken::decode::<Claims>(token, &keys.decoding, &keys.validation).ok()?;
    Some(serde_json::to_vec(&data.claims).ok()?.into())
}

fn json(body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value.parse().unwrap_or_else(|_| panic!("{name}: invalid value {value:?}")),
        Err(_) => default,
    }
}
