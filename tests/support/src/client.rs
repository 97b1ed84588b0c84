//! A plain HTTP/1.1 client on hyper's connection API: one fresh TCP connection per request,
//! so headers (even duplicated or non-UTF-8 ones) and bodies go on the wire exactly as built.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use tokio::net::TcpStream;

/// Sends `request` to `address` and returns the whole response. A `Host` header is added
/// when missing.
pub async fn send(address: SocketAddr, mut request: Request<Bytes>) -> Response<Bytes> {
    if !request.headers().contains_key(http::header::HOST) {
        let host = http::HeaderValue::from_str(&address.to_string()).unwrap();
        request.headers_mut().insert(http::header::HOST, host);
    }
    let stream = TcpStream::connect(address).await.expect("connect to the server");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(connection);
    let response = sender.send_request(request.map(Full::new)).await.expect("send request");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("read response body").to_bytes();
    Response::from_parts(parts, body)
}

/// Shorthand for a request with a body and no headers.
pub fn request(method: &str, path: &str, body: impl Into<Bytes>) -> Request<Bytes> {
    Request::builder().method(method).uri(path).body(body.into()).unwrap()
}

/// Parses a response body as JSON, failing the test with the raw body if it is not.
pub fn json(response: &Response<Bytes>) -> serde_json::Value {
    serde_json::from_slice(response.body()).unwrap_or_else(|err| {
        panic!("response body is not JSON ({err}): {:?}", String::from_utf8_lossy(response.body()))
    })
}

/// Like [`send`], with `prefix` (e.g. `/lambda-url/lambda`) put in front of the request's
/// path: for fronts that route on a path prefix, such as `cargo lambda watch`.
pub async fn send_with_prefix(
    address: SocketAddr,
    prefix: &str,
    mut request: Request<Bytes>,
) -> Response<Bytes> {
    let path_and_query = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    *request.uri_mut() = format!("{prefix}{path_and_query}").parse().expect("prefixed URI");
    send(address, request).await
}

/// `POST /auth` for `email` (any password) on `address`; asserts a 200 and returns the token.
pub async fn issue_token(address: SocketAddr, email: &str) -> String {
    let body = serde_json::json!({ "email": email, "password": "x" }).to_string();
    let response = send(address, request("POST", "/auth", body)).await;
    assert_eq!(response.status(), 200, "POST /auth: {:?}", response.body());
    json(&response)["token"].as_str().expect("a token").to_owned()
}

/// `GET /contents` on `address` with `Authorization: Bearer <token>`.
pub async fn contents(address: SocketAddr, token: &str) -> Response<Bytes> {
    let request = Request::builder()
        .uri("/contents")
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Bytes::new())
        .unwrap();
    send(address, request).await
}
