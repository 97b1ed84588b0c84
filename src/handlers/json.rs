//! Reading JSON request bodies: the media type, the object, and its required string fields,
//! with 400 messages that say what is wrong and never echo a value.

use crate::error::ApiError;
use http::HeaderMap;
use http::header::CONTENT_TYPE;
use serde_json::Value;

/// A missing `Content-Type` is read as JSON (curl's `-d` users forget it); a present one must
/// be `application/json` or a `+json` type, with any parameters.
pub(super) fn is_json_or_absent(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

pub(super) fn parse_json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "request body is empty; expected a JSON object with \"email\" and \"password\"".into(),
        ));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("request body is not valid UTF-8".into()))?;
    // serde_json's syntax errors name a position, never the input, so they are safe to return.
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::BadRequest(
            "request body must be a JSON object with \"email\" and \"password\"".into(),
        )),
        Err(err) => {
            Err(ApiError::BadRequest(format!("request body is not valid JSON: {err}").into()))
        }
    }
}

pub(super) fn required_string<'a>(
    object: &'a serde_json::Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, ApiError> {
    match object.get(field) {
        None | Some(Value::Null) => {
            Err(ApiError::BadRequest(format!("\"{field}\" is required").into()))
        }
        Some(Value::String(value)) if value.trim().is_empty() => {
            Err(ApiError::BadRequest(format!("\"{field}\" must not be empty").into()))
        }
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(ApiError::BadRequest(format!("\"{field}\" must be a string").into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    /// JSON media types with parameters and `+json` suffixes are accepted; others are not.
    #[test]
    fn content_types() {
        let with = |value: &str| {
            let mut map = HeaderMap::new();
            map.insert(CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            is_json_or_absent(&map)
        };
        assert!(is_json_or_absent(&HeaderMap::new()));
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!with("application/jsonx"));
    }
}
