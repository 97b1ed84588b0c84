//! The one request-dispatch function. Both adapters (hyper server, Lambda) hand it an
//! `http::Request<Bytes>` and put the `http::Response<Bytes>` it returns on the wire.
//!
//! It never fails and never panics on client input: every outcome, including every client
//! error, is a response. It also writes the one access-log line per request and records the
//! request's metrics ([`crate::metrics`]), both in one place (`observe`).

use crate::error::{ApiError, json_response};
use crate::metrics::{self, Verification};
use crate::state::AppState;
use crate::token::{Rejected, Rejection};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderName};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use serde_json::Value;
use std::time::Instant;

/// Header carrying the request id: taken from the client when well-formed, generated
/// otherwise, and always echoed in the response so logs and clients can be correlated.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

const HEALTHY: &[u8] = br#""Healthy""#;

/// Answers one request: routes `GET|POST /`, `POST /auth`, `GET /contents` and the two
/// public-key documents under `/.well-known/`, turns every error into its response, adds
/// `x-request-id`, logs one access line (method, path, status, latency, request id — never
/// headers or bodies) and records the request metrics.
///
/// It is `async` only because verifying a token signed with a secret newer than this process
/// has seen waits for a (single-flight, rate-limited) re-read of the secret; every other path
/// completes without awaiting.
pub async fn dispatch(state: &AppState, request: Request<Bytes>) -> Response<Bytes> {
    let started = Instant::now();
    let request_id = request_id(request.headers());
    let mut response = route(state, &request).await.unwrap_or_else(ApiError::into_response);
    observe(request.method(), request.uri().path(), response.status(), started, &request_id);
    response.headers_mut().insert(REQUEST_ID, request_id);
    response
}

/// Answers a request the adapter could not read in full (its body exceeded the limit, or
/// the client went away mid-body), with the same access log line and metrics as [`dispatch`].
pub fn reject(request: &http::request::Parts, error: ApiError) -> Response<Bytes> {
    let started = Instant::now();
    let request_id = request_id(&request.headers);
    let mut response = error.into_response();
    observe(&request.method, request.uri.path(), response.status(), started, &request_id);
    response.headers_mut().insert(REQUEST_ID, request_id);
    response
}

async fn route(state: &AppState, request: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    if request.body().len() > state.body_limit {
        return Err(ApiError::PayloadTooLarge { limit: state.body_limit });
    }
    let method = request.method();
    match request.uri().path() {
        "/" => match *method {
            Method::GET | Method::POST => {
                Ok(json_response(StatusCode::OK, Bytes::from_static(HEALTHY)))
            }
            _ => Err(ApiError::MethodNotAllowed { allow: "GET, POST" }),
        },
        "/auth" => match *method {
            Method::POST => auth(state, request),
            _ => Err(ApiError::MethodNotAllowed { allow: "POST" }),
        },
        "/contents" => match *method {
            Method::GET => contents(state, request.headers()).await,
            _ => Err(ApiError::MethodNotAllowed { allow: "GET" }),
        },
        JWKS_PATH => match *method {
            Method::GET => jwks(state),
            _ => Err(ApiError::MethodNotAllowed { allow: "GET" }),
        },
        DISCOVERY_PATH => match *method {
            Method::GET => discovery(state),
            _ => Err(ApiError::MethodNotAllowed { allow: "GET" }),
        },
        _ => Err(ApiError::NotFound),
    }
}

/// `POST /auth`: `{"email", "password"}` in, `{"token"}` out. The password is required (as in
/// the original) but used for nothing: it is neither put in the token nor logged.
fn auth(state: &AppState, request: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    if !is_json_or_absent(request.headers()) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = parse_json_object(request.body())?;
    let email = required_string(&body, "email")?;
    required_string(&body, "password")?;
    let token = state.keys.issue(email).map_err(|err| {
        tracing::error!(error = %err, "could not sign a token");
        ApiError::Internal
    })?;
    metrics::token_issued();
    let body = serde_json::to_vec(&TokenBody { token: &token }).map_err(|_| ApiError::Internal)?;
    Ok(no_store(json_response(StatusCode::OK, body.into())))
}

