//! The one request-dispatch function. Both adapters (hyper server, Lambda) hand it an
//! `http::Request<Bytes>` and put the `http::Response<Bytes>` it returns on the wire.
//!
//! It never fails and never panics on client input: every outcome, including every client
//! error, is a response. The route is decided once ([`Route::from_path`]); the handlers under
//! [`crate::handlers`] answer, and [`crate::access`] records the request.

use crate::access::{self, Answered, REQUEST_ID};
use crate::error::ApiError;
use crate::handlers;
use crate::route::Route;
use crate::state::AppState;
use bytes::Bytes;
use http::{Method, Request, Response};
use std::time::Instant;

/// Answers one request: routes `GET|POST /`, `POST /auth`, `GET /contents` and the two
/// public-key documents under `/.well-known/`, turns every error into its response, adds
/// `x-request-id`, logs one access line (method, path, status, latency, request id — never
/// headers or bodies) and records the request metrics.
///
/// It is `async` only because verifying a token signed with a secret newer than this process
/// has seen waits for a (single-flight, rate-limited) re-read of the secret; every other path
/// completes without awaiting.
pub async fn dispatch(state: &AppState, request: Request<Bytes>) -> Response<Bytes> {
    let started = Instant::now();
    let route = Route::from_path(request.uri().path());
    let request_id = access::request_id(request.headers());
    let mut response = answer(state, route, &request).await.unwrap_or_else(ApiError::into_response);
    access::observe(Answered {
        route,
        method: request.method(),
        path: request.uri().path(),
        status: response.status(),
        started,
        id: &request_id,
        login: handlers::auth::outcome(&response),
    });
    response.headers_mut().insert(REQUEST_ID, request_id);
    response
}

/// Answers a request the adapter could not read in full (its body exceeded the limit, or
/// the client went away mid-body), with the same access log line and metrics as [`dispatch`].
pub fn reject(request: &http::request::Parts, error: ApiError) -> Response<Bytes> {
    let started = Instant::now();
    let request_id = access::request_id(&request.headers);
    let mut response = error.into_response();
    access::observe(Answered {
        route: Route::from_path(request.uri.path()),
        method: &request.method,
        path: request.uri.path(),
        status: response.status(),
        started,
        id: &request_id,
        login: None,
    });
    response.headers_mut().insert(REQUEST_ID, request_id);
    response
}

async fn answer(
    state: &AppState,
    route: Route,
    request: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    if request.body().len() > state.body_limit {
        return Err(ApiError::PayloadTooLarge { limit: state.body_limit });
    }
    match (route, request.method()) {
        (Route::Health, &Method::GET | &Method::POST) => Ok(handlers::healthy()),
        (Route::Auth, &Method::POST) => handlers::auth::issue(state, request).await,
        (Route::Contents, &Method::GET) => {
            handlers::contents::claims(state, request.headers()).await
        }
        (Route::Jwks, &Method::GET) => handlers::well_known::jwks(state),
        (Route::Discovery, &Method::GET) => handlers::well_known::discovery(state),
        (Route::Unknown, _) => Err(ApiError::NotFound),
        (route, _) => Err(ApiError::MethodNotAllowed { allow: route.allow() }),
    }
}
