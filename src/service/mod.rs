//! The seam to the marketplace: the [`Service`] trait that every API backend implements, and the neutral
//! words it answers in ([`Begun`], [`Snapshot`], [`Phase`], [`ServiceError`]).
//!
//! A backend owns everything about its API: URLs, request bodies, status words, where an operation
//! lives, and the rules its inputs follow ([`ApiRules`], chosen in [`api`]). The follower, the
//! reporters and the outcome table read only the neutral answers, so a new API is one new module here
//! plus one line of dispatch in `run`.

pub mod api;
pub mod cpp;
pub mod ingestion;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde_json::Value;
use url::Url;

use crate::outcome::Outcome;
pub use crate::outcome::Severity;

/// What the run is asked to do (`MARKETPLACE_COMMAND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Publish,
    GoLive,
    Status,
    Cancel,
    /// Apply draft changes only (Product Ingestion API).
    Configure,
}

impl Command {
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Publish => "publish",
            Command::GoLive => "go-live",
            Command::Status => "status",
            Command::Cancel => "cancel",
            Command::Configure => "configure",
        }
    }

    /// True for the commands that end at a ready preview instead of following on to go-live.
    pub fn stops_at_preview(self) -> bool {
        matches!(self, Command::Publish | Command::Status)
    }
}

/// An API's own rules for the inputs that address it, read by config before anything is sent.
pub struct ApiRules {
    /// The names `MARKETPLACE_API` accepts, the contract's own first (`cloud-partner-portal`, `cpp`).
    pub names: &'static [&'static str],
    pub default_base: &'static str,
    pub default_version: &'static str,
    /// `MARKETPLACE_PUBLISHER_ID` must be given.
    pub publisher_required: bool,
    /// Checks `MARKETPLACE_OFFER_ID`.
    pub check_offer: fn(&str) -> Result<(), String>,
    /// What `MARKETPLACE_OFFER_ID` may be, for the error message.
    pub offer_forms: &'static str,
    /// `cancel` needs `MARKETPLACE_OPERATION` (the API cancels jobs, not offers).
    pub cancel_needs_operation: bool,
    /// The API can apply draft changes before publishing (contract section 7).
    pub draft_changes: bool,
    /// The API mails progress to `MARKETPLACE_NOTIFICATION_EMAILS`.
    pub notification_mail: bool,
    /// The shortest poll interval the service asks for; a shorter one gets a warning (not on loopback).
    pub polite_poll: Duration,
    /// The first wait between two status reads, and the longest, when the inputs do not say.
    pub default_poll: (Duration, Duration),
    /// Checks `MARKETPLACE_API_BASE` (already https, or http on loopback); says why it is refused.
    pub check_base: fn(&Url) -> Result<(), String>,
    /// Checks `MARKETPLACE_API_VERSION`.
    pub check_version: fn(&str) -> Result<(), String>,
    /// The Entra scope of a token for this base.
    pub scope: fn(&Url) -> String,
    /// Resolves `MARKETPLACE_OPERATION` (or a location the service names) against the base; says why
    /// it is refused. Nothing off the base's origin is ever accepted.
    pub resolve_operation: fn(&Url, &str) -> Result<Url, String>,
    /// How `MARKETPLACE_OPERATION` may be written, for the error message.
    pub operation_forms: &'static str,
}
/// Checks `MARKETPLACE_API_VERSION`: it goes into a query unencoded, so only a version's characters.
pub fn check_version(version: &str) -> Result<(), String> {
    if version.is_empty()
        || version.len() > 40
        || !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err(
            "use a version such as 2017-10-31 or 2022-03-01-preview2 (letters, digits, '-' and '.')"
                .to_string(),
        );
    }
    Ok(())
}

/// The token scope for an API base: its origin + `/.default` (`https://cloudpartner.azure.com/.default`
/// for the Cloud Partner Portal, `https://graph.microsoft.com/.default` for Product Ingestion).
pub fn origin_scope(base: &Url) -> String {
    format!("{}/.default", base.origin().ascii_serialization())
}

