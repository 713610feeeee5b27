//! API tokens that last a whole publish.
//!
//! A publish can be followed for longer than an access token lives (about an hour), so a [`TokenSource`]
//! caches its token and fetches a new one before it expires, or when the API answers 401. Where the
//! credentials allow it (an Entra client secret, or OIDC federation) renewal needs nobody; a given
//! token cannot be renewed, and the source says so up front.
//!
//! Every secret (the given token, client secret, OIDC request token, federated assertion and each access
//! token) is registered with the reporter for masking before it is first used, and none can reach an
//! error, a log line or `Debug` output: service text is redacted before it is kept.

mod endpoint;
mod entra;
mod federation;
mod jwt;
mod settings;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::Mutex;

use crate::report::Reporter;
use crate::secret::Secret;
use crate::text::format_duration;
use crate::text::one_line;
use endpoint::TokenClient;
use entra::Credential;
pub use settings::{AssertionSource, AuthSettings, EntraApp, FEDERATION_AUDIENCE};

/// Renew this long before a token expires, so that a request never leaves with a token about to lapse.
const RENEWAL_MARGIN: Duration = Duration::from_secs(300);

/// Hands out the API token for the whole run, renewing it as needed. Shared by every API call; the cache
/// sits behind an async mutex so that concurrent callers wait for one renewal instead of each starting one.
pub struct TokenSource {
    mode: Mode,
    transport: TokenClient,
    cache: Mutex<Cache>,
}

enum Mode {
    /// `MARKETPLACE_TOKEN`: used as given, never renewed.
    Given(Secret),
    /// Client credentials against Entra: renewed whenever needed.
    Entra { app: EntraApp, proof: Proof },
    /// OIDC was asked for but the platform offers no token; the advice says how to get one.
    Unavailable(String),
}

enum Proof {
    ClientSecret(Secret),
    Federated(AssertionSource),
}

/// What the last request for a token brought.
enum Cache {
    Empty,
    Token(Cached),
    /// The identity endpoint turned the credentials down. Asking again would bring the same answer,
    /// so every later caller gets it without another request (callers that carry on after an error,
    /// like the check for a running operation, would otherwise ask once each).
    Refused(AuthError),
}

struct Cached {
    token: Secret,
    renew_at: Instant,
}

/// Why no token could be had: the service's own words, and what to do next. Never holds a secret.
#[derive(Debug, Clone)]
pub struct AuthError {
    /// The token endpoint's status, when it answered.
    pub http_status: Option<u16>,
    /// Entra's `AADSTS…` code or `error` field (e.g. `invalid_client`), else this module's own word
    /// (`unreachable`, `timeout`, `id_token_refused`, …).
    pub code: String,
    /// The service's own description, cleaned and shortened.
    pub message: String,
    /// What to do next.
    pub hint: String,
}

impl TokenSource {
    /// `http` is the shared reqwest client (its timeouts apply); `reporter` is told to mask every secret
    /// and obtained token before use.
    pub fn new(settings: &AuthSettings, http: reqwest::Client, reporter: Reporter) -> TokenSource {
        let mode = match settings {
            AuthSettings::Token(token) => Mode::Given(token.clone()),
            AuthSettings::ClientSecret { app, secret } => Mode::Entra {
                app: app.clone(),
                proof: Proof::ClientSecret(secret.clone()),
            },
            AuthSettings::Federated { app, assertion } => Mode::Entra {
                app: app.clone(),
                proof: Proof::Federated(assertion.clone()),
            },
            AuthSettings::FederationUnavailable { advice } => Mode::Unavailable(advice.clone()),
        };
        let transport = TokenClient::new(http, reporter);
        if let Some(secret) = mode.given_secret() {
            transport.mask(secret);
        }
        TokenSource {
            mode,
            transport,
            cache: Mutex::new(Cache::Empty),
        }
    }

