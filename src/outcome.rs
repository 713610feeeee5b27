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

/// The contract's output names (section 4), in the order they are written.
pub const OUTPUTS: [&str; 10] = [
    "outcome",
    "exit-code",
    "http-status",
    "operation-location",
    "operation-id",
    "operation-status",
    "failed-step",
    "error-code",
    "error-message",
    "elapsed-seconds",
];

/// One step of an operation, as shown in the summary table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepView {
    pub name: String,
    pub description: String,
    /// The service's own status word.
    pub status: String,
    pub progress: Option<u8>,
    pub estimate: String,
    /// How long this run saw the step in its latest status, where it saw the change.
    pub duration: Option<Duration>,
    /// Messages of level `error` or `warning`, as `(level, text)`.
    pub messages: Vec<(String, String)>,
}

/// Everything a run reports: the contract's outputs plus what the summary shows.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    /// Absolute URL of the operation, when one is known.
    pub operation_location: Option<String>,
    pub operation_id: String,
    pub operation_status: String,
    pub failed_step: String,
    pub error_code: String,
    pub error_message: String,
    /// What the user should do next, in one sentence; empty when nothing is needed.
    pub hint: String,
    pub elapsed: Duration,
    pub command: String,
    pub publisher_id: String,
    pub offer_id: String,
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
            operation_id: String::new(),
            operation_status: String::new(),
            failed_step: String::new(),
            error_code: String::new(),
            error_message: String::new(),
            hint: String::new(),
            elapsed: Duration::ZERO,
            command: String::new(),
            publisher_id: String::new(),
            offer_id: String::new(),
            steps: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn exit_code(&self) -> i32 {
        self.outcome.exit_code()
    }

    /// The contract's outputs in order, as `(kebab-case name, value)`; a value that does not apply is empty.
    pub fn outputs(&self) -> Vec<(&'static str, String)> {
        OUTPUTS
            .iter()
            .map(|&name| (name, self.output(name)))
            .collect()
    }

    fn output(&self, name: &str) -> String {
        match name {
            "outcome" => self.outcome.as_str().to_string(),
            "exit-code" => self.exit_code().to_string(),
            "http-status" => self.http_status.map(|s| s.to_string()).unwrap_or_default(),
            "operation-location" => self.operation_location.clone().unwrap_or_default(),
            "operation-id" => self.operation_id.clone(),
            "operation-status" => self.operation_status.clone(),
            "failed-step" => self.failed_step.clone(),
            "error-code" => self.error_code.clone(),
            "error-message" => self.error_message.clone(),
            "elapsed-seconds" => self.elapsed.as_secs().to_string(),
            _ => unreachable!("{name} is not in OUTPUTS"),
        }
    }

    /// The JSON result: the outputs under snake_case keys, numbers as numbers, absent numbers as null.
    pub fn to_json(&self) -> Value {
        let mut object = serde_json::Map::new();
        for (name, value) in self.outputs() {
            let key = name.replace('-', "_");
            let value = match name {
                "exit-code" => json!(self.exit_code()),
                "http-status" => json!(self.http_status),
                "elapsed-seconds" => json!(self.elapsed.as_secs()),
                _ => Value::String(value),
            };
            object.insert(key, value);
        }
        Value::Object(object)
    }

    /// The one line a person reads first: what happened and, on failure, what to do.
    pub fn headline(&self) -> String {
        let mut line = match self.outcome {
            Outcome::Accepted => "the request was accepted".to_string(),
            Outcome::Succeeded => "the operation completed".to_string(),
            Outcome::PreviewReady => "the preview is ready".to_string(),
            Outcome::Running => "the operation is still running".to_string(),
            Outcome::Canceled { requested: true } => "the operation was canceled".to_string(),
            Outcome::Canceled { requested: false } => {
                "the operation was canceled, but not by this run".to_string()
            }
            Outcome::Failed if !self.failed_step.is_empty() => format!(
                "the operation failed at step {}: {}",
                self.failed_step, self.error_message
            ),
            Outcome::Failed => format!("the operation failed: {}", self.error_message),
            _ => match self.http_status {
                Some(status) => format!("HTTP {status}: {}", self.error_message),
                None => self.error_message.clone(),
            },
        };
        if !self.error_code.is_empty() && self.exit_code() != 0 {
            line = format!("{line} ({})", self.error_code);
        }
        if !self.hint.is_empty() {
            line = format!("{}. {}", line.trim_end_matches('.'), self.hint);
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
        result.error_code = "BadRequest".into();
        result.error_message = "publish request: the argument is empty.".into();
        result.hint = "fix it".into();
        assert_eq!(
            result.headline(),
            "HTTP 400: publish request: the argument is empty. (BadRequest). fix it"
        );
        let mut failed = RunResult::new(Outcome::Failed);
        failed.http_status = Some(200);
        failed.failed_step = "displaycertify".into();
        failed.error_message = "logo too small.".into();
        assert_eq!(
            failed.headline(),
            "the operation failed at step displaycertify: logo too small."
        );
    }
}
