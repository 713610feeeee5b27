//! Sending one request to a token endpoint (Entra's or the CI platform's): transient failures are tried
//! again a couple of times, and a failure names the host, never the full URL.

use std::time::Duration;

use reqwest::{Client, RequestBuilder, StatusCode};
use url::Url;

use super::AuthError;
use crate::http::{innermost_cause, is_transient, read_capped};
use crate::report::Reporter;
use crate::secret::Secret;
use crate::text::format_duration;

/// Pauses before the second and third attempt. Short and few: a token request holds up the whole run, and
/// a token endpoint that is down for longer will not be back within a CI step.
const PAUSES: [Duration; 2] = [Duration::from_millis(300), Duration::from_secs(1)];

/// The shared HTTP client and the reporter: everything a token request needs from the run.
pub(super) struct TokenClient {
    http: Client,
    reporter: Reporter,
}

/// A complete answer of any status.
pub(super) struct Reply {
    pub status: StatusCode,
    pub body: String,
}

/// Why no answer came.
struct Failure {
    timed_out: bool,
    cause: String,
}

impl TokenClient {
    pub fn new(http: Client, reporter: Reporter) -> TokenClient {
        TokenClient { http, reporter }
    }

    /// Tell the CI to hide `secret`; called before the secret is first used.
    pub fn mask(&self, secret: &Secret) {
        self.reporter.mask(secret.expose());
    }

    pub fn debug(&self, text: &str) {
        self.reporter.debug(text);
    }

    /// Send the request `build` makes, again after a pause on connection failures, timeouts and the
    /// statuses that mean "try later". The last answer is returned whatever its status; `hint` goes into
    /// the error when `host` could not be reached at all.
    pub async fn send(
        &self,
        host: &str,
        hint: &str,
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Reply, AuthError> {
        let mut pauses = PAUSES.iter();
        loop {
            let result = attempt(build(&self.http)).await;
            let trouble = match &result {
                Ok(answer) if !is_transient(answer.status.as_u16()) => None,
                Ok(answer) => Some(format!("answered {}", answer.status)),
                Err(failure) => Some(failure.cause.clone()),
            };
            let (Some(trouble), Some(pause)) = (trouble, pauses.next()) else {
                return result.map_err(|failure| failure.into_error(host, hint));
            };
            self.debug(&format!(
                "{host}: {trouble}; trying again in {}",
                format_duration(*pause)
            ));
            tokio::time::sleep(*pause).await;
        }
    }
}

async fn attempt(request: RequestBuilder) -> Result<Reply, Failure> {
    let response = request.send().await.map_err(Failure::from)?;
    let status = response.status();
    // Capped like every other answer: a token endpoint's reply is a few hundred bytes.
    let (body, _) = read_capped(response).await.map_err(Failure::from)?;
    Ok(Reply {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

impl From<reqwest::Error> for Failure {
    fn from(err: reqwest::Error) -> Failure {
        let err = err.without_url();
        Failure {
            timed_out: err.is_timeout(),
            cause: innermost_cause(&err),
        }
    }
}

impl Failure {
    fn into_error(self, host: &str, hint: &str) -> AuthError {
        let (code, what) = if self.timed_out {
            ("timeout", "timed out waiting for")
        } else {
            ("unreachable", "could not reach")
        };
        AuthError::new(None, code, format!("{what} {host}: {}", self.cause), hint)
    }
}

/// `host[:port]` of `url`, to name an endpoint in messages without its path and query.
pub(super) fn host_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}
