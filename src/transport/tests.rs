use super::*;
use crate::auth::AuthSettings;
use crate::report::test_support::SharedBuf;
use crate::report::CiTarget;
use crate::secret::Secret;
use crate::sim::{Plan, Simulator};
use reqwest::header::HeaderValue;

/// A transport to `base` with a given token and millisecond retries, and the log it writes.
fn transport(
    base: &str,
    http: reqwest::Client,
    deadline: Option<Instant>,
) -> (Transport, SharedBuf) {
    let log = SharedBuf::default();
    let reporter = Reporter::new(&CiTarget::Plain { debug: false }, log.boxed(), log.boxed());
    let tokens = TokenSource::new(
        &AuthSettings::Token(Secret::new("sim-token")),
        http.clone(),
        reporter.clone(),
    );
    let retry = RetryPolicy::new(Duration::from_millis(5), Duration::from_millis(20));
    let origin = Url::parse(base).unwrap();
    (
        Transport::new(http, origin, tokens, reporter, retry, deadline),
        log,
    )
}

async fn publish(transport: &Transport) -> ServiceResult<Answer> {
    let url = transport
        .origin()
        .join("/api/publishers/contoso/offers/contoso-offer/publish?api-version=2017-10-31")
        .unwrap();
    let body = serde_json::json!({"metadata": {}});
    transport
        .send("publish request", Method::POST, &url, Some(&body))
        .await
}

/// A loopback port where nothing listens.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_refused_connection_is_tried_three_times_and_named_with_its_cause() {
    let port = closed_port();
    let http = crate::http::client().unwrap();
    let (transport, log) = transport(&format!("http://127.0.0.1:{port}"), http, None);
    let e = publish(&transport).await.unwrap_err();
    assert_eq!(e.outcome, Outcome::Error);
    assert_eq!(e.context, "publish request");
    assert!(
        e.message.starts_with(&format!(
            "could not connect to 127.0.0.1:{port} (Connection refused"
        )),
        "{e}"
    );
    let hint = e.hint.clone().unwrap_or_default();
    assert!(hint.starts_with("gave up after 3 tries"), "{e}");
    assert!(
        hint.contains(&format!("MARKETPLACE_API_BASE (http://127.0.0.1:{port})")),
        "{e}"
    );
    assert_eq!(
        log.text().matches("trying again").count(),
        2,
        "{}",
        log.text()
    );
    assert!(log.text().contains("(try 3 of 3)"), "{}", log.text());
}

/// A resolver for which no host exists, as DNS answers for a mistyped name.
struct NoSuchHost;

impl reqwest::dns::Resolve for NoSuchHost {
    fn resolve(&self, _: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async {
            Err("failed to lookup address information: Name or service not known".into())
        })
    }
}

#[tokio::test]
async fn an_unknown_host_is_given_up_on_like_a_refused_port() {
    let http = reqwest::Client::builder()
        .dns_resolver(std::sync::Arc::new(NoSuchHost))
        .build()
        .unwrap();
    let (transport, _log) = transport("https://cloudpartner.example", http, None);
    let e = publish(&transport).await.unwrap_err();
    assert!(
        e.message
            .contains("could not connect to cloudpartner.example:443 (failed to lookup address"),
        "{e}"
    );
    let hint = e.hint.clone().unwrap_or_default();
    assert!(hint.starts_with("gave up after 3 tries"), "{e}");
    assert!(hint.contains("MARKETPLACE_API_BASE"), "{e}");
}

