//! The DynamoDB users table (`USERS_TABLE`): the user store and, in the same table, the shared
//! per-account failure counts, so that every replica and every Lambda instance sees one count.
//!
//! Items (partition key `email`, a string; nothing else in the key schema):
//!
//! | item | `email` | other attributes |
//! |---|---|---|
//! | a user | the normalised email | `display_email` (S, as given: what tokens carry), `hash` (S, PHC or bcrypt), `disabled` (BOOL, optional) |
//! | an account's failures | `#login-failures:` + the normalised email | `failures`, `window_start`, `locked_until`, `lockouts`, `rev` (N), `expires_at` (N, the table's TTL attribute) |
//!
//! The service needs `dynamodb:GetItem` and `dynamodb:UpdateItem` on this table only: failure
//! records are written with conditional `UpdateItem`s on `rev` (compare-and-swap: two replicas
//! counting the same account at once cannot lose an attempt), and DynamoDB's TTL deletes them.
//! Each call is bounded by [`LOGIN_CALL_BOUND`]; a failure is a 503 for that login, never a 401
//! and never a lockout. Hashes are parsed against the floor at each lookup; an item whose hash
//! is refused cannot log in (a warning names the item's problem, never the hash).

use crate::password::{HashFloor, StoredHash};
use crate::source::BoxFuture;
use crate::throttle::{AccountLimits, AccountRecord, Attempt, FailureLedger, LedgerUnavailable};
use crate::users::{StoreUnavailable, User, UserStore};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Bound on one DynamoDB call made for a login (retries included): a login waits at most this
/// long per call for the table before it is answered 503.
pub const LOGIN_CALL_BOUND: Duration = Duration::from_secs(2);
/// Prefix of the failure-count items' keys (no email starts with `#`... and if one did, it
/// would be refused by the `users add` command).
pub const FAILURES_PREFIX: &str = "#login-failures:";
/// Compare-and-swap attempts before a contended count is reported unavailable.
const CAS_ATTEMPTS: usize = 5;

/// The table, and the rules its failure counts follow.
#[derive(Debug, Clone)]
pub struct UsersTable {
    client: aws_sdk_dynamodb::Client,
    name: String,
    floor: HashFloor,
    limits: AccountLimits,
}

/// Why the table could not be used at start-up. Names the table, never an item.
#[derive(Debug, thiserror::Error)]
#[error("USERS_TABLE: DynamoDB table {name:?}: {detail}")]
pub struct TableUnusable {
    name: String,
    detail: String,
}

