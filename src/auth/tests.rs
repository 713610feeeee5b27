//! The token sources against a mock authority and a mock GitHub ID token endpoint.

use std::time::Duration;

use httpmock::prelude::*;
use serde_json::json;
use url::Url;

use super::jwt::tests::jwt;
use super::*;
use crate::report::test_support::SharedBuf;
use crate::report::CiTarget;

const SCOPE: &str = "https://cloudpartner.azure.com/.default";
const TOKEN_PATH: &str = "/tenant-1/oauth2/v2.0/token";
const FORM: &str = "application/x-www-form-urlencoded";

/// The run's reporter as GitHub's writer with debug on, over a buffer: what the source tells it reads
/// back as `::add-mask::` and `::debug::` lines, in the order they were written.
struct Log {
    out: SharedBuf,
    reporter: Reporter,
}

impl Log {
    fn new() -> Log {
        let out = SharedBuf::default();
        let target = CiTarget::GitHub {
            output: None,
            summary: None,
            debug: true,
        };
        let reporter = Reporter::new(&target, out.boxed(), SharedBuf::default().boxed());
        Log { out, reporter }
    }

    /// Everything written, as the runner reads the step's stdout.
    fn text(&self) -> String {
        self.out.text()
    }

    fn after(&self, prefix: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter_map(|line| line.strip_prefix(prefix))
            .map(str::to_string)
            .collect()
    }

    fn masked(&self) -> Vec<String> {
        self.after("::add-mask::")
    }

    fn lines(&self) -> Vec<String> {
        self.after("::debug::")
    }
}

fn app(authority: &str) -> EntraApp {
    EntraApp {
        authority: Url::parse(authority).unwrap(),
        tenant_id: "tenant-1".to_string(),
        client_id: "client-1".to_string(),
        scope: SCOPE.to_string(),
    }
}

fn client_secret(server: &MockServer, secret: &str) -> AuthSettings {
    AuthSettings::ClientSecret {
        app: app(&server.base_url()),
        secret: Secret::new(secret),
    }
}

fn github(server: &MockServer, request_token: &str) -> AuthSettings {
    AuthSettings::Federated {
        app: app(&server.base_url()),
        assertion: AssertionSource::GitHub {
            request_url: server.url("/idtoken?api-version=2.0"),
            request_token: Secret::new(request_token),
        },
    }
}

fn source(settings: &AuthSettings) -> (TokenSource, Log) {
    let log = Log::new();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let source = TokenSource::new(settings, http, log.reporter.clone());
    (source, log)
}

fn issued(token: &str, expires_in: serde_json::Value) -> serde_json::Value {
    json!({"token_type": "Bearer", "expires_in": expires_in, "access_token": token})
}

/// Entra's error shape, with the trace lines it appends.
fn entra_error(error: &str, description: &str) -> serde_json::Value {
    json!({
        "error": error,
        "error_description": format!("{description}\r\nTrace ID: 0a1b\r\nCorrelation ID: 2c3d\r\nTimestamp: 2024-05-01 10:00:00Z"),
        "error_codes": [0],
    })
}

/// A file under the system temp dir that is removed when the test ends.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("auth-{name}-{}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }

    fn write(&self, contents: &str) {
        std::fs::write(&self.0, contents).unwrap();
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn file_settings(server: &MockServer, file: &TempFile) -> AuthSettings {
    AuthSettings::Federated {
        app: app(&server.base_url()),
        assertion: AssertionSource::File(file.0.clone()),
    }
}

#[tokio::test]
async fn client_secret_token_is_fetched_with_the_exact_form_and_cached() {
    let server = MockServer::start_async().await;
    let endpoint = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(TOKEN_PATH)
                .header("content-type", FORM)
                .body(
                    "grant_type=client_credentials&client_id=client-1&client_secret=s3cr%2Ft\
                     &scope=https%3A%2F%2Fcloudpartner.azure.com%2F.default",
                );
            then.status(200).json_body(issued("access-1", json!(3599)));
        })
        .await;
    let (source, log) = source(&client_secret(&server, "s3cr/t"));

    assert_eq!(source.token().await.unwrap().expose(), "access-1");
    assert_eq!(source.token().await.unwrap().expose(), "access-1");
    endpoint.assert_calls_async(1).await;
    assert!(source.can_renew());
    assert_eq!(log.masked(), ["s3cr/t", "access-1"]);
}

