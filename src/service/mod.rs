//! The seam to the service: the [`Portal`] trait, one method per API call, with typed answers and errors.
//!
//! [`cpp::CloudPartnerPortal`] implements it for the Cloud Partner Portal API. A second backend (the
//! Product Ingestion API) implements the same trait; config, the follower and the reporters stay as they are.

pub mod cpp;
pub mod ingestion;
mod status;

use std::fmt;
use std::future::Future;

use url::Url;

use crate::outcome::Outcome;
pub use status::Status;

/// The answer to a request that starts something: publish, go-live, cancel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub http_status: u16,
    /// The operation to follow; `None` when the service finished at once (cancel's 200).
    pub operation: Option<Url>,
}

/// A message the service attached to an operation or a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `information`, `warning` or `error`, as the service wrote it (lower case).
    pub level: String,
    pub text: String,
}

/// One step of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub description: String,
    pub status: Status,
    /// The service's own word, for display.
    pub status_word: String,
    pub progress: Option<u8>,
    pub estimate: String,
    pub messages: Vec<Message>,
}

/// An operation (or the offer's status), as read from the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationView {
    pub id: String,
    pub status: Status,
    pub status_word: String,
    pub steps: Vec<Step>,
    /// The operation's own error, as `(code, message)`.
    pub error: Option<(String, String)>,
    pub messages: Vec<Message>,
}

/// A failed call: the outcome it ends the run with, and what the user needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    /// The service's error code (`InvalidAPIVersion`, `AADSTS7000215`, ...).
    pub code: String,
    /// The service's own message, or what went wrong when there is none.
    pub message: String,
    /// What to do next.
    pub hint: String,
    /// True when the call failed for a passing reason (retries used up, no connection): trying later may work.
    pub transient: bool,
}

impl ServiceError {
    /// An answer the program cannot use (exit 8).
    pub fn unusable(message: impl Into<String>, hint: impl Into<String>) -> ServiceError {
        ServiceError {
            outcome: Outcome::Error,
            http_status: None,
            code: String::new(),
            message: message.into(),
            hint: hint.into(),
            transient: false,
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(status) = self.http_status {
            write!(f, "HTTP {status}: ")?;
        }
        f.write_str(&self.message)?;
        if !self.code.is_empty() {
            write!(f, " ({})", self.code)?;
        }
        if !self.hint.is_empty() {
            write!(f, ". {}", self.hint)?;
        }
        Ok(())
    }
}

impl std::error::Error for ServiceError {}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Every call the program makes to the service. Implementations retry transient failures themselves
/// and keep credentials fresh; callers see only final answers.
pub trait Portal {
    /// Start publishing the offer (preview first; go-live comes after sign-off).
    fn publish(
        &self,
        notification_emails: &[String],
    ) -> impl Future<Output = ServiceResult<Started>>;
    /// Make a preview-ready offer live.
    fn go_live(&self) -> impl Future<Output = ServiceResult<Started>>;
    /// Cancel the offer's running operation.
    fn cancel(
        &self,
        notification_emails: &[String],
    ) -> impl Future<Output = ServiceResult<Started>>;
    /// The offer's status, with the steps of its latest operation.
    fn offer_status(&self) -> impl Future<Output = ServiceResult<OperationView>>;
    /// The offer's running operation, if there is one.
    fn running_operation(&self) -> impl Future<Output = ServiceResult<Option<Url>>>;
    /// Read one operation at the location the service gave.
    fn operation(&self, location: &Url) -> impl Future<Output = ServiceResult<OperationView>>;
}
