//! The conformance table: every request -> expected-response rule of the API, in one list that
//! runs unchanged against each adapter (the hyper server, and the Lambda adapter). An adapter
//! passes if [`run_case_table`] returns; it reports every failing case at once.

use crate::TEST_SECRET;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

/// What a case's response body must be.
pub enum ExpectBody {
    /// Exactly this JSON value.
    Json(Value),
    /// `{"message": <non-empty string>}` and no other key.
    Message,
    /// `{"token": <jwt>}` whose token verifies with the test secret and carries `email`.
    TokenFor(&'static str),
    /// Whatever this function accepts (used by the public-key table to verify issued tokens
    /// with the public key).
    Check(BodyCheck),
}

/// A custom check of a response body: `Err` says what is wrong.
pub type BodyCheck = Box<dyn Fn(&Value) -> Result<(), String>>;

/// One request and the response it must get.
pub struct Case {
    /// What the case proves.
    pub name: String,
    /// The request as it goes on the wire.
    pub request: Request<Bytes>,
    /// Expected status.
    pub status: u16,
    /// Expected body.
    pub body: ExpectBody,
    /// Headers that must be present with exactly these values.
    pub headers: Vec<(&'static str, &'static str)>,
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Signs `claims` with `secret` under `header`, as any HS* implementation would.
pub fn sign(header: &Header, claims: &Value, secret: &[u8]) -> String {
    encode(header, claims, &EncodingKey::from_secret(secret).unwrap()).unwrap()
}

/// An HS256 token over `claims` with the test secret.
pub fn hs256(claims: Value) -> String {
    sign(&Header::new(Algorithm::HS256), &claims, TEST_SECRET.as_bytes())
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `token` with its header replaced by `header_json` (signature kept): forged-algorithm tokens.
fn with_header(token: &str, header_json: &str) -> String {
    let (_, rest) = token.split_once('.').unwrap();
    format!("{}.{rest}", b64(header_json.as_bytes()))
}

fn build(
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: impl Into<Bytes>,
) -> Request<Bytes> {
    let mut request = Request::builder().method(method).uri(path).body(body.into()).unwrap();
    for (name, value) in headers {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    request
}

const JSON: (&str, &[u8]) = ("content-type", b"application/json");
const HEALTHY: &str = "Healthy";
const BEARER: (&str, &str) = ("www-authenticate", "Bearer");
const INVALID_TOKEN: (&str, &str) = ("www-authenticate", "Bearer error=\"invalid_token\"");

/// Every case of the API contract. Tokens are minted fresh (they carry real times).
pub fn cases() -> Vec<Case> {
    let now = now();
    let claims = json!({"email": "user@example.com", "exp": now + 3600, "nbf": now - 10});
    let valid = hs256(claims.clone());
    let mut cases = Vec::new();
    let mut case = |name: &str,
                    request: Request<Bytes>,
                    status: u16,
                    body: ExpectBody,
                    headers: &[(&'static str, &'static str)]| {
        cases.push(Case {
            name: name.to_owned(),
            request,
            status,
            body,
            headers: headers.to_vec(),
        });
    };

    // Health.
    case(
        "GET / is healthy",
        build("GET", "/", &[], ""),
        200,
        ExpectBody::Json(json!(HEALTHY)),
        &[],
    );
    case(
        "POST / is healthy",
        build("POST", "/", &[], ""),
        200,
        ExpectBody::Json(json!(HEALTHY)),
        &[],
    );
    case(
        "POST / ignores its body",
        build("POST", "/", &[JSON], "{\"a\":1}"),
        200,
        ExpectBody::Json(json!(HEALTHY)),
        &[],
    );
    case(
        "query strings are ignored",
        build("GET", "/?probe=1", &[], ""),
        200,
        ExpectBody::Json(json!(HEALTHY)),
        &[],
    );
    case(
        "PUT / is 405",
        build("PUT", "/", &[], ""),
        405,
        ExpectBody::Message,
        &[("allow", "GET, POST")],
    );
    case(
        "DELETE / is 405",
        build("DELETE", "/", &[], ""),
        405,
        ExpectBody::Message,
        &[("allow", "GET, POST")],
    );

    // POST /auth.
    let auth = |headers: &[(&str, &[u8])], body: &[u8]| {
        build("POST", "/auth", headers, Bytes::copy_from_slice(body))
    };
    let credentials = br#"{"email":"user@example.com","password":"s3cr3t-pw"}"#;
    case(
        "auth issues a token",
        auth(&[JSON], credentials),
        200,
        ExpectBody::TokenFor("user@example.com"),
        &[("cache-control", "no-store")],
    );
    case(
        "auth without content-type parses JSON",
        auth(&[], credentials),
        200,
        ExpectBody::TokenFor("user@example.com"),
        &[],
    );
    case(
        "auth with charset",
        auth(&[("content-type", b"application/json; charset=utf-8")], credentials),
        200,
        ExpectBody::TokenFor("user@example.com"),
        &[],
    );
    case(
        "auth ignores extra fields",
        auth(&[JSON], br#"{"email":"x@y.z","password":"p","admin":true}"#),
        200,
        ExpectBody::TokenFor("x@y.z"),
        &[],
    );
    case(
        "auth with text/plain is 415",
        auth(&[("content-type", b"text/plain")], credentials),
        415,
        ExpectBody::Message,
        &[],
    );
    case(
        "auth with a form body is 415",
        auth(&[("content-type", b"application/x-www-form-urlencoded")], b"email=a&password=b"),
        415,
        ExpectBody::Message,
        &[],
    );
    let bad_bodies: &[(&str, &[u8])] = &[
        ("empty body", b""),
        ("whitespace body", b"  \n"),
        ("malformed JSON", b"{\"email\": "),
        ("trailing garbage", b"{\"email\":\"a\",\"password\":\"b\"} x"),
        ("invalid UTF-8", b"{\"email\":\"\xff\xfe\",\"password\":\"b\"}"),
        ("array", b"[\"a\",\"b\"]"),
        ("string", b"\"a\""),
        ("null", b"null"),
        ("number", b"42"),
        ("missing email", b"{\"password\":\"b\"}"),
        ("missing password", b"{\"email\":\"a@b.c\"}"),
        ("empty email", b"{\"email\":\"\",\"password\":\"b\"}"),
        ("blank email", b"{\"email\":\"   \",\"password\":\"b\"}"),
        ("empty password", b"{\"email\":\"a@b.c\",\"password\":\"\"}"),
        ("numeric email", b"{\"email\":1,\"password\":\"b\"}"),
        ("null email", b"{\"email\":null,\"password\":\"b\"}"),
        ("object password", b"{\"email\":\"a@b.c\",\"password\":{}}"),
        ("boolean password", b"{\"email\":\"a@b.c\",\"password\":true}"),
        ("duplicate email", b"{\"email\":\"a@b.c\",\"password\":\"b\",\"email\":\"evil@b.c\"}"),
        (
            "duplicate nested key",
            b"{\"email\":\"a@b.c\",\"password\":\"b\",\"x\":{\"k\":1,\"k\":2}}",
        ),
        ("email with CR/LF", b"{\"email\":\"a@b.c\\r\\nX-Injected: 1\",\"password\":\"b\"}"),
        ("email with NUL", b"{\"email\":\"a@b.c\\u0000\",\"password\":\"b\"}"),
        ("email with U+202E", b"{\"email\":\"moc.b@a\\u202e\",\"password\":\"b\"}"),
        (
            "password with a bidi isolate",
            "{\"email\":\"a@b.c\",\"password\":\"p\u{2066}\"}".as_bytes(),
        ),
    ];
    let long_email = format!(r#"{{"email":"{}@b.c","password":"b"}}"#, "a".repeat(251));
    let long_password = format!(r#"{{"email":"a@b.c","password":"{}"}}"#, "p".repeat(1025));
    let longest =
        format!(r#"{{"email":"{}@b.c","password":"{}"}}"#, "a".repeat(250), "p".repeat(1024));
    for (name, body) in [
        ("an email over 254 characters", &long_email),
        ("a password over 1024 characters", &long_password),
    ] {
        case(
            &format!("auth with {name} is 400"),
            auth(&[JSON], body.as_bytes()),
            400,
            ExpectBody::Message,
            &[],
        );
    }
    case(
        "auth at the longest email and password is 200",
        auth(&[JSON], longest.as_bytes()),
        200,
        ExpectBody::Check(Box::new(|body| {
            body["token"].as_str().map(|_| ()).ok_or_else(|| "no token".to_owned())
        })),
        &[],
    );
    for (name, body) in bad_bodies {
        case(
            &format!("auth with {name} is 400"),
            auth(&[JSON], body),
            400,
            ExpectBody::Message,
            &[],
        );
    }
    case(
        "GET /auth is 405",
        build("GET", "/auth", &[], ""),
        405,
        ExpectBody::Message,
        &[("allow", "POST")],
    );
    case(
        "oversized body is 413",
        auth(&[JSON], &vec![b' '; 64 * 1024 + 1]),
        413,
        ExpectBody::Message,
        &[],
    );

    // GET /contents.
    let contents = |authorization: &[&[u8]]| {
        let headers: Vec<(&str, &[u8])> =
            authorization.iter().map(|value| ("authorization", *value)).collect();
        build("GET", "/contents", &headers, "")
    };
    let bearer = |token: &str| format!("Bearer {token}").into_bytes();
    case(
        "contents returns the claims",
        contents(&[&bearer(&valid)]),
        200,
        ExpectBody::Json(claims.clone()),
        &[("cache-control", "no-store")],
    );
    case(
        "bearer scheme is case-insensitive",
        contents(&[format!("bEaReR {valid}").as_bytes()]),
        200,
        ExpectBody::Json(claims.clone()),
        &[],
    );
    let extra = hs256(
        json!({"email": "user@example.com", "exp": now + 3600, "nbf": now - 10, "admin": true, "iat": now}),
    );
    case(
        "contents returns only email/exp/nbf",
        contents(&[&bearer(&extra)]),
        200,
        ExpectBody::Json(claims.clone()),
        &[],
    );
    case("no Authorization is 401", contents(&[]), 401, ExpectBody::Message, &[BEARER]);
    case(
        "Basic scheme is 401",
        contents(&[b"Basic dXNlcjpwYXNz"]),
        401,
        ExpectBody::Message,
        &[BEARER],
    );
    case(
        "empty bearer token is 401",
        contents(&[b"Bearer "]),
        401,
        ExpectBody::Message,
        &[INVALID_TOKEN],
    );
    case("bare Bearer is 401", contents(&[b"Bearer"]), 401, ExpectBody::Message, &[INVALID_TOKEN]);
    case(
        "two tokens in one header is 401",
        contents(&[format!("Bearer {valid} {valid}").as_bytes()]),
        401,
        ExpectBody::Message,
        &[INVALID_TOKEN],
    );
    case(
        "two comma-separated tokens is 401",
        contents(&[format!("Bearer {valid},{valid}").as_bytes()]),
        401,
        ExpectBody::Message,
        &[INVALID_TOKEN],
    );
    case(
        "two Authorization headers is 401",
        contents(&[&bearer(&valid), &bearer(&valid)]),
        401,
        ExpectBody::Message,
        &[INVALID_TOKEN],
    );

    let payload = claims.to_string();
    let mut crit = Header::new(Algorithm::HS256);
    crit.crit = Some(vec!["b64".into()]);
    crit.extras.insert("b64", true);
    let non_canonical = {
        let mut bytes = valid.clone().into_bytes();
        let last = bytes.last_mut().unwrap();
        // The signature's last character carries 2 unused bits; a different one still
        // decodes to the same bytes with a lenient decoder.
        *last = match *last {
            b'A' => b'B',
            _ => b'A',
        };
        String::from_utf8(bytes).unwrap()
    };
    let invalid_tokens: Vec<(&str, String)> = vec![
        ("garbage", "not-a-jwt".into()),
        (
            "wrong secret",
            sign(&Header::new(Algorithm::HS256), &claims, b"some-other-secret-0123456789abcdef"),
        ),
        (
            "alg none",
            format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(payload.as_bytes())),
        ),
        ("alg None spelled oddly", with_header(&valid, r#"{"alg":"None","typ":"JWT"}"#)),
        ("HS384", sign(&Header::new(Algorithm::HS384), &claims, TEST_SECRET.as_bytes())),
        ("HS512", sign(&Header::new(Algorithm::HS512), &claims, TEST_SECRET.as_bytes())),
        ("RS256 header", with_header(&valid, r#"{"alg":"RS256","typ":"JWT"}"#)),
        ("ES256 header", with_header(&valid, r#"{"alg":"ES256","typ":"JWT"}"#)),
        ("crit header", sign(&crit, &claims, TEST_SECRET.as_bytes())),
        ("expired", hs256(json!({"email": "a@b.c", "exp": now - 120, "nbf": now - 600}))),
        ("not yet valid", hs256(json!({"email": "a@b.c", "exp": now + 3600, "nbf": now + 600}))),
        ("missing exp", hs256(json!({"email": "a@b.c", "nbf": now}))),
        ("missing nbf", hs256(json!({"email": "a@b.c", "exp": now + 3600}))),
        (
            "string exp",
            hs256(json!({"email": "a@b.c", "exp": (now + 3600).to_string(), "nbf": now})),
        ),
        ("string nbf", hs256(json!({"email": "a@b.c", "exp": now + 3600, "nbf": now.to_string()}))),
        ("missing email", hs256(json!({"exp": now + 3600, "nbf": now}))),
        ("empty email", hs256(json!({"email": "", "exp": now + 3600, "nbf": now}))),
        ("numeric email", hs256(json!({"email": 5, "exp": now + 3600, "nbf": now}))),
        (
            "longer than 8 KiB",
            hs256(json!({"email": "a".repeat(8 * 1024), "exp": now + 3600, "nbf": now})),
        ),
        ("non-canonical base64url", non_canonical),
        ("padded base64", format!("{valid}==")),
        ("standard base64 alphabet", valid.replace('-', "+").replace('_', "/") + "+/"),
    ];
    for (name, token) in invalid_tokens {
        case(
            &format!("token {name} is 401"),
            contents(&[&bearer(&token)]),
            401,
            ExpectBody::Message,
            &[INVALID_TOKEN],
        );
    }
    case(
        "POST /contents is 405",
        build("POST", "/contents", &[], ""),
        405,
        ExpectBody::Message,
        &[("allow", "GET")],
    );

    // Everything else.
    case("unknown path is 404", build("GET", "/nope", &[], ""), 404, ExpectBody::Message, &[]);
    case(
        "trailing slash is a different path",
        build("POST", "/auth/", &[JSON], Bytes::from_static(credentials)),
        404,
        ExpectBody::Message,
        &[],
    );
    cases
}

/// The users file of the users-mode tests (`tests/data/users.htpasswd`). Its users and
/// passwords: `user@example.com` / `s3cr3t-pw`, `x@y.z` / `p`, `Mixed.Case@Example.com` /
/// `mixed-case-pw`, `disabled@example.com` (disabled; `disabled-pw`), `bcrypt@example.com` /
/// `bcrypt-pw` (bcrypt, from Python's bcrypt), and 250 × `a` + `@b.c` / 1024 × `p` (the
/// longest email and password `POST /auth` accepts).
pub fn users_file() -> std::path::PathBuf {
    crate::repo_root().join("tests/data/users.htpasswd")
}

/// The environment of a `users`-mode process on [`users_file`] (the HS256 test secret).
pub fn users_env() -> Vec<(String, String)> {
    vec![
        ("JWT_SECRET".into(), TEST_SECRET.into()),
        ("USERS_FILE".into(), users_file().display().to_string()),
    ]
}

/// The body of the one answer to every login that is not one.
pub const INVALID_CREDENTIALS: &str = "invalid email or password";

/// The `users`-mode table: every case of [`cases`] (its credentials are users of
/// [`users_file`], so `open` mode's cases pass unchanged), plus what only `users` mode does:
/// wrong password, unknown and disabled users get the same 401; the email is compared after
/// trimming and case-folding and the token carries the stored one; bcrypt users log in.
pub fn users_cases() -> Vec<Case> {
    let mut cases = cases();
    let login = |email: &str, password: &str| {
        let body = json!({"email": email, "password": password}).to_string();
        build("POST", "/auth", &[JSON], body)
    };
    let refused = || ExpectBody::Json(json!({ "message": INVALID_CREDENTIALS }));
    let challenge = ("www-authenticate", "Bearer realm=\"simple-jwt-api\"");
    for (name, email, password) in [
        ("a wrong password", "user@example.com", "s3cr3t-pW"),
        ("an unknown user", "nobody@example.com", "s3cr3t-pw"),
        ("a disabled user", "disabled@example.com", "disabled-pw"),
        ("a password of another user", "x@y.z", "s3cr3t-pw"),
        ("a bcrypt user's wrong password", "bcrypt@example.com", "bcrypt-pW"),
    ] {
        cases.push(Case {
            name: format!("users: {name} is the one 401"),
            request: login(email, password),
            status: 401,
            body: refused(),
            headers: vec![challenge],
        });
    }
    for (name, email, password, stored) in [
        (
            "case-folded and padded email",
            "  mixed.case@EXAMPLE.com ",
            "mixed-case-pw",
            "Mixed.Case@Example.com",
        ),
        ("a bcrypt user", "bcrypt@example.com", "bcrypt-pw", "bcrypt@example.com"),
    ] {
        cases.push(Case {
            name: format!("users: {name} logs in with the stored email"),
            request: login(email, password),
            status: 200,
            body: ExpectBody::TokenFor(stored),
            headers: vec![("cache-control", "no-store")],
        });
    }
    cases
}

/// Sends every case of [`users_cases`] through `send` (a `users`-mode process on
/// [`users_env`]) and panics with the list of cases that failed.
pub async fn run_users_case_table<F, Fut>(send: F)
where
    F: Fn(Request<Bytes>) -> Fut,
    Fut: Future<Output = Response<Bytes>>,
{
    run_cases(users_cases(), send).await;
}

/// Sends every case through `send` and panics with the list of cases that failed.
pub async fn run_case_table<F, Fut>(send: F)
where
    F: Fn(Request<Bytes>) -> Fut,
    Fut: Future<Output = Response<Bytes>>,
{
    run_cases(cases(), send).await;
}

/// Runs `cases` through `send`, reporting every failing case at once.
pub async fn run_cases<F, Fut>(cases: Vec<Case>, send: F)
where
    F: Fn(Request<Bytes>) -> Fut,
    Fut: Future<Output = Response<Bytes>>,
{
    let total = cases.len();
    let mut failures = Vec::new();
    for case in cases {
        let authorization: Vec<Vec<u8>> = case
            .request
            .headers()
            .get_all("authorization")
            .iter()
            .map(|value| value.as_bytes().to_vec())
            .collect();
        let response = send(case.request).await;
        if let Err(problem) =
            check(&case.status, &case.body, &case.headers, &authorization, &response)
        {
            failures.push(format!(
                "{}: {problem}\n    got {} {:?} {:?}",
                case.name,
                response.status(),
                response.headers(),
                String::from_utf8_lossy(response.body())
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("case table: {total} cases passed");
}

fn check(
    status: &u16,
    body: &ExpectBody,
    headers: &[(&str, &str)],
    authorization: &[Vec<u8>],
    response: &Response<Bytes>,
) -> Result<(), String> {
    if response.status().as_u16() != *status {
        return Err(format!("status {} != expected {status}", response.status()));
    }
    if response.headers().get("content-type").map(|v| v.as_bytes()) != Some(b"application/json") {
        return Err("content-type is not application/json".into());
    }
    for (name, value) in headers {
        if response.headers().get(*name).map(|v| v.as_bytes()) != Some(value.as_bytes()) {
            return Err(format!("header {name} is not {value:?}"));
        }
    }
    // A rejected token is never echoed back.
    for value in authorization {
        let token = value.splitn(2, |b| *b == b' ').nth(1).unwrap_or_default();
        if token.len() > 16 && response.body().windows(token.len()).any(|w| w == token) {
            return Err("the response echoes the token".into());
        }
    }
    let json: Value = serde_json::from_slice(response.body())
        .map_err(|err| format!("body is not JSON: {err}"))?;
    match body {
        ExpectBody::Json(expected) if &json == expected => Ok(()),
        ExpectBody::Json(expected) => Err(format!("body {json} != expected {expected}")),
        ExpectBody::Message => match json.as_object() {
            Some(object)
                if object.len() == 1
                    && object["message"].as_str().is_some_and(|m| !m.is_empty()) =>
            {
                Ok(())
            }
            _ => Err(format!("body {json} is not {{\"message\": ...}}")),
        },
        ExpectBody::TokenFor(email) => check_token(&json, email),
        ExpectBody::Check(accepts) => accepts(&json),
    }
}

fn check_token(json: &Value, email: &str) -> Result<(), String> {
    let object = json.as_object().filter(|o| o.len() == 1).ok_or("body is not {\"token\": ...}")?;
    let token = object["token"].as_str().ok_or("token is not a string")?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("bad header: {e}"))?;
    if header.alg != Algorithm::HS256 || header.typ.as_deref() != Some("JWT") {
        return Err(format!("header is {header:?}"));
    }
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "nbf"]);
    validation.validate_nbf = true;
    let key = jsonwebtoken::DecodingKey::from_secret(TEST_SECRET.as_bytes()).unwrap();
    let data = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map_err(|e| format!("token does not verify: {e}"))?;
    let claims = data.claims.as_object().unwrap();
    let keys: Vec<&str> = claims.keys().map(String::as_str).collect();
    let (exp, nbf) = (claims["exp"].as_u64().unwrap_or(0), claims["nbf"].as_u64().unwrap_or(0));
    if keys.len() != 3
        || claims["email"] != email
        || exp != nbf + 14 * 24 * 3600
        || nbf.abs_diff(now()) > 5
    {
        return Err(format!("claims are {claims:?}"));
    }
    if token.contains("s3cr3t") {
        return Err("the password leaked into the token".into());
    }
    Ok(())
}
