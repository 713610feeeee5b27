//! Settings from the environment: every `MARKETPLACE_*` input of the contract, validated before anything
//! is sent. A bad value becomes a [`ConfigError`] naming the variable and what it accepts (exit 2).

pub mod changes;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::report::CiTarget;
use crate::secret::Secret;
use crate::text::excerpt;

pub const DEFAULT_API_BASE: &str = "https://cloudpartner.azure.com";
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
pub const DEFAULT_API_VERSION: &str = "2017-10-31";
/// The audience GitHub's OIDC token must carry for Entra's token exchange.
pub const FEDERATION_AUDIENCE: &str = "api://AzureADTokenExchange";

/// A snapshot of the process environment, so that tests and the demo can run the program on their own.
#[derive(Debug, Clone, Default)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    pub fn from_process() -> Env {
        Env(std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect())
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env(pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    }

    /// A variable, trimmed; blank counts as unset.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    fn is(&self, name: &str, value: &str) -> bool {
        self.get(name).as_deref() == Some(value)
    }
}

/// What the run is asked to do (`MARKETPLACE_COMMAND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Publish,
    GoLive,
    Status,
    Cancel,
}

impl Command {
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Publish => "publish",
            Command::GoLive => "go-live",
            Command::Status => "status",
            Command::Cancel => "cancel",
        }
    }
}

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
    /// `https://cloudpartner.azure.com/.default`, or the API base's origin + `/.default`.
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

/// Everything the run needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub publisher_id: String,
    pub offer_id: String,
    pub command: Command,
    pub notification_emails: Vec<String>,
    /// `MARKETPLACE_OPERATION`, resolved to an absolute URL on the API origin.
    pub operation: Option<Url>,
    pub wait: bool,
    pub timeout: Duration,
    pub poll_interval: Duration,
    pub poll_max_interval: Duration,
    pub cancel_on_interrupt: bool,
    pub auth: AuthSettings,
    pub api_base: Url,
    pub api_version: String,
    pub ci: CiTarget,
    pub result_file: Option<PathBuf>,
}

/// A missing or invalid input. Never carries a secret's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

impl std::error::Error for ConfigError {}

fn invalid(variable: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.to_string(),
        message: message.into(),
    }
}

/// The `MARKETPLACE_*` variables as `envy` reads them (prefix stripped, lower snake case).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawInputs {
    publisher_id: Option<String>,
    offer_id: Option<String>,
    command: Option<String>,
    notification_emails: Option<String>,
    operation: Option<String>,
    wait: Option<String>,
    timeout: Option<String>,
    poll_interval: Option<String>,
    poll_max_interval: Option<String>,
    cancel_on_interrupt: Option<String>,
    auth: Option<String>,
    token: Option<String>,
    tenant_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    api_base: Option<String>,
    api_version: Option<String>,
    authority_host: Option<String>,
    ci: Option<String>,
    result_file: Option<String>,
    dotenv_file: Option<String>,
}

const PREFIX: &str = "MARKETPLACE_";

/// Every variable the program reads under the prefix, for the unknown-name warning.
pub const KNOWN_INPUTS: &[&str] = &[
    "PUBLISHER_ID",
    "OFFER_ID",
    "COMMAND",
    "NOTIFICATION_EMAILS",
    "OPERATION",
    "WAIT",
    "TIMEOUT",
    "POLL_INTERVAL",
    "POLL_MAX_INTERVAL",
    "CANCEL_ON_INTERRUPT",
    "AUTH",
    "TOKEN",
    "TENANT_ID",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "API_BASE",
    "API_VERSION",
    "AUTHORITY_HOST",
    "CI",
    "RESULT_FILE",
    "DOTENV_FILE",
    "DEBUG",
];