impl UsersTable {
    /// A client for table `name` on the shared SDK configuration.
    pub fn new(
        config: &aws_config::SdkConfig,
        name: String,
        floor: HashFloor,
        limits: AccountLimits,
    ) -> Self {
        UsersTable { client: aws_sdk_dynamodb::Client::new(config), name, floor, limits }
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// One read of a key no user has, at start-up: proves the table exists and the role may
    /// read it, so that a wrong name or a missing permission stops the pod (exit 2) instead of
    /// answering every login 503.
    pub async fn probe(&self) -> Result<(), TableUnusable> {
        self.client
            .get_item()
            .table_name(&self.name)
            .key("email", AttributeValue::S(format!("{FAILURES_PREFIX}#probe")))
            .send()
            .await
            .map(|_| ())
            .map_err(|err| TableUnusable { name: self.name.clone(), detail: describe(&err) })
    }

    /// Adds a user (the `server users add` command): `email` normalised as the key, as given
    /// as `display_email`. Refuses to overwrite an existing user unless `replace`.
    pub async fn put_user(&self, email: &str, hash: &str, replace: bool) -> Result<(), String> {
        let key = crate::users::normalise(email);
        if key.starts_with('#') {
            return Err("an email may not start with '#'".into());
        }
        let mut update = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("email", AttributeValue::S(key))
            .update_expression("SET #display_email = :email, #hash = :hash REMOVE #disabled")
            .expression_attribute_names("#display_email", "display_email")
            .expression_attribute_names("#hash", "hash")
            .expression_attribute_names("#disabled", "disabled")
            .expression_attribute_values(":email", AttributeValue::S(email.trim().to_owned()))
            .expression_attribute_values(":hash", AttributeValue::S(hash.to_owned()));
        if !replace {
            update = update
                .condition_expression("attribute_not_exists(#email)")
                .expression_attribute_names("#email", "email");
        }
        match update.send().await {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(format!(
                "{email:?} exists in table {:?}: pass --replace to change its password",
                self.name
            )),
            Err(err) => Err(format!("DynamoDB table {:?}: {}", self.name, describe(&err))),
        }
    }

    async fn user(&self, key: &str) -> Result<Option<Arc<User>>, String> {
        let output = bounded(
            self.client
                .get_item()
                .table_name(&self.name)
                .key("email", AttributeValue::S(key.to_owned()))
                .send(),
        )
        .await?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let text = |name: &str| item.get(name).and_then(|value| value.as_s().ok()).cloned();
        let (Some(email), Some(hash)) = (text("display_email"), text("hash")) else {
            tracing::warn!(table = %self.name, "a user item lacks display_email or hash: it cannot log in");
            return Ok(None);
        };
        let hash = match StoredHash::parse(&hash, &self.floor) {
            Ok(hash) => hash,
            Err(err) => {
                tracing::warn!(table = %self.name, error = %err, "a user item's hash was refused: it cannot log in");
                return Ok(None);
            }
        };
        let disabled =
            item.get("disabled").and_then(|value| value.as_bool().ok()).copied().unwrap_or(false);
        Ok(Some(Arc::new(User { email, hash, enabled: !disabled })))
    }

    async fn record(&self, key: &str) -> Result<(AccountRecord, Option<u64>), String> {
        let output = bounded(
            self.client
                .get_item()
                .table_name(&self.name)
                .key("email", AttributeValue::S(format!("{FAILURES_PREFIX}{key}")))
                .consistent_read(true)
                .send(),
        )
        .await?;
        let Some(item) = output.item else {
            return Ok((AccountRecord::default(), None));
        };
        let number = |name: &str| -> u64 {
            item.get(name)
                .and_then(|value| value.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        let record = AccountRecord {
            failures: u32::try_from(number("failures")).unwrap_or(u32::MAX),
            window_start: number("window_start"),
            locked_until: number("locked_until"),
            lockouts: u32::try_from(number("lockouts")).unwrap_or(u32::MAX),
        };
        Ok((record, Some(number("rev"))))
    }

    /// Writes `record` if the item is still at `rev` (`None`: absent). `Ok(false)`: someone
    /// else wrote first.
    async fn swap(
        &self,
        key: &str,
        record: &AccountRecord,
        rev: Option<u64>,
    ) -> Result<bool, String> {
        let n = |value: u64| AttributeValue::N(value.to_string());
        let mut update = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("email", AttributeValue::S(format!("{FAILURES_PREFIX}{key}")))
            // Every attribute through a name alias: none can collide with one of DynamoDB's
            // reserved words, now or when the list grows.
            .update_expression(
                "SET #failures = :failures, #window_start = :window_start, \
                 #locked_until = :locked_until, #lockouts = :lockouts, \
                 #expires_at = :expires_at, #rev = :next",
            )
            .expression_attribute_names("#failures", "failures")
            .expression_attribute_names("#window_start", "window_start")
            .expression_attribute_names("#locked_until", "locked_until")
            .expression_attribute_names("#lockouts", "lockouts")
            .expression_attribute_names("#expires_at", "expires_at")
            .expression_attribute_names("#rev", "rev")
            .expression_attribute_values(":failures", n(record.failures.into()))
            .expression_attribute_values(":window_start", n(record.window_start))
            .expression_attribute_values(":locked_until", n(record.locked_until))
            .expression_attribute_values(":lockouts", n(record.lockouts.into()))
            .expression_attribute_values(":expires_at", n(self.limits.retention(record)))
            .expression_attribute_values(":next", n(rev.map_or(1, |rev| rev + 1)));
        update = match rev {
            None => update
                .condition_expression("attribute_not_exists(#email)")
                .expression_attribute_names("#email", "email"),
            Some(rev) => update
                .condition_expression("#rev = :rev")
                .expression_attribute_values(":rev", n(rev)),
        };
        match tokio::time::timeout(LOGIN_CALL_BOUND, update.send()).await {
            Err(_) => Err(format!("no answer within {} s", LOGIN_CALL_BOUND.as_secs())),
            Ok(Ok(_)) => Ok(true),
            Ok(Err(err)) if is_condition_failure(&err) => Ok(false),
            Ok(Err(err)) => Err(describe(&err)),
        }
    }

    async fn begin_attempt(&self, key: &str, now: u64) -> Result<Attempt, String> {
        for _ in 0..CAS_ATTEMPTS {
            let (record, rev) = self.record(key).await?;
            let (next, attempt) = self.limits.attempt(record, now);
            if next == record {
                // Locked: nothing to write.
                return Ok(attempt);
            }
            if self.swap(key, &next, rev).await? {
                return Ok(attempt);
            }
        }
        Err(format!("the failure count changed {CAS_ATTEMPTS} times in a row"))
    }

    async fn reset(&self, key: &str) -> Result<(), String> {
        for _ in 0..CAS_ATTEMPTS {
            let (record, rev) = self.record(key).await?;
            if rev.is_none() || record == AccountRecord::default() {
                return Ok(());
            }
            if self.swap(key, &AccountRecord::default(), rev).await? {
                return Ok(());
            }
        }
        Err(format!("the failure count changed {CAS_ATTEMPTS} times in a row"))
    }
}

/// A call within [`LOGIN_CALL_BOUND`], its error described.
async fn bounded<T, E, R>(
    call: impl std::future::Future<Output = Result<T, SdkError<E, R>>>,
) -> Result<T, String>
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match tokio::time::timeout(LOGIN_CALL_BOUND, call).await {
        Err(_) => Err(format!("no answer within {} s", LOGIN_CALL_BOUND.as_secs())),
        Ok(result) => result.map_err(|err| describe(&err)),
    }
}

fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(service) => {
            let error = service.err();
            format!(
                "{}: {}",
                error.code().unwrap_or("error"),
                error.message().unwrap_or("no message")
            )
        }
        other => DisplayErrorContext(other).to_string(),
    }
}

