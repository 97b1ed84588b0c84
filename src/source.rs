//! Versioned documents the service reads from outside itself — the signing key material, and
//! whatever else is kept in a parameter store — behind one trait with one error type, and the
//! one loop that re-reads them while the process lives.
//!
//! A [`Source`] yields the current [`Document`]: its text (zeroized on drop) and the source's
//! version of it. The SSM Parameter Store implementation ([`crate::aws::ssm`]) maps SSM's
//! failures into a [`SourceError`]; a value given in the environment is an [`Inline`] source;
//! the unit tests use in-memory fakes. What a document means (a secret, a PEM key) is decided by
//! its consumer, never here.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use zeroize::Zeroizing;

/// A boxed future, so that [`Source`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a document comes from: an SSM parameter in production, the environment, an in-memory
/// fake in the tests.
pub trait Source: Send + Sync {
    /// Reads the current version of the document.
    fn fetch(&self) -> BoxFuture<'_, Result<Document, SourceError>>;

    /// What the source is, for log lines and messages: the variable that gave it, and for a
    /// parameter its name (`JWT_SECRET_PARAMETER: SSM parameter "/prod/jwt"`). Never the value.
    fn describe(&self) -> String;

    /// Whether reading again can return something new (a parameter can change; a value from
    /// the environment cannot).
    fn changes(&self) -> bool;
}

/// One version of a document as read from its source, before anything is made of it. Zeroized
/// on drop; `Debug` never shows the value.
pub struct Document {
    /// The text.
    pub value: Zeroizing<String>,
    /// The source's version of it (the SSM parameter version); `None` for a source without
    /// versions (the environment).
    pub version: Option<i64>,
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Document(version {:?}, [redacted])", self.version)
    }
}

/// Why a document could not be read, whatever the source. The message names the source (never
/// the value) and says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The source itself is wrong — a parameter of the wrong type, or one without a value — so
    /// that a restart cannot help: start-up then exits with status 2, like any configuration
    /// error.
    #[error("{0}")]
    Misconfigured(String),
    /// The source could not be read now (not found, no access, unreachable, no region, ...); a
    /// later attempt may work, which Kubernetes' restart with backoff provides (exit status 1).
    #[error("{0}")]
    Unavailable(String),
}

impl SourceError {
    /// Whether the source's own configuration is wrong (see [`SourceError::Misconfigured`]).
    pub fn is_configuration(&self) -> bool {
        matches!(self, SourceError::Misconfigured(_))
    }
}

/// A document given in the environment: read once, never changes.
pub struct Inline {
    variable: &'static str,
    value: Zeroizing<String>,
}

impl Inline {
    /// The value of `variable`.
    pub fn new(variable: &'static str, value: Zeroizing<String>) -> Self {
        Inline { variable, value }
    }
}

impl Source for Inline {
    fn fetch(&self) -> BoxFuture<'_, Result<Document, SourceError>> {
        let document = Document { value: self.value.clone(), version: None };
        Box::pin(std::future::ready(Ok(document)))
    }

    fn describe(&self) -> String {
        self.variable.to_owned()
    }

    fn changes(&self) -> bool {
        false
    }
}

/// A document in a file (`USERS_FILE`, a mounted Kubernetes Secret): re-read at every refresh,
/// its modification time standing for its version (a Secret volume update replaces the file).
pub struct File {
    variable: &'static str,
    path: std::path::PathBuf,
}

impl File {
    /// The file at `path`, named by `variable`.
    pub fn new(variable: &'static str, path: impl Into<std::path::PathBuf>) -> Self {
        File { variable, path: path.into() }
    }

    async fn read(&self) -> Result<Document, SourceError> {
        let unreadable = |err: std::io::Error| {
            SourceError::Misconfigured(format!(
                "{}: cannot read {}: {err}",
                self.variable,
                self.path.display()
            ))
        };
        let bytes = Zeroizing::new(tokio::fs::read(&self.path).await.map_err(unreadable)?);
        let modified = tokio::fs::metadata(&self.path).await.and_then(|meta| meta.modified()).ok();
        let version = modified
            .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|since| i64::try_from(since.as_nanos()).unwrap_or(i64::MAX));
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            SourceError::Misconfigured(format!(
                "{}: {} is not UTF-8 text",
                self.variable,
                self.path.display()
            ))
        })?;
        Ok(Document { value: Zeroizing::new(text.to_owned()), version })
    }
}

impl Source for File {
    fn fetch(&self) -> BoxFuture<'_, Result<Document, SourceError>> {
        Box::pin(self.read())
    }

    fn describe(&self) -> String {
        format!("{}: {}", self.variable, self.path.display())
    }

    fn changes(&self) -> bool {
        true
    }
}

/// Runs `tick` every `period` (the first one `period` after now), for as long as the process
/// lives: the refresh of everything read from a [`Source`] that [`Source::changes`]. A tick that
/// overruns delays the next one rather than bunching them.
pub fn refresh_every<F, Fut>(period: Duration, mut tick: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            tick().await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An inline value reads back as itself, without a version, and never changes; its
    /// description is the variable, and `Debug` of the document hides the value.
    #[tokio::test]
    async fn inline_values() {
        let source = Inline::new("JWT_SECRET", Zeroizing::new("s3cret-value".into()));
        let document = source.fetch().await.unwrap();
        assert_eq!((document.value.as_str(), document.version), ("s3cret-value", None));
        assert_eq!(source.describe(), "JWT_SECRET");
        assert!(!source.changes());
        assert!(!format!("{document:?}").contains("s3cret"));
    }

    /// A file reads back as its text with its modification time as version; a missing file
    /// or one that is not UTF-8 is a configuration error naming the variable.
    #[tokio::test]
    async fn files() {
        let dir = std::env::temp_dir().join(format!("source-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users");
        std::fs::write(&path, "a@b.c:hash\n").unwrap();
        let source = File::new("USERS_FILE", &path);
        let document = source.fetch().await.unwrap();
        assert_eq!(document.value.as_str(), "a@b.c:hash\n");
        assert!(document.version.is_some());
        assert!(source.changes());
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        let err = source.fetch().await.unwrap_err();
        assert!(err.is_configuration() && err.to_string().contains("not UTF-8"), "{err}");
        let missing = File::new("USERS_FILE", dir.join("missing"));
        let err = missing.fetch().await.unwrap_err();
        assert!(
            err.is_configuration() && err.to_string().starts_with("USERS_FILE: cannot read"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The refresh loop ticks once per period, first one period after it starts (Tokio's
    /// paused clock: no real waiting).
    #[tokio::test(start_paused = true)]
    async fn refresh_ticks_once_per_period() {
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&ticks);
        refresh_every(Duration::from_secs(10), move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::future::ready(())
        });
        let count = || ticks.load(std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(9)).await;
        assert_eq!(count(), 0);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(count(), 1);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(count(), 4);
    }
}