/// The `POST /auth` response body.
#[derive(serde::Serialize)]
struct TokenBody<'a> {
    token: &'a str,
}

/// `GET /contents`: the verified token's `email`, `exp` and `nbf`, and nothing else.
async fn contents(state: &AppState, headers: &HeaderMap) -> Result<Response<Bytes>, ApiError> {
    let token = bearer_token(headers).inspect_err(|err| {
        metrics::verification(match err {
            ApiError::MissingToken => Verification::Missing,
            _ => Verification::Rejected(Rejection::Malformed),
        })
    })?;
    let claims = state.keys.verify(token).await.map_err(|Rejected(why)| {
        metrics::verification(Verification::Rejected(why));
        ApiError::InvalidToken
    })?;
    metrics::verification(Verification::Ok);
    let body = serde_json::to_vec(&claims).map_err(|_| ApiError::Internal)?;
    Ok(no_store(json_response(StatusCode::OK, body.into())))
}

/// Extracts the token from the single `Authorization: Bearer <token>` header (scheme
/// case-insensitive, RFC 6750 §2.1). No header or another scheme is `MissingToken`;
/// anything malformed after `Bearer` — empty, several tokens, several headers — is
/// `InvalidToken`.
fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(ApiError::MissingToken)?;
    if values.next().is_some() {
        return Err(ApiError::InvalidToken);
    }
    let value = value.to_str().map_err(|_| ApiError::InvalidToken)?.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::MissingToken);
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() || token.contains(|c: char| c.is_ascii_whitespace() || c == ',') {
        return Err(ApiError::InvalidToken);
    }
    Ok(token)
}

/// A missing `Content-Type` is read as JSON (curl's `-d` users forget it); a present one must
/// be `application/json` or a `+json` type, with any parameters.
fn is_json_or_absent(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn parse_json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "request body is empty; expected a JSON object with \"email\" and \"password\"".into(),
        ));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("request body is not valid UTF-8".into()))?;
    // serde_json's syntax errors name a position, never the input, so they are safe to return.
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::BadRequest(
            "request body must be a JSON object with \"email\" and \"password\"".into(),
        )),
        Err(err) => {
            Err(ApiError::BadRequest(format!("request body is not valid JSON: {err}").into()))
        }
    }
}

fn required_string<'a>(
    object: &'a serde_json::Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, ApiError> {
    match object.get(field) {
        None | Some(Value::Null) => {
            Err(ApiError::BadRequest(format!("\"{field}\" is required").into()))
        }
        Some(Value::String(value)) if value.trim().is_empty() => {
            Err(ApiError::BadRequest(format!("\"{field}\" must not be empty").into()))
        }
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(ApiError::BadRequest(format!("\"{field}\" must be a string").into())),
    }
}

/// Where the JWKS is served (the path every JWKS client defaults to after discovery).
pub(crate) const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Where the OpenID discovery document is served (OpenID Connect Discovery 1.0 §4).
pub(crate) const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// `GET /.well-known/jwks.json`: the public keys that verify our tokens now (signing, next,
/// and in grace). 404 in HS256 mode: a shared secret is never published.
fn jwks(state: &AppState) -> Result<Response<Bytes>, ApiError> {
    if !state.keys.rules().algorithm().is_public_key() {
        return Err(ApiError::NotFound);
    }
    let body = serde_json::to_vec(&serde_json::json!({ "keys": state.keys.jwks() }))
        .map_err(|_| ApiError::Internal)?;
    Ok(cache_publicly(json_response(StatusCode::OK, body.into()), state))
}

