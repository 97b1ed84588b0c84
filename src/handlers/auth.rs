//! `POST /auth`: `{"email", "password"}` in, `{"token"}` out.

use super::json::{EMAIL_MAX_CHARS, PASSWORD_MAX_CHARS, bounded_string};
use super::json::{is_json_or_absent, parse_json_object};
use crate::error::ApiError;
use crate::metrics;
use crate::response::{json_response, no_store};
use crate::state::AppState;
use bytes::Bytes;
use http::{Request, Response, StatusCode};

/// Issues a token for the body's `email`. The password is required (as in the original) but
/// used for nothing: it is neither put in the token nor logged.
pub fn issue(state: &AppState, request: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    if !is_json_or_absent(request.headers()) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = parse_json_object(request.body())?;
    let email = bounded_string(&body, "email", EMAIL_MAX_CHARS)?;
    bounded_string(&body, "password", PASSWORD_MAX_CHARS)?;
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