impl Env {
    /// `MARKETPLACE_*` names that are set but not inputs (likely typos). The outputs a GitLab job
    /// passes on through its dotenv file (`MARKETPLACE_OUTCOME`, ...) are not typos.
    pub fn unknown_inputs(&self) -> Vec<String> {
        let outputs: Vec<String> = crate::outcome::OUTPUTS
            .iter()
            .map(|name| name.to_ascii_uppercase().replace('-', "_"))
            .collect();
        self.0
            .keys()
            .filter_map(|k| k.strip_prefix(PREFIX).map(|rest| (k, rest)))
            .filter(|(_, rest)| !KNOWN_INPUTS.contains(rest) && !outputs.iter().any(|o| o == rest))
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// Which CI the run is in: only needs `MARKETPLACE_CI` and the platforms' own variables, so that even a
/// configuration error is reported the way the CI expects.
pub fn ci_target(env: &Env) -> Result<CiTarget, ConfigError> {
    let choice = env.get("MARKETPLACE_CI").map(|v| v.to_ascii_lowercase());
    let kind = match choice.as_deref() {
        None | Some("auto") => {
            if env.is("GITHUB_ACTIONS", "true") {
                "github"
            } else if env
                .get("TF_BUILD")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            {
                "azure-devops"
            } else if env.is("GITLAB_CI", "true") {
                "gitlab"
            } else {
                "plain"
            }
        }
        Some(other) => other,
    };
    let path = |name: &str| env.get(name).map(PathBuf::from);
    Ok(match kind {
        "github" => CiTarget::GitHub {
            output: path("GITHUB_OUTPUT"),
            summary: path("GITHUB_STEP_SUMMARY"),
            debug: env.is("RUNNER_DEBUG", "1"),
        },
        "azure-devops" => CiTarget::AzureDevOps {
            temp_dir: path("AGENT_TEMPDIRECTORY"),
            debug: env
                .get("SYSTEM_DEBUG")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        },
        "gitlab" => CiTarget::GitLab {
            dotenv: path("MARKETPLACE_DOTENV_FILE"),
            debug: env.is("CI_DEBUG_TRACE", "true"),
        },
        "plain" => CiTarget::Plain {
            debug: env
                .get("MARKETPLACE_DEBUG")
                .is_some_and(|v| parse_bool(&v).unwrap_or(false)),
        },
        _ => {
            return Err(invalid(
                "MARKETPLACE_CI",
                "use auto, github, azure-devops, gitlab or plain",
            ))
        }
    })
}

impl Settings {
    /// Read and validate every input. Sends nothing.
    pub fn from_env(env: &Env) -> Result<Settings, ConfigError> {
        let raw: RawInputs = envy::prefixed(PREFIX)
            .from_iter(
                env.0
                    .iter()
                    .filter(|(k, _)| k.starts_with(PREFIX))
                    .filter_map(|(k, _)| env.get(k).map(|v| (k.clone(), v))),
            )
            .map_err(|e| invalid("MARKETPLACE_*", e.to_string()))?;

        let publisher_id = id("MARKETPLACE_PUBLISHER_ID", raw.publisher_id)?;
        let offer_id = id("MARKETPLACE_OFFER_ID", raw.offer_id)?;
        let command = match raw
            .command
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("publish") => Command::Publish,
            Some("go-live") | Some("golive") => Command::GoLive,
            Some("status") => Command::Status,
            Some("cancel") => Command::Cancel,
            Some(_) => {
                return Err(invalid(
                    "MARKETPLACE_COMMAND",
                    "use publish, go-live, status or cancel",
                ))
            }
        };
        let notification_emails = emails(raw.notification_emails.as_deref())?;
        let api_base = origin("MARKETPLACE_API_BASE", raw.api_base, DEFAULT_API_BASE)?;
        let authority = origin(
            "MARKETPLACE_AUTHORITY_HOST",
            raw.authority_host,
            DEFAULT_AUTHORITY,
        )?;
        let api_version = raw
            .api_version
            .unwrap_or_else(|| DEFAULT_API_VERSION.to_string());
        if api_version.len() > 40
            || !api_version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(invalid(
                "MARKETPLACE_API_VERSION",
                "use a version such as 2017-10-31 (letters, digits, '-' and '.')",
            ));
        }
        let operation = raw
            .operation
            .map(|value| operation_url(&api_base, &value))
            .transpose()?;
        let wait = bool_input("MARKETPLACE_WAIT", raw.wait, true)?;
        let cancel_on_interrupt = bool_input(
            "MARKETPLACE_CANCEL_ON_INTERRUPT",
            raw.cancel_on_interrupt,
            false,
        )?;
        let timeout = duration_input("MARKETPLACE_TIMEOUT", raw.timeout, "60m")?;
        let poll_interval = duration_input("MARKETPLACE_POLL_INTERVAL", raw.poll_interval, "15s")?;
        let poll_max_interval = duration_input(
            "MARKETPLACE_POLL_MAX_INTERVAL",
            raw.poll_max_interval,
            "60s",
        )?;
        if poll_max_interval < poll_interval {
            return Err(invalid(
                "MARKETPLACE_POLL_MAX_INTERVAL",
                format!(
                    "must not be shorter than MARKETPLACE_POLL_INTERVAL ({})",
                    format_duration(poll_interval)
                ),
            ));
        }

        let app =
            |tenant: Option<String>, client: Option<String>| -> Result<EntraApp, ConfigError> {
                let tenant_id = tenant
                    .or_else(|| env.get("AZURE_TENANT_ID"))
                    .ok_or_else(|| {
                        invalid(
                            "MARKETPLACE_TENANT_ID",
                            "required for Entra sign-in (or AZURE_TENANT_ID)",
                        )
                    })?;
                if !tenant_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                {
                    return Err(invalid(
                        "MARKETPLACE_TENANT_ID",
                        "use the tenant's GUID or domain name",
                    ));
                }
                let client_id = client
                    .or_else(|| env.get("AZURE_CLIENT_ID"))
                    .ok_or_else(|| {
                        invalid(
                    "MARKETPLACE_CLIENT_ID",
                    "required for Entra sign-in (or AZURE_CLIENT_ID): the application (client) id",
                )
                    })?;
                Ok(EntraApp {
                    authority: authority.clone(),
                    tenant_id,
                    client_id,
                    scope: scope_for(&api_base),
                })
            };
        let token = raw.token.map(Secret::new);
        let client_secret = raw
            .client_secret
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
        let mode = raw.auth.as_deref().map(str::to_ascii_lowercase);
        let auth = match mode.as_deref() {
            None | Some("auto") => {
                if let Some(token) = token {
                    AuthSettings::Token(token)
                } else if let Some(secret) = client_secret {
                    AuthSettings::ClientSecret {
                        app: app(raw.tenant_id, raw.client_id)?,
                        secret,
                    }
                } else if let Some(assertion) = federation {
                    AuthSettings::Federated {
                        app: app(raw.tenant_id, raw.client_id)?,
                        assertion,
                    }
                } else {
                    return Err(invalid(
                        "MARKETPLACE_TOKEN",
                        "no credentials: set MARKETPLACE_TOKEN, or MARKETPLACE_CLIENT_SECRET with the tenant and \
                         client ids, or use OIDC federation (on GitHub: `permissions: id-token: write`)",
                    ));
                }
            }
            Some("token") => AuthSettings::Token(token.ok_or_else(|| {
                invalid(
                    "MARKETPLACE_TOKEN",
                    "required when MARKETPLACE_AUTH is token",
                )
            })?),
            Some("client-secret") => AuthSettings::ClientSecret {
                secret: client_secret.ok_or_else(|| {
                    invalid(
                        "MARKETPLACE_CLIENT_SECRET",
                        "required when MARKETPLACE_AUTH is client-secret (or AZURE_CLIENT_SECRET)",
                    )
                })?,
                app: app(raw.tenant_id, raw.client_id)?,
            },
            Some("oidc") => {
                let app = app(raw.tenant_id, raw.client_id)?;
                match federation {
                    Some(assertion) => AuthSettings::Federated { app, assertion },
                    None => AuthSettings::FederationUnavailable {
                        advice: federation_advice(env),
                    },
                }
            }
            Some(_) => {
                return Err(invalid(
                    "MARKETPLACE_AUTH",
                    "use auto, token, client-secret or oidc",
                ))
            }
        };

        let mut ci = ci_target(env)?;
        if let CiTarget::GitLab { dotenv, .. } = &mut ci {
            *dotenv = raw.dotenv_file.map(PathBuf::from);
        }

        Ok(Settings {
            publisher_id,
            offer_id,
            command,
            notification_emails,
            operation,
            wait,
            timeout,
            poll_interval,
            poll_max_interval,
            cancel_on_interrupt,
            auth,
            api_base,
            api_version,
            ci,
            result_file: raw.result_file.map(PathBuf::from),
        })
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

/// The token scope for an API base: the real service's, or the base's own origin.
pub fn scope_for(api_base: &Url) -> String {
    format!("{}/.default", api_base.origin().ascii_serialization())
}

/// A publisher or offer id: 1 to 50 of `A-Za-z0-9-_.`, with at least one letter or digit.
pub fn validate_id(value: &str) -> Result<(), &'static str> {
    if value.is_empty() || value.len() > 50 {
        return Err("must be 1 to 50 characters");
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("may hold only letters, digits, '-', '_' and '.'");
    }
    if !value.chars().any(|c| c.is_ascii_alphanumeric()) {
        return Err("must hold at least one letter or digit");
    }
    Ok(())
}

fn id(variable: &str, value: Option<String>) -> Result<String, ConfigError> {
    let value = value.ok_or_else(|| invalid(variable, "required"))?;
    validate_id(&value).map_err(|why| invalid(variable, format!("{why} (e.g. contoso-offer)")))?;
    Ok(value)
}

fn emails(value: Option<&str>) -> Result<Vec<String>, ConfigError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let mut list = Vec::new();
    for address in value.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let ok = address.len() <= 254
            && address.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            })
            && address.matches('@').count() == 1
            && !address
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ';'));
        if !ok {
            return Err(invalid(
                "MARKETPLACE_NOTIFICATION_EMAILS",
                format!("'{address}' is not an e-mail address; give addresses separated by commas"),
            ));
        }
        list.push(address.to_string());
    }
    Ok(list)
}

