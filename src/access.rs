//! What every answered request leaves behind: its metrics and one access-log line, both
//! labelled with the [`Route`] the router decided, and the request id that ties the line to the
//! client's view.

use crate::metrics;
use crate::route::Route;
use http::header::HeaderName;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use std::time::Instant;

/// Header carrying the request id: taken from the client when well-formed, generated
/// otherwise, and always echoed in the response so logs and clients can be correlated.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest path written to the access log: paths are client-chosen.
const MAX_LOGGED_PATH: usize = 256;
/// Longest method written to the access log: an extension method is client-chosen too (any
/// token up to the 16 KiB head limit); the standard ones are at most 7 bytes.
const MAX_LOGGED_METHOD: usize = 32;

/// The client's `x-request-id` if it is 1–128 characters of `[A-Za-z0-9._:-]`, else a new
/// UUID v4.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
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

/// One answered request, as the access log and the metrics see it.
pub struct Answered<'a> {
    /// The route the router decided.
    pub route: Route,
    /// The request's method.
    pub method: &'a Method,
    /// The request's path (as sent; capped in the log).
    pub path: &'a str,
    /// The response's status.
    pub status: StatusCode,
    /// When dispatch started on it.
    pub started: Instant,
    /// Its request id.
    pub id: &'a HeaderValue,
    /// A `users`-mode login's outcome (never the email).
    pub login: Option<metrics::Login>,
}

/// Records the request's metrics and writes its access line at `INFO` — except a successful
/// health check (`GET|POST /` answering 200), at `DEBUG`: load-balancer checks hit it every
/// few seconds on every pod, and at load a line costs about as much CPU as the answer itself.
/// Headers and bodies are never logged.
pub fn observe(answered: Answered<'_>) {
    let Answered { route, method, path, status, started, id, login } = answered;
    let elapsed = started.elapsed();
    metrics::request(route, method, status, elapsed);
    // Every client-supplied field is bounded: the path and the method here, the request id
    // by `request_id` (1-128 characters of a safe set).
    let path = &path[..path.floor_char_boundary(MAX_LOGGED_PATH)];
    let method = method.as_str();
    let method = &method[..method.floor_char_boundary(MAX_LOGGED_METHOD)];
    macro_rules! access_line {
        ($level:expr) => {
            tracing::event!(
                $level,
                method,
                path,
                status = status.as_u16(),
                latency_us = elapsed.as_micros() as u64,
                request_id = id.to_str().unwrap_or(""),
                login = login.map(metrics::Login::label),
                "request"
            )
        };
    }
    if route == Route::Health && status == StatusCode::OK {
        access_line!(tracing::Level::DEBUG);
    } else {
        access_line!(tracing::Level::INFO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Every client-supplied field of the access line is bounded: a 12 KiB method and a
    /// 12 KiB path make a line of well under 1 KiB, cut at the documented lengths.
    #[test]
    fn access_line_fields_are_bounded() {
        let method = Method::from_bytes("M".repeat(12 * 1024).as_bytes()).unwrap();
        let path = format!("/{}", "p".repeat(12 * 1024));
        let output = crate::telemetry::captured("info", || {
            observe(Answered {
                route: Route::Unknown,
                method: &method,
                path: &path,
                status: StatusCode::NOT_FOUND,
                started: Instant::now(),
                id: &HeaderValue::from_static("abc"),
                login: Some(metrics::Login::BadCredentials),
            })
        });
        let line: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
        assert_eq!(line["method"].as_str().unwrap().len(), MAX_LOGGED_METHOD);
        assert_eq!(line["path"].as_str().unwrap().len(), MAX_LOGGED_PATH);
        assert_eq!(line["login"], "bad_credentials");
        assert!(output.len() < 1024, "{} bytes", output.len());
    }
}
