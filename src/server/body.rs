//! Reading a request's body: within the body limit (413, without buffering past it) and the
//! body read timeout (408), then handing the whole request to [`crate::dispatch()`]; after a
//! 413, the rest of the body is read and discarded for a while (the lingering close).

use crate::dispatch::{dispatch, reject};
use crate::error::ApiError;
use crate::state::AppState;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Incoming};
use hyper::{Request, Response};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// Longest time the rest of a body over the limit is read and discarded after the 413 (the
/// connection is closed at [`super::ServerConfig::header_read_timeout`] in any case).
pub const LINGER_TIME: Duration = Duration::from_secs(5);
/// Most bytes read and discarded after a 413 before the connection is closed.
pub const LINGER_BYTES: usize = 32 * 1024 * 1024;

/// Reads the body up to the limit and within the body timeout, then hands the request to
/// [`dispatch`].
pub(super) async fn handle(
    state: Arc<AppState>,
    request: Request<Incoming>,
    body_timeout: Duration,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, mut body) = request.into_parts();
    let too_large = || ApiError::PayloadTooLarge { limit: state.body_limit };
    if body.size_hint().lower() > state.body_limit as u64 {
        linger(body);
        return Ok(reject(&parts, too_large()).map(Full::new));
    }
    let read = Limited::new(&mut body, state.body_limit).collect();
    let response = match tokio::time::timeout(body_timeout, read).await {
        Ok(Ok(collected)) => {
            dispatch(&state, Request::from_parts(parts, collected.to_bytes())).await
        }
        Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => {
            linger(body);
            reject(&parts, too_large())
        }
        Ok(Err(_)) => reject(&parts, ApiError::BadRequest("request body could not be read".into())),
        Err(_elapsed) => reject(&parts, ApiError::RequestTimeout),
    };
    Ok(response.map(Full::new))
}

/// Reads and discards the rest of a body over the limit, in the background, while hyper
/// sends the 413: for at most [`LINGER_TIME`] and [`LINGER_BYTES`], then drops it, which
/// closes an HTTP/1.1 connection (HTTP/2 resets just the stream). A body that ends within the
/// bounds leaves the connection usable for the next request. A client that sends its whole body before reading (Python's
/// `http.client`) thus finishes sending and reads the 413, instead of a reset.
fn linger(mut body: Incoming) {
    tokio::spawn(async move {
        let mut discarded = 0usize;
        let drain = async {
            while let Some(Ok(frame)) = body.frame().await {
                discarded += frame.data_ref().map_or(0, Bytes::len);
                if discarded > LINGER_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(LINGER_TIME, drain).await;
    });
}