#[tokio::test]
async fn a_token_is_renewed_when_it_nears_expiry() {
    let server = MockServer::start_async().await;
    let endpoint = server
        .mock_async(|when, then| {
            when.method(POST).path(TOKEN_PATH);
            then.status(200).json_body(issued("short", json!("1")));
        })
        .await;
    let (source, _) = source(&client_secret(&server, "client-s3cret"));

    source.token().await.unwrap();
    source.token().await.unwrap();
    endpoint.assert_calls_async(1).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    source.token().await.unwrap();
    endpoint.assert_calls_async(2).await;
}

#[test]
fn renewal_is_five_minutes_early_or_at_half_life() {
    assert_eq!(
        renewal_delay(Duration::from_secs(3599)),
        Duration::from_secs(3299)
    );
    assert_eq!(
        renewal_delay(Duration::from_secs(400)),
        Duration::from_secs(200)
    );
    assert_eq!(renewal_delay(Duration::ZERO), Duration::ZERO);
}

#[tokio::test]
async fn renew_fetches_a_new_token_even_when_one_is_cached() {
    let server = MockServer::start_async().await;
    let first = server
        .mock_async(|when, then| {
            when.method(POST).path(TOKEN_PATH);
            then.status(200).json_body(issued("old", json!(3599)));
        })
        .await;
    let (source, log) = source(&client_secret(&server, "client-s3cret"));
    assert_eq!(source.token().await.unwrap().expose(), "old");
    first.delete_async().await;
    let second = server
        .mock_async(|when, then| {
            when.method(POST).path(TOKEN_PATH);
            then.status(200).json_body(issued("new", json!(3599)));
        })
        .await;

    assert_eq!(source.renew().await.unwrap().expose(), "new");
    assert_eq!(source.token().await.unwrap().expose(), "new");
    second.assert_calls_async(1).await;
    assert!(log.masked().contains(&"new".to_string()));
}

#[tokio::test]
async fn github_federation_asks_for_the_audience_with_the_request_token() {
    let server = MockServer::start_async().await;
    let assertion = jwt(&json!({"sub": "repo:contoso/offer:ref:refs/heads/main"}));
    let oidc = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/idtoken")
                .query_param("api-version", "2.0")
                .query_param("audience", "api://AzureADTokenExchange")
                .header("authorization", "Bearer request-token");
            then.status(200)
                .json_body(json!({"count": 1, "value": assertion}));
        })
        .await;
    let entra = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(TOKEN_PATH)
                .header("content-type", FORM)
                .form_urlencoded_tuple("grant_type", "client_credentials")
                .form_urlencoded_tuple("client_id", "client-1")
                .form_urlencoded_tuple(
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                )
                .form_urlencoded_tuple("client_assertion", &assertion)
                .form_urlencoded_tuple("scope", SCOPE)
                .body_excludes("client_secret")
                .body_excludes("request-token");
            then.status(200).json_body(issued("access", json!(3599)));
        })
        .await;
    let (source, log) = source(&github(&server, "request-token"));

    assert_eq!(source.token().await.unwrap().expose(), "access");
    source.token().await.unwrap();
    oidc.assert_calls_async(1).await;
    entra.assert_calls_async(1).await;
    source.renew().await.unwrap();
    oidc.assert_calls_async(2).await;
    assert_eq!(
        log.masked()[..3],
        ["request-token".to_string(), assertion, "access".to_string()]
    );
}

