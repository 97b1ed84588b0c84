//! Reading the server's admin port: `/metrics` scraped and looked up by series.

use crate::client::{request, send};
use std::net::SocketAddr;

/// The Prometheus text of `GET /metrics` on the admin listener at `admin`.
pub async fn scrape(admin: SocketAddr) -> String {
    let response = send(admin, request("GET", "/metrics", "")).await;
    assert_eq!(response.status(), 200);
    String::from_utf8(response.body().to_vec()).expect("the metrics text is UTF-8")
}

/// The value of the series written exactly `series` (`name` or `name{label="value",...}`,
/// labels in the order the exporter writes them), if it is present.
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .find(|(name, _)| *name == series)
        .map(|(_, value)| value.parse().expect("a sample value"))
}
