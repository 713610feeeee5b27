//! The outcome of a run and everything a pipeline reads back (contract sections 3 and 4).
//!
//! Every path through the program ends in one [`RunResult`]; the reporters only render it.

use std::time::Duration;

use serde_json::{json, Value};

/// How a run ended. The names and exit codes are fixed by the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Succeeded,
    PreviewReady,
    Running,
    /// `requested`: this run asked for the cancellation (exit 0); otherwise someone else did (exit 1).
    Canceled {
        requested: bool,
    },
    Failed,
    ConfigError,
    BadRequest,
    NotFound,
    InvalidOffer,
    Unauthorized,
    TimedOut,
    Error,
    /// The signal number that stopped the run.
    Interrupted(i32),
}

impl Outcome {
    /// The word written to the `outcome` output.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Succeeded => "succeeded",
            Outcome::PreviewReady => "preview-ready",
            Outcome::Running => "running",
            Outcome::Canceled { .. } => "canceled",
            Outcome::Failed => "failed",
            Outcome::ConfigError => "config-error",
            Outcome::BadRequest => "bad-request",
            Outcome::NotFound => "not-found",
            Outcome::InvalidOffer => "invalid-offer",
            Outcome::Unauthorized => "unauthorized",
            Outcome::TimedOut => "timed-out",
            Outcome::Error => "error",
            Outcome::Interrupted(_) => "interrupted",
        }
    }

    /// The process exit code for this outcome.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Accepted
            | Outcome::Succeeded
            | Outcome::PreviewReady
            | Outcome::Running
            | Outcome::Canceled { requested: true } => 0,
            Outcome::Failed | Outcome::Canceled { requested: false } => 1,
            Outcome::ConfigError => 2,
            Outcome::BadRequest => 3,
            Outcome::NotFound => 4,
            Outcome::InvalidOffer => 5,
            Outcome::Unauthorized => 6,
            Outcome::TimedOut => 7,
            Outcome::Error => 8,
            Outcome::Interrupted(signal) => 128 + signal,
        }
    }

    /// The outcome a portal answer's HTTP status maps to, for statuses that end a run.
    pub fn for_http_status(status: u16) -> Outcome {
        match status {
            400 => Outcome::BadRequest,
            401 | 403 => Outcome::Unauthorized,
            404 => Outcome::NotFound,
            422 => Outcome::InvalidOffer,
            _ => Outcome::Error,
        }
    }
}

/// One output of the contract (section 4). Its spellings live here and nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Outcome,
    ExitCode,
    HttpStatus,
    OperationLocation,
    OperationId,
    OperationStatus,
    FailedStep,
    ErrorCode,
    ErrorMessage,
    ElapsedSeconds,
    ProductId,
    SubmissionId,
}

impl Output {
    /// Every output, in the order they are written.
    pub const ALL: [Output; 12] = [
        Output::Outcome,
        Output::ExitCode,
        Output::HttpStatus,
        Output::OperationLocation,
        Output::OperationId,
        Output::OperationStatus,
        Output::FailedStep,
        Output::ErrorCode,
        Output::ErrorMessage,
        Output::ElapsedSeconds,
        Output::ProductId,
        Output::SubmissionId,
    ];

    /// The contract's name, as GitHub reads it: `operation-location`.
    pub fn name(self) -> &'static str {
        self.spellings().0
    }

    /// The JSON result's key and the Azure DevOps variable: `operation_location`.
    pub fn snake(self) -> &'static str {
        self.spellings().1
    }

    /// The environment variable a GitLab job passes on: `MARKETPLACE_OPERATION_LOCATION`.
    pub fn variable(self) -> &'static str {
        self.spellings().2
    }

    fn spellings(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Output::Outcome => ("outcome", "outcome", "MARKETPLACE_OUTCOME"),
            Output::ExitCode => ("exit-code", "exit_code", "MARKETPLACE_EXIT_CODE"),
            Output::HttpStatus => ("http-status", "http_status", "MARKETPLACE_HTTP_STATUS"),
            Output::OperationLocation => (
                "operation-location",
                "operation_location",
                "MARKETPLACE_OPERATION_LOCATION",
            ),
            Output::OperationId => ("operation-id", "operation_id", "MARKETPLACE_OPERATION_ID"),
            Output::OperationStatus => (
                "operation-status",
                "operation_status",
                "MARKETPLACE_OPERATION_STATUS",
            ),
            Output::FailedStep => ("failed-step", "failed_step", "MARKETPLACE_FAILED_STEP"),
            Output::ErrorCode => ("error-code", "error_code", "MARKETPLACE_ERROR_CODE"),
            Output::ErrorMessage => (
                "error-message",
                "error_message",
                "MARKETPLACE_ERROR_MESSAGE",
            ),
            Output::ElapsedSeconds => (
                "elapsed-seconds",
                "elapsed_seconds",
                "MARKETPLACE_ELAPSED_SECONDS",
            ),
            Output::ProductId => ("product-id", "product_id", "MARKETPLACE_PRODUCT_ID"),
            Output::SubmissionId => (
                "submission-id",
                "submission_id",
                "MARKETPLACE_SUBMISSION_ID",
            ),
        }
    }
}

