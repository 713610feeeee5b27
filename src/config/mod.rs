//! Settings from the environment: every `MARKETPLACE_*` input of the contract, validated before anything
//! is sent. Every missing or invalid input becomes a [`ConfigError`] naming the variable and what it
//! accepts; all of them are reported at once (exit 2).
//!
//! [`env`] reads the variables, [`values`] holds the rules for single values, [`auth`] resolves how
//! the token is had, [`ci`] which CI is reported to. The rules of the API itself (its base URL,
//! version, token scope and operation locations) belong to the service backend ([`Api::rules`]).

pub mod auth;
mod ci;
mod env;
mod values;

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::auth::AuthSettings;
pub use ci::ci_target;
use env::Checked;
pub use env::{input_names, Env};
use values::{check_origin, check_service_url, check_span, emails};

use crate::changes::Changes;
use crate::http::is_loopback;
use crate::input::validate_id;
pub use crate::input::ConfigError;
use crate::service::api::Api;
use crate::service::Command;
use crate::text::format_duration;

pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

/// Which API, with the inputs only that API has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    CloudPartnerPortal {
        publisher_id: String,
    },
    /// The publisher id is optional here and addresses nothing: the token's account is the publisher.
    ProductIngestion,
}

impl Backend {
    pub fn api(&self) -> Api {
        match self {
            Backend::CloudPartnerPortal { .. } => Api::CloudPartnerPortal,
            Backend::ProductIngestion => Api::ProductIngestion,
        }
    }
}

/// Everything the run needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub backend: Backend,
    /// `MARKETPLACE_PUBLISHER_ID` where given.
    pub publisher_id: Option<String>,
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
    pub result_file: Option<PathBuf>,
    /// Draft changes to apply first (`MARKETPLACE_CONFIGURE_FILE`, the VM image version inputs).
    pub changes: Option<Changes>,
}

/// The problems found so far; reading goes on after one so that all are reported together.
#[derive(Default)]
struct Problems(Vec<ConfigError>);

impl Problems {
    fn add(&mut self, variable: &str, message: impl Into<String>) {
        self.0.push(ConfigError::new(variable, message));
    }

    /// The value of a typed input, its default when unset, or the default and a problem when bad.
    fn typed<T: Clone>(&mut self, variable: &str, value: &Option<Checked<T>>, default: T) -> T {
        match value {
            None => default,
            Some(Checked::Ok(value)) => value.clone(),
            Some(Checked::Bad { why, .. }) => {
                self.add(variable, why.clone());
                default
            }
        }
    }

    fn span(
        &mut self,
        variable: &str,
        value: &Option<Checked<Duration>>,
        default: Duration,
    ) -> Duration {
        let duration = self.typed(variable, value, default);
        check_span(duration).unwrap_or_else(|why| {
            self.add(variable, why);
            default
        })
    }

    /// A service URL input, checked by `rule`; the default when unset or bad.
    fn url(
        &mut self,
        variable: &str,
        value: &Option<Checked<Url>>,
        default: &str,
        rule: fn(&Url) -> Result<(), String>,
    ) -> Url {
        let fallback = Url::parse(default).expect("the built-in default URLs parse");
        let url = self.typed(variable, value, fallback.clone());
        match check_service_url(&url).and_then(|()| rule(&url)) {
            Ok(()) => url,
            Err(why) => {
                self.add(variable, why);
                fallback
            }
        }
    }
}

impl Settings {
    /// What is worth a warning in inputs that are valid: a poll interval shorter than the service asks
    /// for (never on loopback, where the simulator and tests poll fast on purpose), and inputs this API
    /// has no use for. Each as `(title, text)`.
    pub fn warnings(&self) -> Vec<(&'static str, String)> {
        let rules = self.backend.api().rules();
        let mut warnings = Vec::new();
        if self.poll_interval < rules.polite_poll && !is_loopback(&self.api_base) {
            warnings.push((
                "poll interval",
                format!(
                    "MARKETPLACE_POLL_INTERVAL is {}: the {} API asks for at most one status read every {}",
                    format_duration(self.poll_interval),
                    rules.names[0],
                    format_duration(rules.polite_poll)
                ),
            ));
        }
        if !self.notification_emails.is_empty() && !rules.notification_mail {
            warnings.push((
                "notification e-mails",
                format!(
                    "the {} API sends no progress mail, so MARKETPLACE_NOTIFICATION_EMAILS is not used; \
                     Partner Center mails the account's contacts itself",
                    rules.names[0]
                ),
            ));
        }
        warnings
    }

