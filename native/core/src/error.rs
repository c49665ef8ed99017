//! The one error type of the engine: misuse of the API.

use std::fmt;

/// Misuse of the engine API (wrong lengths, bad numbers, an invalid rule or snapshot).
///
/// When a call returns it, no state has changed: every batch is validated before it is applied.
/// Business outcomes (an empty packet, an unknown id...) are per-item status codes, never errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    message: String,
}

impl InputError {
    /// An error with a human-readable message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message, without any prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputError {}

/// Result of an engine call that may be refused as misuse.
pub type Result<T> = std::result::Result<T, InputError>;

/// Returns an error unless `actual >= needed`, naming the argument.
pub(crate) fn ensure_len(name: &str, actual: usize, needed: usize) -> Result<()> {
    if actual < needed {
        return Err(InputError::new(format!(
            "{name} has {actual} items, needs at least {needed}"
        )));
    }
    Ok(())
}
