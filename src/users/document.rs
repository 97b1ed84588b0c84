//! A user table read from a [`Source`] — a file (`USERS_FILE`) or an SSM SecureString
//! (`USERS_PARAMETER`) — and re-read by the same refresh loop as the key material
//! ([`crate::source::refresh_every`]). A refresh that reads garbage, or cannot read at all,
//! keeps the last good table and logs a warning naming the source and the line, never a hash.

use super::{StoreUnavailable, User, UserStore, UserTable};
use crate::password::HashFloor;
use crate::source::{BoxFuture, Source, SourceError};
use arc_swap::ArcSwap;
use std::sync::Arc;

/// A table from a document source.
pub struct DocumentStore {
    source: Box<dyn Source>,
    floor: HashFloor,
    table: ArcSwap<UserTable>,
    version: std::sync::Mutex<Option<i64>>,
}

/// Why the first read failed: start-up exits 2 naming the variable (a restart cannot mend a
/// bad document) or 1 when the source could not be read now.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The source could not be read.
    #[error("{0}")]
    Source(#[from] SourceError),
    /// The document was read but refused.
    #[error("{origin}: {source}")]
    Table {
        /// The source's description.
        origin: String,
        /// Why.
        source: super::TableError,
    },
}

impl DocumentError {
    /// Whether the configuration is at fault (exit 2) rather than the source's availability.
    pub fn is_configuration(&self) -> bool {
        match self {
            DocumentError::Source(err) => err.is_configuration(),
            DocumentError::Table { .. } => true,
        }
    }
}

impl DocumentStore {
    /// Reads and parses the document once.
    pub async fn load(source: Box<dyn Source>, floor: HashFloor) -> Result<Self, DocumentError> {
        let document = source.fetch().await?;
        let table = UserTable::parse(&document.value, &floor).map_err(|source_error| {
            DocumentError::Table { origin: source.describe(), source: source_error }
        })?;
        tracing::info!(source = %source.describe(), users = table.len(), "users loaded");
        Ok(DocumentStore {
            source,
            floor,
            table: ArcSwap::from_pointee(table),
            version: std::sync::Mutex::new(document.version),
        })
    }

    /// Whether the source can change (a refresh is worth running).
    pub fn refreshes(&self) -> bool {
        self.source.changes()
    }

    /// Re-reads the document: a new version that parses replaces the table; anything else
    /// keeps the last good one, with a warning.
    pub async fn refresh(&self) {
        let origin = self.source.describe();
        let document = match self.source.fetch().await {
            Ok(document) => document,
            Err(err) => {
                tracing::warn!(source = %origin, error = %err, "could not re-read the users; keeping the last good ones");
                return;
            }
        };
        let mut version = self.version.lock().unwrap_or_else(|e| e.into_inner());
        if document.version.is_some() && document.version == *version {
            return;
        }
        match UserTable::parse(&document.value, &self.floor) {
            Ok(table) => {
                tracing::info!(source = %origin, users = table.len(), version = ?document.version, "users reloaded");
                self.table.store(Arc::new(table));
                *version = document.version;
            }
            Err(err) => {
                tracing::warn!(source = %origin, error = %err, "the users document changed to something unusable; keeping the last good one");
            }
        }
    }
}

impl UserStore for DocumentStore {
    fn find<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<User>>, StoreUnavailable>> {
        Box::pin(std::future::ready(Ok(self.table.load().get(key))))
    }

    fn describe(&self) -> String {
        self.source.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::{HashParameters, Verifier};
    use crate::source::Document;
    use std::sync::Mutex;
    use zeroize::Zeroizing;

    /// A source whose next answer the test sets.
    struct Scripted(Mutex<Result<(String, i64), SourceError>>);

    impl Source for Scripted {
        fn fetch(&self) -> BoxFuture<'_, Result<Document, SourceError>> {
            let answer = self.0.lock().unwrap().clone().map(|(value, version)| Document {
                value: Zeroizing::new(value),
                version: Some(version),
            });
            Box::pin(std::future::ready(answer))
        }
        fn describe(&self) -> String {
            "USERS_PARAMETER: scripted".into()
        }
        fn changes(&self) -> bool {
            true
        }
    }

    const FLOOR: HashFloor =
        HashFloor { min_memory_kib: 8, min_work: 8, max_memory_kib: 1 << 20, min_bcrypt_cost: 4 };

    /// A new version replaces the table; garbage or a failed read keeps the last good one.
    #[tokio::test]
    async fn refresh_keeps_the_last_good_table() {
        let fast = HashParameters { memory_kib: 8, iterations: 1, parallelism: 1 };
        let phc = Verifier::new(fast, 1).unwrap().hash(b"pw").unwrap();
        let source = Arc::new(Scripted(Mutex::new(Ok((format!("a@b.c:{phc}"), 1)))));
        struct Shared(Arc<Scripted>);
        impl Source for Shared {
            fn fetch(&self) -> BoxFuture<'_, Result<Document, SourceError>> {
                self.0.fetch()
            }
            fn describe(&self) -> String {
                self.0.describe()
            }
            fn changes(&self) -> bool {
                true
            }
        }
        let store =
            DocumentStore::load(Box::new(Shared(Arc::clone(&source))), FLOOR).await.unwrap();
        assert!(store.find("a@b.c").await.unwrap().is_some());

        *source.0.lock().unwrap() = Ok((format!("x@y.z:{phc}"), 2));
        store.refresh().await;
        assert!(store.find("a@b.c").await.unwrap().is_none());
        assert!(store.find("x@y.z").await.unwrap().is_some());

        *source.0.lock().unwrap() = Ok(("x@y.z:garbage".into(), 3));
        store.refresh().await;
        assert!(store.find("x@y.z").await.unwrap().is_some(), "garbage: last good kept");

        *source.0.lock().unwrap() = Err(SourceError::Unavailable("down".into()));
        store.refresh().await;
        assert!(store.find("x@y.z").await.unwrap().is_some(), "unreadable: last good kept");
    }

    /// A bad first document is a configuration error naming the source and the line.
    #[tokio::test]
    async fn bad_first_document() {
        let source = Scripted(Mutex::new(Ok(("a@b.c".into(), 1))));
        let err = DocumentStore::load(Box::new(source), FLOOR).await.err().unwrap();
        assert!(err.is_configuration());
        assert_eq!(err.to_string(), "USERS_PARAMETER: scripted: line 1: expected `email:hash`");
    }
}
