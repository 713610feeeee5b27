//! The HTTP layer every request shares, with nothing of the program above it: the client (rustls,
//! timeouts, no redirects, proxies from the environment but never for loopback), which statuses are
//! worth trying again, and reading a body under a cap. Both the API transport and the token endpoints
//! build on this.

use std::time::Duration;

use url::Url;

/// The largest body read from a service; the rest is dropped. Real answers are a few KiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long one request may take, connection to last byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Hosts never reached through a proxy, in `NO_PROXY`'s syntax: the built-in simulator and any local
/// test service live there, and a token meant for them must not travel through a corporate proxy.
const LOOPBACK: &str = "localhost,127.0.0.0/8,::1";

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
    builder(|name| std::env::var(name).ok())
        .build()
        .map_err(|e| innermost_cause(&e))
}

/// The client's settings, with the proxy variables read through `var`.
fn builder(var: impl Fn(&str) -> Option<String>) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder()
        .user_agent(concat!("marketplace-publish/", env!("CARGO_PKG_VERSION")))
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        // Only the proxies below: reqwest's own reading of the environment would proxy loopback too.
        .no_proxy();
    proxies(var)
        .into_iter()
        .fold(builder, |builder, proxy| builder.proxy(proxy))
}

/// The proxies named by curl's variables, read as reqwest reads them (`HTTP_PROXY`, `HTTPS_PROXY`,
/// `ALL_PROXY` and `NO_PROXY`, either case; none in a CGI program, where `HTTP_PROXY` can come from a
/// request header), each bypassed for `NO_PROXY`'s hosts and for loopback.
fn proxies(var: impl Fn(&str) -> Option<String>) -> Vec<reqwest::Proxy> {
    let first = |names: [&str; 2]| {
        names
            .into_iter()
            .find_map(&var)
            .filter(|value| !value.trim().is_empty())
    };
    if var("REQUEST_METHOD").is_some() {
        return Vec::new();
    }
    let bypass = match first(["NO_PROXY", "no_proxy"]) {
        Some(list) => format!("{list},{LOOPBACK}"),
        None => LOOPBACK.to_string(),
    };
    let make =
        |names, kind: fn(String) -> reqwest::Result<reqwest::Proxy>| kind(first(names)?).ok();
    [
        make(["HTTP_PROXY", "http_proxy"], reqwest::Proxy::http),
        make(["HTTPS_PROXY", "https_proxy"], reqwest::Proxy::https),
        make(["ALL_PROXY", "all_proxy"], reqwest::Proxy::all),
    ]
    .into_iter()
    .flatten()
    .map(|proxy| proxy.no_proxy(reqwest::NoProxy::from_string(&bypass)))
    .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{SocketAddr, TcpListener};

    /// A loopback server that answers every request with `name`: the target, or a stand-in proxy.
    fn answering(name: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().map_while(Result::ok) {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{name}",
                    name.len()
                );
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        addr
    }

    /// Who answers a GET of `url` from a client whose environment is `env`, with `api.example`
    /// resolving to `target` (a name that is not loopback, without asking DNS).
    async fn answered_by(env: &[(&str, String)], url: &str, target: SocketAddr) -> String {
        let var = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
        let client = builder(var).resolve("api.example", target).build().unwrap();
        let response = client.get(url).send().await.unwrap();
        response.text().await.unwrap()
    }

    #[tokio::test]
    async fn loopback_bypasses_every_proxy_and_other_hosts_honour_no_proxy() {
        let (target, proxy) = (answering("target"), answering("proxy"));
        let proxy_url = format!("http://{proxy}");
        let mut env = vec![
            ("HTTP_PROXY", proxy_url.clone()),
            ("https_proxy", proxy_url.clone()),
            ("ALL_PROXY", proxy_url),
        ];
        let port = target.port();
        for url in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://localhost:{port}/"),
        ] {
            assert_eq!(answered_by(&env, &url, target).await, "target", "{url}");
        }
        let elsewhere = format!("http://api.example:{port}/");
        assert_eq!(answered_by(&env, &elsewhere, target).await, "proxy");
        env.push(("NO_PROXY", "other.example, api.example".to_string()));
        assert_eq!(answered_by(&env, &elsewhere, target).await, "target");
    }

    #[test]
    fn no_proxy_in_a_cgi_program_or_without_variables() {
        assert!(proxies(|_| None).is_empty());
        let cgi = |name: &str| match name {
            "REQUEST_METHOD" => Some("GET".to_string()),
            _ => Some("http://proxy.example:3128".to_string()),
        };
        assert!(proxies(cgi).is_empty());
    }
}
