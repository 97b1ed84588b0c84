//! `dispatch` fed arbitrary requests (method, target, headers, body; input format in
//! `simple_jwt_api_fuzz::parse_request`). Asserts that it never panics, never answers 5xx,
//! and that every response keeps the API's invariants: a JSON body with the JSON content
//! type and a request id; 401 carries `WWW-Authenticate`, 405 carries `Allow`, errors are
//! `{"message"}` and never echo the presented token; a 200 from `/auth` carries a token that
//! verifies for the email sent; a 200 from `/contents` returns exactly the claims of the
//! presented token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use simple_jwt_api::dispatch;
use simple_jwt_api_fuzz::{check_hs256, complete, parse_request, state};

fuzz_target!(|data: &[u8]| {
    let Some(request) = parse_request(data) else {
        return;
    };
    let path = request.uri().path().to_owned();
    let authorization: Vec<Vec<u8>> = request
        .headers()
        .get_all("authorization")
        .iter()
        .map(|value| value.as_bytes().to_vec())
        .collect();
    let sent_body = request.body().clone();

    let response = complete(dispatch(state(), request));

    let status = response.status().as_u16();
    assert!(status < 500, "server error {status} for {data:?}");
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = serde_json::from_slice(response.body()).expect("response body is JSON");
    match status {
        200 => {}
        401 => assert!(response.headers().contains_key("www-authenticate")),
        405 => assert!(response.headers().contains_key("allow")),
        400 | 404 | 413 | 415 => {}
        other => panic!("undocumented status {other}"),
    }
    if status != 200 {
        let object = body.as_object().expect("error body is an object");
        assert_eq!(object.len(), 1, "{body}");
        assert!(object["message"].as_str().is_some_and(|m| !m.is_empty()));
        for value in &authorization {
            let token = value.rsplit(|b| *b == b' ').next().unwrap_or_default();
            assert!(
                token.len() < 24 || !response.body().windows(token.len()).any(|w| w == token),
                "error response echoes the token"
            );
        }
        return;
    }
    match path.as_str() {
        "/" => assert_eq!(body, Value::from("Healthy")),
        "/auth" => {
            let sent: Value = serde_json::from_slice(&sent_body).expect("a 200 had a JSON body");
            let token = body["token"].as_str().expect("{\"token\": string}");
            let claims = check_hs256(token, simple_jwt_api::token::unix_now())
                .unwrap_or_else(|err| panic!("issued token does not check: {err}"));
            assert_eq!(claims.email, sent["email"].as_str().unwrap());
            assert_eq!(response.headers()["cache-control"], "no-store");
        }
        "/contents" => {
            let value = std::str::from_utf8(&authorization[0]).unwrap().trim();
            let token = value.rsplit(' ').next().unwrap();
            let claims = check_hs256(token, simple_jwt_api::token::unix_now())
                .unwrap_or_else(|err| panic!("accepted token {token:?} does not check: {err}"));
            assert_eq!(
                body,
                serde_json::json!({"email": claims.email, "exp": claims.exp, "nbf": claims.nbf})
            );
        }
        other => panic!("200 for unknown path {other:?}"),
    }
});
