//! The server's exporter: Prometheus text for the admin port's `GET /metrics`.

use super::{
    BuildInfo, DURATION, DURATION_BUCKETS, InstallError, KeyInUse, PASSWORD_BUCKETS,
    PASSWORD_DURATION, refresh_gauges, register,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::Arc;
use std::time::Duration;

/// How often the Prometheus recorder folds recorded histogram samples into its buckets. The
/// recorder keeps every sample (16 bytes, with its timestamp) until then, so this bounds that
/// backlog: at 100,000 requests/s a second of samples is about 1.5 MiB. With 5 s, peak RSS
/// under load was 3–4 MiB higher (docs/operations.md, "Cost").
const UPKEEP_PERIOD: Duration = Duration::from_secs(1);

/// The server's exporter: renders the Prometheus text format for `GET /metrics`. Cloning is
/// shallow.
#[derive(Clone)]
pub struct Prometheus {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
    keys: Arc<dyn KeyInUse>,
}

impl std::fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prometheus").finish_non_exhaustive()
    }
}

impl Prometheus {
    /// Installs the Prometheus recorder as the process's recorder, registers every metric
    /// (`build`: the labels of the build-info metric) and
    /// starts the background upkeep; the key gauges are read from `keys` at each scrape. Call
    /// once, in a Tokio runtime.
    pub fn install(build: BuildInfo, keys: Arc<dyn KeyInUse>) -> Result<Self, InstallError> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(DURATION.to_owned()),
                DURATION_BUCKETS,
            )
            .expect("the duration buckets are not empty")
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(PASSWORD_DURATION.to_owned()),
                PASSWORD_BUCKETS,
            )
            .expect("the password buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder)
            .map_err(|err| InstallError::AlreadyInstalled(err.to_string()))?;
        let process = metrics_process::Collector::default();
        process.describe();
        register(true, build);
        let upkeep = handle.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(UPKEEP_PERIOD);
            loop {
                ticks.tick().await;
                upkeep.run_upkeep();
            }
        });
        Ok(Prometheus { handle, process, keys })
    }

    /// The Prometheus text exposition of every metric, the process metrics read now.
    pub fn render(&self) -> String {
        self.process.collect();
        refresh_gauges(&*self.keys);
        self.handle.render()
    }
}