#[tokio::test]
async fn the_assertion_file_is_read_again_for_each_new_token() {
    let server = MockServer::start_async().await;
    let file = TempFile::new("rotate", "jwt-one\n");
    let with = |assertion: &'static str, token: &'static str| {
        server.mock_async(move |when, then| {
            when.method(POST)
                .path(TOKEN_PATH)
                .form_urlencoded_tuple("client_assertion", assertion);
            then.status(200).json_body(issued(token, json!(3599)));
        })
    };
    let one = with("jwt-one", "access-1").await;
    let two = with("jwt-two", "access-2").await;
    let (source, _) = source(&file_settings(&server, &file));

    assert_eq!(source.token().await.unwrap().expose(), "access-1");
    file.write("  jwt-two  ");
    assert_eq!(source.token().await.unwrap().expose(), "access-1");
    assert_eq!(source.renew().await.unwrap().expose(), "access-2");
    one.assert_calls_async(1).await;
    two.assert_calls_async(1).await;
}

/// The error the source gives when Entra answers `status` with `body`.
async fn entra_refusal(
    settings: impl Fn(&MockServer) -> AuthSettings,
    body: serde_json::Value,
) -> AuthError {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/idtoken");
            then.status(200).json_body(
                json!({"value": jwt(&json!({"sub": "repo:contoso/offer:environment:prod"}))}),
            );
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(TOKEN_PATH);
            then.status(401).json_body(body);
        })
        .await;
    let (source, _) = source(&settings(&server));
    source.token().await.unwrap_err()
}

#[tokio::test]
async fn each_entra_error_code_gets_its_hint() {
    let cases = [
        ("unauthorized_client", "AADSTS700016: Application with identifier 'client-1' was not found in the directory 'Contoso'.", "AADSTS700016", "MARKETPLACE_CLIENT_ID"),
        ("invalid_client", "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.", "AADSTS7000215", "not its secret ID"),
        ("invalid_client", "AADSTS7000222: The provided client secret keys for app 'client-1' are expired.", "AADSTS7000222", "has expired"),
        ("invalid_request", "AADSTS90002: Tenant 'tenant-1' not found.", "AADSTS90002", "MARKETPLACE_TENANT_ID"),
        ("invalid_client", "", "invalid_client", "MARKETPLACE_CLIENT_ID"),
    ];
    for (error, description, code, hint) in cases {
        let err = entra_refusal(
            |s| client_secret(s, "client-s3cret"),
            entra_error(error, description),
        )
        .await;
        assert_eq!(err.code, code, "{description}");
        assert_eq!(err.http_status, Some(401));
        assert!(err.hint.contains(hint), "{code}: {}", err.hint);
        assert!(
            !err.message.contains("Trace ID") && !err.message.starts_with("AADSTS"),
            "{}",
            err.message
        );
        assert!(err.to_string().contains(code), "{err}");
    }
}

#[tokio::test]
async fn no_matching_federated_credential_shows_the_claims_to_add() {
    for code in ["AADSTS70021", "AADSTS700213"] {
        let description =
            format!("{code}: No matching federated identity record found for presented assertion.");
        let err = entra_refusal(
            |s| github(s, "request-token"),
            entra_error("invalid_request", &description),
        )
        .await;
        assert_eq!(err.code, code);
        assert!(
            err.hint
                .contains("subject `repo:contoso/offer:environment:prod`"),
            "{}",
            err.hint
        );
        assert!(
            err.hint.contains("issuer `(none)`") && err.hint.contains("audience `(none)`"),
            "{}",
            err.hint
        );
    }
}

