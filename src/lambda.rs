//! The Lambda adapter: puts [`dispatch`] behind `lambda_http`.
//!
//! `lambda_http` turns each invocation event — API Gateway REST API (v1), HTTP API (payload
//! 2.0), ALB or Lambda Function URL — into an `http::Request<lambda_http::Body>` and turns the
//! `http::Response` returned here back into the event source's response format. This module
//! only converts bodies between those types and the `Bytes` the dispatch function works on;
//! routing, parsing and errors all stay in [`dispatch`].
//!
//! Every outcome, client errors included, is an `Ok` response: [`handle`] cannot fail (its
//! error type is [`Infallible`]). An `Err` would become a Lambda invocation error, which API
//! Gateway reports to the client as a bare 502.
//!
//! Paths: behind a REST API stage (`https://…/Prod/auth`) lambda_http puts the stage back into
//! the path unless `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set; `template.yaml` sets it, so
//! the dispatch function sees `/auth` from every event source.

use crate::dispatch::dispatch;
use crate::state::AppState;
use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::{HeaderMap, Request, Response};
use lambda_http::Body;
use std::convert::Infallible;

/// Answers one invocation: converts the event's request, runs [`dispatch`], converts the
/// response. Use it as the `lambda_http` service:
/// `lambda_http::run(service_fn(|request| lambda::handle(&state, request)))`.
pub async fn handle(
    state: &AppState,
    request: lambda_http::Request,
) -> Result<Response<Body>, Infallible> {
    Ok(into_lambda_response(dispatch(state, into_dispatch_request(request)).await))
}

/// The event's request with its body as bytes. lambda_http has already decoded a base64
/// body (`isBase64Encoded: true`) into `Body::Binary`; a text body becomes its UTF-8 bytes and
/// an absent one (`"body": null`, or no `body` key) an empty body. Method, URI, headers and
/// extensions (the Lambda context, the event's request context) are kept as they are.
pub fn into_dispatch_request(request: lambda_http::Request) -> Request<Bytes> {
    request.map(|body| match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        // `Body` is non-exhaustive: any future variant still derefs to its bytes.
        other => Bytes::copy_from_slice(&other),
    })
}

/// The dispatch response with a body lambda_http can put in the event source's response:
/// `Text` for a textual content type whose bytes are UTF-8, `Binary` (sent base64-encoded,
/// `isBase64Encoded: true`) for anything else, `Empty` for no bytes. Status and headers are
/// kept as they are.
///
/// When it serialises the response, lambda_http decides text or binary again from the headers
/// alone, by the same rule as here, so both agree for every UTF-8 body. (Non-UTF-8 bytes under
/// a textual type would be decoded lossily by lambda_http; the dispatch function never
/// produces them: all its bodies are `application/json` from serde_json.)
pub fn into_lambda_response(response: Response<Bytes>) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let body = if body.is_empty() {
        Body::Empty
    } else if is_text(&parts.headers) {
        match String::from_utf8(body.into()) {
            Ok(text) => Body::Text(text),
            Err(err) => Body::Binary(err.into_bytes()),
        }
    } else {
        Body::Binary(body.into())
    };
    Response::from_parts(parts, body)
}

/// lambda_http 1.x's rule for sending a body as text: no `Content-Encoding`, and either no
/// `Content-Type`, or one that starts with `text`, `application/json`, `application/javascript`,
/// `application/xml` or `application/yaml`, or whose media type ends in `+json`, `+xml` or
/// `+yaml`, or the header `x-lambda-http-content-encoding: text`.
fn is_text(headers: &HeaderMap) -> bool {
    const PREFIXES: [&str; 5] = [
        "text",
        "application/json",
        "application/javascript",
        "application/xml",
        "application/yaml",
    ];
    const SUFFIXES: [&str; 3] = ["+xml", "+yaml", "+json"];
    if headers.contains_key(CONTENT_ENCODING) {
        return false;
    }
    let Some(content_type) = headers.get(CONTENT_TYPE) else {
        return true;
    };
    let content_type = content_type.to_str().unwrap_or_default();
    let media_type = content_type.trim().split(';').next().unwrap_or_default();
    PREFIXES.iter().any(|prefix| content_type.starts_with(prefix))
        || SUFFIXES.iter().any(|suffix| media_type.ends_with(suffix))
        || headers.get("x-lambda-http-content-encoding").is_some_and(|value| value == "text")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn response(content_type: Option<&'static str>, body: &'static [u8]) -> Response<Bytes> {
        let mut response = Response::new(Bytes::from_static(body));
        if let Some(value) = content_type {
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(value));
        }
        response
    }

    /// Request bodies of every kind lambda_http produces reach dispatch as the same bytes.
    #[test]
    fn request_bodies() {
        let convert = |body: Body| into_dispatch_request(Request::new(body)).into_body();
        assert_eq!(convert(Body::Empty), Bytes::new());
        assert_eq!(convert(Body::Text("{\"a\":1}".into())), Bytes::from_static(b"{\"a\":1}"));
        assert_eq!(convert(Body::Binary(vec![0xff, 0, 1])), Bytes::from_static(&[0xff, 0, 1]));
    }

    /// JSON and other textual bodies go back as text, other types and non-UTF-8 bytes as
    /// binary, no bytes as an empty body; status and headers are untouched.
    #[test]
    fn response_bodies() {
        let convert = |response| into_lambda_response(response).into_body();
        assert_eq!(convert(response(Some("application/json"), b"{}")), Body::Text("{}".into()));
        assert_eq!(convert(response(Some("text/plain; charset=utf-8"), b"ok")), "ok".into());
        assert_eq!(convert(response(Some("application/problem+json"), b"{}")), "{}".into());
        assert_eq!(convert(response(None, b"ok")), Body::Text("ok".into()));
        assert_eq!(
            convert(response(Some("application/octet-stream"), b"ok")),
            Body::Binary(b"ok".to_vec())
        );
        assert_eq!(
            convert(response(Some("application/json"), b"\xff\xfe")),
            Body::Binary(vec![0xff, 0xfe])
        );
        assert_eq!(convert(response(Some("application/json"), b"")), Body::Empty);

        let mut gzipped = response(Some("application/json"), b"\x1f\x8b");
        gzipped.headers_mut().insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(convert(gzipped), Body::Binary(vec![0x1f, 0x8b]));

        let mut original = response(Some("application/json"), b"{}");
        *original.status_mut() = http::StatusCode::IM_A_TEAPOT;
        original.headers_mut().insert("x-request-id", HeaderValue::from_static("id-1"));
        let converted = into_lambda_response(original);
        assert_eq!(converted.status(), 418);
        assert_eq!(converted.headers()["x-request-id"], "id-1");
        assert_eq!(converted.headers()[CONTENT_TYPE], "application/json");
    }
}