/// `GET /.well-known/openid-configuration`: where verifiers find the JWKS. Only the members
/// verifiers read (API Gateway's JWT authorizer: `issuer`, `jwks_uri`; OpenID clients such as
/// go-oidc also `id_token_signing_alg_values_supported`); nothing that would promise an OAuth
/// flow this service does not implement. 404 without `JWT_ISSUER` or in HS256 mode.
fn discovery(state: &AppState) -> Result<Response<Bytes>, ApiError> {
    let rules = state.keys.rules();
    let Some(issuer) = rules.issuer().filter(|_| rules.algorithm().is_public_key()) else {
        return Err(ApiError::NotFound);
    };
    // OpenID Connect Discovery 1.0 §4: a terminating `/` of the issuer is removed before a
    // well-known path is appended.
    let base = issuer.trim_end_matches('/');
    let body = serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{base}{JWKS_PATH}"),
        "id_token_signing_alg_values_supported": [rules.algorithm().name()],
    });
    let body = serde_json::to_vec(&body).map_err(|_| ApiError::Internal)?;
    Ok(cache_publicly(json_response(StatusCode::OK, body.into()), state))
}

/// `Cache-Control: public, max-age=N`: verifiers and CDNs may keep the document that long;
/// key activation is delayed past it so no cached copy lacks a key in use.
fn cache_publicly(mut response: Response<Bytes>, state: &AppState) -> Response<Bytes> {
    let value = format!("public, max-age={}", state.jwks_max_age.as_secs());
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_str(&value).expect("digits are a valid header"));
    response
}

/// `Cache-Control: no-store`: for tokens, claims and the admin port's answers.
pub(crate) fn no_store(mut response: Response<Bytes>) -> Response<Bytes> {
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The client's `x-request-id` if it is 1–128 characters of `[A-Za-z0-9._:-]`, else a new
/// UUID v4.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(&REQUEST_ID)
        .filter(|value| {
            let bytes = value.as_bytes();
            (1..=128).contains(&bytes.len())
                && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(b))
        })
        .cloned()
        .unwrap_or_else(|| {
            let id = uuid::Uuid::new_v4();
            HeaderValue::from_str(id.as_simple().encode_lower(&mut uuid::Uuid::encode_buffer()))
                .expect("a UUID is a valid header value")
        })
}

