//! Password hashes: what the service writes (argon2id at the configured parameters), what it
//! accepts from a user store (argon2id at any parameters between the floor and the ceiling,
//! and bcrypt `$2a$`/`$2b$`/`$2y$` at or above a minimum cost, for users migrating from
//! `htpasswd -B`), and the one verification every login goes through.
//!
//! A store's hashes are parsed once, when the store is loaded ([`StoredHash::parse`]), so a hash
//! below the floor stops start-up instead of weakening a login later. [`Verifier::verify`]
//! checks a password against a stored hash, or against a dummy hash of the current write
//! parameters when there is no user (or the user is disabled), so that every answer that is
//! not a login costs the same work.
//!
//! Memory: argon2id needs `memory_kib` KiB per verification. The verifier keeps those buffers
//! and reuses them (one per concurrent verification, at most the login concurrency) instead of
//! allocating ~19 MiB per login: under glibc, freshly allocated argon2 buffers are reported to
//! grow a process to ~200 MiB after a few verifications (RustCrypto/password-hashes #526, #478).
//! Buffers are wiped after each use. Nothing here logs, and no error message contains a hash or
//! a password.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHasher, Version};
use std::fmt;
use std::sync::Mutex;
use zeroize::{Zeroize, Zeroizing};

/// OWASP Password Storage Cheat Sheet's first argon2id configuration: 19 MiB, 2 iterations,
/// 1 lane. What the service writes unless configured otherwise.
pub const OWASP_PARAMETERS: HashParameters =
    HashParameters { memory_kib: 19_456, iterations: 2, parallelism: 1 };

/// argon2id parameters (the `m`, `t` and `p` of a PHC string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParameters {
    /// Memory, in KiB (`m`).
    pub memory_kib: u32,
    /// Passes over the memory (`t`).
    pub iterations: u32,
    /// Lanes (`p`).
    pub parallelism: u32,
}

impl HashParameters {
    /// Memory times iterations: what an attacker's guess costs, the figure OWASP's equivalent
    /// configurations share (47104×1, 19456×2, 12288×3, 9216×4, 7168×5).
    pub fn work(&self) -> u64 {
        u64::from(self.memory_kib) * u64::from(self.iterations)
    }
}

impl fmt::Display for HashParameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m={},t={},p={}", self.memory_kib, self.iterations, self.parallelism)
    }
}

/// What a stored hash must meet to be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashFloor {
    /// Least argon2id memory, in KiB (OWASP's smallest configuration: 7168).
    pub min_memory_kib: u32,
    /// Least argon2id memory × iterations (OWASP's smallest: 7168 × 5 = 35840).
    pub min_work: u64,
    /// Most argon2id memory, in KiB: a hash that asks for more would make each login (and each
    /// dummy verification) cost more memory than the service is sized for.
    pub max_memory_kib: u32,
    /// Least bcrypt cost (10, `htpasswd -B`'s default is 5: such hashes must be re-made).
    pub min_bcrypt_cost: u32,
}

impl Default for HashFloor {
    fn default() -> Self {
        HashFloor {
            min_memory_kib: 7_168,
            min_work: 35_840,
            max_memory_kib: 256 * 1024,
            min_bcrypt_cost: 10,
        }
    }
}

impl HashFloor {
    /// Whether argon2id `parameters` are within the floor and the ceiling; `Err` says which
    /// bound they miss.
    pub fn check(&self, parameters: &HashParameters) -> Result<(), String> {
        if parameters.memory_kib < self.min_memory_kib {
            return Err(format!(
                "argon2id memory {} KiB is below the floor of {} KiB",
                parameters.memory_kib, self.min_memory_kib
            ));
        }
        if parameters.work() < self.min_work {
            return Err(format!(
                "argon2id memory x iterations {} is below the floor of {}",
                parameters.work(),
                self.min_work
            ));
        }
        if parameters.memory_kib > self.max_memory_kib {
            return Err(format!(
                "argon2id memory {} KiB is above the ceiling of {} KiB",
                parameters.memory_kib, self.max_memory_kib
            ));
        }
        Ok(())
    }
}

