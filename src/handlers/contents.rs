//! `GET /contents`: the verified token's `email`, `exp` and `nbf`, and nothing else.

use crate::error::ApiError;
use crate::keys::VerifyError;
use crate::metrics::{self, Verification};
use crate::response::{json_response, no_store};
use crate::state::AppState;
use crate::token::Rejection;
use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderMap, Response, StatusCode};

/// Verifies the bearer token and answers its claims.
pub async fn claims(state: &AppState, headers: &HeaderMap) -> Result<Response<Bytes>, ApiError> {
    let token = bearer_token(headers).inspect_err(|err| {
        metrics::verification(match err {
            ApiError::MissingToken => Verification::Missing,
            _ => Verification::Rejected(Rejection::Malformed),
        })
    })?;
    let claims = state.keys.verify(token).await.map_err(|err| match err {
        VerifyError::Rejected(why) => {
            metrics::verification(Verification::Rejected(why));
            ApiError::InvalidToken
        }
        // Not a verdict on the token: the client may retry, and the 503 is counted as such.
        VerifyError::Overloaded(overloaded) => {
            ApiError::Overloaded { retry_after: overloaded.retry_after }
        }
    })?;
    metrics::verification(Verification::Ok);
    let body = serde_json::to_vec(&claims).map_err(|_| ApiError::Internal)?;
    Ok(no_store(json_response(StatusCode::OK, body.into())))
}

/// Extracts the token from the single `Authorization: Bearer <token>` header (scheme
/// case-insensitive, RFC 6750 §2.1). No header or another scheme is `MissingToken`;
/// anything malformed after `Bearer` — empty, several tokens, several headers — is
/// `InvalidToken`.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

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
}
