//! How the API token is had: `MARKETPLACE_AUTH` resolved (`auto` picks a given token, else a client
//! secret, else OIDC federation where the platform offers it), with the Entra application's ids.

use std::path::PathBuf;

use url::Url;

use super::env::{Env, Inputs};
use super::ConfigError;
use crate::auth::{AssertionSource, AuthSettings, EntraApp};
use crate::secret::Secret;

const NO_CREDENTIALS: &str = "no credentials: set one of the three ways to sign in: MARKETPLACE_TOKEN (a bearer \
     token); MARKETPLACE_CLIENT_SECRET with MARKETPLACE_TENANT_ID and MARKETPLACE_CLIENT_ID (an Entra \
     application); or OIDC federation with the tenant and client ids (on GitHub: `permissions: id-token: write`; \
     elsewhere AZURE_FEDERATED_TOKEN_FILE)";

/// Resolve the auth mode; every missing or invalid part is reported.
pub fn resolve(
    env: &Env,
    inputs: &Inputs,
    authority: Url,
    scope: String,
) -> Result<AuthSettings, Vec<ConfigError>> {
    let app = || -> Result<EntraApp, Vec<ConfigError>> {
        let tenant = inputs
            .tenant_id
            .clone()
            .or_else(|| env.get("AZURE_TENANT_ID"));
        let client = inputs
            .client_id
            .clone()
            .or_else(|| env.get("AZURE_CLIENT_ID"));
        let mut errors = Vec::new();
        match &tenant {
            None => errors.push(ConfigError::new(
                "MARKETPLACE_TENANT_ID",
                "required for Entra sign-in (or AZURE_TENANT_ID)",
            )),
            Some(t)
                if !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') =>
            {
                errors.push(ConfigError::new(
                    "MARKETPLACE_TENANT_ID",
                    "use the tenant's GUID or domain name",
                ))
            }
            Some(_) => {}
        }
        if client.is_none() {
            errors.push(ConfigError::new(
                "MARKETPLACE_CLIENT_ID",
                "required for Entra sign-in (or AZURE_CLIENT_ID): the application (client) id",
            ));
        }
        match (tenant, client) {
            (Some(tenant_id), Some(client_id)) if errors.is_empty() => Ok(EntraApp {
                authority: authority.clone(),
                tenant_id,
                client_id,
                scope: scope.clone(),
            }),
            _ => Err(errors),
        }
    };
    let token = inputs.token.clone().map(Secret::new);
    let client_secret = inputs
        .client_secret
        .clone()
        .or_else(|| env.get("AZURE_CLIENT_SECRET"))
        .map(Secret::new);
    let github_oidc = match (
        env.get("ACTIONS_ID_TOKEN_REQUEST_URL"),
        env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
    ) {
        (Some(request_url), Some(token)) => Some(AssertionSource::GitHub {
            request_url,
            request_token: Secret::new(token),
        }),
        _ => None,
    };
    let federation = github_oidc.or_else(|| {
        env.get("AZURE_FEDERATED_TOKEN_FILE")
            .map(|p| AssertionSource::File(PathBuf::from(p)))
    });
    let one = |variable: &str, message: &str| vec![ConfigError::new(variable, message)];
    match inputs
        .auth
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("auto") => {
            if let Some(token) = token {
                Ok(AuthSettings::Token(token))
            } else if let Some(secret) = client_secret {
                Ok(AuthSettings::ClientSecret {
                    app: app()?,
                    secret,
                })
            } else if let Some(assertion) = federation {
                Ok(AuthSettings::Federated {
                    app: app()?,
                    assertion,
                })
            } else {
                Err(one("MARKETPLACE_TOKEN", NO_CREDENTIALS))
            }
        }
        Some("token") => token.map(AuthSettings::Token).ok_or_else(|| {
            one(
                "MARKETPLACE_TOKEN",
                "required when MARKETPLACE_AUTH is token",
            )
        }),
        Some("client-secret") => {
            let app = app();
            match (client_secret, app) {
                (Some(secret), Ok(app)) => Ok(AuthSettings::ClientSecret { app, secret }),
                (secret, app) => {
                    let mut errors = app.err().unwrap_or_default();
                    if secret.is_none() {
                        errors.push(ConfigError::new(
                            "MARKETPLACE_CLIENT_SECRET",
                            "required when MARKETPLACE_AUTH is client-secret (or AZURE_CLIENT_SECRET)",
                        ));
                    }
                    Err(errors)
                }
            }
        }
        Some("oidc") => {
            let app = app()?;
            Ok(match federation {
                Some(assertion) => AuthSettings::Federated { app, assertion },
                None => AuthSettings::FederationUnavailable {
                    advice: federation_advice(env),
                },
            })
        }
        Some(_) => Err(one(
            "MARKETPLACE_AUTH",
            "use auto, token, client-secret or oidc",
        )),
    }
}

fn federation_advice(env: &Env) -> String {
    if env.is("GITHUB_ACTIONS", "true") {
        "OIDC federation needs an ID token from GitHub, and ACTIONS_ID_TOKEN_REQUEST_URL / \
         ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set: give the job `permissions: id-token: write`"
            .to_string()
    } else {
        "OIDC federation needs a token from the platform: on GitHub give the job `permissions: id-token: write`; \
         elsewhere set AZURE_FEDERATED_TOKEN_FILE to a file holding the platform's JWT"
            .to_string()
    }
}