/// How important a message from the service is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Information,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Information => "information",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    /// True for the levels a user should see as an annotation.
    pub fn is_notable(self) -> bool {
        self != Severity::Information
    }
}

/// One step of an operation, as shown in the summary table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepView {
    pub name: String,
    pub description: Option<String>,
    /// The service's own status word.
    pub status: String,
    pub progress: Option<u8>,
    pub estimate: Option<String>,
    /// How long this run saw the step in its latest status, where it saw the change.
    pub duration: Option<Duration>,
    /// Messages of level error or warning.
    pub messages: Vec<(Severity, String)>,
}

/// Everything a run reports: the contract's outputs plus what the summary shows. `None` is "does not
/// apply" and is written as an empty output (`null` for the JSON numbers).
#[derive(Debug, Clone)]
pub struct RunResult {
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    /// Absolute URL of the operation, when one is known.
    pub operation_location: Option<String>,
    pub operation_id: Option<String>,
    pub operation_status: Option<String>,
    pub failed_step: Option<String>,
    pub error_code: Option<String>,
    /// The service's own words, or what went wrong where no service spoke.
    pub error_message: Option<String>,
    /// What failed (`publish request`): the annotation's title and the log say it; the output does not.
    pub error_context: Option<String>,
    /// What the user should do next, in one sentence.
    pub hint: Option<String>,
    pub elapsed: Duration,
    pub command: Option<String>,
    pub publisher_id: Option<String>,
    pub offer_id: Option<String>,
    /// The Product Ingestion API's durable id of the offer, `product/<guid>`.
    pub product_id: Option<String>,
    /// The Product Ingestion submission, `submission/<guid>/<n>`.
    pub submission_id: Option<String>,
    pub steps: Vec<StepView>,
    /// Things worth saying in the summary (e.g. an already running operation was followed).
    pub notes: Vec<String>,
}

