//! Support for the fuzz targets: the one place that builds the service state (so an API change
//! in `AppState` or `KeyStore` is adapted here only), the raw-request input format of the
//! `dispatch` target, and an HS256 checker that shares no code with the service.

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use serde_json::Value;
use sha2::Sha256;
use simple_jwt_api::AppState;
use simple_jwt_api::keys::KeyStore;
use simple_jwt_api::key_material::Secret;
use simple_jwt_api::token::{KeyPair, TokenRules};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// The secret the fuzzed service signs with. Seed tokens in `corpus/` are signed with it.
pub const SECRET: &str = "fuzzing-secret-0123456789abcdef-0123456789";
/// Clock-skew leeway of the fuzzed service, seconds.
pub const LEEWAY_SECONDS: u64 = 30;
/// Token lifetime of the fuzzed service.
pub const TTL: Duration = Duration::from_secs(3600);
/// Body limit of the fuzzed service: small, so that the 413 path is reachable.
pub const BODY_LIMIT: usize = 4096;

/// The application state under test (secret from the environment, one fixed key), built
/// once per process. The only place that knows how `AppState` is put together.
pub fn state() -> &'static AppState {
    static STATE: OnceLock<AppState> = OnceLock::new();
    STATE.get_or_init(|| {
        let (secret, _) = Secret::new(SECRET.to_owned(), false).expect("the fuzz secret is valid");
        AppState {
            keys: Arc::new(KeyStore::fixed(
                KeyPair::hmac(&secret, None),
                TokenRules::new(TTL, LEEWAY_SECONDS),
            )),
            body_limit: BODY_LIMIT,
            jwks_max_age: Duration::from_secs(300),
        }
    })
}

/// The key store whose `verify` is under test.
pub fn keys() -> &'static KeyStore {
    &state().keys
}

/// Runs `future` to completion on the spot. With a fixed key nothing in `dispatch` or
/// `KeyStore::verify` waits (only an SSM refresh would), so a pending poll is a bug.
pub fn complete<F: Future>(future: F) -> F::Output {
    match std::pin::pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("dispatch/verify waited with a fixed key"),
    }
}

