//! The HTTP layer every request shares, with nothing of the program above it: the client (rustls,
//! timeouts, no redirects), which statuses are worth trying again, and reading a body under a cap.
//! Both the API transport and the token endpoints build on this.

use std::time::Duration;

use url::Url;

/// The largest body read from a service; the rest is dropped. Real answers are a few KiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long one request may take, connection to last byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Statuses worth trying again (contract section 2).
const TRANSIENT_STATUSES: [u16; 6] = [408, 429, 500, 502, 503, 504];

/// True for an answer that may go right if the same request is sent again later.
pub fn is_transient(status: u16) -> bool {
    TRANSIENT_STATUSES.contains(&status)
}

/// The HTTP client every request shares: rustls, timeouts, and no redirects, so that a token can
/// never follow a redirect to another origin. Fails (instead of aborting) when the TLS setup cannot
/// be built, for example from a broken certificate store named by `SSL_CERT_FILE`.
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .user_agent(concat!("marketplace-publish/", env!("CARGO_PKG_VERSION")))
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| innermost_cause(&e))
}

/// The innermost cause of an error ("Connection refused", "failed to lookup address"): reqwest's own
/// text repeats the URL and wraps the cause in layers that say little.
pub fn innermost_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    cause
}

/// True for the hosts where plain `http` is allowed: 127.0.0.0/8, `::1`, `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The body, at most [`MAX_BODY_BYTES`] of it, and whether it was cut.
pub async fn read_capped(
    mut response: reqwest::Response,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY_BYTES - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}
