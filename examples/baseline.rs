//! The load harness's baseline (`scripts/load.sh`): each endpoint of the API answered with the
//! least work it needs, on the `server` binary's own hyper adapter — [`serve_with`], the same
//! accept loop, HTTP/1.1 + h2c builder, connection limit, timeouts, `TCP_NODELAY`, graceful
//! shutdown and Tokio runtime — with the same crates for the token work:
//!
//! - `GET /`: a constant `"Healthy"`;
//! - `POST /auth`: reads `email` from the JSON body, signs `{email, exp, nbf}` with
//!   jsonwebtoken (HS256, keys built once) and answers `{"token"}`;
//! - `GET /contents`: takes the `Bearer` token, decodes and verifies it with jsonwebtoken
//!   (HS256, `exp` and `nbf` required and checked) and answers `{email, exp, nbf}`.
//!
//! Nothing else: no logging, no request id, no `Cache-Control`, no content-type or password
//! check, no key rotation, no strict token-shape checks; any failure is a bare 400, 401 or 404.
//! Comparing each of our endpoints with the same endpoint here measures what the service adds
//! on top of the unavoidable work (HMAC, JSON), not the cost of that work.
//!
//! Reads `JWT_SECRET` (required: the harness passes both servers the same one), `PORT`
//! (default 8081) and `BIND_ADDRESS` (default 127.0.0.1); stops on SIGTERM or SIGINT. Run it
//! with `cargo run --release --example baseline`.

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
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

#[tokio::main]
async fn main() {
    let secret = std::env::var("JWT_SECRET").expect("JWT_SECRET must be set");
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "nbf"]);
    validation.validate_nbf = true; // jsonwebtoken's default is not to check it
    let keys = Arc::new(Keys {
        encoding: EncodingKey::from_secret(secret.as_bytes()).expect("a non-empty JWT_SECRET"),
        decoding: DecodingKey::from_secret(secret.as_bytes()).expect("a non-empty JWT_SECRET"),
        validation,
    });

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
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).ok()?;
    Some(serde_json::to_vec(&TokenBody { token: &token }).ok()?.into())
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