/// Parse a boolean the contract's way: `true`/`false`, `1`/`0`, `yes`/`no`, any case.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

fn bool_input(variable: &str, value: Option<String>, default: bool) -> Result<bool, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => {
            parse_bool(&v).ok_or_else(|| invalid(variable, "use true or false (also 1/0, yes/no)"))
        }
    }
}

/// Parse a duration: a whole number with `ms`, `s`, `m` or `h`; a bare number is seconds.
pub fn parse_duration(value: &str) -> Option<Duration> {
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    if number.is_empty() || number.len() > 12 {
        return None;
    }
    let n: u64 = number.parse().ok()?;
    let millis = match unit {
        "ms" => n,
        "" | "s" => n.checked_mul(1000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(millis))
}

/// The longest `MARKETPLACE_TIMEOUT` accepted: 30 days, longer than any publish has been seen to take.
const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

fn duration_input(
    variable: &str,
    value: Option<String>,
    default: &str,
) -> Result<Duration, ConfigError> {
    let text = value.unwrap_or_else(|| default.to_string());
    let duration = parse_duration(&text).ok_or_else(|| {
        invalid(
            variable,
            "use a whole number with a unit: ms, s, m or h (e.g. 250ms, 90s, 45m, 2h); a bare number is seconds",
        )
    })?;
    if duration.is_zero() {
        return Err(invalid(variable, "must be longer than zero"));
    }
    if duration > MAX_DURATION {
        return Err(invalid(variable, "must be at most 720h (30 days)"));
    }
    Ok(duration)
}

/// Show a duration the way the inputs are written.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
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

/// An origin input (`https://host[:port]`): https, or http on loopback; no path, query or credentials.
fn origin(variable: &str, value: Option<String>, default: &str) -> Result<Url, ConfigError> {
    let text = value.unwrap_or_else(|| default.to_string());
    let url = Url::parse(&text)
        .map_err(|_| invalid(variable, "must be an absolute URL such as https://host"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(invalid(
                variable,
                "must use https (plain http is allowed only on 127.0.0.1, ::1 and localhost)",
            ))
        }
        _ => return Err(invalid(variable, "must be an https URL")),
    }
    if url.host().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
        || url.path() != "/"
    {
        return Err(invalid(
            variable,
            "must be an origin only, such as https://host or https://host:8443 (no path, query or user)",
        ));
    }
    Ok(url)
}

/// Resolve an operation location against the API base: an absolute URL must be on the API origin; a
/// relative one must start with `/api/`. The path is kept as given (`$` is not re-encoded).
pub fn resolve_operation(api_base: &Url, value: &str) -> Result<Url, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("the operation location is empty".to_string());
    }
    if value.starts_with("//") || value.contains('\\') || value.chars().any(|c| c.is_control()) {
        return Err(format!(
            "'{}' is not a usable operation location",
            excerpt(value)
        ));
    }
    let url = if value.starts_with('/') {
        if !value.starts_with("/api/") {
            return Err(format!("'{}' is a path outside /api/", excerpt(value)));
        }
        api_base
            .join(value)
            .map_err(|_| format!("'{}' is not a usable path", excerpt(value)))?
    } else {
        Url::parse(value).map_err(|_| {
            format!(
                "'{}' is neither an absolute URL nor a path starting with /api/",
                excerpt(value)
            )
        })?
    };
    if url.origin() != api_base.origin() {
        return Err(format!(
            "'{}' is not on the API origin {}; nothing is sent to another origin",
            excerpt(value),
            api_base.origin().ascii_serialization()
        ));
    }
    if !url.path().starts_with("/api/") || !url.username().is_empty() || url.password().is_some() {
        return Err(format!("'{}' is not an API path", excerpt(value)));
    }
    Ok(url)
}