    /// A valid token, fetched or renewed when missing or within 5 minutes of expiry.
    pub async fn token(&self) -> Result<Secret, AuthError> {
        if let Mode::Given(token) = &self.mode {
            return Ok(token.clone());
        }
        let mut cache = self.cache.lock().await;
        match &*cache {
            Cache::Token(cached) if Instant::now() < cached.renew_at => Ok(cached.token.clone()),
            _ => self.refill(&mut cache).await,
        }
    }

    /// Force a new token after the API answered 401 (returns Err for a static token).
    pub async fn renew(&self) -> Result<Secret, AuthError> {
        let mut cache = self.cache.lock().await;
        self.refill(&mut cache).await
    }

    /// Whether `renew` can ever produce a different token (false for a given static token).
    pub fn can_renew(&self) -> bool {
        matches!(self.mode, Mode::Entra { .. })
    }

    /// Warnings worth showing before starting, e.g. a given JWT that expires before `timeout`.
    pub fn preflight_warnings(&self, timeout: Duration) -> Vec<String> {
        let Mode::Given(token) = &self.mode else {
            return Vec::new();
        };
        let Some(expiry) = jwt::claims(token.expose()).and_then(|claims| claims.exp) else {
            return Vec::new();
        };
        let now = unix_now();
        if expiry >= now + timeout.as_secs_f64() {
            return Vec::new();
        }
        let when = jwt::format_utc(expiry as i64);
        let warning = if expiry <= now {
            format!("MARKETPLACE_TOKEN expired at {when}; the API will refuse it")
        } else {
            format!(
                "MARKETPLACE_TOKEN expires at {when} (in {}), before MARKETPLACE_TIMEOUT ({}) runs out, \
                 and a given token cannot be renewed",
                format_duration(time_left(expiry - now)),
                format_duration(timeout)
            )
        };
        vec![format!("{warning}: {RENEWABLE_CREDENTIALS}")]
    }

    /// Replace the cached token with a new one, where the credentials allow it. A failure that may pass
    /// (the endpoint unreachable, say) leaves a still valid token in place for the next try.
    async fn refill(&self, cache: &mut Cache) -> Result<Secret, AuthError> {
        let (app, proof) = match (&self.mode, &*cache) {
            (_, Cache::Refused(err)) => return Err(err.clone()),
            (Mode::Given(token), _) => return Err(given_token_rejected(token)),
            (Mode::Unavailable(advice), _) => return Err(unavailable(advice)),
            (Mode::Entra { app, proof }, _) => (app, proof),
        };
        match self.fetch(app, proof).await {
            Ok(fresh) => {
                let token = fresh.token.clone();
                *cache = Cache::Token(fresh);
                Ok(token)
            }
            Err(err) => {
                if err.is_refusal() {
                    *cache = Cache::Refused(err.clone());
                }
                Err(err)
            }
        }
    }

    /// A new access token from Entra, masked before anyone sees it.
    async fn fetch(&self, app: &EntraApp, proof: &Proof) -> Result<Cached, AuthError> {
        let issued = match proof {
            Proof::ClientSecret(secret) => {
                entra::request_token(&self.transport, app, Credential::Secret(secret)).await
            }
            Proof::Federated(source) => self.exchange(app, source).await,
        };
        // Entra redacts what it was sent; this covers what it was not (the OIDC request token).
        let issued = issued.map_err(|err| match self.mode.given_secret() {
            Some(secret) => err.without(secret),
            None => err,
        })?;
        self.transport.mask(&issued.token);
        self.transport.debug(&format!(
            "obtained an access token valid for {}",
            format_duration(issued.lifetime)
        ));
        Ok(Cached {
            token: issued.token,
            renew_at: Instant::now() + renewal_delay(issued.lifetime),
        })
    }

    /// Federation: a fresh assertion from the platform, exchanged at Entra for an access token.
    async fn exchange(
        &self,
        app: &EntraApp,
        source: &AssertionSource,
    ) -> Result<entra::Issued, AuthError> {
        let assertion = federation::assertion(&self.transport, source).await?;
        self.transport.mask(&assertion);
        entra::request_token(&self.transport, app, Credential::Assertion(&assertion)).await
    }
}

