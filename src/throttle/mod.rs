//! Making password guessing useless: a failure ledger per account and a token bucket per client
//! address, both consulted before any password is verified.
//!
//! | file | owns |
//! |---|---|
//! | `account.rs` | [`AccountLimits`]: the pure back-off rules over an [`AccountRecord`]; the [`FailureLedger`] trait and its in-process [`MemoryLedger`] |
//! | `address.rs` | [`AddressLimiter`]: `governor`'s keyed token bucket on `POST /auth`, IPv6 by /64 |
//!
//! With `USERS_TABLE`, the ledger is [`crate::aws::dynamodb::UsersTable`] (conditional writes,
//! TTL), so that every replica and every Lambda instance sees the same count.

mod account;
mod address;

pub use account::{
    AccountLimits, AccountRecord, Attempt, FailureLedger, LedgerUnavailable,
    MEMORY_LEDGER_CAPACITY, MemoryLedger,
};
pub use address::{AddressLimiter, AddressLimits};