/// What every answered request leaves behind: its metrics, and one access line at `INFO` —
/// except a successful health check (`GET|POST /` answering 200), at `DEBUG`: load-balancer
/// checks hit it every few seconds on every pod, and at load a line costs about as much CPU as
/// the answer itself.
fn observe(method: &Method, path: &str, status: StatusCode, started: Instant, id: &HeaderValue) {
    let elapsed = started.elapsed();
    metrics::request(method, path, status, elapsed);
    // Paths are client-chosen: cap what reaches the log.
    let path = &path[..path.floor_char_boundary(256)];
    macro_rules! access_line {
        ($level:expr) => {
            tracing::event!(
                $level,
                method = method.as_str(),
                path,
                status = status.as_u16(),
                latency_us = elapsed.as_micros() as u64,
                request_id = id.to_str().unwrap_or(""),
                "request"
            )
        };
    }
    if path == "/" && status == StatusCode::OK {
        access_line!(tracing::Level::DEBUG);
    } else {
        access_line!(tracing::Level::INFO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    /// The Bearer parser accepts exactly one token after a case-insensitive scheme and sorts
    /// every malformed header into missing (no challenge error) or invalid.
    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(&headers(&["Bearer abc"])), Ok("abc"));
        assert_eq!(bearer_token(&headers(&["bearer abc"])), Ok("abc"));
        assert_eq!(bearer_token(&headers(&["BEARER   abc  "])), Ok("abc"));
        assert_eq!(bearer_token(&headers(&[])), Err(ApiError::MissingToken));
        assert_eq!(bearer_token(&headers(&["Basic dXNlcjpwYXNz"])), Err(ApiError::MissingToken));
        assert_eq!(bearer_token(&headers(&["Bearertoken"])), Err(ApiError::MissingToken));
        assert_eq!(bearer_token(&headers(&["Bearer"])), Err(ApiError::InvalidToken));
        assert_eq!(bearer_token(&headers(&["Bearer "])), Err(ApiError::InvalidToken));
        assert_eq!(bearer_token(&headers(&["Bearer a b"])), Err(ApiError::InvalidToken));
        assert_eq!(bearer_token(&headers(&["Bearer a,b"])), Err(ApiError::InvalidToken));
        assert_eq!(bearer_token(&headers(&["Bearer a\tb"])), Err(ApiError::InvalidToken));
        assert_eq!(bearer_token(&headers(&["Bearer a", "Bearer b"])), Err(ApiError::InvalidToken));
        let mut non_ascii = HeaderMap::new();
        non_ascii.insert(AUTHORIZATION, HeaderValue::from_bytes(b"Bearer \xff").unwrap());
        assert_eq!(bearer_token(&non_ascii), Err(ApiError::InvalidToken));
    }

    /// JSON media types with parameters and `+json` suffixes are accepted; others are not.
    #[test]
    fn content_types() {
        let with = |value: &str| {
            let mut map = HeaderMap::new();
            map.insert(CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            is_json_or_absent(&map)
        };
        assert!(is_json_or_absent(&HeaderMap::new()));
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!with("application/jsonx"));
    }

    /// Well-formed client request ids are echoed; hostile ones are replaced.
    #[test]
    fn request_ids() {
        let mut map = HeaderMap::new();
        map.insert(REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&map), "abc-123");
        map.insert(REQUEST_ID, HeaderValue::from_static("has space"));
        assert_eq!(request_id(&map).len(), 32);
        assert_eq!(request_id(&HeaderMap::new()).len(), 32);
    }

    async fn state(vars: &[(&str, &str)]) -> std::sync::Arc<AppState> {
        let config = crate::Config::from_lookup(|name| {
            vars.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string())
        })
        .unwrap();
        AppState::from_config(&config).await.unwrap()
    }

    async fn get(state: &AppState, path: &str) -> Response<Bytes> {
        let request = Request::get(path).body(Bytes::new()).unwrap();
        dispatch(state, request).await
    }

    /// In a public-key mode the JWKS lists the signing key with a public cache lifetime, and
    /// the discovery document (with `JWT_ISSUER`) points at it; a trailing `/` of the issuer
    /// is not doubled. Without an issuer there is no discovery document; in HS256 mode
    /// neither document exists.
    #[tokio::test]
    async fn well_known_documents() {
        let pem = include_str!("../tests/data/keys/es256-1.pem");
        let es256 = [
            ("JWT_ALGORITHM", "ES256"),
            ("JWT_PRIVATE_KEY", pem),
            ("JWT_ISSUER", "https://auth.example.com/"),
            ("JWKS_MAX_AGE_SECONDS", "120"),
        ];
        let state = state(&es256).await;
        let jwks = get(&state, JWKS_PATH).await;
        assert_eq!(jwks.status(), 200);
        assert_eq!(jwks.headers()[CACHE_CONTROL], "public, max-age=120");
        let body: Value = serde_json::from_slice(jwks.body()).unwrap();
        let token = state.keys.issue("a@b.c").unwrap();
        let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
        assert_eq!(body["keys"].as_array().unwrap().len(), 1);
        assert_eq!(body["keys"][0]["kid"], kid.as_str());
        assert!(body["keys"][0].get("d").is_none(), "never a private member");

        let discovery = get(&state, DISCOVERY_PATH).await;
        assert_eq!(discovery.status(), 200);
        assert_eq!(discovery.headers()[CACHE_CONTROL], "public, max-age=120");
        let body: Value = serde_json::from_slice(discovery.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "issuer": "https://auth.example.com/",
                "jwks_uri": "https://auth.example.com/.well-known/jwks.json",
                "id_token_signing_alg_values_supported": ["ES256"],
            })
        );
        let post = Request::post(JWKS_PATH).body(Bytes::new()).unwrap();
        assert_eq!(dispatch(&state, post).await.status(), 405);

        let no_issuer = self::state(&es256[..2]).await;
        assert_eq!(get(&no_issuer, JWKS_PATH).await.status(), 200);
        assert_eq!(get(&no_issuer, DISCOVERY_PATH).await.status(), 404);

        let hs256 = self::state(&[
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("JWT_ISSUER", "https://auth.example.com"),
        ])
        .await;
        assert_eq!(get(&hs256, JWKS_PATH).await.status(), 404);
        assert_eq!(get(&hs256, DISCOVERY_PATH).await.status(), 404);
    }
}
