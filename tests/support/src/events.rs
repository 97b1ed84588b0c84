//! Lambda events built from plain `http::Request`s the way each AWS source builds them, so
//! the conformance table can be sent to the Lambda adapter as events; and the reverse for
//! responses: an invocation's response JSON back into an `http::Response`. Used by the
//! in-process event tests and the cargo-lambda end-to-end test.

use crate::fixtures::Source;
use base64::Engine;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use serde_json::{Map, Value, json};

/// The event `source` would deliver for `request`.
pub fn event(source: Source, request: Request<Bytes>) -> Value {
    match source {
        Source::RestV1 => rest_v1_event(request),
        Source::HttpV2 => v2_event(request, "abcdef1234.execute-api.us-east-1.amazonaws.com", true),
        Source::FunctionUrl => {
            v2_event(request, "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws", false)
        }
        Source::Alb => alb_event(request),
    }
}

/// The HTTP response an event source makes of a function's response JSON (`statusCode`,
/// `headers` and/or `multiValueHeaders`, `body`, `isBase64Encoded`).
pub fn response(invocation: &Value) -> Response<Bytes> {
    let status = invocation["statusCode"].as_u64().expect("statusCode") as u16;
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::from_u16(status).expect("a valid status");
    let headers = response.headers_mut();
    for (name, values) in invocation["multiValueHeaders"].as_object().into_iter().flatten() {
        for value in values.as_array().expect("a list of values") {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value.as_str().unwrap()).unwrap(),
            );
        }
    }
    for (name, value) in invocation["headers"].as_object().into_iter().flatten() {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value.as_str().unwrap()).unwrap(),
        );
    }
    let body = invocation["body"].as_str().unwrap_or_default();
    *response.body_mut() = if invocation["isBase64Encoded"] == true {
        base64::engine::general_purpose::STANDARD.decode(body).expect("base64 body").into()
    } else {
        Bytes::copy_from_slice(body.as_bytes())
    };
    response
}

/// The request's headers as name -> every value (non-UTF-8 bytes replaced, as API Gateway
/// would).
fn header_values(request: &Request<Bytes>) -> Map<String, Value> {
    let mut map = Map::new();
    for name in request.headers().keys() {
        let values: Vec<Value> = request
            .headers()
            .get_all(name)
            .iter()
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned().into())
            .collect();
        map.insert(name.as_str().to_owned(), Value::Array(values));
    }
    map
}

/// `(path, query parameters as name -> values)`.
fn path_and_query(request: &Request<Bytes>) -> (String, Map<String, Value>) {
    let mut query = Map::new();
    for pair in request.uri().query().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let values = query.entry(name.to_owned()).or_insert_with(|| json!([]));
        values.as_array_mut().unwrap().push(value.into());
    }
    (request.uri().path().to_owned(), query)
}

/// `(body, isBase64Encoded)`: text when the bytes are UTF-8 and `base64_always` is false.
fn encode_body(body: &Bytes, base64_always: bool) -> (Value, bool) {
    match std::str::from_utf8(body) {
        Ok(text) if !base64_always => (text.into(), false),
        _ => (base64::engine::general_purpose::STANDARD.encode(body).into(), true),
    }
}

fn last_values(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .map(|(name, values)| (name.clone(), values.as_array().unwrap().last().unwrap().clone()))
        .collect()
}

/// An API Gateway REST API proxy event through stage `Prod`: the path without the stage,
/// `requestContext.path` with it. Single-valued headers appear in `headers` and
/// `multiValueHeaders`, repeated ones in `multiValueHeaders` only (see
/// `rest_v1_duplicate_headers_keep_the_last_value` in
/// `tests/integration/lambda_events.rs`).
fn rest_v1_event(request: Request<Bytes>) -> Value {
    let method = request.method().as_str().to_owned();
    let (path, query) = path_and_query(&request);
    let headers = header_values(&request);
    let single: Map<String, Value> = last_values(
        &headers.iter().filter(|(_, v)| v.as_array().unwrap().len() == 1).map(clone).collect(),
    );
    let (body, base64) = match request.body().is_empty() {
        true => (Value::Null, false),
        false => encode_body(request.body(), false),
    };
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": single,
        "multiValueHeaders": headers,
        "queryStringParameters": if query.is_empty() { Value::Null } else { last_values(&query).into() },
        "multiValueQueryStringParameters": if query.is_empty() { Value::Null } else { query.into() },
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": {
            "resourceId": "abc123",
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": format!("/Prod{path}"),
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "Prod",
            "domainPrefix": "abcdef1234",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "203.0.113.10"},
            "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "apiId": "abcdef1234"
        },
        "body": body,
        "isBase64Encoded": base64
    })
}

fn clone((name, value): (&String, &Value)) -> (String, Value) {
    (name.clone(), value.clone())
}

/// An HTTP API payload 2.0 event on the `$default` stage (or a Function URL event, same
/// shape, when `domain` is a `lambda-url` host). Repeated headers are joined with commas, as
/// both services do.
fn v2_event(request: Request<Bytes>, domain: &str, base64_always: bool) -> Value {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let headers: Map<String, Value> = header_values(&request)
        .into_iter()
        .map(|(name, values)| {
            let values: Vec<&str> =
                values.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
            (name, values.join(",").into())
        })
        .collect();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": domain.split('.').next().unwrap(),
            "domainName": domain,
            "domainPrefix": domain.split('.').next().unwrap(),
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "case-table"
            },
            "requestId": "Kx1aBjJZoAMEMbQ=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "29/Aug/2025:10:15:30 +0000",
            "timeEpoch": 1756462530000u64
        },
        "isBase64Encoded": false
    });
    if !request.body().is_empty() {
        let (body, base64) = encode_body(request.body(), base64_always);
        event["body"] = body;
        event["isBase64Encoded"] = base64.into();
    }
    event
}

/// An ALB target-group event with multi-value headers enabled: every header and query value
/// in the `multiValue*` maps, an empty body as `""`.
fn alb_event(request: Request<Bytes>) -> Value {
    let (path, query) = path_and_query(&request);
    let (body, base64) = encode_body(request.body(), false);
    json!({
        "requestContext": {
            "elb": {
                "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/simple-jwt-api/0123456789abcdef"
            }
        },
        "httpMethod": request.method().as_str(),
        "path": path,
        "multiValueQueryStringParameters": query,
        "multiValueHeaders": header_values(&request),
        "body": body,
        "isBase64Encoded": base64
    })
}