#[tokio::test]
async fn a_connection_that_never_completes_is_named_with_the_connect_timeout() {
    // Accepts the connection but never speaks TLS: the handshake is what runs out of time.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let e = http
        .get(format!("https://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap_err();
    let url = Url::parse(&format!("https://127.0.0.1:{port}/")).unwrap();
    let passing = no_answer("publish request", &url, &e).ok().unwrap();
    assert_eq!(
        passing.message,
        format!("could not connect to 127.0.0.1:{port} within 10s (connection and TLS handshake)")
    );
    assert!(passing.unreachable);
}

#[tokio::test]
async fn no_retry_is_announced_past_the_deadline() {
    let plan = Plan::from_json(
        r#"{"routes":{"publish":[{"status":503,"headers":{"Retry-After":"120"},"times":"always"}]}}"#,
    )
    .unwrap();
    let sim = Simulator::start(plan).await.unwrap();
    let http = crate::http::client().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (transport, log) = transport(&sim.base_url(), http, Some(deadline));
    let e = publish(&transport).await.unwrap_err();
    assert_eq!((e.outcome, e.http_status), (Outcome::Error, Some(503)));
    assert!(e.message.contains("Simulated 503"), "{e}");
    let hint = e.hint.clone().unwrap_or_default();
    assert!(
        hint.contains("would come after MARKETPLACE_TIMEOUT runs out"),
        "{e}"
    );
    assert!(!log.text().contains("trying again"), "{}", log.text());
    assert_eq!(sim.count("publish"), 1);
}

#[tokio::test]
async fn an_answer_with_more_headers_than_hyper_reads_is_named_so_and_not_retried() {
    let headers: serde_json::Map<String, Value> = (0..150)
        .map(|i| (format!("X-Extra-{i}"), Value::from("x")))
        .collect();
    let plan =
        serde_json::json!({"routes": {"publish": [{"headers": headers, "times": "always"}]}});
    let sim = Simulator::start(Plan::from_json(&plan.to_string()).unwrap())
        .await
        .unwrap();
    let http = crate::http::client().unwrap();
    let (transport, _log) = transport(&sim.base_url(), http, None);
    let e = publish(&transport).await.unwrap_err();
    assert_eq!(e.outcome, Outcome::Error);
    assert!(
        e.message
            .contains("more header lines than this client reads"),
        "{e}"
    );
    assert_eq!(sim.count("publish"), 1);
}

#[test]
fn lone_surrogate_escapes_read_as_replacement_characters() {
    let read = |text: &str| parse_json(text.as_bytes()).map(|v| v["m"].clone());
    assert_eq!(
        read(r#"{"m":"logo \ud83d rejected"}"#).unwrap(),
        "logo \u{FFFD} rejected"
    );
    assert_eq!(read(r#"{"m":"\ude00\ud83d"}"#).unwrap(), "\u{FFFD}\u{FFFD}");
    assert_eq!(read(r#"{"m":"\ud83d\u0041"}"#).unwrap(), "\u{FFFD}A");
    // A whole pair is a character, and an escaped backslash before `ud83d` is text.
    assert_eq!(read(r#"{"m":"\ud83d\ude00"}"#).unwrap(), "😀");
    assert_eq!(
        read(r#"{"m":"\\ud83d \ud83d"}"#).unwrap(),
        "\\ud83d \u{FFFD}"
    );
    assert!(read(r#"{"m":"\ud83d"#).is_err());
    assert!(read(r#"{"m": x}"#).is_err());
}

fn answer(status: u16, body: &str) -> Answer {
    Answer {
        status,
        headers: HeaderMap::new(),
        body: body.as_bytes().to_vec(),
        truncated: false,
    }
}

#[test]
fn service_errors_in_every_shape() {
    let cases = [
        (
            r#"{"error":{"code":"InvalidAPIVersion","message":"Invalid api version."}}"#,
            ("InvalidAPIVersion", "Invalid api version."),
        ),
        (
            r#"[{"error":{"code":"BadRequest","message":"x"}}]"#,
            ("BadRequest", "x"),
        ),
        (r#"{"code":"C","message":"m"}"#, ("C", "m")),
        (
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: bad"}"#,
            ("invalid_client", "AADSTS7000215: bad"),
        ),
    ];
    for (body, (code, message)) in cases {
        assert_eq!(
            service_error(&answer(400, body)),
            (Some(code.to_string()), message.to_string())
        );
    }
    assert_eq!(
        service_error(&answer(502, "<html>\n<b>Bad</b>\tgateway</html>")).1,
        "Bad Gateway: '<html> <b>Bad</b> gateway</html>'"
    );
    assert_eq!(
        service_error(&answer(500, "")).1,
        "Internal Server Error (no details in the answer)"
    );
}

#[test]
fn retry_after_seconds_and_dates() {
    let mut headers = HeaderMap::new();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
    assert_eq!(retry_after(&headers, now), None);
    headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
    assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
    headers.insert(
        RETRY_AFTER,
        HeaderValue::from_static("Sun, 06 Nov 1994 08:49:47 GMT"),
    );
    assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(10)));
    headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
    assert_eq!(retry_after(&headers, now), None);
}

#[test]
fn retry_after_is_honoured_up_to_its_cap_and_backoff_stays_in_the_policy() {
    let policy = RetryPolicy::new(Duration::from_secs(15), Duration::from_secs(60));
    let mut backoff = policy.backoff();
    let day = Some(Duration::from_secs(86_400));
    assert_eq!(next_wait(day, &mut backoff, policy.max), MAX_RETRY_AFTER);
    let seven = Duration::from_secs(7);
    assert_eq!(next_wait(Some(seven), &mut backoff, policy.max), seven);
    for _ in 0..20 {
        let wait = next_wait(None, &mut backoff, policy.max);
        // Jitter may take a wait half again over the interval it grew to.
        assert!(wait <= policy.max.mul_f64(1.5), "{wait:?}");
    }
}

/// The most API requests a run with default inputs can send, derived from the limits;
/// docs/DEVELOPMENT.md's "Limits" states the result, so a change to a limit shows up here first.
#[test]
fn a_default_run_sends_at_most_434_api_requests_in_its_hour() {
    let env = crate::config::Env::from_pairs([
        ("MARKETPLACE_PUBLISHER_ID", "contoso"),
        ("MARKETPLACE_OFFER_ID", "contoso-offer"),
        ("MARKETPLACE_TOKEN", "t"),
    ]);
    let defaults = crate::config::Settings::from_env(&env).unwrap();
    let polls = crate::follow::PollPolicy {
        initial: defaults.poll_interval,
        max: defaults.poll_max_interval,
    };
    let status_reads = (0..100)
        .map(|_| polls.reads_within(defaults.timeout))
        .max()
        .unwrap();
    // Each call is at most MAX_ATTEMPTS tries, plus the one repeat after a 401 renews the token.
    let per_call = u64::from(MAX_ATTEMPTS) + 1;
    // A publish makes two calls before it follows: the check for a running operation, the publish.
    let worst = (2 + status_reads) * per_call;
    assert_eq!(defaults.timeout, Duration::from_secs(3600));
    assert_eq!((2 + status_reads, worst), (62, 434));
}

#[test]
fn truncated_or_broken_json_is_explained() {
    let mut a = answer(200, "{\"id\": ");
    assert!(a.json().unwrap_err().contains("not valid JSON"));
    a.truncated = true;
    assert!(a.json().unwrap_err().contains("larger than"));
}
