//! Building responses: the JSON content type every answer carries and the cache headers.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};
use std::time::Duration;

/// A response with a JSON body and `Content-Type: application/json`.
pub fn json_response(status: StatusCode, body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `Cache-Control: no-store`: for tokens, claims and the admin port's answers.
pub fn no_store(mut response: Response<Bytes>) -> Response<Bytes> {
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `Cache-Control: public, max-age=N`: verifiers and CDNs may keep the document that long.
pub fn cache_publicly(mut response: Response<Bytes>, max_age: Duration) -> Response<Bytes> {
    let value = format!("public, max-age={}", max_age.as_secs());
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_str(&value).expect("digits are a valid header"));
    response
}
