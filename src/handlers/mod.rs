//! The answers of the public API's routes, one file per concern:
//!
//! | file | answers |
//! |---|---|
//! | `auth.rs` | `POST /auth`: credentials in, a token out |
//! | `contents.rs` | `GET /contents`: a bearer token's claims |
//! | `well_known.rs` | `GET /.well-known/jwks.json` and `/.well-known/openid-configuration` |
//! | `json.rs` | reading JSON request bodies |
//!
//! Each handler returns `Err(ApiError)` for a client error; [`crate::dispatch()`] turns it into
//! its response.

pub mod auth;
pub mod contents;
mod json;
pub mod well_known;

use crate::response::json_response;
use bytes::Bytes;
use http::{Response, StatusCode};

const HEALTHY: &[u8] = br#""Healthy""#;

/// `GET|POST /`: `200 "Healthy"`, whatever the body.
pub fn healthy() -> Response<Bytes> {
    json_response(StatusCode::OK, Bytes::from_static(HEALTHY))
}
