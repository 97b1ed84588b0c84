//! Reading JSON request bodies: the media type, the object, and its required string fields,
//! with 400 messages that say what is wrong and never echo a value.
//!
//! Stricter than JSON parsers in general, because what this service reads, others read too:
//! - a key twice in one object is refused at any depth (RFC 8259 leaves the meaning open:
//!   serde keeps the last, many proxies and WAFs the first, so `{"email":"a",…,"email":"b"}`
//!   would sign what a proxy in front never saw);
//! - a string field has a length bound and may not hold control characters (C0, DEL, C1:
//!   CR/LF, NUL, ...) nor Unicode bidirectional formatting characters (U+202E, ...): an email
//!   goes into a token that every consumer displays, logs or stores.

use crate::error::ApiError;
use http::HeaderMap;
use http::header::CONTENT_TYPE;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Longest `email` accepted, in characters: 254, the longest address that fits a path in SMTP
/// (RFC 5321 §4.5.3.1.3, with its errata; octets there, characters here, as JSON Schema's
/// `maxLength` in `openapi.yaml` counts), and far below what makes a token too large for
/// `/contents` (8 KiB).
pub(super) const EMAIL_MAX_CHARS: usize = 254;
/// Longest `password` accepted, in characters: generous for any passphrase, and a bound on
/// what password hashing is given.
pub(super) const PASSWORD_MAX_CHARS: usize = 1024;

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

/// Parses `body` as a JSON object whose keys are unique at every depth.
pub(super) fn parse_json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "request body is empty; expected a JSON object with \"email\" and \"password\"".into(),
        ));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("request body is not valid UTF-8".into()))?;
    // serde_json's syntax errors name a position, never the input, so they are safe to return.
    match serde_json::from_str::<UniqueKeys>(text) {
        Ok(UniqueKeys(Value::Object(object))) => Ok(object),
        Ok(_) => Err(ApiError::BadRequest(
            "request body must be a JSON object with \"email\" and \"password\"".into(),
        )),
        // The only data error `UniqueKeys` raises: a key seen twice (named when it is one of
        // ours; see `Duplicate`).
        Err(err) if err.is_data() => {
            Err(ApiError::BadRequest(format!("request body has a duplicate key: {err}").into()))
        }
        Err(err) => {
            Err(ApiError::BadRequest(format!("request body is not valid JSON: {err}").into()))
        }
    }
}

/// A JSON value in which no object has a key twice.
struct UniqueKeys(Value);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor).map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueKeys(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let UniqueKeys(value) = map.next_value()?;
            if object.contains_key(&key) {
                return Err(de::Error::custom(Duplicate(&key)));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// A duplicate key, as the 400 names it: one of the fields this service reads is named (the
/// client sent it, and it is a fixed word); any other key is client text, never echoed.
struct Duplicate<'a>(&'a str);

impl fmt::Display for Duplicate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            known @ ("email" | "password") => write!(f, "\"{known}\""),
            _ => f.write_str("a key appears twice"),
        }
    }
}

/// The string field `field` of `object`, required and non-blank.
pub(super) fn required_string<'a>(
    object: &'a Map<String, Value>,
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

/// [`required_string`], and at most `max_chars` characters long, with no control character
/// (C0, DEL, C1) and no bidirectional formatting character; each failure a 400 naming the
/// field.
pub(super) fn bounded_string<'a>(
    object: &'a Map<String, Value>,
    field: &'static str,
    max_chars: usize,
) -> Result<&'a str, ApiError> {
    let value = required_string(object, field)?;
    // Bytes bound characters from above: most values need no count.
    if value.len() > max_chars && value.chars().count() > max_chars {
        return Err(ApiError::BadRequest(
            format!("\"{field}\" must be at most {max_chars} characters").into(),
        ));
    }
    if value.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(ApiError::BadRequest(
            format!(
                "\"{field}\" must not contain control characters or bidirectional formatting \
                 characters"
            )
            .into(),
        ));
    }
    Ok(value)
}

/// The Unicode bidirectional formatting characters (Unicode Standard Annex #9, table 1:
/// embeddings, overrides, isolates, and the marks), which reorder how text around them is
/// displayed ("Trojan Source", CVE-2021-42574).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
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

    fn message(result: Result<impl fmt::Debug, ApiError>) -> String {
        match result {
            Err(ApiError::BadRequest(message)) => message.into_owned(),
            other => panic!("not a 400: {other:?}"),
        }
    }

    /// A key twice in one object is a 400 at any depth, naming the key when it is one of ours
    /// and never echoing any other; the same keys in different objects are fine.
    #[test]
    fn duplicate_keys_are_refused() {
        let parse = |body: &str| parse_json_object(body.as_bytes());
        assert_eq!(
            message(parse(r#"{"email":"a@b.c","password":"p","email":"evil@b.c"}"#)),
            "request body has a duplicate key: \"email\" at line 1 column 51"
        );
        let nested = message(parse(r#"{"email":"a","x":{"secret-key":1,"secret-key":2}}"#));
        assert!(nested.starts_with("request body has a duplicate key: a key appears twice"));
        assert!(!nested.contains("secret-key"), "{nested}");
        let in_array = parse(r#"{"a":[{"k":1,"k":1}]}"#);
        assert!(message(in_array).contains("duplicate key"));
        let fine = parse(
            r#"{"email":"a","x":{"email":1},"y":[{"email":2},{"email":3}],"n":null,"f":1.5}"#,
        );
        assert_eq!(fine.unwrap().len(), 5);
        assert!(message(parse("{")).starts_with("request body is not valid JSON"));
    }

    /// Bounded strings: at most the bound in characters, no C0/DEL/C1 control and no bidi control,
    /// each refused with a message naming the field; other Unicode (and HTML, which consumers
    /// must escape) passes.
    #[test]
    fn bounded_strings() {
        let object = |value: &str| {
            let mut object = Map::new();
            object.insert("email".into(), Value::String(value.into()));
            object
        };
        let read = |value: &str| bounded_string(&object(value), "email", 254).map(str::to_owned);
        assert_eq!(read(&"a".repeat(254)).unwrap().len(), 254);
        assert_eq!(message(read(&"a".repeat(255))), "\"email\" must be at most 254 characters");
        assert_eq!(read(&"é".repeat(254)).unwrap().chars().count(), 254, "characters, not bytes");
        assert_eq!(message(read(&"é".repeat(255))), "\"email\" must be at most 254 characters");
        for bad in [
            "a\r\nb",
            "a\u{0}b",
            "a\tb",
            "a\u{7f}",
            "a\u{85}",
            "a\u{202E}b",
            "\u{2066}x",
            "\u{200F}",
        ] {
            assert_eq!(
                message(read(bad)),
                "\"email\" must not contain control characters or bidirectional formatting \
                 characters",
                "{bad:?}"
            );
        }
        for good in ["ü@b.c", "<b>a</b>@x", "名前@例え.jp", "a b@c"] {
            assert_eq!(read(good).unwrap(), good);
        }
        assert_eq!(message(read("  ")), "\"email\" must not be empty");
    }
}