#[tokio::test]
async fn federation_hint_shows_issuer_and_audience_from_a_file_token() {
    let server = MockServer::start_async().await;
    let assertion = jwt(&json!({
        "iss": "https://gitlab.example.com",
        "sub": "project_path:contoso/offer:ref_type:branch:ref:main",
        "aud": ["api://AzureADTokenExchange"],
    }));
    let file = TempFile::new("claims", &assertion);
    server
        .mock_async(|when, then| {
            when.method(POST).path(TOKEN_PATH);
            then.status(400).json_body(entra_error(
                "invalid_client",
                "AADSTS70021: No matching federated identity record found.",
            ));
        })
        .await;
    let (source, _) = source(&file_settings(&server, &file));
    let err = source.token().await.unwrap_err();
    assert!(
        err.hint.contains("issuer `https://gitlab.example.com`"),
        "{}",
        err.hint
    );
    assert!(err
        .hint
        .contains("subject `project_path:contoso/offer:ref_type:branch:ref:main`"));
    assert!(err.hint.contains("audience `api://AzureADTokenExchange`"));
    assert!(!format!("{err} {err:?}").contains(&assertion));
}

#[tokio::test]
async fn a_non_json_answer_is_retried_then_shown_by_status_and_excerpt() {
    let server = MockServer::start_async().await;
    let endpoint = server
        .mock_async(|when, then| {
            when.method(POST).path(TOKEN_PATH);
            then.status(502)
                .body("<html>\r\n  <h1>Bad   Gateway</h1>\n</html>");
        })
        .await;
    let (source, log) = source(&client_secret(&server, "client-s3cret"));
    let err = source.token().await.unwrap_err();
    endpoint.assert_calls_async(3).await;
    assert_eq!(err.http_status, Some(502));
    assert!(
        err.message.starts_with("502 Bad Gateway from 127.0.0.1:"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .ends_with(": <html> <h1>Bad Gateway</h1> </html>"),
        "{}",
        err.message
    );
    assert_eq!(
        log.lines()
            .iter()
            .filter(|l| l.contains("trying again"))
            .count(),
        2
    );
}

#[tokio::test]
async fn an_empty_refusal_names_the_status() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(TOKEN_PATH);
            then.status(400);
        })
        .await;
    let (source, _) = source(&client_secret(&server, "client-s3cret"));
    let err = source.token().await.unwrap_err();
    assert_eq!(
        (err.http_status, err.code.as_str()),
        (Some(400), "http_error")
    );
    assert!(
        err.message.contains("400 Bad Request") && err.message.contains("empty body"),
        "{}",
        err.message
    );
}

/// Entra's "no" stands for the whole run, so callers that carry on after an error (the check for a
/// running operation does) do not send the refused credentials again; a failure that may pass is tried
/// again by the next caller.
#[tokio::test]
async fn a_refused_credential_is_not_sent_again_but_an_outage_is_retried() {
    let server = MockServer::start_async().await;
    let refused = server
        .mock_async(|when, then| {
            when.method(POST).path(TOKEN_PATH);
            then.status(401).json_body(entra_error(
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided.",
            ));
        })
        .await;
    let (refusing, _) = source(&client_secret(&server, "client-s3cret"));
    for err in [
        refusing.token().await.unwrap_err(),
        refusing.token().await.unwrap_err(),
        refusing.renew().await.unwrap_err(),
    ] {
        assert_eq!(
            (err.http_status, err.code.as_str()),
            (Some(401), "AADSTS7000215")
        );
    }
    refused.assert_calls_async(1).await;

    refused.delete_async().await;
    let down = server
        .mock_async(|when, then| {
            when.method(POST).path(TOKEN_PATH);
            then.status(503);
        })
        .await;
    let (source, _) = source(&client_secret(&server, "client-s3cret"));
    source.token().await.unwrap_err();
    source.token().await.unwrap_err();
    // Three tries for each caller.
    down.assert_calls_async(6).await;
}

#[tokio::test]
async fn an_unreachable_authority_is_named() {
    // Bind a port and drop the listener, so nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let settings = AuthSettings::ClientSecret {
        app: app(&format!("http://127.0.0.1:{port}")),
        secret: Secret::new("s"),
    };
    let (source, _) = source(&settings);
    let err = source.token().await.unwrap_err();
    assert_eq!(err.code, "unreachable");
    assert!(
        err.message
            .contains(&format!("could not reach 127.0.0.1:{port}")),
        "{}",
        err.message
    );
    assert!(!err.message.contains("oauth2"), "{}", err.message);
}

