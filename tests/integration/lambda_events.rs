//! The Lambda adapter in process: event JSON -> `lambda_http::request::from_str` (lambda_http's
//! own deserializer, as the runtime uses it) -> `simple_jwt_api::lambda::handle` -> HTTP result.
//!
//! REST API (v1) events carry a stage; this test process sees paths without it because
//! `.cargo/config.toml` sets `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true` for every process cargo
//! starts, as `template.yaml` does for the deployed function.

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use lambda_http::request::RequestContext;
use lambda_http::{Body, IntoResponse, RequestExt};
use serde_json::json;
use simple_jwt_api::{AppState, Config, lambda};
use std::sync::Arc;
use support::TEST_SECRET;
use support::cases::{run_case_table, run_users_case_table, users_env};
use support::fixtures::{FIXTURES, Fixture, NOT_EVENTS, PLACEHOLDER, SeenBody, Source};

const STAGE_VARIABLE: &str = "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH";

/// State as the `lambda` binary builds it, with the test secret from the environment.
async fn state() -> Arc<AppState> {
    let config = Config::from_lookup(|name| (name == "JWT_SECRET").then(|| TEST_SECRET.into()))
        .expect("test configuration");
    simple_jwt_api::startup::build_state(&config).await.expect("state")
}

/// Parses `event` with lambda_http, as the runtime does for each invocation.
fn parse(event: &str) -> lambda_http::Request {
    lambda_http::request::from_str(event)
        .unwrap_or_else(|err| panic!("lambda_http rejects the event ({err}):\n{event}"))
}

/// Runs one request through the adapter and lambda_http's own response conversion (what the
/// runtime does before serialising the response event). Its body must come out as text
/// (every response is JSON), which is then returned as bytes.
async fn invoke(state: &AppState, request: lambda_http::Request) -> Response<Bytes> {
    let Ok(response) = lambda::handle(state, request).await;
    response.into_response().await.map(|body| match body {
        Body::Text(text) => Bytes::from(text),
        other => panic!("a JSON response body must be text, got {other:?}"),
    })
}

fn header(headers: &HeaderMap) -> impl Fn(&str) -> Option<String> + '_ {
    |name| headers.get(name).map(|value| value.to_str().unwrap().to_owned())
}

fn assert_stage_variable_is_set() {
    assert!(
        std::env::var_os(STAGE_VARIABLE).is_some(),
        "{STAGE_VARIABLE} is not set in the test process: run the tests with cargo, which sets it \
         from .cargo/config.toml (or export it)"
    );
}

/// Every JSON file in `tests/data/` except the non-event ones is in the fixture table, so a
/// new fixture cannot be left untested.
#[test]
fn every_fixture_is_in_the_table() {
    let mut on_disk: Vec<String> = std::fs::read_dir(support::fixtures::data_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json") && !NOT_EVENTS.contains(&name.as_str()))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = FIXTURES.iter().map(|f| f.file.to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

/// Each fixture parses with lambda_http into the expected source, method, path (REST stage
/// removed) and body variant (base64 bodies decoded, `null`/absent bodies empty, ALB's `""`
/// text), and the adapter answers it with the expected status and JSON body — as text, with
/// `x-request-id`. The token for the `/contents` fixtures comes from the adapter's own
/// `POST /auth` answer to the REST fixture.
#[tokio::test]
async fn every_fixture_gets_its_response() {
    assert_stage_variable_is_set();
    let state = state().await;
    let login = FIXTURES.iter().find(|f| f.file == "apigw_rest_v1_stage.json").unwrap();
    let response = invoke(&state, parse(&login.raw())).await;
    let token = support::client::json(&response)["token"].as_str().unwrap().to_owned();

    let mut failures = Vec::new();
    for fixture in FIXTURES {
        let request = parse(&fixture.with_token(&token));
        if let Err(problem) = seen_as_expected(fixture, &request) {
            failures.push(format!("{}: {problem}", fixture.file));
            continue;
        }
        let response = invoke(&state, request).await;
        let result = support::fixtures::check(
            fixture,
            response.status().as_u16(),
            header(response.headers()),
            response.body(),
        );
        if let Err(problem) = result {
            failures.push(format!("{}: {problem}", fixture.file));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn seen_as_expected(fixture: &Fixture, request: &lambda_http::Request) -> Result<(), String> {
    let source = source_of(request)?;
    let body = match request.body() {
        Body::Empty => SeenBody::Empty,
        Body::Text(_) => SeenBody::Text,
        Body::Binary(_) => SeenBody::Binary,
        other => return Err(format!("unexpected body {other:?}")),
    };
    let seen = (source, request.method().as_str(), request.uri().path(), body);
    let expected = (fixture.source, fixture.method, fixture.path, fixture.body);
    if seen != expected {
        return Err(format!("seen as {seen:?}, expected {expected:?}"));
    }
    Ok(())
}

/// The event source lambda_http recognised, from the request context it attached.
fn source_of(request: &lambda_http::Request) -> Result<Source, String> {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(_)) => Ok(Source::RestV1),
        Some(RequestContext::ApiGatewayV2(context))
            if context.domain_name.as_deref().is_some_and(|d| d.contains(".lambda-url.")) =>
        {
            Ok(Source::FunctionUrl)
        }
        Some(RequestContext::ApiGatewayV2(_)) => Ok(Source::HttpV2),
        Some(RequestContext::Alb(_)) => Ok(Source::Alb),
        other => Err(format!("unexpected request context {other:?}")),
    }
}

/// The fixtures that need a token, sent with the `{{TOKEN}}` placeholder left in, get 401 with
/// a Bearer challenge — an `Ok` response, like every client error.
#[tokio::test]
async fn placeholder_token_is_rejected() {
    assert_stage_variable_is_set();
    let state = state().await;
    let with_placeholder: Vec<&Fixture> = FIXTURES.iter().filter(|f| f.needs_token()).collect();
    assert_eq!(with_placeholder.len(), 3);
    for fixture in with_placeholder {
        let response = invoke(&state, parse(&fixture.raw())).await;
        assert_eq!(response.status(), 401, "{}", fixture.file);
        let challenge = &response.headers()["www-authenticate"];
        assert!(challenge.to_str().unwrap().starts_with("Bearer"), "{}", fixture.file);
        assert!(!String::from_utf8_lossy(response.body()).contains(PLACEHOLDER));
    }
}

/// Without `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH`, lambda_http puts the REST API stage back
/// into the path and the service answers 404 — why `template.yaml` sets the variable. Runs
/// [`rest_stage_without_variable`] in a child process whose environment lacks the variable.
#[test]
fn rest_stage_needs_the_variable() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "lambda_events::rest_stage_without_variable", "--ignored", "--nocapture"])
        .env_remove(STAGE_VARIABLE)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Run by [`rest_stage_needs_the_variable`] without the variable in the environment.
#[tokio::test]
#[ignore = "run by rest_stage_needs_the_variable in a child process without the variable"]
async fn rest_stage_without_variable() {
    assert!(std::env::var_os(STAGE_VARIABLE).is_none(), "run me without {STAGE_VARIABLE}");
    let fixture = FIXTURES.iter().find(|f| f.file == "apigw_rest_v1_stage.json").unwrap();
    let request = parse(&fixture.raw());
    assert_eq!(request.uri().path(), "/Prod/auth");
    assert_eq!(request.raw_http_path(), "/auth");
    assert_eq!(invoke(&*state().await, request).await.status(), 404);
}

/// State as the `lambda` binary builds it in `users` mode (tests/data/users.htpasswd).
async fn users_state() -> Arc<AppState> {
    let env = users_env();
    let config = Config::from_lookup(|name| {
        env.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone())
    })
    .expect("test configuration");
    simple_jwt_api::startup::build_state(&config).await.expect("state")
}

