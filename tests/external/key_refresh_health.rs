//! A stopped key refresh is visible: with the secret read from SSM (moto) every second, the
//! admin port's `/readyz` reports the age of the last successful read and the metrics its
//! time; once SSM cannot be read, the pod stays ready (the last good key still works) while
//! that age grows.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::TEST_SECRET;
use support::client::{json, request, send};
use support::metrics::{scrape, value};
use support::moto::{Moto, put_secret};
use support::server::ServerProcess;

/// `/readyz` answers 200 with `last_key_refresh_seconds_ago` (small while the refresh
/// succeeds), `simple_jwt_api_key_last_refresh_timestamp_seconds` is within seconds of now;
/// with the parameter deleted, reads fail, `/readyz` stays 200 and the age passes 2 s.
#[tokio::test]
async fn readiness_and_metrics_show_the_last_successful_refresh() {
    let moto = Moto::shared();
    let name = "/simple-jwt-api/refresh-health";
    put_secret(&moto.client(), name, TEST_SECRET).await;
    let mut env = moto.env();
    env.push(("JWT_SECRET_PARAMETER".into(), name.into()));
    env.push(("JWT_SECRET_REFRESH_SECONDS".into(), "1".into()));
    let server = ServerProcess::start(&env);
    let admin = server.admin();
    let age = || async {
        let ready = send(admin, request("GET", "/readyz", "")).await;
        assert_eq!(ready.status(), 200);
        let body = json(&ready);
        assert_eq!(body["status"], "ready");
        body["last_key_refresh_seconds_ago"].as_u64().expect("the age of the last refresh")
    };
    support::until(Duration::from_secs(20), "a refresh", async || age().await <= 1).await;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let gauge = value(&scrape(admin).await, "simple_jwt_api_key_last_refresh_timestamp_seconds")
        .expect("the gauge is exported");
    assert!((now - gauge).abs() < 10.0, "last refresh at {gauge}, now {now}");

    moto.client().delete_parameter().name(name).send().await.expect("delete the parameter");
    let started = std::time::Instant::now();
    let stale =
        support::until(Duration::from_secs(30), "a stale refresh", async || age().await >= 3).await;
    let after = stale - started;
    eprintln!(
        "refresh failing: /readyz still 200, last_key_refresh_seconds_ago >= 3 after {after:?}"
    );
}
