//! Start-up of `users` mode: the user store from its source, the failure ledger beside it, the
//! verifier and the bounds, as one [`Logins`]; and the warning that `open` mode vouches for
//! nobody.

use super::Aws;
use crate::admission::Admission;
use crate::aws::dynamodb::{TableUnusable, UsersTable};
use crate::aws::ssm::SsmParameter;
use crate::config::admission::QUEUE_WAIT;
use crate::config::{AuthConfig, UserSource, UsersConfig};
use crate::login::{Logins, unix_now};
use crate::password::{ParametersRefused, Verifier};
use crate::source::{self, File, Source, SourceError};
use crate::throttle::{AddressLimiter, FailureLedger, MEMORY_LEDGER_CAPACITY, MemoryLedger};
use crate::users::{DocumentStore, UserStore, document::DocumentError};
use std::sync::Arc;

/// Why `users` mode could not start. Each names the variable at fault, never a hash. Every
/// one stops start-up with exit 2 — even a cause that may pass (SSM unreachable) — so that
/// users mode never starts without its users (docs/users.md).
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// The file or parameter could not be read, or its document was refused.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// The DynamoDB table is missing or unreadable.
    #[error(transparent)]
    Table(#[from] TableUnusable),
    /// argon2 refused the write parameters.
    #[error("PASSWORD_MEMORY_KIB: {0}")]
    Parameters(#[from] ParametersRefused),
}

/// The logins of `users` mode, or `None` in `open` mode (after its warning).
pub(super) async fn logins(auth: &AuthConfig, aws: &Aws) -> Result<Option<Logins>, UsersError> {
    let Some(users) = &auth.users else {
        tracing::warn!(
            auth_mode = "open",
            "AUTH_MODE=open: POST /auth issues a token for any email and any password; this \
             service vouches for nobody (set USERS_FILE, USERS_PARAMETER or USERS_TABLE)"
        );
        return Ok(None);
    };
    let verifier = Arc::new(Verifier::new(users.write, users.concurrency)?);
    let (store, ledger) = stores(users, aws).await?;
    tracing::info!(
        store = %store.describe(),
        write = %users.write,
        login_concurrency = users.concurrency,
        login_queue = users.queue,
        "checking credentials"
    );
    Ok(Some(Logins {
        store,
        ledger,
        addresses: AddressLimiter::new(users.address),
        verifier,
        admission: Admission::new(users.concurrency, users.queue, QUEUE_WAIT),
        trusted_proxy_hops: users.trusted_proxy_hops,
        clock: unix_now,
    }))
}

/// The store and the ledger: both in the DynamoDB table, or the document's table with counts
/// in the process.
async fn stores(
    users: &UsersConfig,
    aws: &Aws,
) -> Result<(Arc<dyn UserStore>, Arc<dyn FailureLedger>), UsersError> {
    let in_process = || {
        Arc::new(MemoryLedger::new(users.account, MEMORY_LEDGER_CAPACITY)) as Arc<dyn FailureLedger>
    };
    let source: Box<dyn Source> = match &users.source {
        UserSource::Table(name) => {
            let table = Arc::new(UsersTable::new(
                aws.config().await,
                name.clone(),
                users.floor,
                users.account,
            ));
            table.probe().await?;
            return Ok((table.clone(), table));
        }
        UserSource::File(path) => Box::new(File::new("USERS_FILE", path.clone())),
        UserSource::Parameter(name) => Box::new(
            SsmParameter::new(aws.config().await, name.clone(), "USERS_PARAMETER")
                .map_err(|err| DocumentError::Source(SourceError::from(err)))?,
        ),
    };
    let store = Arc::new(DocumentStore::load(source, users.floor).await?);
    if store.refreshes() {
        let refreshed = Arc::clone(&store);
        source::refresh_every(users.refresh, move || {
            let store = Arc::clone(&refreshed);
            async move { store.refresh().await }
        });
    }
    Ok((store, in_process()))
}