fn is_condition_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    matches!(err, SdkError::ServiceError(service) if service.err().code() == Some("ConditionalCheckFailedException"))
}

impl UserStore for UsersTable {
    fn find<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<User>>, StoreUnavailable>> {
        Box::pin(async move {
            if key.starts_with('#') {
                return Ok(None);
            }
            self.user(key).await.map_err(|detail| {
                StoreUnavailable(format!("DynamoDB table {:?}: {detail}", self.name))
            })
        })
    }

    fn describe(&self) -> String {
        format!("USERS_TABLE: {}", self.name)
    }
}

impl FailureLedger for UsersTable {
    fn begin<'a>(
        &'a self,
        key: &'a str,
        now: u64,
    ) -> BoxFuture<'a, Result<Attempt, LedgerUnavailable>> {
        Box::pin(async move {
            self.begin_attempt(key, now).await.map_err(|detail| {
                LedgerUnavailable(format!("DynamoDB table {:?}: {detail}", self.name))
            })
        })
    }

    fn succeeded<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), LedgerUnavailable>> {
        Box::pin(async move {
            self.reset(key).await.map_err(|detail| {
                LedgerUnavailable(format!("DynamoDB table {:?}: {detail}", self.name))
            })
        })
    }
}

/// The attribute map of a user item, for tests and tools that write users directly.
pub fn user_item(email: &str, hash: &str, disabled: bool) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("email".to_owned(), AttributeValue::S(crate::users::normalise(email))),
        ("display_email".to_owned(), AttributeValue::S(email.trim().to_owned())),
        ("hash".to_owned(), AttributeValue::S(hash.to_owned())),
        ("disabled".to_owned(), AttributeValue::Bool(disabled)),
    ])
}
