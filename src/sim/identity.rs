//! The identity side of the simulation: Entra's v2 token endpoint (client secret or federated assertion)
//! and GitHub's OIDC token endpoint, plus the store of the access tokens handed out, so that the API can
//! refuse them once expired.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::http::{Request, Response, Served};
use super::plan::AuthPlan;
use super::stamp::{splitmix, timestamp, unix_now, uuid};
use crate::auth::FEDERATION_AUDIENCE;

/// The access tokens the token endpoint has handed out.
#[derive(Default)]
pub(super) struct Tokens {
    issued: HashMap<String, Issued>,
    /// Counts tokens, so that each differs and runs repeat.
    minted: u64,
}

/// An access token handed out by the token endpoint.
struct Issued {
    at: Instant,
    uses: u32,
}

impl Tokens {
    /// Entra's v2 client-credentials grant, with a secret or a federated assertion.
    pub(super) fn token(&mut self, auth: &AuthPlan, req: &Request, tenant: &str) -> Served {
        let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        let field = |name: &str| form.get(name).map(String::as_str);
        let missing = |name: &str| {
            let text = format!("The request body must contain the following parameter: '{name}'.");
            entra_error(400, "invalid_request", 900144, &text)
        };
        if !req.has_content_type("application/x-www-form-urlencoded") {
            return Err(missing("grant_type"));
        }
        if tenant != auth.tenant {
            let text = format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.");
            return Err(entra_error(400, "invalid_request", 90002, &text));
        }
        match field("grant_type") {
            None => return Err(missing("grant_type")),
            Some("client_credentials") => {}
            Some(other) => {
                let text = format!("The app requested an unsupported grant type '{other}'.");
                return Err(entra_error(400, "unsupported_grant_type", 70003, &text));
            }
        }
        let client_id = field("client_id").ok_or_else(|| missing("client_id"))?;
        if client_id != auth.client_id {
            let text = format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'.");
            return Err(entra_error(400, "unauthorized_client", 700016, &text));
        }
        let scope = field("scope").ok_or_else(|| missing("scope"))?;
        let scope_ok = match &auth.scope {
            Some(wanted) => scope == wanted,
            None => scope.ends_with("/.default"),
        };
        if !scope_ok {
            let text = format!("The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid.");
            return Err(entra_error(400, "invalid_scope", 70011, &text));
        }
        match (field("client_secret"), field("client_assertion")) {
            (Some(secret), _) if secret != auth.client_secret => {
                let text = format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'.");
                return Err(entra_error(401, "invalid_client", 7000215, &text));
            }
            (Some(_), _) => {}
            (None, Some(assertion)) => {
                if field("client_assertion_type") != Some(JWT_BEARER) {
                    let text = "The client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.";
                    return Err(entra_error(400, "invalid_request", 50027, text));
                }
                check_assertion(auth, assertion)?;
            }
            (None, None) => {
                let text = "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.";
                return Err(entra_error(401, "invalid_client", 7000218, text));
            }
        }
        self.minted += 1;
        let token = format!("sim-access-{:016x}", splitmix(self.minted));
        let issued = Issued {
            at: Instant::now(),
            uses: 0,
        };
        self.issued.insert(token.clone(), issued);
        let expires_in = auth.expires_in.to_json();
        Ok(Response::json(
            200,
            &json!({"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": token}),
        ))
    }

    /// Lets an issued token through unless it has expired by the clock or by its uses, and counts the use.
    pub(super) fn admit(&mut self, auth: &AuthPlan, token: &str) -> Result<(), &'static str> {
        let issued = self
            .issued
            .get_mut(token)
            .ok_or("Authentication failed. The access token is not valid.")?;
        if issued.expired(auth) {
            return Err("The access token has expired.");
        }
        issued.uses += 1;
        Ok(())
    }
}

impl Issued {
    fn expired(&self, auth: &AuthPlan) -> bool {
        let lifetime = Duration::from_secs(auth.expires_in.seconds());
        (auth.enforce_expiry && self.at.elapsed() >= lifetime)
            || auth.token_uses.is_some_and(|limit| self.uses >= limit)
    }
}

/// GitHub's OIDC token endpoint: a JWT for the asked audience, for the plan's subject.
pub(super) fn oidc(auth: &AuthPlan, req: &Request) -> Served {
    if req.bearer() != Some(auth.oidc_request_token.as_str()) {
        let body = json!({"message": "The bearer token is not this run's ACTIONS_ID_TOKEN_REQUEST_TOKEN."});
        return Err(Response::json(401, &body));
    }
    let owner = auth.subject.split(['/', ':']).nth(1).unwrap_or("contoso");
    let audience = req
        .query("audience")
        .unwrap_or_else(|| format!("https://github.com/{owner}"));
    let now = unix_now();
    let claims = json!({
        "iss": "https://token.actions.githubusercontent.com",
        "sub": auth.subject,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    });
    Ok(Response::json(200, &json!({"value": jwt(&claims)})))
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Accepts a federated assertion as Entra would with one federated credential: right audience, right
/// subject, not expired. The signature is not checked; the simulator's JWTs have none worth checking.
fn check_assertion(auth: &AuthPlan, assertion: &str) -> Result<(), Response> {
    let claims = assertion
        .split('.')
        .nth(1)
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .ok_or_else(|| {
            entra_error(
                400,
                "invalid_request",
                50027,
                "JWT token is invalid or malformed.",
            )
        })?;
    let claim = |name: &str| claims[name].as_str().unwrap_or_default().to_string();
    let (iss, sub, aud) = (claim("iss"), claim("sub"), claim("aud"));
    if aud != FEDERATION_AUDIENCE {
        let text = format!(
            "No matching federated identity record found for presented assertion audience '{aud}'."
        );
        return Err(entra_error(400, "invalid_request", 700212, &text));
    }
    if sub != auth.subject {
        let text = format!("No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{aud}'.");
        return Err(entra_error(400, "invalid_request", 70021, &text));
    }
    if claims["exp"].as_u64().unwrap_or_default() <= unix_now() {
        let text = "Client assertion is not within its valid time range.";
        return Err(entra_error(400, "invalid_client", 700024, text));
    }
    Ok(())
}

/// An unsigned JWT (the signature is a placeholder): clients only read its claims.
fn jwt(claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "sim"});
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        part(&header),
        part(claims),
        URL_SAFE_NO_PAD.encode("sim-signature")
    )
}

pub(super) fn entra_error(status: u16, error: &str, code: u32, description: &str) -> Response {
    let trace = uuid(u64::from(code));
    let body = json!({
        "error": error,
        // Entra puts line breaks in its descriptions: clients must not pass them on raw.
        "error_description": format!("AADSTS{code}: {description}\r\nTrace ID: {trace}\r\nCorrelation ID: {trace}\r\nTimestamp: {}", timestamp(SystemTime::now())),
        "error_codes": [code],
        "timestamp": timestamp(SystemTime::now()),
        "trace_id": trace,
        "correlation_id": trace,
    });
    Response::json(status, &body)
}