    /// Read and validate every input. Sends nothing.
    pub fn from_env(env: &Env) -> Result<Settings, Vec<ConfigError>> {
        let inputs = env
            .inputs()
            .map_err(|why| vec![ConfigError::new("MARKETPLACE_*", why)])?;
        let mut problems = Problems::default();
        let api = problems.typed("MARKETPLACE_API", &inputs.api, Api::CloudPartnerPortal);
        let rules = api.rules();

        let publisher_id = inputs.publisher_id.clone();
        match &publisher_id {
            None if rules.publisher_required => problems.add(
                "MARKETPLACE_PUBLISHER_ID",
                "required: the publisher id of the Partner Center account (e.g. contoso)",
            ),
            Some(id) => {
                if let Err(why) = validate_id(id) {
                    problems.add("MARKETPLACE_PUBLISHER_ID", format!("{why} (e.g. contoso)"));
                }
            }
            None => {}
        }
        let offer_id = inputs.offer_id.clone().unwrap_or_default();
        if inputs.offer_id.is_none() {
            problems.add(
                "MARKETPLACE_OFFER_ID",
                format!("required: {}", rules.offer_forms),
            );
        } else if let Err(why) = (rules.check_offer)(&offer_id) {
            problems.add("MARKETPLACE_OFFER_ID", why);
        }
        let command = problems.typed("MARKETPLACE_COMMAND", &inputs.command, Command::Publish);
        let notification_emails = match inputs.notification_emails.as_deref().map(emails) {
            None => Vec::new(),
            Some(Ok(list)) => list,
            Some(Err(why)) => {
                problems.add("MARKETPLACE_NOTIFICATION_EMAILS", why);
                Vec::new()
            }
        };
        let api_base = problems.url(
            "MARKETPLACE_API_BASE",
            &inputs.api_base,
            rules.default_base,
            rules.check_base,
        );
        let authority = problems.url(
            "MARKETPLACE_AUTHORITY_HOST",
            &inputs.authority_host,
            DEFAULT_AUTHORITY,
            check_origin,
        );
        let api_version = inputs
            .api_version
            .clone()
            .unwrap_or_else(|| rules.default_version.to_string());
        if let Err(why) = (rules.check_version)(&api_version) {
            problems.add("MARKETPLACE_API_VERSION", why);
        }
        let operation = inputs.operation.as_deref().and_then(|value| {
            (rules.resolve_operation)(&api_base, value)
                .map_err(|why| {
                    problems.add(
                        "MARKETPLACE_OPERATION",
                        format!("{why}; give {}", rules.operation_forms),
                    )
                })
                .ok()
        });
        let wait = problems.typed("MARKETPLACE_WAIT", &inputs.wait, true);
        let cancel_on_interrupt = problems.typed(
            "MARKETPLACE_CANCEL_ON_INTERRUPT",
            &inputs.cancel_on_interrupt,
            false,
        );
        let (first_poll, longest_poll) = rules.default_poll;
        let timeout = problems.span("MARKETPLACE_TIMEOUT", &inputs.timeout, DEFAULT_TIMEOUT);
        let poll_interval = problems.span(
            "MARKETPLACE_POLL_INTERVAL",
            &inputs.poll_interval,
            first_poll,
        );
        let poll_max_interval = problems.span(
            "MARKETPLACE_POLL_MAX_INTERVAL",
            &inputs.poll_max_interval,
            longest_poll.max(poll_interval),
        );
        if poll_max_interval < poll_interval {
            problems.add(
                "MARKETPLACE_POLL_MAX_INTERVAL",
                format!(
                    "must not be shorter than MARKETPLACE_POLL_INTERVAL ({})",
                    format_duration(poll_interval)
                ),
            );
        }
        if command == Command::Cancel && operation.is_none() && rules.cancel_needs_operation {
            problems.add(
                "MARKETPLACE_OPERATION",
                format!(
                    "required with MARKETPLACE_COMMAND=cancel for the {} API: give {}",
                    rules.names[0], rules.operation_forms
                ),
            );
        }
        let changes = Changes::from_lookup(&|name| env.get(name))
            .map_err(|errors| problems.0.extend(errors))
            .ok()
            .flatten();
        if changes.is_some() && !rules.draft_changes {
            problems.add(
                "MARKETPLACE_CONFIGURE_FILE",
                format!(
                    "draft changes (a configure file or a new VM image version) need \
                     MARKETPLACE_API=product-ingestion; the {} API publishes the offer as it is",
                    rules.names[0]
                ),
            );
        }
        if command == Command::Configure && changes.is_none() && operation.is_none() {
            problems.add(
                "MARKETPLACE_CONFIGURE_FILE",
                "MARKETPLACE_COMMAND=configure needs changes to apply: MARKETPLACE_CONFIGURE_FILE, or \
                 MARKETPLACE_PLAN_ID with MARKETPLACE_IMAGE_VERSION and MARKETPLACE_OS_DISK_URL \
                 (or MARKETPLACE_OPERATION to follow an earlier configure job)",
            );
        }
        let auth = auth::resolve(env, &inputs, authority, (rules.scope)(&api_base))
            .map_err(|errors| problems.0.extend(errors))
            .ok();
        let backend = match (api, &publisher_id) {
            (Api::CloudPartnerPortal, Some(publisher_id)) => Some(Backend::CloudPartnerPortal {
                publisher_id: publisher_id.clone(),
            }),
            (Api::CloudPartnerPortal, None) => None,
            (Api::ProductIngestion, _) => Some(Backend::ProductIngestion),
        };
        match (auth, backend) {
            (Some(auth), Some(backend)) if problems.0.is_empty() => Ok(Settings {
                backend,
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
                result_file: inputs.result_file.map(PathBuf::from),
                changes,
            }),
            _ => Err(problems.0),
        }
    }
}

#[cfg(test)]
mod tests;
