//! Microsoft Entra's v2 token endpoint (client credentials), and turning its refusals into advice: Entra's
//! own words say what is wrong, the hint says what to change.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use serde::Deserialize;
use url::Url;

use super::endpoint::{host_of, Reply, TokenClient};
use super::EntraApp;
use super::{jwt, AuthError};
use crate::secret::Secret;
use crate::text::one_line;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Assumed when an answer leaves out `expires_in`: shorter than Entra's usual hour, so that such a token
/// is renewed early rather than used after it expired.
const ASSUMED_LIFETIME: Duration = Duration::from_secs(600);

/// Longest Entra message kept: its first line says what is wrong; the rest is trace and correlation ids.
const MESSAGE_CHARS: usize = 300;

/// How the application proves who it is.
pub(super) enum Credential<'a> {
    Secret(&'a Secret),
    /// A JWT from the CI platform, exchanged through a federated credential of the application.
    Assertion(&'a Secret),
}

impl Credential<'_> {
    fn secret(&self) -> &Secret {
        match self {
            Credential::Secret(secret) | Credential::Assertion(secret) => secret,
        }
    }
}

/// An access token and how long Entra says it lasts.
pub(super) struct Issued {
    pub token: Secret,
    pub lifetime: Duration,
}

/// The success answer. No `Debug`: it holds the token.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    /// A number, or a string holding one (both are seen).
    expires_in: Option<serde_json::Value>,
}

/// The error answer: `{"error":"invalid_client","error_description":"AADSTS7000215: ..."}`.
#[derive(Deserialize)]
struct ErrorAnswer {
    error: Option<String>,
    error_description: Option<String>,
}

/// Ask Entra for an access token for `app`. Only the authority is contacted.
pub(super) async fn request_token(
    transport: &TokenClient,
    app: &EntraApp,
    credential: Credential<'_>,
) -> Result<Issued, AuthError> {
    let url = token_url(&app.authority, &app.tenant_id);
    let host = host_of(&url);
    let body = form(app, &credential);
    transport.debug(&format!(
        "requesting an access token for application {} from {host}",
        app.client_id
    ));
    let network_hint = format!(
        "check that the runner can reach {host} (MARKETPLACE_AUTHORITY_HOST), or try again later"
    );
    let answer = transport
        .send(&host, &network_hint, |http| {
            http.post(url.clone())
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.clone())
        })
        .await;
    let issued = match answer {
        Ok(answer) if answer.status.is_success() => issued(&answer.body, &host),
        Ok(answer) => Err(refusal(&answer, &host, app, &credential)),
        Err(err) => Err(err),
    };
    issued.map_err(|err| err.without(credential.secret()))
}

/// `{authority}/{tenant}/oauth2/v2.0/token`, each segment percent-encoded so the tenant cannot change
/// the path or the host.
fn token_url(authority: &Url, tenant: &str) -> Url {
    let mut url = authority.clone();
    url.set_query(None);
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.clear().extend([tenant, "oauth2", "v2.0", "token"]);
    }
    url
}

fn form(app: &EntraApp, credential: &Credential) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials")
        .append_pair("client_id", &app.client_id);
    match credential {
        Credential::Secret(secret) => form.append_pair("client_secret", secret.expose()),
        Credential::Assertion(assertion) => form
            .append_pair("client_assertion_type", ASSERTION_TYPE)
            .append_pair("client_assertion", assertion.expose()),
    };
    form.append_pair("scope", &app.scope).finish()
}

fn issued(body: &str, host: &str) -> Result<Issued, AuthError> {
    let unusable = |what: &str| {
        AuthError::new(
            None,
            "invalid_response",
            format!("{host} answered without {what}"),
            "check MARKETPLACE_AUTHORITY_HOST: it must be the Entra authority, such as https://login.microsoftonline.com",
        )
    };
    // The body is never quoted here: a success answer holds a token.
    let answer: TokenAnswer = serde_json::from_str(body).map_err(|_| unusable("a JSON body"))?;
    let token = answer
        .access_token
        .filter(|token| !token.is_empty())
        .ok_or_else(|| unusable("an access_token"))?;
    let lifetime = answer
        .expires_in
        .as_ref()
        .and_then(seconds)
        .map_or(ASSUMED_LIFETIME, Duration::from_secs);
    Ok(Issued {
        token: Secret::new(token),
        lifetime,
    })
}

