//! The Lambda adapter: puts [`dispatch`] behind `lambda_http`.
//!
//! `lambda_http` turns each invocation event — API Gateway REST API (v1), HTTP API (payload
//! 2.0), ALB or Lambda Function URL — into an `http::Request<lambda_http::Body>` and turns the
//! `http::Response` returned here back into the event source's response format. This module
//! only converts the request body into the `Bytes` the dispatch function works on; routing,
//! parsing and errors all stay in [`dispatch`].
//!
//! Every outcome, client errors included, is an `Ok` response: [`handle`] cannot fail (its
//! error type is [`Infallible`]). An `Err` would become a Lambda invocation error, which API
//! Gateway reports to the client as a bare 502.
//!
//! Paths: behind a REST API stage (`https://…/Prod/auth`) lambda_http puts the stage back into
//! the path unless `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set; `template.yaml` sets it, so
//! the dispatch function sees `/auth` from every event source.

use crate::client_address::PeerAddress;
use crate::dispatch::dispatch;
use crate::state::AppState;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use std::convert::Infallible;

/// Answers one invocation: converts the event's request, runs [`dispatch`], and hands the
/// response back with its body as bytes. Use it as the `lambda_http` service:
/// `lambda_http::run(service_fn(|request| lambda::handle(&state, request)))`.
///
/// lambda_http turns the returned response into the event source's format itself
/// (`lambda_http::IntoResponse`): a body whose headers say it is text (no `Content-Encoding`;
/// no `Content-Type`, or a `text/*`, `application/json`, `*+json`, ... one) is sent as text,
/// anything else base64-encoded. Every body dispatch produces is `application/json`, so
/// responses go out as text.
pub async fn handle(
    state: &AppState,
    request: lambda_http::Request,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(dispatch(state, into_dispatch_request(request)).await.map(Full::new))
}

/// The event's request with its body as bytes. lambda_http has already decoded a base64
/// body (`isBase64Encoded: true`) into `Body::Binary`; a text body becomes its UTF-8 bytes and
/// an absent one (`"body": null`, or no `body` key) an empty body. Method, URI, headers and
/// extensions (the Lambda context, the event's request context) are kept as they are.
/// The event's source IP (API Gateway's `requestContext.identity.sourceIp` or
/// `requestContext.http.sourceIp`) becomes the request's [`PeerAddress`], as the socket's peer
/// does on the server; an ALB event has none (its client is in `X-Forwarded-For`).
pub fn into_dispatch_request(request: lambda_http::Request) -> Request<Bytes> {
    let source_ip = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
        Some(RequestContext::ApiGatewayV1(context)) => context.identity.source_ip.clone(),
        _ => None,
    };
    let mut request = request.map(|body| match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        // `Body` is non-exhaustive: any future variant still derefs to its bytes.
        other => Bytes::copy_from_slice(&other),
    });
    if let Some(address) = source_ip.and_then(|ip| ip.parse().ok()) {
        request.extensions_mut().insert(PeerAddress(address));
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Request bodies of every kind lambda_http produces reach dispatch as the same bytes.
    #[test]
    fn request_bodies() {
        let convert = |body: Body| into_dispatch_request(Request::new(body)).into_body();
        assert_eq!(convert(Body::Empty), Bytes::new());
        assert_eq!(convert(Body::Text("{\"a\":1}".into())), Bytes::from_static(b"{\"a\":1}"));
        assert_eq!(convert(Body::Binary(vec![0xff, 0, 1])), Bytes::from_static(&[0xff, 0, 1]));
    }
}
