//! What the token source is given: how the API token is had, as config resolved it from the inputs.

use std::path::PathBuf;

use url::Url;

use crate::secret::Secret;

/// The audience GitHub's OIDC token must carry for Entra's token exchange.
pub const FEDERATION_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Where federated credentials (a JWT from the CI platform) come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssertionSource {
    /// GitHub's `ACTIONS_ID_TOKEN_REQUEST_URL`, called with `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
    GitHub {
        request_url: String,
        request_token: Secret,
    },
    /// A file re-read for each new token (`AZURE_FEDERATED_TOKEN_FILE`).
    File(PathBuf),
}

/// Entra settings shared by the client-secret and federated modes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraApp {
    pub authority: Url,
    pub tenant_id: String,
    pub client_id: String,
    /// The API's scope, such as `https://cloudpartner.azure.com/.default`.
    pub scope: String,
}

/// How the API token is had (`MARKETPLACE_AUTH`, with `auto` already resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSettings {
    Token(Secret),
    ClientSecret {
        app: EntraApp,
        secret: Secret,
    },
    Federated {
        app: EntraApp,
        assertion: AssertionSource,
    },
    /// `oidc` was asked for but the platform offers no token: a run ends `unauthorized` with this advice.
    FederationUnavailable {
        advice: String,
    },
}