/// A status word as compared: without regard to case, `-`, `_` or spaces (contract section 3).
pub fn key(word: &str) -> String {
    word.chars()
        .filter(|c| !matches!(c, '-' | '_') && !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// A JSON value as display text: strings as they are, numbers written out; nothing for anything else
/// or a blank string.
pub fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What is followed: one operation, or the offer itself when no operation is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Operation(Url),
    Offer,
}

/// How a command began.
#[derive(Debug, Clone)]
pub enum Begun {
    /// This run started an operation: it is first read after one poll interval.
    Started {
        /// What was asked for (`publish`, `go-live`, `configure`), for the log.
        action: String,
        location: Url,
        /// The operation's id where the service names one.
        id: Option<String>,
        http_status: u16,
        /// More follows once this operation succeeds (a draft job before the publish), so it is
        /// followed even with `MARKETPLACE_WAIT=false`.
        prerequisite: bool,
    },
    /// Something already under way (found by a guard, or given): it is read at once.
    Existing {
        target: Target,
        http_status: Option<u16>,
        /// Why it is followed instead of starting anything, for the log and the summary.
        note: Option<String>,
    },
    /// Read already, while finding out what to do.
    Read {
        target: Target,
        http_status: Option<u16>,
        snapshot: Snapshot,
    },
    /// Nothing to follow: the command is done.
    Finished {
        outcome: Outcome,
        http_status: Option<u16>,
        note: Option<String>,
    },
}

/// Where an operation stands, in the program's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    /// The preview is up and waits for go-live.
    PreviewReady,
    Succeeded,
    Failed,
    Canceled,
}

impl Phase {
    /// True once the operation can change no more.
    pub fn is_final(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed | Phase::Canceled)
    }
}

/// A message the service attached to an operation or a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub level: Severity,
    pub text: String,
}

/// Where one step of an operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    NotStarted,
    Running,
    /// Waits for someone (the publisher's sign-off).
    Waiting,
    /// Stuck with errors while the operation itself still runs.
    Blocked,
    Done,
    Failed,
}

impl StepState {
    /// True once the step can change no more (a waiting step counts: its part is done).
    pub fn is_over(self) -> bool {
        matches!(
            self,
            StepState::Done | StepState::Failed | StepState::Waiting
        )
    }
}

/// One step of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub description: Option<String>,
    pub state: StepState,
    /// The service's own word, for display.
    pub word: String,
    pub progress: Option<u8>,
    /// How long the service expects the step to take, in its words.
    pub estimate: Option<String>,
    pub messages: Vec<Message>,
}

/// Why an operation failed, in the service's words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failure {
    /// The step (or resource) that failed.
    pub step: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
}

/// An operation (or the offer's state), as read from the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub id: Option<String>,
    pub phase: Phase,
    /// The service's own status word, for `operation-status`.
    pub word: String,
    /// False when the service used a word this version does not know (it is followed as running).
    pub word_known: bool,
    pub steps: Vec<Step>,
    /// Messages about the whole operation; each reaches the log once.
    pub messages: Vec<Message>,
    /// Set when the phase is failed or canceled.
    pub failure: Option<Failure>,
    /// The submission the operation publishes, where the API has one.
    pub submission: Option<String>,
}

/// A failed call: the outcome it ends the run with, and what the user needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    /// What was being done (`publish request`).
    pub context: String,
    /// The service's error code (`InvalidAPIVersion`, `AADSTS7000215`, ...).
    pub code: Option<String>,
    /// The service's own message, or what went wrong when there is none.
    pub message: String,
    /// What to do next.
    pub hint: Option<String>,
    /// True when the call failed for a passing reason (retries used up, no connection): trying later may work.
    pub transient: bool,
}

impl ServiceError {
    /// An answer the program cannot use (exit 8).
    pub fn unusable(
        context: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> ServiceError {
        ServiceError {
            outcome: Outcome::Error,
            http_status: None,
            context: context.into(),
            code: None,
            message: message.into(),
            hint: Some(hint.into()),
            transient: false,
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(status) = self.http_status {
            write!(f, "HTTP {status}: ")?;
        }
        write!(f, "{}: {}", self.context, self.message)?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, ". {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ServiceError {}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Every call a command makes to the service. Implementations retry transient failures themselves
/// and keep credentials fresh; callers see only final answers.
pub trait Service {
    /// Start `command` when no operation was given: publish, go-live, configure or status.
    fn begin(&self, command: Command) -> impl Future<Output = ServiceResult<Begun>>;
    /// Cancel: the given operation, or the offer's running one.
    fn cancel(&self, operation: Option<&Url>) -> impl Future<Output = ServiceResult<Begun>>;
    /// What comes after an operation of `command` succeeded: another operation, or nothing.
    fn then(
        &self,
        command: Command,
        ended: &Snapshot,
    ) -> impl Future<Output = ServiceResult<Option<Begun>>>;
    /// Read what is followed once.
    fn read(&self, target: &Target) -> impl Future<Output = ServiceResult<Snapshot>>;
    /// The offer's id in this API's own terms, once known (Product Ingestion: `product/<guid>`).
    fn product_id(&self) -> Option<String>;
}
