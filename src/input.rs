//! What every reader of inputs shares: the error a bad input becomes (exit 2, naming the variable),
//! and the id rule that keeps publisher, offer and plan ids safe in a URL path.

use std::fmt;

/// A publisher, offer or plan id: 1 to 50 of `A-Za-z0-9-_.`, with at least one letter or digit.
pub fn validate_id(value: &str) -> Result<(), &'static str> {
    if value.is_empty() || value.len() > 50 {
        return Err("must be 1 to 50 characters");
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("may hold only letters, digits, '-', '_' and '.'");
    }
    if !value.chars().any(|c| c.is_ascii_alphanumeric()) {
        return Err("must hold at least one letter or digit");
    }
    Ok(())
}

/// A missing or invalid input. Never carries a secret's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(variable: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            variable: variable.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

impl std::error::Error for ConfigError {}
