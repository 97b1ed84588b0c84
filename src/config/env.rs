//! Reading variables: the lookup (the process environment, or a map in tests) and the parsers
//! every section uses, each failing with a [`ConfigError`] that names the variable.

use super::ConfigError;
use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

/// The variables as the sections read them.
pub(super) struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Env<'a> {
    pub(super) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Env { lookup }
    }

    /// The value exactly as set (`None` when unset), for values whose emptiness is itself an
    /// error worth naming (a secret).
    pub(super) fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    /// The value, with unset and blank treated alike (`None`: take the default).
    pub(super) fn get(&self, name: &str) -> Option<String> {
        self.raw(name).filter(|value| !value.trim().is_empty())
    }

    /// The trimmed value, when set.
    pub(super) fn trimmed(&self, name: &str) -> Option<String> {
        self.get(name).map(|value| value.trim().to_owned())
    }

    /// The value parsed as `T`, or `default` when unset.
    pub(super) fn parse_or<T>(&self, variable: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: fmt::Display,
    {
        match self.get(variable) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|err| ConfigError::new(variable, format!("invalid value {raw:?}: {err}"))),
        }
    }

    /// A count within `range` (`default` when unset). Every count and duration the service
    /// reads goes through a range: an absurd value (`u64::MAX`) stops start-up with a message
    /// naming the variable, instead of overflowing later, where it would panic a connection or
    /// silently end the key refresh.
    pub(super) fn count_in<T>(
        &self,
        variable: &'static str,
        default: T,
        range: RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
        T::Err: fmt::Display,
    {
        let value = self.parse_or(variable, default)?;
        if !range.contains(&value) {
            return Err(ConfigError::new(
                variable,
                format!("is {value}; must be between {} and {}", range.start(), range.end()),
            ));
        }
        Ok(value)
    }

    /// A whole number of seconds within `range` (`default` when unset).
    pub(super) fn seconds_in(
        &self,
        variable: &'static str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.count_in(variable, default, range).map(Duration::from_secs)
    }

    /// `true`/`1`/`yes` or `false`/`0`/`no` (any case); unset is false.
    pub(super) fn flag(&self, variable: &'static str) -> Result<bool, ConfigError> {
        self.flag_or(variable, false)
    }

    /// `true`/`1`/`yes` or `false`/`0`/`no` (any case); unset is `default`.
    pub(super) fn flag_or(
        &self,
        variable: &'static str,
        default: bool,
    ) -> Result<bool, ConfigError> {
        match self.get(variable).map(|raw| raw.trim().to_ascii_lowercase()).as_deref() {
            None => Ok(default),
            Some("false" | "0" | "no") => Ok(false),
            Some("true" | "1" | "yes") => Ok(true),
            Some(other) => Err(ConfigError::new(
                variable,
                format!("invalid value {other:?}: expected true or false"),
            )),
        }
    }
}
