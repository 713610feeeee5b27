//! Where a federated assertion (the CI platform's JWT) comes from: GitHub's ID token endpoint, or a file
//! the platform keeps fresh. A new assertion is fetched for every new access token, because assertions
//! are short-lived (GitHub's last minutes).

use std::path::Path;

use serde::Deserialize;
use url::Url;

use super::endpoint::{host_of, TokenClient};
use super::AuthError;
use super::{AssertionSource, FEDERATION_AUDIENCE};
use crate::http::is_loopback;
use crate::secret::Secret;
use crate::text::one_line;

const PERMISSION_HINT: &str =
    "the job needs `permissions: id-token: write` to get an ID token from \
    GitHub (pull requests from forks get none)";

/// GitHub's answer: `{"value":"<JWT>"}`. No `Debug`: it holds the assertion.
#[derive(Deserialize)]
struct IdToken {
    value: Option<String>,
}

/// GitHub's error answers carry a `message`.
#[derive(Deserialize)]
struct PlatformError {
    message: String,
}

/// A fresh assertion from `source`.
pub(super) async fn assertion(
    transport: &TokenClient,
    source: &AssertionSource,
) -> Result<Secret, AuthError> {
    match source {
        AssertionSource::GitHub {
            request_url,
            request_token,
        } => from_github(transport, request_url, request_token).await,
        AssertionSource::File(path) => from_file(path),
    }
}

/// `GET {request_url}&audience=api://AzureADTokenExchange` with the request token. The request token
/// goes only to the platform's URL.
async fn from_github(
    transport: &TokenClient,
    request_url: &str,
    request_token: &Secret,
) -> Result<Secret, AuthError> {
    let url = id_token_url(request_url)?;
    let host = host_of(&url);
    transport.debug(&format!("requesting an ID token from {host}"));
    let answer = transport
        .send(
            &host,
            "check the runner's network, or re-run the job",
            |http| http.get(url.clone()).bearer_auth(request_token.expose()),
        )
        .await?;
    if !answer.status.is_success() {
        let detail = serde_json::from_str::<PlatformError>(&answer.body)
            .map(|e| one_line(&e.message, 300))
            .unwrap_or_else(|_| super::status_excerpt(answer.status, &host, &answer.body));
        return Err(AuthError::new(
            Some(answer.status.as_u16()),
            "id_token_refused",
            format!(
                "GitHub refused the ID token request ({}): {detail}",
                answer.status
            ),
            PERMISSION_HINT,
        ));
    }
    serde_json::from_str::<IdToken>(&answer.body)
        .ok()
        .and_then(|token| token.value)
        .filter(|value| !value.trim().is_empty())
        .map(|value| Secret::new(value.trim()))
        .ok_or_else(|| {
            AuthError::new(
                Some(answer.status.as_u16()),
                "id_token_missing",
                format!("{host} answered without an ID token (no `value` field)"),
                "ACTIONS_ID_TOKEN_REQUEST_URL must be the URL GitHub sets for the job",
            )
        })
}

/// The request URL with the audience Entra expects appended to its query (`?` or `&` as needed). Only
/// https is accepted (http on loopback, for tests), because the request token travels with it.
fn id_token_url(request_url: &str) -> Result<Url, AuthError> {
    let refuse = |why: &str| {
        AuthError::new(
            None,
            "invalid_id_token_url",
            format!("ACTIONS_ID_TOKEN_REQUEST_URL {why}"),
            "leave ACTIONS_ID_TOKEN_REQUEST_URL as GitHub sets it",
        )
    };
    let mut url = Url::parse(request_url).map_err(|_| refuse("is not an absolute URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        _ => return Err(refuse("must be an https URL")),
    }
    url.query_pairs_mut()
        .append_pair("audience", FEDERATION_AUDIENCE);
    Ok(url)
}

/// The file's JWT, read anew each time: platforms rotate it.
fn from_file(path: &Path) -> Result<Secret, AuthError> {
    let failed = |why: String| {
        AuthError::new(
            None,
            "federated_token_file",
            format!("the federated token file {} {why}", path.display()),
            "AZURE_FEDERATED_TOKEN_FILE must name a readable file that holds the platform's JWT",
        )
    };
    let text =
        std::fs::read_to_string(path).map_err(|err| failed(format!("could not be read: {err}")))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(failed("is empty".to_string()));
    }
    Ok(Secret::new(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_is_appended_to_the_query() {
        assert_eq!(
            id_token_url("https://gh.example/idtoken?api-version=2.0")
                .unwrap()
                .as_str(),
            "https://gh.example/idtoken?api-version=2.0&audience=api%3A%2F%2FAzureADTokenExchange"
        );
        assert_eq!(
            id_token_url("https://gh.example/idtoken").unwrap().as_str(),
            "https://gh.example/idtoken?audience=api%3A%2F%2FAzureADTokenExchange"
        );
    }

    #[test]
    fn the_request_token_is_not_sent_over_plain_http() {
        for url in [
            "http://gh.example/idtoken",
            "not a url",
            "file:///etc/passwd",
        ] {
            assert_eq!(
                id_token_url(url).unwrap_err().code,
                "invalid_id_token_url",
                "{url}"
            );
        }
        assert!(id_token_url("http://127.0.0.1:8080/idtoken").is_ok());
    }

    #[test]
    fn a_missing_or_empty_file_is_explained() {
        let missing = from_file(Path::new("/nonexistent/token")).unwrap_err();
        assert!(missing.message.contains("/nonexistent/token"));
        let dir = std::env::temp_dir().join(format!("auth-empty-{}", std::process::id()));
        std::fs::write(&dir, " \n").unwrap();
        let empty = from_file(&dir).unwrap_err();
        std::fs::remove_file(&dir).unwrap();
        assert!(empty.message.contains("is empty"));
    }
}