#[tokio::test]
async fn a_refused_id_token_request_points_to_the_permission() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/idtoken");
            then.status(403).json_body(json!({"message": "Can't issue ID_TOKEN for audience 'api://AzureADTokenExchange'."}));
        })
        .await;
    let entra = server
        .mock_async(|when, then| {
            when.path(TOKEN_PATH);
            then.status(200);
        })
        .await;
    let (source, _) = source(&github(&server, "request-token"));
    let err = source.token().await.unwrap_err();
    assert_eq!(
        (err.http_status, err.code.as_str()),
        (Some(403), "id_token_refused")
    );
    assert!(
        err.message.contains("Can't issue ID_TOKEN"),
        "{}",
        err.message
    );
    assert!(err.hint.contains("id-token: write"));
    entra.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_given_token_is_used_as_is_and_cannot_be_renewed() {
    let (source, log) = source(&AuthSettings::Token(Secret::new("g1ven-t0ken")));
    assert_eq!(source.token().await.unwrap().expose(), "g1ven-t0ken");
    assert_eq!(log.masked(), ["g1ven-t0ken"]);
    assert!(!source.can_renew());
    let err = source.renew().await.unwrap_err();
    assert_eq!(err.code, "token_rejected");
    assert!(
        err.hint.contains("MARKETPLACE_CLIENT_SECRET") && err.hint.contains("OIDC"),
        "{}",
        err.hint
    );
    assert!(!format!("{err} {err:?} {source:?}").contains("g1ven-t0ken"));
}