/// A hash from a user store, parsed and checked against the floor. `Debug` shows the scheme
/// and its cost, never the hash.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredHash {
    /// An argon2id PHC string, in pieces.
    Argon2id {
        /// `m`, `t`, `p`.
        parameters: HashParameters,
        /// The decoded salt.
        salt: Vec<u8>,
        /// The expected output (compared in constant time).
        output: Output,
    },
    /// A bcrypt hash, as stored (`$2b$12$...`).
    Bcrypt {
        /// Its cost.
        cost: u32,
        /// The whole hash string.
        hash: String,
    },
}

impl fmt::Debug for StoredHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoredHash::Argon2id { parameters, .. } => write!(f, "argon2id({parameters})"),
            StoredHash::Bcrypt { cost, .. } => write!(f, "bcrypt(cost {cost})"),
        }
    }
}

/// Why a stored hash was refused. Messages name the problem, never the hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// Not a PHC string or bcrypt hash this service can read.
    #[error("not a valid {0} hash")]
    Malformed(&'static str),
    /// A scheme the service does not verify.
    #[error("unsupported hash scheme {0:?}: use argon2id (`server users hash`) or bcrypt ($2b$)")]
    Unsupported(String),
    /// Parameters outside the floor or the ceiling.
    #[error("{0}; re-hash the password with `server users hash`")]
    OutOfBounds(String),
}

impl StoredHash {
    /// Parses a stored hash and checks it against `floor`.
    pub fn parse(text: &str, floor: &HashFloor) -> Result<Self, HashError> {
        let text = text.trim();
        if let Some(rest) = ["$2a$", "$2b$", "$2y$"].iter().find_map(|p| text.strip_prefix(p)) {
            let parts: bcrypt::HashParts =
                text.parse().map_err(|_| HashError::Malformed("bcrypt"))?;
            // `HashParts` accepts any cost text; the cost must be two digits, as every
            // bcrypt implementation writes it.
            if rest.len() != 56 || rest.as_bytes()[2] != b'$' {
                return Err(HashError::Malformed("bcrypt"));
            }
            let cost = parts.get_cost();
            if cost < floor.min_bcrypt_cost || cost > 31 {
                return Err(HashError::OutOfBounds(format!(
                    "bcrypt cost {cost} is outside {}..=31",
                    floor.min_bcrypt_cost
                )));
            }
            return Ok(StoredHash::Bcrypt { cost, hash: text.to_owned() });
        }
        let scheme = text.strip_prefix('$').and_then(|rest| rest.split('$').next()).unwrap_or("");
        if scheme != "argon2id" {
            let shown: String =
                scheme.chars().filter(char::is_ascii_alphanumeric).take(16).collect();
            return Err(HashError::Unsupported(shown));
        }
        let malformed = || HashError::Malformed("argon2id");
        let phc = PasswordHash::new(text).map_err(|_| malformed())?;
        if phc.version.is_some_and(|version| version != Version::V0x13 as u32) {
            return Err(HashError::Unsupported("argon2id before version 19".into()));
        }
        let params = Params::try_from(&phc).map_err(|_| malformed())?;
        let parameters = HashParameters {
            memory_kib: params.m_cost(),
            iterations: params.t_cost(),
            parallelism: params.p_cost(),
        };
        floor.check(&parameters).map_err(HashError::OutOfBounds)?;
        let mut salt = [0u8; 64];
        let salt =
            phc.salt.ok_or_else(malformed)?.decode_b64(&mut salt).map_err(|_| malformed())?;
        let output = phc.hash.ok_or_else(malformed)?;
        Ok(StoredHash::Argon2id { parameters, salt: salt.to_vec(), output })
    }
}

/// The verifications and hashes of one process: the write parameters, the dummy hash, and the
/// reusable argon2 buffers.
pub struct Verifier {
    write: HashParameters,
    dummy: StoredHash,
    /// Idle argon2 buffers, each `Vec<Block>` sized for the largest hash it has served.
    buffers: Mutex<Vec<Vec<Block>>>,
    /// At most this many idle buffers are kept (the login concurrency).
    keep: usize,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Verifier(writes argon2id {}, keeps {} buffers)", self.write, self.keep)
    }
}

