//! `POST /auth`: `{"email", "password"}` in, `{"token"}` out.
//!
//! In `open` mode (the original app) any non-empty email and password get a token for that
//! email. In `users` mode the credentials go through [`crate::login`], and the token carries
//! the email as stored; the response carries the login's outcome (a [`Login`] extension) for the
//! access line.

use super::json::{EMAIL_MAX_CHARS, PASSWORD_MAX_CHARS, bounded_string};
use super::json::{is_json_or_absent, parse_json_object};
use crate::client_address::PeerAddress;
use crate::error::ApiError;
use crate::metrics::{self, Login};
use crate::response::{json_response, no_store};
use crate::state::AppState;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use serde_json::Value;
use zeroize::Zeroizing;

/// Issues a token for the body's `email` — in `users` mode only when the password matches.
/// The password is never put in the token, logged or kept: it is zeroized when the attempt
/// ends.
pub async fn issue(
    state: &AppState,
    request: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    if !is_json_or_absent(request.headers()) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let mut body = parse_json_object(request.body())?;
    bounded_string(&body, "email", EMAIL_MAX_CHARS)?;
    bounded_string(&body, "password", PASSWORD_MAX_CHARS)?;
    // Moved out of the parsed body, so that the one copy of it is wiped on drop.
    let Some(Value::String(password)) = body.get_mut("password") else {
        return Err(ApiError::BadRequest("\"password\" must be a string".into()));
    };
    let password = Zeroizing::new(std::mem::take(password));
    let email = bounded_string(&body, "email", EMAIL_MAX_CHARS)?;
    let Some(logins) = &state.logins else {
        drop(password);
        return token_response(state, email);
    };
    let peer = request.extensions().get::<PeerAddress>().copied();
    let (outcome, user) = logins.attempt(email, password, request.headers(), peer).await;
    let mut response = match user {
        Ok(user) => token_response(state, &user.email)?,
        Err(err) => err.into_response(),
    };
    response.extensions_mut().insert(outcome);
    Ok(response)
}

fn token_response(state: &AppState, email: &str) -> Result<Response<Bytes>, ApiError> {
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

/// The outcome a login left on its response, if any (for the access line).
pub fn outcome(response: &Response<Bytes>) -> Option<Login> {
    response.extensions().get::<Login>().copied()
}
