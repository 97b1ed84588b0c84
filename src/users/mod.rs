//! Who may log in: the user record, the store trait every store implements, and the rules for
//! emails.
//!
//! | file | owns |
//! |---|---|
//! | `table.rs` | [`UserTable`]: the `htpasswd`-shaped document (`email:hash` per line) |
//! | `document.rs` | [`DocumentStore`]: a table read from a [`crate::source::Source`] (a file, an SSM SecureString) and re-read with the key material's refresh loop |
//!
//! The DynamoDB store is [`crate::aws::dynamodb::UsersTable`]. Emails are compared after
//! trimming and lower-casing ([`normalise`]); the email put in a token is the one stored.

pub mod document;
pub mod table;

pub use document::DocumentStore;
pub use table::{TableError, UserTable};

use crate::password::StoredHash;
use crate::source::BoxFuture;
use std::sync::Arc;

/// `AUTH_MODE`: whether `POST /auth` checks credentials (a label of `build_info` too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Any non-empty email and password get a token (the original app).
    Open,
    /// The password is checked against a user store.
    Users,
}

impl AuthMode {
    /// The `AUTH_MODE` value (and `build_info`'s `auth_mode` label).
    pub fn name(self) -> &'static str {
        match self {
            AuthMode::Open => "open",
            AuthMode::Users => "users",
        }
    }
}

/// One user of a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The email as stored (what a token carries).
    pub email: String,
    /// The password hash, parsed and checked against the floor when the store was read.
    pub hash: StoredHash,
    /// `false` when the user is disabled (a `!` before the hash, or `disabled` in DynamoDB):
    /// its logins fail like a wrong password.
    pub enabled: bool,
}

/// A store could not answer now (DynamoDB unreachable, throttled, ...). Logins then get a 503:
/// never a 401 (the password may be right) and never a lockout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreUnavailable(pub String);

/// A user store: looks a user up by normalised email.
pub trait UserStore: Send + Sync {
    /// The user whose normalised email is `key`, if any.
    fn find<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<User>>, StoreUnavailable>>;

    /// What the store is, for log lines (`USERS_FILE: /etc/users`), never its content.
    fn describe(&self) -> String;
}

/// The key users are looked up by: the email trimmed and lower-cased.
pub fn normalise(email: &str) -> String {
    email.trim().to_lowercase()
}
