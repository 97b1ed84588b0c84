//! The `lambda` binary at `LOG_LEVEL=trace` under `cargo lambda watch`: lambda_runtime logs
//! every invocation event it receives, whole, at TRACE — the `Authorization` header and the
//! `POST /auth` body among it. A second watch of its own (the log level is fixed when the
//! function starts; the end-to-end test's watch runs at the default level), in `users` mode on
//! a DynamoDB table (moto) whose user was made by `server users add`: the function checks the
//! password through the real AWS SDK, which logs at TRACE too.

use super::lambda_watch::Watch;
use bytes::Bytes;
use http::Request;
use support::client::{json, request, send_with_prefix};
use support::fixtures::Source;

const PREFIX: &str = "/lambda-url/lambda";
const PASSWORD: &str = "pw-at-trace-never-logged";
const EMAIL: &str = "trace-user@example.com";

/// At `trace`, with a password and a bearer token in events that reach the function both
/// through watch's Function URL front and as an HTTP API event from `cargo lambda invoke`,
/// neither the password, nor the token, nor any request body appears anywhere in the output
/// — nor any user's hash, which the SDK's TRACE lines would show — while the output does
/// hold DEBUG lines, so the level was in force.
#[tokio::test]
async fn no_token_password_or_body_at_trace() {
    let moto = support::moto::Moto::shared();
    let table = "lambda-trace-users";
    support::moto::create_users_table(&support::moto::dynamodb(&moto.endpoint()), table).await;
    let mut env = moto.env();
    env.push(("USERS_TABLE".into(), table.into()));
    let hash = support::server::users_hash(PASSWORD);
    let item = simple_jwt_api::aws::dynamodb::user_item(EMAIL, &hash, false);
    support::moto::dynamodb(&moto.endpoint())
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
    let mut vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    vars.push(("LOG_LEVEL", "trace"));
    let watch = Watch::start_with(&vars).await;
    let wrong = serde_json::json!({ "email": EMAIL, "password": "not-the-password" }).to_string();
    let refused = send_with_prefix(watch.address(), PREFIX, request("POST", "/auth", wrong)).await;
    assert_eq!(refused.status(), 401, "users mode on Lambda: {:?}", refused.body());
    let login = serde_json::json!({ "email": EMAIL, "password": PASSWORD }).to_string();
    let response =
        send_with_prefix(watch.address(), PREFIX, request("POST", "/auth", login.clone())).await;
    assert_eq!(response.status(), 200, "{:?}", response.body());
    let token = json(&response)["token"].as_str().unwrap().to_owned();
    let bearer = || {
        Request::get("/contents")
            .header("authorization", format!("Bearer {token}"))
            .body(Bytes::new())
            .unwrap()
    };
    assert_eq!(send_with_prefix(watch.address(), PREFIX, bearer()).await.status(), 200);

    let event = support::events::event(Source::HttpV2, request("POST", "/auth", login.clone()));
    let invoked = support::events::response(&watch.invoke_event("login.json", &event.to_string()));
    assert_eq!(invoked.status(), 200);
    let event = support::events::event(Source::HttpV2, bearer());
    let invoked = support::events::response(&watch.invoke_event("bearer.json", &event.to_string()));
    assert_eq!(invoked.status(), 200);

    let logs = watch.logs();
    let (traces, debugs) =
        (logs.matches(r#""level":"TRACE""#).count(), logs.matches(r#""level":"DEBUG""#).count());
    eprintln!("{} output lines at trace: {traces} TRACE, {debugs} DEBUG", logs.lines().count());
    // Other crates' TRACE events (where payloads are) are dropped whatever the level
    // (src/telemetry.rs); their DEBUG lines show the level was in force.
    assert!(debugs > 0, "the function did not log below info:\n{logs}");
    assert_eq!(traces, 0, "TRACE lines reached the output:\n{logs}");
    let signature = token.rsplit('.').next().unwrap();
    let salt_and_output = hash.rsplit('$').next().unwrap();
    for forbidden in
        [PASSWORD, token.as_str(), signature, login.as_str(), "raw JSON event", salt_and_output]
    {
        assert!(!logs.contains(forbidden), "{forbidden:?} reached the output:\n{logs}");
    }
    assert!(!logs.contains(r#"\"password\""#), "a request body reached the output:\n{logs}");
}