impl Mode {
    /// The secret known from the start, if any; secrets obtained later are masked as they arrive.
    fn given_secret(&self) -> Option<&Secret> {
        match self {
            Mode::Given(token) => Some(token),
            Mode::Entra {
                proof: Proof::ClientSecret(secret),
                ..
            } => Some(secret),
            Mode::Entra {
                proof: Proof::Federated(AssertionSource::GitHub { request_token, .. }),
                ..
            } => Some(request_token),
            Mode::Entra {
                proof: Proof::Federated(AssertionSource::File(_)),
                ..
            }
            | Mode::Unavailable(_) => None,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Mode::Given(_) => "given token",
            Mode::Entra {
                proof: Proof::ClientSecret(_),
                ..
            } => "client secret",
            Mode::Entra {
                proof: Proof::Federated(_),
                ..
            } => "OIDC federation",
            Mode::Unavailable(_) => "OIDC federation (unavailable)",
        }
    }
}

/// Only the mode: every other field holds or leads to a secret.
impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("mode", &self.mode.name())
            .finish_non_exhaustive()
    }
}

/// When to renew a token that lasts `lifetime`: 5 minutes before it expires, or at half its life for a
/// token too short for that margin.
fn renewal_delay(lifetime: Duration) -> Duration {
    lifetime.saturating_sub(RENEWAL_MARGIN).max(lifetime / 2)
}

/// Seconds left, rounded up to whole minutes once there is more than one, for a readable warning.
fn time_left(seconds: f64) -> Duration {
    let seconds = seconds.ceil() as u64;
    if seconds > 60 {
        Duration::from_secs(seconds.div_ceil(60) * 60)
    } else {
        Duration::from_secs(seconds)
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

const RENEWABLE_CREDENTIALS: &str =
    "set MARKETPLACE_CLIENT_SECRET (with MARKETPLACE_TENANT_ID and \
    MARKETPLACE_CLIENT_ID) or use OIDC federation, and tokens are renewed automatically";

fn given_token_rejected(token: &Secret) -> AuthError {
    let expired = jwt::claims(token.expose())
        .and_then(|claims| claims.exp)
        .filter(|&exp| exp <= unix_now())
        .map(|exp| format!(" (it expired at {})", jwt::format_utc(exp as i64)))
        .unwrap_or_default();
    AuthError::new(
        None,
        "token_rejected",
        format!("the API rejected MARKETPLACE_TOKEN{expired}, and a given token cannot be renewed"),
        format!("pass a fresh token, or {RENEWABLE_CREDENTIALS}"),
    )
}

fn unavailable(advice: &str) -> AuthError {
    AuthError::new(
        None,
        "federation_unavailable",
        "OIDC federation was asked for, but the platform offers no ID token",
        advice,
    )
}

impl AuthError {
    fn new(
        http_status: Option<u16>,
        code: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> AuthError {
        AuthError {
            http_status,
            code: code.into(),
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// Whether the identity endpoint turned the request down for good: a 4xx answer other than the
    /// "try later" ones, which the transport has already tried again.
    fn is_refusal(&self) -> bool {
        self.http_status
            .is_some_and(|status| (400..500).contains(&status) && !matches!(status, 408 | 429))
    }

    /// The same error with `secret` cut out of the service's text, which may echo what was sent.
    fn without(self, secret: &Secret) -> AuthError {
        let cut = |text: String| match secret.expose() {
            "" => text,
            value => text.replace(value, "***"),
        };
        AuthError {
            code: cut(self.code),
            message: cut(self.message),
            ..self
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(status) = self.http_status {
            write!(f, " (HTTP {status})")?;
        }
        if !self.hint.is_empty() {
            write!(f, " — {}", self.hint)?;
        }
        Ok(())
    }
}

impl std::error::Error for AuthError {}

/// `503 Service Unavailable from host: <start of the body>`, for answers that are not the expected JSON.
fn status_excerpt(status: reqwest::StatusCode, host: &str, body: &str) -> String {
    let body = one_line(body, 200);
    if body.is_empty() {
        format!("{status} from {host} (empty body)")
    } else {
        format!("{status} from {host}: {body}")
    }
}