impl RunResult {
    /// A result with only the outcome set; callers fill in what they know.
    pub fn new(outcome: Outcome) -> RunResult {
        RunResult {
            outcome,
            http_status: None,
            operation_location: None,
            operation_id: None,
            operation_status: None,
            failed_step: None,
            error_code: None,
            error_message: None,
            error_context: None,
            hint: None,
            elapsed: Duration::ZERO,
            command: None,
            publisher_id: None,
            offer_id: None,
            product_id: None,
            submission_id: None,
            steps: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn exit_code(&self) -> i32 {
        self.outcome.exit_code()
    }

    /// The contract's outputs in order, each as written to a CI: empty where it does not apply.
    pub fn outputs(&self) -> Vec<(Output, String)> {
        Output::ALL
            .iter()
            .map(|&output| {
                let text = match self.value(output) {
                    Value::Null => String::new(),
                    Value::String(text) => text,
                    number => number.to_string(),
                };
                (output, text)
            })
            .collect()
    }

    /// One output as JSON: numbers as numbers, an absent number as `null`, an absent text as `""`.
    fn value(&self, output: Output) -> Value {
        let text = |value: &Option<String>| Value::String(value.clone().unwrap_or_default());
        match output {
            Output::Outcome => json!(self.outcome.as_str()),
            Output::ExitCode => json!(self.exit_code()),
            Output::HttpStatus => json!(self.http_status),
            Output::OperationLocation => text(&self.operation_location),
            Output::OperationId => text(&self.operation_id),
            Output::OperationStatus => text(&self.operation_status),
            Output::FailedStep => text(&self.failed_step),
            Output::ErrorCode => text(&self.error_code),
            Output::ErrorMessage => text(&self.error_message),
            Output::ElapsedSeconds => json!(self.elapsed.as_secs()),
            Output::ProductId => text(&self.product_id),
            Output::SubmissionId => text(&self.submission_id),
        }
    }

    /// The JSON result: the outputs under snake_case keys.
    pub fn to_json(&self) -> Value {
        Value::Object(
            Output::ALL
                .iter()
                .map(|&output| (output.snake().to_string(), self.value(output)))
                .collect(),
        )
    }

    /// The one line a person reads first: what happened and, on failure, what to do.
    pub fn headline(&self) -> String {
        let message = self.error_message.as_deref().unwrap_or_default();
        let mut line = match self.outcome {
            Outcome::Accepted => "the request was accepted".to_string(),
            Outcome::Succeeded => "the operation completed".to_string(),
            Outcome::PreviewReady => "the preview is ready".to_string(),
            Outcome::Running => "the operation is still running".to_string(),
            Outcome::Canceled { requested: true } => "the operation was canceled".to_string(),
            Outcome::Canceled { requested: false } => {
                "the operation was canceled, but not by this run".to_string()
            }
            Outcome::Failed => match &self.failed_step {
                Some(step) => format!("the operation failed at step {step}: {message}"),
                None => format!("the operation failed: {message}"),
            },
            _ => {
                let message = match &self.error_context {
                    Some(context) => format!("{context}: {message}"),
                    None => message.to_string(),
                };
                match self.http_status {
                    Some(status) => format!("HTTP {status}: {message}"),
                    None => message,
                }
            }
        };
        if let Some(code) = self.error_code.as_deref().filter(|_| self.exit_code() != 0) {
            line = format!("{line} ({code})");
        }
        if let Some(hint) = &self.hint {
            line = format!("{}. {hint}", line.trim_end_matches('.'));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_contract() {
        let table = [
            (Outcome::Accepted, 0),
            (Outcome::Succeeded, 0),
            (Outcome::PreviewReady, 0),
            (Outcome::Running, 0),
            (Outcome::Canceled { requested: true }, 0),
            (Outcome::Canceled { requested: false }, 1),
            (Outcome::Failed, 1),
            (Outcome::ConfigError, 2),
            (Outcome::BadRequest, 3),
            (Outcome::NotFound, 4),
            (Outcome::InvalidOffer, 5),
            (Outcome::Unauthorized, 6),
            (Outcome::TimedOut, 7),
            (Outcome::Error, 8),
            (Outcome::Interrupted(2), 130),
            (Outcome::Interrupted(15), 143),
        ];
        for (outcome, code) in table {
            assert_eq!(outcome.exit_code(), code, "{outcome:?}");
        }
    }

    #[test]
    fn json_has_numbers_and_nulls_where_the_contract_says() {
        let mut result = RunResult::new(Outcome::Error);
        result.elapsed = Duration::from_secs(3);
        let json = result.to_json();
        assert_eq!(json["exit_code"], 8);
        assert!(json["http_status"].is_null());
        assert_eq!(json["operation_location"], "");
        assert_eq!(json["outcome"], "error");
        assert_eq!(json["elapsed_seconds"], 3);
        result.http_status = Some(429);
        assert_eq!(result.to_json()["http_status"], 429);
    }

    #[test]
    fn headlines_name_the_status_the_service_words_and_the_next_step() {
        let mut result = RunResult::new(Outcome::BadRequest);
        result.http_status = Some(400);
        result.error_code = Some("BadRequest".into());
        result.error_context = Some("publish request".into());
        result.error_message = Some("the argument is empty.".into());
        result.hint = Some("fix it".into());
        assert_eq!(
            result.headline(),
            "HTTP 400: publish request: the argument is empty. (BadRequest). fix it"
        );
        let mut failed = RunResult::new(Outcome::Failed);
        failed.http_status = Some(200);
        failed.failed_step = Some("displaycertify".into());
        failed.error_message = Some("logo too small.".into());
        assert_eq!(
            failed.headline(),
            "the operation failed at step displaycertify: logo too small."
        );
    }
}
