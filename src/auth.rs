//! Token sources (placeholder until the auth branch lands): only a given token.

use std::time::Duration;

use crate::config::AuthSettings;
use crate::report::Reporter;
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct AuthError {
    pub http_status: Option<u16>,
    pub code: String,
    pub message: String,
    pub hint: String,
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub struct TokenSource {
    token: Option<Secret>,
}

impl TokenSource {
    pub fn new(settings: &AuthSettings, _http: reqwest::Client, reporter: Reporter) -> TokenSource {
        let token = match settings {
            AuthSettings::Token(t) => {
                reporter.mask(t.expose());
                Some(t.clone())
            }
            _ => None,
        };
        TokenSource { token }
    }

    pub async fn token(&self) -> Result<Secret, AuthError> {
        self.token.clone().ok_or(AuthError {
            http_status: None,
            code: String::new(),
            message: "not yet".into(),
            hint: String::new(),
        })
    }

    pub async fn renew(&self) -> Result<Secret, AuthError> {
        Err(AuthError {
            http_status: None,
            code: String::new(),
            message: "the given token was rejected".into(),
            hint: "client credentials or OIDC federation would renew it".into(),
        })
    }

    pub fn can_renew(&self) -> bool {
        false
    }

    pub fn preflight_warnings(&self, _timeout: Duration) -> Vec<String> {
        Vec::new()
    }
}
