//! Log output: one JSON object per line on stdout, filtered by `LOG_LEVEL`.
//!
//! Only fields the code names explicitly are logged; request bodies and the `Authorization`
//! header never are, so secrets, tokens and passwords cannot reach a log line.
//!
//! Two ways to install it. [`init`] writes each line to stdout as it is logged: what Lambda
//! needs, as its process may be frozen as soon as a response is returned. [`init_buffered`],
//! for the long-running server, appends lines to an in-memory buffer that a background thread
//! writes out every [`FLUSH_INTERVAL`]: one `write(2)` to the log pipe per access line (plus
//! the reader's wake-up) cost more CPU than answering the request (issue 6).

use std::io::{BufWriter, Stdout, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::MutexGuardWriter;
use tracing_subscriber::util::SubscriberInitExt;

/// How long a log line waits in memory, at most, before [`init_buffered`] writes it out.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(10);

/// [`init_buffered`]'s buffer. When lines arrive faster than one buffer per
/// [`FLUSH_INTERVAL`] (~300 access lines), the thread that fills it writes it out at once.
const BUFFER_BYTES: usize = 64 * 1024;

/// Parses a `LOG_LEVEL` value (`info`, `debug`, or a full `tracing` filter such as
/// `simple_jwt_api=debug,warn`).
pub fn parse_filter(directive: &str) -> Result<EnvFilter, String> {
    EnvFilter::builder().parse(directive).map_err(|err| format!("invalid filter: {err}"))
}

/// Installs the JSON log subscriber for the whole process, writing each line to stdout as it
/// is logged. Call once, first thing in `main`, with the level from [`crate::Config`]
/// (already validated).
pub fn init(log_level: &str) {
    lambda_subscriber(log_level, std::io::stdout).init();
}

/// Lambda's subscriber: the JSON format and its payload rule ([`json_subscriber`]).
fn lambda_subscriber<W>(log_level: &str, writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    json_subscriber(filter(log_level), writer)
}

/// Whether an event may be written whatever `LOG_LEVEL` says: other crates' TRACE events never
/// are. At TRACE they log payloads — `lambda_runtime` every invocation event whole
/// (`Authorization` header and `POST /auth` body included), the AWS SDK its requests and
/// responses (the SSM parameter's value, a DynamoDB user's hash). This rule sits beside the
/// configured filter rather than inside it, so even a directive naming such a target cannot
/// lift it; their DEBUG lines, and all of ours, stay as configured.
fn never_payloads(metadata: &tracing::Metadata<'_>) -> bool {
    *metadata.level() <= tracing::Level::DEBUG || metadata.target().starts_with("simple_jwt_api")
}

/// Installs the JSON log subscriber for the whole process, writing to stdout through a
/// buffer (see the module docs). Call once, first thing in `main`, and keep the guard until
/// `main` returns: dropping it writes out what is still buffered. Lines buffered when the
/// process is killed (SIGKILL, abort) are lost; a normal exit loses none. As with unbuffered
/// stdout, logging waits when the log pipe is full (nothing is dropped).
#[must_use = "dropping the guard stops the log writer"]
pub fn init_buffered(log_level: &str) -> FlushGuard {
    let stdout = BufferedStdout(Arc::new(Mutex::new(BufWriter::with_capacity(
        BUFFER_BYTES,
        std::io::stdout(),
    ))));
    let (stop, stopped) = mpsc::channel::<()>();
    let flusher = {
        let stdout = stdout.clone();
        std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || {
                // Runs until the guard drops the sender, flushing after every interval.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(FLUSH_INTERVAL) {
                    stdout.flush();
                }
            })
            .expect("spawning the log flush thread")
    };
    json_subscriber(filter(log_level), stdout.clone()).init();
    FlushGuard { stdout, stop: Some(stop), flusher: Some(flusher) }
}

/// Keeps [`init_buffered`]'s flush thread running; on drop, stops it and writes out what is
/// left in the buffer.
#[derive(Debug)]
pub struct FlushGuard {
    stdout: BufferedStdout,
    stop: Option<mpsc::Sender<()>>,
    flusher: Option<JoinHandle<()>>,
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
        self.stdout.flush();
    }
}

/// Stdout behind a shared buffer; `tracing-subscriber` formats each event into one line and
/// appends it under the lock.
#[derive(Debug, Clone)]
struct BufferedStdout(Arc<Mutex<BufWriter<Stdout>>>);

impl BufferedStdout {
    /// Writes out the buffer. Errors are dropped: a log line that cannot be written has
    /// nowhere else to go.
    fn flush(&self) {
        let _ = self.0.lock().unwrap_or_else(PoisonError::into_inner).flush();
    }
}

impl<'a> MakeWriter<'a> for BufferedStdout {
    type Writer = MutexGuardWriter<'a, BufWriter<Stdout>>;

    fn make_writer(&'a self) -> Self::Writer {
        self.0.make_writer()
    }
}

fn filter(log_level: &str) -> EnvFilter {
    parse_filter(log_level).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// The JSON log format on any writer: one flattened object per event, no span context, no
/// target, and no other crate's TRACE events (`never_payloads`). Both binaries log through
/// it; the benchmarks use it on a sink to measure what logging costs a request.
pub fn json_subscriber<W>(filter: EnvFilter, writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt;
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
        .with(tracing_subscriber::filter::filter_fn(never_payloads))
}

/// The JSON lines `f` logs under `log_level`, through the subscriber Lambda installs ([`init`]).
#[cfg(test)]
pub(crate) fn captured(log_level: &str, f: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let output = Captured::default();
    let writer = output.clone();
    tracing::subscriber::with_default(lambda_subscriber(log_level, move || writer.clone()), f);
    String::from_utf8(output.0.lock().unwrap().clone()).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Other crates' TRACE events (`lambda_runtime`'s raw invocation event, the AWS SDK's
    /// responses) never reach the output at any `LOG_LEVEL`, even one naming their target;
    /// their DEBUG lines and our own TRACE lines do when the level allows.
    #[test]
    fn other_crates_trace_never_reaches_the_output() {
        for level in [
            "trace",
            "info,lambda_runtime=trace,aws_smithy_runtime=trace",
            "lambda_runtime::layers::api_response=trace,info",
        ] {
            let output = captured(level, || {
                tracing::trace!(target: "lambda_runtime::layers::api_response", body = "SECRET-EVENT", "raw JSON event received from Lambda");
                tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", output = "SECRET-HASH", "deserialized");
                tracing::debug!(target: "lambda_runtime::runtime", "kept at debug");
                tracing::trace!(target: "simple_jwt_api::keys", "our trace");
                tracing::info!(target: "simple_jwt_api", "ours");
            });
            assert!(
                !output.contains("SECRET-EVENT") && !output.contains("SECRET-HASH"),
                "{level}: {output}"
            );
            assert!(output.contains("ours"), "{level}: {output}");
            if level == "trace" {
                assert!(
                    output.contains("kept at debug") && output.contains("our trace"),
                    "{output}"
                );
            }
        }
    }
}