fn seconds(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An error answer: Entra's code and first line, with a hint for the codes users run into.
fn refusal(answer: &Reply, host: &str, app: &EntraApp, credential: &Credential) -> AuthError {
    let status = answer.status;
    let parsed = serde_json::from_str::<ErrorAnswer>(&answer.body)
        .ok()
        .filter(|e| e.error.is_some() || e.error_description.is_some());
    let Some(ErrorAnswer {
        error,
        error_description,
    }) = parsed
    else {
        return AuthError::new(
            Some(status.as_u16()),
            "http_error",
            super::status_excerpt(status, host, &answer.body),
            fallback_hint(status),
        );
    };
    let description = error_description.unwrap_or_default();
    let code = aadsts_code(&description)
        .or(error)
        .unwrap_or_else(|| "http_error".to_string());
    let mut message = first_line(&description, &code);
    if message.is_empty() {
        message = format!("{host} answered {status}");
    }
    let hint = hint(&code, app, credential).unwrap_or_else(|| fallback_hint(status));
    AuthError::new(Some(status.as_u16()), code, message, hint)
}

/// The first `AADSTS<digits>` in Entra's description: more precise than the `error` field.
fn aadsts_code(description: &str) -> Option<String> {
    let start = description.find("AADSTS")?;
    let digits: String = description[start + 6..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then(|| format!("AADSTS{digits}"))
}

/// What the description says, without the code already shown and the trace ids that follow.
fn first_line(description: &str, code: &str) -> String {
    let line = description.lines().next().unwrap_or_default();
    let line = line.split(" Trace ID:").next().unwrap_or_default();
    let line = line
        .trim()
        .strip_prefix(code)
        .map_or(line, |rest| rest.trim_start_matches([':', ' ']));
    one_line(line, MESSAGE_CHARS)
}

/// What to do about the Entra codes users meet most; `None` for the rest.
fn hint(code: &str, app: &EntraApp, credential: &Credential) -> Option<String> {
    let hint = match code {
        "AADSTS700016" => format!(
            "no application with client id {} exists in tenant {}: check MARKETPLACE_CLIENT_ID and \
             MARKETPLACE_TENANT_ID, and that the app registration is in this tenant",
            app.client_id, app.tenant_id
        ),
        "AADSTS7000215" => "the client secret is wrong: MARKETPLACE_CLIENT_SECRET must hold the secret's \
             value (not its secret ID); it may also have expired, in which case add a new one under the \
             app registration's Certificates & secrets"
            .to_string(),
        "AADSTS7000222" => "the client secret has expired: add a new one under the app registration's \
             Certificates & secrets and update MARKETPLACE_CLIENT_SECRET"
            .to_string(),
        "AADSTS70021" | "AADSTS700213" => federation_hint(app, credential),
        "AADSTS90002" => format!(
            "tenant {} was not found: check MARKETPLACE_TENANT_ID (the directory's ID or a verified \
             domain) and MARKETPLACE_AUTHORITY_HOST",
            app.tenant_id
        ),
        other => {
            let digits = other.strip_prefix("AADSTS")?;
            format!("see https://login.microsoftonline.com/error?code={digits} for what this code means")
        }
    };
    Some(hint)
}

/// No federated credential matched: show the claims it must match, decoded from the assertion that was
/// sent (the assertion itself is a secret and is never shown).
fn federation_hint(app: &EntraApp, credential: &Credential) -> String {
    let claims = match credential {
        Credential::Assertion(assertion) => jwt::claims(assertion.expose()),
        Credential::Secret(_) => None,
    };
    let Some(claims) = claims else {
        return format!(
            "no federated credential of application {} matches the platform's token, which could not be \
             decoded to show its subject",
            app.client_id
        );
    };
    let unknown = || "(none)".to_string();
    format!(
        "no federated credential of application {} matches the platform's token: add one (app registration > \
         Certificates & secrets > Federated credentials) with exactly issuer `{}`, subject `{}` and audience `{}`",
        app.client_id,
        claims.iss.clone().unwrap_or_else(unknown),
        claims.sub.clone().unwrap_or_else(unknown),
        claims.audience().unwrap_or_else(unknown),
    )
}

fn fallback_hint(status: StatusCode) -> String {
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        "Entra is not answering normally; try again later".to_string()
    } else {
        "check MARKETPLACE_TENANT_ID, MARKETPLACE_CLIENT_ID and the credential, and that \
         MARKETPLACE_AUTHORITY_HOST is the Entra authority"
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> EntraApp {
        EntraApp {
            authority: Url::parse("https://login.microsoftonline.com").unwrap(),
            tenant_id: "contoso.onmicrosoft.com".to_string(),
            client_id: "client-1".to_string(),
            scope: "https://cloudpartner.azure.com/.default".to_string(),
        }
    }

    #[test]
    fn token_url_is_built_segment_by_segment() {
        let authority = Url::parse("https://login.microsoftonline.com/").unwrap();
        assert_eq!(
            token_url(&authority, "contoso.onmicrosoft.com").as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        let url = token_url(&authority, "evil.example/x?y#z");
        assert_eq!(url.host_str(), Some("login.microsoftonline.com"));
        assert_eq!(url.path_segments().unwrap().count(), 4);
        assert_eq!(url.query(), None);
    }

    #[test]
    fn form_carries_the_credential_fields() {
        let secret = Secret::new("s&c=r t");
        let body = form(&app(), &Credential::Secret(&secret));
        assert_eq!(
            body,
            "grant_type=client_credentials&client_id=client-1&client_secret=s%26c%3Dr+t\
             &scope=https%3A%2F%2Fcloudpartner.azure.com%2F.default"
        );
        let assertion = Secret::new("a.b.c");
        let body = form(&app(), &Credential::Assertion(&assertion));
        assert!(body.contains(
            "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer\
             &client_assertion=a.b.c"
        ));
        assert!(!body.contains("client_secret"));
    }

    #[test]
    fn expires_in_is_a_number_or_a_string() {
        for (body, secs) in [
            (r#"{"access_token":"t","expires_in":3599}"#, 3599),
            (r#"{"access_token":"t","expires_in":"3599"}"#, 3599),
            (r#"{"access_token":"t"}"#, 600),
        ] {
            let issued = issued(body, "h").unwrap_or_else(|e| panic!("{body}: {e}"));
            assert_eq!(issued.lifetime, Duration::from_secs(secs), "{body}");
            assert_eq!(issued.token.expose(), "t");
        }
        for body in [
            "",
            "<html>",
            r#"{"access_token":""}"#,
            r#"{"token_type":"Bearer"}"#,
        ] {
            let code = issued(body, "h").err().map(|e| e.code);
            assert_eq!(code.as_deref(), Some("invalid_response"), "{body}");
        }
    }

    #[test]
    fn code_and_first_line_come_from_the_description() {
        let description = "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent \
                           is the client secret value.\r\nTrace ID: 1f2e\r\nCorrelation ID: 3d4c\r\n\
                           Timestamp: 2024-01-01 00:00:00Z";
        let code = aadsts_code(description).unwrap();
        assert_eq!(code, "AADSTS7000215");
        assert_eq!(
            first_line(description, &code),
            "Invalid client secret provided. Ensure the secret being sent is the client secret value."
        );
        let one_line = "AADSTS90002: Tenant 'x' not found. Trace ID: 1 Correlation ID: 2";
        assert_eq!(first_line(one_line, "AADSTS90002"), "Tenant 'x' not found.");
        assert_eq!(aadsts_code("AADSTS: no digits"), None);
        assert_eq!(
            first_line(&"x".repeat(1000), "c").chars().count(),
            MESSAGE_CHARS + 1
        );
    }

    #[test]
    fn unknown_codes_point_to_the_lookup_page() {
        let secret = Secret::new("s");
        let lookup = hint("AADSTS50034", &app(), &Credential::Secret(&secret)).unwrap();
        assert!(lookup.contains("https://login.microsoftonline.com/error?code=50034"));
        assert!(hint("invalid_request", &app(), &Credential::Secret(&secret)).is_none());
    }
}
