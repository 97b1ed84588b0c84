//! Lambda's exporter: CloudWatch Embedded Metric Format lines on stdout after each
//! invocation.

use super::{BuildInfo, InstallError, KeyInUse, NAMESPACE, refresh_gauges, register};
use std::sync::Arc;

/// Lambda's exporter: writes the metrics recorded since the last flush as CloudWatch Embedded
/// Metric Format lines.
#[derive(Clone)]
pub struct Emf {
    collector: &'static metrics_cloudwatch_embedded::Collector,
    keys: Arc<dyn KeyInUse>,
}

impl std::fmt::Debug for Emf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emf").finish_non_exhaustive()
    }
}

impl Emf {
    /// Installs the EMF recorder as the process's recorder (namespace [`NAMESPACE`]; a
    /// `function` dimension when the function's name is known) and registers every metric
    /// (`build`: the labels of the build-info metric); the
    /// key gauges are read from `keys` at each flush.
    pub fn install(
        function_name: Option<&str>,
        build: BuildInfo,
        keys: Arc<dyn KeyInUse>,
    ) -> Result<Self, InstallError> {
        let mut builder =
            metrics_cloudwatch_embedded::Builder::new().cloudwatch_namespace(NAMESPACE);
        if let Some(name) = function_name {
            builder = builder.with_dimension("function", name.to_owned());
        }
        let collector =
            builder.init().map_err(|err| InstallError::AlreadyInstalled(err.to_string()))?;
        register(false, build);
        Ok(Emf { collector, keys })
    }

    /// Writes what was recorded since the last flush to `out`, one JSON document per line
    /// and label set (counters as deltas, histogram samples as value lists, gauges as
    /// current values).
    pub fn flush(&self, out: impl std::io::Write) -> std::io::Result<()> {
        refresh_gauges(&*self.keys);
        self.collector.flush(out)
    }

    /// Runs `invocation`, then writes the metrics to stdout before the response is handed
    /// back: Lambda may freeze the process as soon as it has the response. Stdout stays
    /// locked while writing, so the lines never interleave with log lines.
    pub async fn flushed<F: std::future::Future>(&self, invocation: F) -> F::Output {
        let output = invocation.await;
        if let Err(err) = self.flush(std::io::stdout().lock()) {
            tracing::warn!(error = %err, "could not write the CloudWatch metrics");
        }
        output
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;
    use crate::route::Route;
    use crate::token::Rejection;
    use http::{Method, StatusCode};
    use std::time::{Duration, SystemTime};

    /// A key store stand-in: key version 7, installed a minute ago.
    struct Version7;

    impl KeyInUse for Version7 {
        fn key_in_use(&self) -> (i64, SystemTime) {
            (7, SystemTime::now() - Duration::from_secs(60))
        }

        fn last_read(&self) -> SystemTime {
            SystemTime::now() - Duration::from_secs(60)
        }
    }

    /// The Lambda exporter writes valid CloudWatch Embedded Metric Format: every line is a
    /// JSON object whose `_aws` member has a millisecond `Timestamp` and one `CloudWatchMetrics`
    /// directive (namespace, one dimension set, metric names and units); every dimension and
    /// every metric named there has its value at the top level; the names are this module's.
    /// Counters go out as deltas: a second flush with nothing recorded writes only gauges.
    /// (The only test in this binary that installs a recorder: there is one per process.)
    #[test]
    fn emf_lines_are_valid_embedded_metric_format() {
        let build = BuildInfo {
            algorithm: crate::token::SigningAlgorithm::EdDsa,
            auth_mode: crate::config::AuthMode::Users,
        };
        let emf = Emf::install(Some("unit-test-function"), build, Arc::new(Version7)).unwrap();
        request(Route::Auth, &Method::POST, StatusCode::OK, Duration::from_micros(120));
        request(Route::Unknown, &Method::GET, StatusCode::NOT_FOUND, Duration::ZERO);
        token_issued();
        verification(Verification::Rejected(Rejection::Expired));
        let mut out = Vec::new();
        emf.flush(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();

        let mut seen = std::collections::BTreeSet::new();
        for line in text.lines() {
            let document: serde_json::Value = serde_json::from_str(line).unwrap();
            let aws = &document["_aws"];
            assert!(aws["Timestamp"].as_u64().unwrap() > 1_600_000_000_000, "{line}");
            let directives = aws["CloudWatchMetrics"].as_array().unwrap();
            assert_eq!(directives.len(), 1, "{line}");
            let directive = &directives[0];
            assert_eq!(directive["Namespace"], NAMESPACE);
            let dimension_sets = directive["Dimensions"].as_array().unwrap();
            assert_eq!(dimension_sets.len(), 1, "{line}");
            let dimensions = dimension_sets[0].as_array().unwrap();
            assert!(dimensions.len() <= 30 && dimensions.iter().any(|d| d == "function"));
            for dimension in dimensions {
                assert!(document[dimension.as_str().unwrap()].is_string(), "{line}");
            }
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                assert!(NAMES.contains(&name), "{name}");
                let value = &document[name];
                assert!(value.is_number() || value.as_array().is_some_and(|v| !v.is_empty()));
                seen.insert(name.to_owned());
            }
        }
        for name in [REQUESTS, DURATION, TOKENS_ISSUED, VERIFICATIONS, KEY_VERSION, BUILD_INFO] {
            assert!(seen.contains(name), "{name} missing from {text}");
        }
        assert!(text.contains(r#""route":"other""#), "{text}");
        assert!(text.contains(r#""outcome":"expired""#), "{text}");
        assert!(text.contains(r#""algorithm":"EdDSA""#), "the configured algorithm: {text}");
        assert!(text.contains(r#""auth_mode":"users""#), "the auth mode: {text}");

        let mut again = Vec::new();
        emf.flush(&mut again).unwrap();
        let again = String::from_utf8(again).unwrap();
        assert!(!again.contains(REQUESTS) && !again.contains(TOKENS_ISSUED), "{again}");
        assert!(again.contains(KEY_AGE), "{again}");
        let gauges: serde_json::Value =
            serde_json::from_str(again.lines().find(|line| line.contains(KEY_VERSION)).unwrap())
                .unwrap();
        assert_eq!(gauges[KEY_VERSION], 7.0, "read from the key holder: {again}");
        assert!(gauges[KEY_AGE].as_f64().unwrap() >= 60.0, "{again}");
        assert!(!text.contains(OPEN_CONNECTIONS), "no connections on Lambda: {text}");
    }
}