/// The parameters could not make a hash (argon2 refused them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("argon2id cannot use {0}: {1}")]
pub struct ParametersRefused(HashParameters, String);

impl Verifier {
    /// A verifier that writes argon2id at `write` and keeps up to `keep` buffers for reuse.
    /// Makes the dummy hash (one argon2id hash of random bytes at `write`).
    pub fn new(write: HashParameters, keep: usize) -> Result<Self, ParametersRefused> {
        let mut random = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(random.as_mut());
        let everything = HashFloor {
            min_memory_kib: 0,
            min_work: 0,
            max_memory_kib: u32::MAX,
            min_bcrypt_cost: 0,
        };
        let dummy = StoredHash::parse(&hash_password(write, random.as_ref())?, &everything)
            .map_err(|err| ParametersRefused(write, err.to_string()))?;
        Ok(Verifier { write, dummy, buffers: Mutex::new(Vec::new()), keep: keep.max(1) })
    }

    /// The parameters new hashes are written with.
    pub fn write_parameters(&self) -> HashParameters {
        self.write
    }

    /// A PHC string of `password`: argon2id at the write parameters, a random 16-byte salt,
    /// a 32-byte output.
    pub fn hash(&self, password: &[u8]) -> Result<String, ParametersRefused> {
        hash_password(self.write, password)
    }

    /// Whether `password` matches `hash`. With no hash (an unknown or disabled user) it checks
    /// the dummy hash instead and answers `false`, after the same work as a wrong password.
    /// CPU-bound for tens of milliseconds: call it off the async workers.
    pub fn verify(&self, password: &[u8], hash: Option<&StoredHash>) -> bool {
        let matched = self.check(password, hash.unwrap_or(&self.dummy));
        matched && hash.is_some()
    }

    fn check(&self, password: &[u8], hash: &StoredHash) -> bool {
        match hash {
            StoredHash::Bcrypt { hash, .. } => bcrypt::verify(password, hash).unwrap_or(false),
            StoredHash::Argon2id { parameters, salt, output } => {
                let Ok(params) = argon2_params(parameters, output.len()) else {
                    return false;
                };
                let blocks = params.block_count();
                let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                let mut buffer = self.take_buffer(blocks);
                let mut computed = Zeroizing::new(vec![0u8; output.len()]);
                let done = argon2
                    .hash_password_into_with_memory(
                        password,
                        salt,
                        &mut computed,
                        &mut buffer[..blocks],
                    )
                    .is_ok();
                self.give_back(buffer);
                // `Output`'s equality is constant-time.
                done && Output::new(&computed).is_ok_and(|computed| computed == *output)
            }
        }
    }

    fn take_buffer(&self, blocks: usize) -> Vec<Block> {
        let mut buffer =
            self.buffers.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
        if buffer.len() < blocks {
            buffer.resize(blocks, Block::new());
        }
        buffer
    }

    fn give_back(&self, mut buffer: Vec<Block>) {
        // The blocks hold state derived from the password: wiped before the buffer idles.
        buffer.iter_mut().for_each(Zeroize::zeroize);
        let mut idle = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.keep {
            idle.push(buffer);
        }
    }
}

/// A PHC string of `password`: argon2id at `write`, a random 16-byte salt, a 32-byte output.
pub fn hash_password(write: HashParameters, password: &[u8]) -> Result<String, ParametersRefused> {
    let refused = |err: String| ParametersRefused(write, err);
    let params = argon2_params(&write, 32).map_err(refused)?;
    let salt = SaltString::generate(&mut OsRng);
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let phc = argon2.hash_password(password, &salt).map_err(|err| refused(err.to_string()))?;
    Ok(phc.to_string())
}