fn operation_url(api_base: &Url, value: &str) -> Result<Url, ConfigError> {
    resolve_operation(api_base, value).map_err(|why| {
        invalid(
            "MARKETPLACE_OPERATION",
            format!("{why}; give the operation-location output of an earlier run, or a path starting with /api/"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        let mut all = vec![
            ("MARKETPLACE_PUBLISHER_ID", "contoso"),
            ("MARKETPLACE_OFFER_ID", "contoso-offer"),
            ("MARKETPLACE_TOKEN", "tok"),
        ];
        all.extend_from_slice(pairs);
        Env::from_pairs(all.iter().copied())
    }

    fn error_for(pairs: &[(&str, &str)]) -> ConfigError {
        Settings::from_env(&env(pairs)).expect_err("should be rejected")
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = Settings::from_env(&env(&[])).unwrap();
        assert_eq!(s.command, Command::Publish);
        assert!(s.wait);
        assert!(!s.cancel_on_interrupt);
        assert_eq!(s.timeout, Duration::from_secs(3600));
        assert_eq!(s.poll_interval, Duration::from_secs(15));
        assert_eq!(s.poll_max_interval, Duration::from_secs(60));
        assert_eq!(s.api_base.as_str(), "https://cloudpartner.azure.com/");
        assert_eq!(s.api_version, "2017-10-31");
        assert_eq!(s.auth, AuthSettings::Token(Secret::new("tok")));
        assert_eq!(s.ci, CiTarget::Plain { debug: false });
        assert!(s.notification_emails.is_empty());
    }

    #[test]
    fn blank_is_unset_and_values_are_trimmed() {
        let s = Settings::from_env(&env(&[
            ("MARKETPLACE_COMMAND", "  "),
            ("MARKETPLACE_TIMEOUT", " 2h "),
        ]))
        .unwrap();
        assert_eq!(s.command, Command::Publish);
        assert_eq!(s.timeout, Duration::from_secs(7200));
        assert_eq!(
            error_for(&[("MARKETPLACE_OFFER_ID", "   ")]).variable,
            "MARKETPLACE_OFFER_ID"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("45m"), Some(Duration::from_secs(2700)));
        for bad in [
            "",
            "1.5s",
            "-1s",
            "5x",
            "s",
            "1 s",
            "1S",
            "99999999999999999h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(
            error_for(&[("MARKETPLACE_POLL_INTERVAL", "0s")]).variable,
            "MARKETPLACE_POLL_INTERVAL"
        );
        assert_eq!(
            error_for(&[
                ("MARKETPLACE_POLL_INTERVAL", "2m"),
                ("MARKETPLACE_POLL_MAX_INTERVAL", "1m")
            ])
            .variable,
            "MARKETPLACE_POLL_MAX_INTERVAL"
        );
    }

    #[test]
    fn booleans() {
        for (text, value) in [
            ("TRUE", true),
            ("yes", true),
            ("1", true),
            ("No", false),
            ("0", false),
        ] {
            let s = Settings::from_env(&env(&[("MARKETPLACE_WAIT", text)])).unwrap();
            assert_eq!(s.wait, value);
        }
        assert_eq!(
            error_for(&[("MARKETPLACE_WAIT", "maybe")]).variable,
            "MARKETPLACE_WAIT"
        );
    }

    #[test]
    fn ids() {
        for good in ["contoso", "a", "A.b_c-1", &"x".repeat(50)] {
            assert!(validate_id(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "-_.",
            "a/b",
            "a b",
            "a%2F",
            &"x".repeat(51),
            "é",
        ] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins_need_https_except_on_loopback() {
        for good in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
            "https://example.com",
        ] {
            assert!(
                Settings::from_env(&env(&[("MARKETPLACE_API_BASE", good)])).is_ok(),
                "{good}"
            );
        }
        for bad in [
            "http://example.com",
            "ftp://x",
            "https://x/path",
            "https://u:p@x",
            "not a url",
            "http://10.0.0.1",
        ] {
            assert_eq!(
                error_for(&[("MARKETPLACE_API_BASE", bad)]).variable,
                "MARKETPLACE_API_BASE",
                "{bad}"
            );
        }
        assert_eq!(
            error_for(&[("MARKETPLACE_AUTHORITY_HOST", "http://login.example")]).variable,
            "MARKETPLACE_AUTHORITY_HOST"
        );
    }

    #[test]
    fn operation_locations() {
        let base = Url::parse("https://cloudpartner.azure.com").unwrap();
        let rel = "/api/operations/contoso$56615b67$2$preview?api-version=2017-10-31";
        assert_eq!(
            resolve_operation(&base, rel).unwrap().as_str(),
            format!("https://cloudpartner.azure.com{rel}")
        );
        let abs =
            "https://cloudpartner.azure.com/api/publishers/p/offers/o/operations/1?api-version=x";
        assert_eq!(resolve_operation(&base, abs).unwrap().as_str(), abs);
        for bad in [
            "https://evil.example/api/x",
            "//evil.example/api/x",
            "http://cloudpartner.azure.com/api/x",
            "/other/path",
            "api/x",
            "",
        ] {
            assert!(resolve_operation(&base, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn auth_auto_picks_token_then_secret_then_federation() {
        let base = [
            ("MARKETPLACE_PUBLISHER_ID", "p"),
            ("MARKETPLACE_OFFER_ID", "o"),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            Settings::from_env(&Env::from_pairs(all)).map(|s| s.auth)
        };
        assert!(matches!(
            with(&[("AZURE_CLIENT_SECRET", "s")]),
            Ok(AuthSettings::ClientSecret { .. })
        ));
        assert!(matches!(
            with(&[("AZURE_FEDERATED_TOKEN_FILE", "/f")]),
            Ok(AuthSettings::Federated {
                assertion: AssertionSource::File(_),
                ..
            })
        ));
        assert!(matches!(
            with(&[
                ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://x"),
                ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "r")
            ]),
            Ok(AuthSettings::Federated {
                assertion: AssertionSource::GitHub { .. },
                ..
            })
        ));
        assert!(matches!(
            with(&[("MARKETPLACE_AUTH", "oidc")]),
            Ok(AuthSettings::FederationUnavailable { .. })
        ));
        let err = with(&[]).unwrap_err();
        assert_eq!(err.variable, "MARKETPLACE_TOKEN");
    }

    #[test]
    fn errors_never_echo_secrets() {
        let err = error_for(&[
            ("MARKETPLACE_AUTH", "client-secret"),
            ("MARKETPLACE_CLIENT_SECRET", "s3cr3t"),
        ]);
        assert!(!err.to_string().contains("s3cr3t"));
    }

    #[test]
    fn typos_are_unknown_but_outputs_passed_on_are_not() {
        let env = Env::from_pairs([
            ("MARKETPLACE_OFER_ID", "x"),
            ("MARKETPLACE_OUTCOME", "succeeded"),
            ("MARKETPLACE_OPERATION_LOCATION", "https://x/api/y"),
            ("MARKETPLACE_OFFER_ID", "o"),
        ]);
        assert_eq!(
            env.unknown_inputs(),
            vec!["MARKETPLACE_OFER_ID".to_string()]
        );
    }

    #[test]
    fn ci_detection() {
        let ci =
            |pairs: &[(&str, &str)]| ci_target(&Env::from_pairs(pairs.iter().copied())).unwrap();
        assert!(matches!(
            ci(&[("GITHUB_ACTIONS", "true")]),
            CiTarget::GitHub { .. }
        ));
        assert!(matches!(
            ci(&[("TF_BUILD", "True")]),
            CiTarget::AzureDevOps { .. }
        ));
        assert!(matches!(
            ci(&[("GITLAB_CI", "true")]),
            CiTarget::GitLab { .. }
        ));
        assert!(matches!(ci(&[]), CiTarget::Plain { .. }));
        assert!(matches!(
            ci(&[("GITHUB_ACTIONS", "true"), ("MARKETPLACE_CI", "plain")]),
            CiTarget::Plain { .. }
        ));
    }

    /// Property tests of the functions that turn untrusted text (inputs, the service's headers) into
    /// durations, ids and URLs.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// The contract's id rule, written independently of `validate_id`.
        fn contract_id(value: &str) -> bool {
            let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
            (1..=50).contains(&value.chars().count())
                && value.chars().all(allowed)
                && value.chars().any(|c| c.is_ascii_alphanumeric())
        }

        fn api_base() -> Url {
            Url::parse("https://cloudpartner.azure.com").unwrap()
        }

        proptest! {
            #[test]
            fn parse_duration_never_panics(text in r"\PC*|[0-9]{0,25}[a-zµ ]{0,3}") {
                let _ = parse_duration(&text);
            }

            #[test]
            fn valid_durations_round_trip(n in 0u64..1_000_000_000_000, unit in "|ms|s|m|h") {
                let duration = parse_duration(&format!("{n}{unit}")).expect("a valid duration");
                prop_assert_eq!(parse_duration(&format_duration(duration)), Some(duration));
            }

            #[test]
            fn ids_are_exactly_the_contracts(text in r"[A-Za-z0-9._/ %é-]{0,55}|\PC{0,55}") {
                prop_assert_eq!(validate_id(&text).is_ok(), contract_id(&text), "{:?}", text);
            }

            #[test]
            fn operations_stay_on_the_api_origin_under_api(
                prefix in prop::sample::select(vec![
                    "", "/", "/api/", "/api", "//", r"/\", "https://cloudpartner.azure.com",
                    "https://cloudpartner.azure.com:443", "https://cloudpartner.azure.com@evil.example",
                    "http://cloudpartner.azure.com", "https://evil.example", "https:/", "HTTPS://CLOUDPARTNER.AZURE.COM",
                ]),
                tail in r"(/|\.\.|%2[eEfF]|\$|@|:|\?|#|\\|api|[a-z0-9]{1,4}|\PC){0,12}",
            ) {
                let text = format!("{prefix}{tail}");
                if let Ok(url) = resolve_operation(&api_base(), &text) {
                    prop_assert_eq!(url.origin(), api_base().origin(), "{:?}", text);
                    prop_assert!(url.path().starts_with("/api/"), "{:?} -> {}", text, url);
                    prop_assert!(url.username().is_empty() && url.password().is_none());
                }
            }

            #[test]
            fn dollar_locations_are_kept_as_given(
                publisher in "[a-z0-9-]{1,20}",
                id in "[0-9a-f-]{1,36}",
                absolute in any::<bool>(),
            ) {
                let path = format!("/api/operations/{publisher}${id}$2$preview");
                let text = match absolute {
                    true => format!("https://cloudpartner.azure.com{path}?api-version=2017-10-31"),
                    false => format!("{path}?api-version=2017-10-31"),
                };
                let url = resolve_operation(&api_base(), &text).expect("a service location");
                prop_assert_eq!(url.path(), path);
            }
        }
    }
}
