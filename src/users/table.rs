//! The users document: `htpasswd`'s shape, so that existing files and tools work.
//!
//! One `email:hash` per line; blank lines and lines starting with `#` are ignored; a `!` in
//! front of the hash disables the user (as `passwd -l` does). Hashes are PHC argon2id strings
//! or bcrypt (`htpasswd -B`), checked against the floor as the table is parsed. Two lines for
//! the same (normalised) email are an error, not a silent choice.

use super::{User, normalise};
use crate::password::{HashError, HashFloor, StoredHash};
use std::collections::HashMap;
use std::sync::Arc;

/// The parsed users of one document, by normalised email.
#[derive(Debug, Default)]
pub struct UserTable {
    users: HashMap<String, Arc<User>>,
}

/// Why a document was refused: the line and the problem, never the hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// A line is not `email:hash`.
    #[error("line {line}: expected `email:hash`")]
    Shape {
        /// 1-based line number.
        line: usize,
    },
    /// The email is empty, too long, or has control characters.
    #[error(
        "line {line}: the email is empty, longer than 254 characters or has control characters"
    )]
    Email {
        /// 1-based line number.
        line: usize,
    },
    /// The same email twice.
    #[error("line {line}: the email of line {first} again")]
    Duplicate {
        /// 1-based line number.
        line: usize,
        /// The line that had it first.
        first: usize,
    },
    /// The hash was refused.
    #[error("line {line}: {source}")]
    Hash {
        /// 1-based line number.
        line: usize,
        /// Why.
        source: HashError,
    },
}

impl UserTable {
    /// Parses a document, checking every hash against `floor`.
    pub fn parse(text: &str, floor: &HashFloor) -> Result<Self, TableError> {
        let mut users = HashMap::new();
        let mut lines_of: HashMap<String, usize> = HashMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (email, hash) = trimmed.split_once(':').ok_or(TableError::Shape { line })?;
            let email = email.trim();
            if !acceptable_email(email) {
                return Err(TableError::Email { line });
            }
            let (enabled, hash) = match hash.trim().strip_prefix('!') {
                Some(hash) => (false, hash),
                None => (true, hash.trim()),
            };
            let hash = StoredHash::parse(hash, floor)
                .map_err(|source| TableError::Hash { line, source })?;
            let key = normalise(email);
            if let Some(first) = lines_of.insert(key.clone(), line) {
                return Err(TableError::Duplicate { line, first });
            }
            users.insert(key, Arc::new(User { email: email.to_owned(), hash, enabled }));
        }
        Ok(UserTable { users })
    }

    /// The user with normalised email `key`.
    pub fn get(&self, key: &str) -> Option<Arc<User>> {
        self.users.get(key).cloned()
    }

    /// How many users (enabled or not).
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there is no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// An email a store may hold: what `POST /auth` accepts (non-empty, at most 254 characters, no
/// control characters).
pub fn acceptable_email(email: &str) -> bool {
    !email.is_empty() && email.chars().count() <= 254 && !email.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::{HashParameters, Verifier};

    const FLOOR: HashFloor =
        HashFloor { min_memory_kib: 8, min_work: 8, max_memory_kib: 1 << 20, min_bcrypt_cost: 4 };

    fn phc(password: &str) -> String {
        let fast = HashParameters { memory_kib: 8, iterations: 1, parallelism: 1 };
        Verifier::new(fast, 1).unwrap().hash(password.as_bytes()).unwrap()
    }

    /// Comments, blank lines, disabled users, case and spaces: looked up by normalised email,
    /// the stored email kept as written.
    #[test]
    fn parses_the_htpasswd_shape() {
        let text = format!(
            "# users\n\n  Mixed.Case@Example.com : {}\ndisabled@example.com:!{}\r\nb@c.d:{}\n",
            phc("a"),
            phc("b"),
            bcrypt::hash("c", 4).unwrap()
        );
        let table = UserTable::parse(&text, &FLOOR).unwrap();
        assert_eq!(table.len(), 3);
        let user = table.get("mixed.case@example.com").unwrap();
        assert_eq!((user.email.as_str(), user.enabled), ("Mixed.Case@Example.com", true));
        assert!(!table.get("disabled@example.com").unwrap().enabled);
        assert!(matches!(table.get("b@c.d").unwrap().hash, StoredHash::Bcrypt { cost: 4, .. }));
        assert!(table.get("Mixed.Case@Example.com").is_none(), "keys are normalised");
    }

    /// Every refusal names the line and never shows a hash.
    #[test]
    fn refusals_name_the_line() {
        let good = phc("a");
        let cases = [
            (format!("a@b.c {good}"), "line 1: expected `email:hash`"),
            (format!("\n:{good}"), "line 2: the email is empty"),
            (format!("a\u{7}@b.c:{good}"), "line 1: the email is empty"),
            (format!("{}:{good}", "a".repeat(255)), "line 1: the email is empty, longer"),
            (format!("a@b.c:{good}\nA@B.C:{good}"), "line 2: the email of line 1 again"),
            ("a@b.c:plain".to_owned(), "line 1: unsupported hash scheme"),
            ("a@b.c:!".to_owned(), "line 1: unsupported hash scheme"),
        ];
        for (text, expected) in cases {
            let err = UserTable::parse(&text, &FLOOR).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{text:?}: {err}");
            assert!(!err.contains(&good[good.len() - 12..]), "{err}");
        }
    }
}