#[tokio::test]
async fn an_expired_given_jwt_says_when_it_expired() {
    let token = jwt(&json!({"exp": 1_700_000_000}));
    let (source, _) = source(&AuthSettings::Token(Secret::new(token)));
    let err = source.renew().await.unwrap_err();
    assert!(
        err.message.contains("expired at 2023-11-14 22:13:20 UTC"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn unavailable_federation_gives_the_advice() {
    let advice = "give the job `permissions: id-token: write`";
    let (source, _) = source(&AuthSettings::FederationUnavailable {
        advice: advice.to_string(),
    });
    assert!(!source.can_renew());
    for err in [
        source.token().await.unwrap_err(),
        source.renew().await.unwrap_err(),
    ] {
        assert_eq!(err.code, "federation_unavailable");
        assert_eq!(err.hint, advice);
    }
}

#[test]
fn preflight_warns_about_a_given_jwt_that_expires_too_soon() {
    let now = unix_now() as i64;
    let warnings = |claims: serde_json::Value| {
        source(&AuthSettings::Token(Secret::new(jwt(&claims))))
            .0
            .preflight_warnings(Duration::from_secs(3600))
    };
    let soon = warnings(json!({"exp": now + 599}));
    assert_eq!(soon.len(), 1);
    assert!(
        soon[0].contains(&format!(
            "expires at {} (in 10m)",
            jwt::format_utc(now + 599)
        )),
        "{}",
        soon[0]
    );
    assert!(
        soon[0].contains("MARKETPLACE_TIMEOUT (1h)")
            && soon[0].contains("MARKETPLACE_CLIENT_SECRET")
    );
    assert!(warnings(json!({"exp": now - 10}))[0].contains("expired at"));
    assert!(warnings(json!({"exp": now + 7200})).is_empty());
    assert!(warnings(json!({"sub": "no expiry"})).is_empty());
    let opaque = source(&AuthSettings::Token(Secret::new("opaque"))).0;
    assert!(opaque
        .preflight_warnings(Duration::from_secs(3600))
        .is_empty());
}

/// Service answers that echo what was sent must not carry a secret into an error or `Debug`; and what
/// the run's reporter writes (masks, debug lines, the error as the run reports it) shows each secret
/// only in its `::add-mask::` line, written before the request that uses the secret.
#[tokio::test]
async fn no_secret_leaks_into_errors_debug_or_the_reporters_output() {
    let server = MockServer::start_async().await;
    let assertion = jwt(&json!({"sub": "repo:contoso/offer:ref:refs/heads/main"}));
    let secrets = ["client-s3cret", "request-t0ken", &assertion, "access-t0ken"];
    let echo = format!("AADSTS70021: echo {}", secrets.join(" "));
    server
        .mock_async(|when, then| {
            when.method(GET).path("/idtoken");
            then.status(200)
                .json_body(json!({"value": assertion, "echo": echo}));
        })
        .await;
    let refusal = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(TOKEN_PATH)
                .form_urlencoded_tuple("client_id", "client-1");
            then.status(400)
                .json_body(entra_error("invalid_client", &echo));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST)
                .path(TOKEN_PATH)
                .form_urlencoded_tuple("client_id", "client-2");
            then.status(200)
                .json_body(issued("access-t0ken", json!(3599)));
        })
        .await;
    let mut renewing = client_secret(&server, "client-s3cret");
    if let AuthSettings::ClientSecret { app, .. } = &mut renewing {
        app.client_id = "client-2".to_string();
    }
    // Each secret with the debug line of the first request that carries it; `None`: the secret is
    // known from the start and masked before anything else.
    let requesting = Some("requesting an access token");
    let runs = [
        (
            github(&server, "request-t0ken"),
            vec![(secrets[1], None), (secrets[2], requesting)],
        ),
        (
            client_secret(&server, "client-s3cret"),
            vec![(secrets[0], None)],
        ),
        (
            renewing,
            vec![
                (secrets[0], None),
                (secrets[3], Some("obtained an access token")),
            ],
        ),
    ];
    let mut redacted_echoes = 0;

    // Each source is checked for the secrets it knows: the others never reach it.
    for (settings, known) in runs {
        let (source, log) = source(&settings);
        let mut errors = vec![];
        for result in [source.token().await, source.renew().await] {
            if let Err(err) = result {
                log.reporter
                    .error("could not get a token", &err.to_string());
                errors.extend([err.to_string(), format!("{err:?}")]);
            }
        }
        errors.push(format!("{source:?}"));
        let written = log.text();
        let lines: Vec<&str> = written.lines().collect();
        for (secret, used_at) in known {
            let mask = format!("::add-mask::{secret}");
            let masked_at = lines.iter().position(|l| *l == mask);
            let masked_at = masked_at.unwrap_or_else(|| panic!("{secret} was not masked"));
            let first_use = match used_at {
                None => lines.iter().position(|l| !l.starts_with("::add-mask::")),
                Some(what) => lines
                    .iter()
                    .position(|l| l.starts_with(&format!("::debug::{what}"))),
            };
            assert!(
                masked_at < first_use.unwrap_or(lines.len()),
                "{secret} was masked after its use:\n{written}"
            );
            for line in lines.iter().filter(|l| **l != mask) {
                assert!(!line.contains(secret), "{secret} leaked into: {line}");
            }
            for text in &errors {
                assert!(!text.contains(secret), "{secret} leaked into: {text}");
            }
        }
        redacted_echoes += errors.iter().filter(|t| t.contains("echo ***")).count();
    }
    refusal.assert_calls_async(2).await;
    assert!(redacted_echoes > 0, "echoes are redacted, not dropped");
}

#[test]
fn the_source_can_be_shared_between_tasks() {
    fn shared<T: Send + Sync>() {}
    fn sendable<F: std::future::Future + Send>(_: F) {}
    shared::<TokenSource>();
    let (source, _) = source(&AuthSettings::Token(Secret::new("t")));
    sendable(source.token());
    sendable(source.renew());
}