/// Parses the `dispatch` target's input, a raw HTTP/1.1-like request:
///
/// ```text
/// METHOD SP TARGET LF
/// Name: value LF        (zero or more; a trailing CR is dropped)
/// LF
/// body bytes...
/// ```
///
/// Returns `None` when the method or target cannot be represented by `http` at all (the
/// adapters never produce such requests); header lines that are not valid header names or
/// values are skipped, as hyper and lambda_http would refuse them before dispatch.
pub fn parse_request(data: &[u8]) -> Option<Request<Bytes>> {
    let (head, body) = match find(data, b"\n\n").or_else(|| find(data, b"\r\n\r\n")) {
        Some(at) if data[at] == b'\r' => (&data[..at], &data[at + 4..]),
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let mut lines = head.split(|b| *b == b'\n').map(trim_cr);
    let request_line = lines.next()?;
    let (method, target) = match request_line.iter().position(|b| *b == b' ') {
        Some(at) => (&request_line[..at], &request_line[at + 1..]),
        None => (request_line, &b"/"[..]),
    };
    let method = Method::from_bytes(method).ok()?;
    let uri = Uri::try_from(target).ok()?;
    let mut request =
        Request::builder().method(method).uri(uri).body(Bytes::copy_from_slice(body)).ok()?;
    for line in lines {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii_start();
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(&line[..colon]), HeaderValue::from_bytes(value))
        {
            request.headers_mut().append(name, value);
        }
    }
    Some(request)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// What an accepted token must carry, decoded independently of the service.
#[derive(Debug, PartialEq, Eq)]
pub struct CheckedClaims {
    /// `email`: a non-blank string.
    pub email: String,
    /// `exp`: an integer in `u64`.
    pub exp: u64,
    /// `nbf`: an integer in `u64`.
    pub nbf: u64,
}

/// Checks `token` against the service's promise with code of its own (RustCrypto HMAC,
/// `base64`, `serde_json`; no `jsonwebtoken`): three canonical unpadded base64url segments;
/// a JSON-object header with `alg` exactly `HS256` and no `crit`; an HMAC-SHA256 signature
/// under [`SECRET`] over `header.payload`; a JSON-object payload with a non-blank string
/// `email` and integer `exp`/`nbf` valid at `now` within [`LEEWAY_SECONDS`]. Returns why it
/// is not acceptable, or the claims.
pub fn check_hs256(token: &str, now: u64) -> Result<CheckedClaims, String> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let segments: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = segments[..] else {
        return Err(format!("{} segments", segments.len()));
    };
    let decode = |name: &str, segment: &str| -> Result<Vec<u8>, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(segment)
            .map_err(|err| format!("{name} is not base64url: {err}"))?;
        if URL_SAFE_NO_PAD.encode(&bytes) != segment {
            return Err(format!("{name} is not canonical base64url"));
        }
        Ok(bytes)
    };
    let header_json: Value = parse_json("header", &decode("header", header)?)?;
    let header_json = header_json.as_object().ok_or("header is not an object")?;
    if header_json.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(format!("alg is {:?}", header_json.get("alg")));
    }
    // Any `crit` member, even `null` (fuzz finding 2).
    if header_json.contains_key("crit") {
        return Err("header has crit".into());
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(format!("{header}.{payload}").as_bytes());
    if mac.finalize().into_bytes()[..] != decode("signature", signature)?[..] {
        return Err("signature does not match".into());
    }
    let claims: Value = parse_json("payload", &decode("payload", payload)?)?;
    let claims = claims.as_object().ok_or("payload is not an object")?;
    let email = claims
        .get("email")
        .and_then(Value::as_str)
        .filter(|email| !email.trim().is_empty())
        .ok_or("email is missing or blank")?;
    let exp = claims.get("exp").and_then(Value::as_u64).ok_or("exp is not a u64")?;
    let nbf = claims.get("nbf").and_then(Value::as_u64).ok_or("nbf is not a u64")?;
    if exp < now.saturating_sub(LEEWAY_SECONDS) {
        return Err(format!("expired: exp {exp}, now {now}"));
    }
    if nbf > now.saturating_add(LEEWAY_SECONDS) {
        return Err(format!("not yet valid: nbf {nbf}, now {now}"));
    }
    Ok(CheckedClaims { email: email.to_owned(), exp, nbf })
}

/// Parses a decoded JWT part as a JSON object, which is UTF-8 (RFC 8259 §8.1, RFC 7519
/// §7.2). Member values are parsed one by one, and a value `serde_json::Value` cannot hold
/// (a number beyond `f64`, such as `4E0244729`, which is valid JSON) becomes an empty array:
/// neither a string nor a number, so it fails every check a member must pass, as it does in
/// the service, and is harmless in a member nobody reads.
/// Invalid UTF-8 anywhere, even inside a member nobody reads, is an error (fuzz finding 1).
fn parse_json(name: &str, bytes: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|err| format!("{name} is not UTF-8: {err}"))?;
    let members: std::collections::BTreeMap<String, &serde_json::value::RawValue> =
        serde_json::from_str(text).map_err(|err| format!("{name} is not a JSON object: {err}"))?;
    let object = members
        .into_iter()
        .map(|(key, raw)| {
            let value = serde_json::from_str(raw.get()).unwrap_or(Value::Array(Vec::new()));
            (key, value)
        })
        .collect();
    Ok(Value::Object(object))
}

/// Signs `header.payload` with [`SECRET`] (HMAC-SHA256) and returns the compact token: how
/// the `verify` target builds correctly signed tokens around fuzzed JSON.
pub fn sign_segments(header_json: &[u8], payload_json: &[u8]) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing_input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header_json), URL_SAFE_NO_PAD.encode(payload_json));
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}
