//! The one error type of the API and its mapping to HTTP responses.
//!
//! Client errors are ordinary responses (4xx with a JSON `{"message": ...}` body): the
//! dispatch function never fails. [`ApiError::status`] is the single exhaustive mapping from
//! error to status. 5xx bodies are generic; their detail goes to the log at the call site.

use crate::response::json_response;
use bytes::Bytes;
use http::header::{ALLOW, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};
use std::borrow::Cow;

/// Everything that can go wrong while answering a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The request body is unusable; the message says why (never echoing a password).
    BadRequest(Cow<'static, str>),
    /// No credentials, or credentials for another scheme than Bearer (RFC 6750 §3.1: no
    /// error code in the challenge).
    MissingToken,
    /// A Bearer token was given but did not verify, for whatever reason. Deliberately one
    /// variant: the response must not tell an attacker which check failed.
    InvalidToken,
    /// `POST /auth` in `users` mode: unknown user, disabled user or wrong password — one
    /// variant with one body, so that the answer never tells which.
    InvalidCredentials,
    /// `POST /auth` refused before any password check: the client address's attempts or the
    /// account's back-off; retry after `retry_after`.
    TooManyAttempts {
        /// The `Retry-After` of the answer (whole seconds, rounded up).
        retry_after: std::time::Duration,
    },
    /// A store the answer depends on (the user store, the failure ledger) could not be read
    /// now. Never a 401: the password may be right.
    Unavailable,
    /// No route has this path.
    NotFound,
    /// The path exists but not for this method; `allow` lists the methods it accepts.
    MethodNotAllowed {
        /// Value of the `Allow` header.
        allow: &'static str,
    },
    /// The body is larger than the configured limit.
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body was declared as something other than JSON.
    UnsupportedMediaType,
    /// The body did not arrive in full within the server's body read timeout.
    RequestTimeout,
    /// Expensive work was refused because the service is at its bound for it
    /// ([`crate::admission`]); the client may retry after `retry_after`.
    Overloaded {
        /// The `Retry-After` of the answer.
        retry_after: std::time::Duration,
    },
    /// A fault of ours (for example, signing failed). The body says nothing more.
    Internal,
}

/// The challenge of a failed login (RFC 9110 §15.5.2: a 401 carries one): the scheme the
/// issued token is used with.
const CREDENTIALS_CHALLENGE: &str = "Bearer realm=\"simple-jwt-api\"";
/// `Retry-After` of [`ApiError::Unavailable`], in seconds: the AWS SDK's own call bound.
const UNAVAILABLE_RETRY_AFTER: u64 = 5;

/// A wait as `Retry-After` seconds: rounded up, at least 1.
fn whole_seconds(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

impl ApiError {
    /// The HTTP status for this error: the only place where that mapping is made.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::MissingToken | ApiError::InvalidToken | ApiError::InvalidCredentials => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The human-readable message put in the JSON body.
    pub fn message(&self) -> Cow<'static, str> {
        match self {
            ApiError::BadRequest(reason) => reason.clone(),
            ApiError::MissingToken => "missing bearer token in the Authorization header".into(),
            ApiError::InvalidToken => "invalid or expired token".into(),
            ApiError::InvalidCredentials => "invalid email or password".into(),
            ApiError::TooManyAttempts { retry_after } => {
                format!("too many attempts; retry after {} s", whole_seconds(*retry_after)).into()
            }
            ApiError::Unavailable => "the service cannot check credentials now; retry later".into(),
            ApiError::NotFound => "not found".into(),
            ApiError::MethodNotAllowed { .. } => "method not allowed".into(),
            ApiError::PayloadTooLarge { limit } => {
                format!("request body is larger than {limit} bytes").into()
            }
            ApiError::UnsupportedMediaType => {
                "request body must be JSON (Content-Type: application/json)".into()
            }
            ApiError::RequestTimeout => "request body was not received in time".into(),
            ApiError::Overloaded { retry_after } => {
                format!("the service is busy; retry after {} s", retry_after.as_secs()).into()
            }
            ApiError::Internal => "internal server error".into(),
        }
    }

    /// The complete response: status, JSON body and the headers the status calls for
    /// (`WWW-Authenticate` for 401, `Allow` for 405).
    pub fn into_response(self) -> Response<Bytes> {
        let body = serde_json::json!({ "message": self.message() });
        let mut response = json_response(self.status(), body.to_string().into());
        let headers = response.headers_mut();
        match self {
            ApiError::MissingToken => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::InvalidToken => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            ApiError::InvalidCredentials => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(CREDENTIALS_CHALLENGE));
            }
            ApiError::TooManyAttempts { retry_after } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(whole_seconds(retry_after)));
            }
            ApiError::Unavailable => {
                headers.insert(RETRY_AFTER, HeaderValue::from(UNAVAILABLE_RETRY_AFTER));
            }
            ApiError::MethodNotAllowed { allow } => {
                headers.insert(ALLOW, HeaderValue::from_static(allow));
            }
            ApiError::Overloaded { retry_after } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(retry_after.as_secs()));
            }
            ApiError::BadRequest(_)
            | ApiError::NotFound
            | ApiError::PayloadTooLarge { .. }
            | ApiError::UnsupportedMediaType
            | ApiError::RequestTimeout
            | ApiError::Internal => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::CONTENT_TYPE;

    /// Every error variant maps to its documented status, carries a JSON `message` and the
    /// headers its status requires.
    #[test]
    fn every_variant_maps_to_its_status() {
        let table = [
            (ApiError::BadRequest("x".into()), 400, None),
            (ApiError::MissingToken, 401, Some((WWW_AUTHENTICATE, "Bearer"))),
            (
                ApiError::InvalidToken,
                401,
                Some((WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")),
            ),
            (
                ApiError::InvalidCredentials,
                401,
                Some((WWW_AUTHENTICATE, "Bearer realm=\"simple-jwt-api\"")),
            ),
            (
                ApiError::TooManyAttempts { retry_after: std::time::Duration::from_millis(5_200) },
                429,
                Some((RETRY_AFTER, "6")),
            ),
            (ApiError::Unavailable, 503, Some((RETRY_AFTER, "5"))),
            (ApiError::NotFound, 404, None),
            (ApiError::MethodNotAllowed { allow: "GET, POST" }, 405, Some((ALLOW, "GET, POST"))),
            (ApiError::PayloadTooLarge { limit: 10 }, 413, None),
            (ApiError::UnsupportedMediaType, 415, None),
            (ApiError::RequestTimeout, 408, None),
            (
                ApiError::Overloaded { retry_after: std::time::Duration::from_secs(2) },
                503,
                Some((RETRY_AFTER, "2")),
            ),
            (ApiError::Internal, 500, None),
        ];
        for (error, status, header) in table {
            let message = error.message();
            let response = error.into_response();
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
            let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
            assert_eq!(body, serde_json::json!({ "message": message }));
            if let Some((name, value)) = header {
                assert_eq!(response.headers()[name], value);
            }
        }
    }
}
