//! One API request, done right: the token attached only on the API origin, transient failures retried
//! with exponential backoff and jitter (honouring `Retry-After`) but never past the run's deadline, a
//! host that cannot be reached given up on quickly, a 401 answered by renewing the token once, and
//! every body read under a size cap. Any portal backend sends through here.

use std::time::{Duration, Instant, SystemTime};

use backoff::backoff::Backoff;
use backoff::ExponentialBackoff;
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Method;
use serde_json::Value;
use url::Url;

use crate::auth::{AuthError, TokenSource};
use crate::http::{
    innermost_cause, is_transient, read_capped, CONNECT_TIMEOUT, MAX_BODY_BYTES, REQUEST_TIMEOUT,
};
use crate::outcome::Outcome;
use crate::report::Reporter;
use crate::service::{ServiceError, ServiceResult};
use crate::text::{body_excerpt, excerpt, format_duration};

/// The longest `Retry-After` honoured; a longer one is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// Tries per request, the first included.
pub const MAX_ATTEMPTS: u32 = 6;
/// Tries per request when nothing answers at the address (refused, unknown host, no connection in
/// time): a wrong `MARKETPLACE_API_BASE` should end the run in seconds, not minutes, and a network
/// that is down for longer will not be back within the step.
pub const UNREACHABLE_ATTEMPTS: u32 = 3;
/// The longest wait before trying an unreachable host again.
const UNREACHABLE_MAX_WAIT: Duration = Duration::from_secs(2);

/// How transient failures are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub initial: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    /// Retries start at the poll interval (at most 2 s) and grow to the poll cap (at most 30 s), so that
    /// tests with millisecond intervals retry in milliseconds too.
    pub fn new(poll_interval: Duration, poll_max_interval: Duration) -> RetryPolicy {
        let initial = poll_interval.min(Duration::from_secs(2));
        RetryPolicy {
            attempts: MAX_ATTEMPTS,
            initial,
            max: poll_max_interval.min(Duration::from_secs(30)).max(initial),
        }
    }

    fn backoff(&self) -> ExponentialBackoff {
        ExponentialBackoff {
            current_interval: self.initial,
            initial_interval: self.initial,
            randomization_factor: 0.5,
            multiplier: 2.0,
            max_interval: self.max,
            max_elapsed_time: None,
            ..ExponentialBackoff::default()
        }
    }
}

/// A final answer: any status that is not retried.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// True when the body was longer than [`MAX_BODY_BYTES`] and was cut.
    pub truncated: bool,
}