fn argon2_params(parameters: &HashParameters, output_len: usize) -> Result<Params, String> {
    let HashParameters { memory_kib, iterations, parallelism } = *parameters;
    Params::new(memory_kib, iterations, parallelism, Some(output_len))
        .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cheapest parameters the argon2 crate takes: unit tests check logic, not cost.
    const FAST: HashParameters = HashParameters { memory_kib: 64, iterations: 1, parallelism: 1 };
    const NO_FLOOR: HashFloor =
        HashFloor { min_memory_kib: 8, min_work: 8, max_memory_kib: 1 << 20, min_bcrypt_cost: 4 };

    /// A hash the verifier writes verifies its password and no other; it is argon2id at the
    /// write parameters; the dummy path never matches; `Debug` shows no hash.
    #[test]
    fn hash_then_verify() {
        let verifier = Verifier::new(FAST, 2).unwrap();
        let phc = verifier.hash(b"correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        let stored = StoredHash::parse(&phc, &NO_FLOOR).unwrap();
        assert!(verifier.verify(b"correct horse", Some(&stored)));
        assert!(!verifier.verify(b"correct horsf", Some(&stored)));
        assert!(!verifier.verify(b"", Some(&stored)));
        assert!(!verifier.verify(b"correct horse", None));
        assert_eq!(format!("{stored:?}"), "argon2id(m=64,t=1,p=1)");
        // Buffers are reused, never more than `keep` idle.
        assert_eq!(verifier.buffers.lock().unwrap().len(), 1);
    }

    /// Well-known vectors verify: an argon2id hash from the reference implementation and a
    /// bcrypt hash (`$2y$`, as `htpasswd -B` writes it).
    #[test]
    fn foreign_hashes() {
        let verifier = Verifier::new(FAST, 1).unwrap();
        // `echo -n password | argon2 somesalt -id -t 2 -m 16 -p 1` (the reference CLI).
        let argon = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
        let stored = StoredHash::parse(argon, &HashFloor::default()).unwrap();
        assert!(verifier.verify(b"password", Some(&stored)));
        assert!(!verifier.verify(b"Password", Some(&stored)));
        let bcrypt = bcrypt::hash("s3cret", 4).unwrap().replacen("$2b$", "$2y$", 1);
        let stored = StoredHash::parse(&bcrypt, &NO_FLOOR).unwrap();
        assert_eq!(format!("{stored:?}"), "bcrypt(cost 4)");
        assert!(verifier.verify(b"s3cret", Some(&stored)));
        assert!(!verifier.verify(b"s3creT", Some(&stored)));
    }

    /// Hashes outside the floor or ceiling, other schemes and garbage are refused with a
    /// message that contains no part of the hash.
    #[test]
    fn refused_hashes() {
        let floor = HashFloor::default();
        let weak = Verifier::new(FAST, 1).unwrap().hash(b"pw").unwrap();
        let bcrypt5 = bcrypt::hash("pw", 5).unwrap();
        let cases = [
            (weak.as_str(), "below the floor of 7168 KiB"),
            (
                "$argon2id$v=19$m=7168,t=4,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
                "below the floor of 35840",
            ),
            (
                "$argon2id$v=19$m=300000,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
                "above the ceiling",
            ),
            (
                "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
                "unsupported hash scheme \"argon2i\"",
            ),
            (
                "$argon2id$v=16$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
                "before version 19",
            ),
            ("$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ", "not a valid argon2id hash"),
            ("$argon2id$v=19$m=65536,t=2,p=1$%%%$CTFh", "not a valid argon2id hash"),
            (bcrypt5.as_str(), "bcrypt cost 5 is outside 10..=31"),
            ("$2b$10$short", "not a valid bcrypt hash"),
            ("$1$md5crypt$aaaaaaaa", "unsupported hash scheme \"1\""),
            ("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "unsupported hash scheme \"\""),
            ("plaintext-password", "unsupported hash scheme \"\""),
        ];
        for (hash, expected) in cases {
            let err = StoredHash::parse(hash, &floor).unwrap_err().to_string();
            assert!(err.contains(expected), "{hash}: {err}");
            let tail = &hash[hash.len().saturating_sub(10)..];
            assert!(!err.contains(tail), "{err} shows the hash");
        }
    }

    /// The OWASP parameters pass the default floor (what the service writes it accepts).
    #[test]
    fn write_parameters_pass_the_floor() {
        assert_eq!(HashFloor::default().check(&OWASP_PARAMETERS), Ok(()));
        assert_eq!(OWASP_PARAMETERS.work(), 38_912);
    }
}