/// The users-mode table passes through every event source (a fresh process state for each,
/// as each source is a function of its own).
#[tokio::test]
async fn every_event_source_passes_the_users_case_table() {
    assert_stage_variable_is_set();
    for source in [Source::RestV1, Source::HttpV2, Source::Alb, Source::FunctionUrl] {
        let state = users_state().await;
        run_users_case_table(|request| invoke_as(&state, source, request)).await;
    }
}

/// The whole conformance table passes through REST API (v1) events with stage `Prod`.
#[tokio::test]
async fn rest_v1_events_pass_the_case_table() {
    assert_stage_variable_is_set();
    let state = state().await;
    run_case_table(|request| invoke_as(&state, Source::RestV1, request)).await;
}

/// The whole conformance table passes through HTTP API (payload 2.0) events, every non-empty
/// body base64-encoded as API Gateway does for binary media types.
#[tokio::test]
async fn http_v2_events_pass_the_case_table() {
    let state = state().await;
    run_case_table(|request| invoke_as(&state, Source::HttpV2, request)).await;
}

/// The whole conformance table passes through ALB events (multi-value headers on).
#[tokio::test]
async fn alb_events_pass_the_case_table() {
    let state = state().await;
    run_case_table(|request| invoke_as(&state, Source::Alb, request)).await;
}

/// The whole conformance table passes through Function URL events (text bodies as text,
/// others base64).
#[tokio::test]
async fn function_url_events_pass_the_case_table() {
    let state = state().await;
    run_case_table(|request| invoke_as(&state, Source::FunctionUrl, request)).await;
}

/// A REST API event as API Gateway really sends two `Authorization` headers: all values in
/// `multiValueHeaders`, the last one in `headers`. lambda_http 1.x lets `headers` overwrite
/// `multiValueHeaders`, so the adapter sees only the last value (ALB without multi-value
/// headers does the same before the event is even built). The case table's "two Authorization
/// headers is 401" therefore holds for HTTP API, Function URL and multi-value ALB events, and
/// for REST events only when the duplicates reach `multiValueHeaders` alone, as
/// `events::event` builds them. Pinned here so a lambda_http change is noticed.
#[test]
fn rest_v1_duplicate_headers_keep_the_last_value() {
    let request = Request::builder()
        .uri("/contents")
        .header("authorization", "Bearer first")
        .header("authorization", "Bearer second")
        .body(Bytes::new())
        .unwrap();
    let mut event = support::events::event(Source::RestV1, request);
    event["headers"]["authorization"] = json!("Bearer second");
    let request = parse(&event.to_string());
    let values: Vec<_> = request.headers().get_all("authorization").iter().collect();
    assert_eq!(values, ["Bearer second"]);
}

/// Sends a case-table request through an event of `source`: request -> event JSON ->
/// lambda_http's deserializer -> adapter.
pub(crate) async fn invoke_as(
    state: &AppState,
    source: Source,
    request: Request<Bytes>,
) -> Response<Bytes> {
    let event = support::events::event(source, request);
    let request = parse(&event.to_string());
    assert_eq!(source_of(&request), Ok(source), "{event}");
    invoke(state, request).await
}