impl Answer {
    /// The body as JSON (read as [`parse_json`] does), or why it is not usable.
    pub fn json(&self) -> Result<Value, String> {
        if self.truncated {
            return Err(format!(
                "the answer is larger than {} KiB",
                MAX_BODY_BYTES / 1024
            ));
        }
        parse_json(&self.body).map_err(|e| {
            format!(
                "the answer is not valid JSON ({e}): '{}'",
                body_excerpt(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }
}

/// The body as JSON. A lone UTF-16 surrogate escape (`\ud83d` without its other half, as a service
/// that cuts text inside an emoji writes) reads as U+FFFD instead of making the whole answer unreadable.
pub fn parse_json(body: &[u8]) -> serde_json::Result<Value> {
    serde_json::from_slice(body).or_else(|e| match without_lone_surrogates(body) {
        Some(repaired) => serde_json::from_slice(&repaired).map_err(|_| e),
        None => Err(e),
    })
}

/// `body` with every `\u` escape of a lone surrogate replaced by `\ufffd`; `None` when it has none.
fn without_lone_surrogates(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let mut repaired = false;
    let mut at = 0;
    while at < body.len() {
        if body[at] != b'\\' {
            out.push(body[at]);
            at += 1;
            continue;
        }
        let length = match escaped_unit(body, at) {
            Some(0xD800..=0xDBFF)
                if matches!(escaped_unit(body, at + 6), Some(0xDC00..=0xDFFF)) =>
            {
                12
            }
            Some(0xD800..=0xDFFF) => {
                out.extend_from_slice(b"\\ufffd");
                repaired = true;
                at += 6;
                continue;
            }
            // Any other escape is copied whole, so that the `\` of an escaped backslash is never
            // taken for the start of the next escape.
            _ => 2,
        };
        let end = (at + length).min(body.len());
        out.extend_from_slice(&body[at..end]);
        at = end;
    }
    repaired.then_some(out)
}

/// The UTF-16 code unit of a `\uXXXX` escape starting at `at`.
fn escaped_unit(body: &[u8], at: usize) -> Option<u16> {
    let hex = body.get(at..at + 6)?.strip_prefix(b"\\u")?;
    if !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

/// Sends requests to one API origin with a token from `tokens`.
pub struct Transport {
    http: reqwest::Client,
    origin: Url,
    tokens: TokenSource,
    reporter: Reporter,
    retry: RetryPolicy,
    /// When the run ends (`MARKETPLACE_TIMEOUT`): no retry is announced or waited for past it.
    deadline: Option<Instant>,
}

/// What went wrong with one try that may go right the next time.
struct Passing {
    status: Option<u16>,
    code: Option<String>,
    message: String,
    retry_after: Option<Duration>,
    /// Nothing answered at the address: it is given fewer tries, and the hint points at the API base.
    unreachable: bool,
}

impl Transport {
    pub fn new(
        http: reqwest::Client,
        origin: Url,
        tokens: TokenSource,
        reporter: Reporter,
        retry: RetryPolicy,
        deadline: Option<Instant>,
    ) -> Transport {
        Transport {
            http,
            origin,
            tokens,
            reporter,
            retry,
            deadline,
        }
    }

    pub fn origin(&self) -> &Url {
        &self.origin
    }

    /// A progress line for the log.
    pub fn info(&self, text: &str) {
        self.reporter.info(text);
    }

    /// Hide a secret the service handed back, before it is used.
    pub fn mask(&self, secret: &str) {
        self.reporter.mask(secret);
    }

    /// Say something worth a look that does not stop the command.
    pub fn warn(&self, title: &str, text: &str) {
        self.reporter.warning(title, text);
    }

    /// Send `method url` with `body` as JSON, retrying what is transient. `what` names the call in messages.
    pub async fn send(
        &self,
        what: &str,
        method: Method,
        url: &Url,
        body: Option<&Value>,
    ) -> ServiceResult<Answer> {
        if url.origin() != self.origin.origin() {
            return Err(ServiceError::unusable(
                what,
                format!(
                    "{} is not on the API origin {}; nothing was sent there",
                    excerpt(url.as_str()),
                    self.origin.origin().ascii_serialization()
                ),
                "report this answer to the service; the API must name operations on its own origin",
            ));
        }
        let mut backoff = self.retry.backoff();
        let mut renewed = false;
        let mut attempt = 1;
        loop {
            let token = self.tokens.token().await.map_err(auth_failure)?;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose());
            if let Some(body) = body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_string());
            }
            let passing = match request.send().await {
                Err(e) => no_answer(what, url, &e)?,
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    match read_capped(response).await {
                        Err(e) => Passing {
                            status: Some(status),
                            code: None,
                            message: format!(
                                "the answer broke off while it was read ({})",
                                innermost_cause(&e)
                            ),
                            retry_after: None,
                            unreachable: false,
                        },
                        Ok((body, truncated)) => {
                            let answer = Answer {
                                status,
                                headers,
                                body,
                                truncated,
                            };
                            if status == 401 && !renewed && self.tokens.can_renew() {
                                renewed = true;
                                self.reporter
                                    .info(&format!("{what}: HTTP 401, renewing the token once"));
                                self.tokens.renew().await.map_err(auth_failure)?;
                                continue;
                            }
                            if status == 401 {
                                return Err(self.unauthorized(what, &answer));
                            }
                            if !is_transient(status) {
                                return Ok(answer);
                            }
                            let (code, message) = service_error(&answer);
                            Passing {
                                status: Some(status),
                                code,
                                message,
                                retry_after: retry_after(&answer.headers, SystemTime::now()),
                                unreachable: false,
                            }
                        }
                    }
                }
            };
            let tries = if passing.unreachable {
                UNREACHABLE_ATTEMPTS.min(self.retry.attempts)
            } else {
                self.retry.attempts
            };
            if attempt >= tries {
                let hint = format!("gave up after {attempt} tries; {}", self.advice(&passing));
                return Err(give_up(what, passing, hint));
            }
            let mut wait = next_wait(passing.retry_after, &mut backoff, self.retry.max);
            if passing.unreachable {
                wait = wait.min(UNREACHABLE_MAX_WAIT);
            }
            if self
                .deadline
                .is_some_and(|end| Instant::now() + wait >= end)
            {
                let hint = format!(
                    "the next try (in {}) would come after MARKETPLACE_TIMEOUT runs out, so none was \
                     made; {}",
                    rounded(wait),
                    self.advice(&passing)
                );
                return Err(give_up(what, passing, hint));
            }
            let status = passing
                .status
                .map(|s| format!("HTTP {s}: "))
                .unwrap_or_default();
            self.reporter.info(&format!(
                "{what}: {status}{}; trying again in {} (try {} of {tries})",
                passing.message,
                rounded(wait),
                attempt + 1,
            ));
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// What to do about a failure that outlasted its tries.
    fn advice(&self, passing: &Passing) -> String {
        let base = self.origin.as_str().trim_end_matches('/');
        if !passing.unreachable {
            "the service or the network is having trouble: run again later".to_string()
        } else if passing.message.contains("certificate") {
            format!(
                "the certificate of {base} is not trusted here: for a private CA, point SSL_CERT_FILE \
                 at its PEM bundle; else check MARKETPLACE_API_BASE"
            )
        } else {
            format!(
                "check MARKETPLACE_API_BASE ({base}) and that this machine can reach it (a proxy is \
                 taken from HTTPS_PROXY, HTTP_PROXY and NO_PROXY)"
            )
        }
    }

    fn unauthorized(&self, what: &str, answer: &Answer) -> ServiceError {
        let (code, message) = service_error(answer);
        let hint = if self.tokens.can_renew() {
            "the service rejected a freshly issued token: check that the application is added as a user of \
             the publisher account and that the token's scope matches MARKETPLACE_API_BASE"
        } else {
            "the given token was rejected, perhaps expired: MARKETPLACE_CLIENT_SECRET or OIDC federation \
             would renew it automatically during a long publish"
        };
        ServiceError {
            outcome: Outcome::Unauthorized,
            http_status: Some(401),
            context: what.to_string(),
            code,
            message,
            hint: Some(hint.to_string()),
            transient: false,
        }
    }
}

/// The wait before the next try: the service's `Retry-After`, cut to [`MAX_RETRY_AFTER`] so that a
/// gateway cannot park the run, else the backoff's next interval.
fn next_wait(
    retry_after: Option<Duration>,
    backoff: &mut ExponentialBackoff,
    max: Duration,
) -> Duration {
    retry_after
        .map(|d| d.min(MAX_RETRY_AFTER))
        .or_else(|| backoff.next_backoff())
        .unwrap_or(max)
}

/// A wait as a person reads it: whole seconds from one second up, else milliseconds.
fn rounded(d: Duration) -> String {
    let d = if d >= Duration::from_secs(1) {
        Duration::from_secs(d.as_secs_f64().round() as u64)
    } else {
        Duration::from_millis(d.as_millis().max(1) as u64)
    };
    format_duration(d)
}

fn auth_failure(e: AuthError) -> ServiceError {
    ServiceError {
        outcome: Outcome::Unauthorized,
        http_status: e.http_status,
        context: "token request".to_string(),
        code: Some(e.code).filter(|c| !c.is_empty()),
        message: e.message,
        hint: Some(e.hint).filter(|h| !h.is_empty()),
        transient: false,
    }
}

/// The error a request ends with once it stops trying: the last try's failure, and `hint`.
fn give_up(what: &str, passing: Passing, hint: String) -> ServiceError {
    ServiceError {
        outcome: Outcome::Error,
        http_status: passing.status,
        context: what.to_string(),
        code: passing.code,
        message: passing.message,
        hint: Some(hint),
        transient: true,
    }
}

/// A try that got no answer, said with the address, the figure that ran out and the cause: a try
/// worth repeating, or (for an answer this client cannot read at all) the end of the request.
fn no_answer(what: &str, url: &Url, e: &reqwest::Error) -> ServiceResult<Passing> {
    let address = address(url);
    let cause = innermost_cause(e);
    if cause.contains(HEADER_LIMIT_CAUSE) {
        return Err(ServiceError::unusable(
            what,
            format!(
                "{address} answered with more header lines than this client reads (100 at most, \
                 hyper's limit; {cause})"
            ),
            "a proxy or gateway on the way may be adding headers: report the answer to whoever runs \
             it; the request is safe to repeat once that is fixed",
        ));
    }
    let (message, unreachable) = if e.is_connect() && e.is_timeout() {
        let within = CONNECT_TIMEOUT.as_secs();
        let message = format!(
            "could not connect to {address} within {within}s (connection and TLS handshake)"
        );
        (message, true)
    } else if e.is_connect() {
        (format!("could not connect to {address} ({cause})"), true)
    } else if e.is_timeout() {
        let within = REQUEST_TIMEOUT.as_secs();
        (format!("{address} did not answer within {within}s"), false)
    } else {
        let message = format!("the request to {address} failed before an answer came ({cause})");
        (message, false)
    };
    Ok(Passing {
        status: None,
        code: None,
        message,
        retry_after: None,
        unreachable,
    })
}

/// hyper's words (its `Parse::TooLarge`) when an answer's head has more header lines than it reads, or
/// is too large; reqwest 0.12 offers no way to raise that limit.
const HEADER_LIMIT_CAUSE: &str = "message head is too large";

/// `host:port` of `url`, the port filled in for its scheme, to say exactly where nothing answered.
fn address(url: &Url) -> String {
    let host = url.host_str().unwrap_or("the service");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// The service's `(code, message)` from an error answer, in any of the shapes seen, else the status
/// line and an excerpt of the text.
pub fn service_error(answer: &Answer) -> (Option<String>, String) {
    let parsed = parse_json(&answer.body).ok();
    let text = |v: &Value| v.as_str().map(str::to_string);
    if let Some(json) = parsed {
        let json = match &json {
            Value::Array(items) if items.len() == 1 => items[0].clone(),
            _ => json,
        };
        let error = &json["error"];
        let code = text(&error["code"])
            .or_else(|| text(&json["code"]))
            .or_else(|| text(error))
            .filter(|code| !code.is_empty());
        let message = text(&error["message"])
            .or_else(|| text(&json["message"]))
            .or_else(|| text(&json["error_description"]))
            .or_else(|| text(&json["Message"]));
        if let Some(message) = message {
            return (code, excerpt(&message));
        }
        if code.is_some() {
            return (code, reason(answer.status).to_string());
        }
    }
    let body = body_excerpt(&answer.body);
    let message = if body.is_empty() {
        format!("{} (no details in the answer)", reason(answer.status))
    } else {
        format!("{}: '{body}'", reason(answer.status))
    };
    (None, message)
}

/// A 2xx answer whose body cannot be read (exit 8); `why` says what is wrong with it.
pub fn unreadable(what: &str, answer: &Answer, why: String) -> ServiceError {
    ServiceError {
        http_status: Some(answer.status),
        ..ServiceError::unusable(
            what,
            why,
            "the service sent an answer that cannot be read; run again later",
        )
    }
}

/// A final answer that is not a success: the outcome its status means, the service's code and message,
/// and `hint_for` the status, which each API words for itself.
pub fn rejection(what: &str, answer: &Answer, hint_for: fn(u16) -> &'static str) -> ServiceError {
    let (code, message) = service_error(answer);
    ServiceError {
        outcome: Outcome::for_http_status(answer.status),
        http_status: Some(answer.status),
        context: what.to_string(),
        code,
        message,
        hint: Some(hint_for(answer.status).to_string()),
        transient: false,
    }
}

fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("unexpected status")
}

/// `Retry-After` as a wait from `now`: delta seconds or an HTTP date (IMF-fixdate).
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parse `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let day: i64 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    let days = crate::calendar::days_from_civil(year, month, day);
    let secs = days * 86_400 + h * 3600 + m * 60 + s;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

#[cfg(test)]
mod tests;
