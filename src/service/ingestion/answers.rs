//! Reading the Product Ingestion API's answers: the submissions of a product (for the guard and the
//! end state) and a configure job's status with its error tree.

use serde_json::Value;

use super::super::{key, text, Failure, Message, Phase, Severity, Snapshot, Step, StepState};

/// One entry of `GET {B}/submission/{guid}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Submission {
    pub(super) id: String,
    /// `draft`, `preview` or `live`, as compared.
    pub(super) target: String,
    pub(super) status: Option<String>,
    pub(super) result: Option<String>,
}

impl Submission {
    pub(super) fn parse(entry: &Value) -> Option<Submission> {
        Some(Submission {
            id: text(&entry["id"])?,
            target: key(&text(&entry["target"]["targetType"])?),
            status: text(&entry["status"]),
            result: text(&entry["result"]),
        })
    }

    pub(super) fn in_progress(&self) -> bool {
        self.status
            .as_deref()
            .is_some_and(|s| matches!(key(s).as_str(), "notstarted" | "running"))
    }

    /// `completed` with this result.
    pub(super) fn ended(&self, result: &str) -> bool {
        self.status.as_deref().map(key).as_deref() == Some("completed")
            && self.result.as_deref().map(key).as_deref() == Some(result)
    }

    /// The word shown: the result once completed, else the status.
    pub(super) fn word(&self) -> String {
        match self.status.as_deref().map(key).as_deref() {
            Some("completed") => self.result.clone(),
            _ => self.status.clone(),
        }
        .unwrap_or_else(|| "unknown".to_string())
    }

    pub(super) fn step(&self) -> Step {
        let state = if self.in_progress() {
            StepState::Running
        } else if self.ended("succeeded") {
            StepState::Done
        } else if self.status.is_some() {
            StepState::Failed
        } else {
            StepState::NotStarted
        };
        Step {
            name: self.target.clone(),
            description: Some(self.id.clone()),
            state,
            word: self.word(),
            progress: None,
            estimate: None,
            messages: Vec::new(),
        }
    }
}

/// The submissions of one product.
pub(super) struct Submissions(pub(super) Vec<Submission>);

impl Submissions {
    pub(super) fn of(&self, target: &str) -> Option<&Submission> {
        self.0.iter().find(|s| s.target == target)
    }

    /// A preview or live submission still in progress.
    pub(super) fn busy(&self) -> Option<&Submission> {
        ["preview", "live"]
            .into_iter()
            .filter_map(|t| self.of(t))
            .find(|s| s.in_progress())
    }

    /// Where the offer stands; `None` when it has only a draft (never published). A ready preview
    /// counts as succeeded unless `stop_at_preview`, as the commands that go on to live never stop there.
    pub(super) fn snapshot(&self, stop_at_preview: bool) -> Option<Snapshot> {
        let (preview, live) = (self.of("preview"), self.of("live"));
        // The latest: what is in progress, else a preview not yet live, else the live one.
        let latest = self
            .busy()
            .or(preview.filter(|p| live.is_none_or(|l| l.id != p.id)))
            .or(live)?;
        let (phase, word_known) = if latest.in_progress() {
            (Phase::Running, true)
        } else if latest.ended("succeeded") {
            match latest.target.as_str() {
                "preview" if stop_at_preview => (Phase::PreviewReady, true),
                _ => (Phase::Succeeded, true),
            }
        } else if latest.ended("failed") {
            (Phase::Failed, true)
        } else {
            (Phase::Running, false)
        };
        let failure = (phase == Phase::Failed).then(|| Failure {
            step: Some(latest.target.clone()),
            code: None,
            message: Some(format!(
                "the {} submission {} failed; Partner Center shows why",
                latest.target, latest.id
            )),
        });
        Some(Snapshot {
            id: None,
            phase,
            word: latest.word(),
            word_known,
            steps: [preview, live]
                .into_iter()
                .flatten()
                .map(Submission::step)
                .collect(),
            messages: Vec::new(),
            failure,
            submission: Some(latest.id.clone()),
        })
    }
}

/// Read a configure job's status answer (with or without `$schema`, `jobId` or `jobID`).
pub(super) fn parse_job(json: &Value) -> Result<Snapshot, String> {
    if !json.is_object() {
        return Err("the job status is not a JSON object".to_string());
    }
    let status = text(&json["jobStatus"]).ok_or("the job status has no jobStatus")?;
    let result = text(&json["jobResult"]);
    let (phase, word_known, word) = match key(&status).as_str() {
        "notstarted" | "running" => (Phase::Running, true, status.clone()),
        "completed" => {
            let result = result.unwrap_or_else(|| "unknown".to_string());
            let phase = match key(&result).as_str() {
                "succeeded" => Some(Phase::Succeeded),
                "failed" => Some(Phase::Failed),
                "cancelled" | "canceled" => Some(Phase::Canceled),
                _ => None,
            };
            (phase.unwrap_or(Phase::Running), phase.is_some(), result)
        }
        _ => (Phase::Running, false, status.clone()),
    };
    let errors = match &json["errors"] {
        Value::Array(errors) => errors.as_slice(),
        _ => &[],
    };
    let mut found = Vec::new();
    for error in errors {
        walk(error, 0, &mut found);
    }
    let messages = found
        .iter()
        .map(|(_, code, message)| Message {
            level: Severity::Error,
            text: match code {
                Some(code) => format!("{code}: {message}"),
                None => message.clone(),
            },
        })
        .collect();
    let failure = matches!(phase, Phase::Failed | Phase::Canceled).then(|| {
        // The deepest detail with a message; the first such in document order.
        let deepest = found.iter().fold(
            None,
            |best: Option<&(usize, Option<String>, String)>, e| match best {
                Some(b) if b.0 >= e.0 => Some(b),
                _ => Some(e),
            },
        );
        Failure {
            step: failed_step(errors),
            code: deepest.and_then(|d| d.1.clone()),
            message: deepest.map(|d| d.2.clone()),
        }
    });
    let id = text(&json["jobId"]).or_else(|| text(&json["jobID"]));
    // The job as a step of its own, so that the log and the summary show it move.
    let job = Step {
        name: "job".to_string(),
        description: id.clone(),
        state: match phase {
            Phase::Running if key(&status) == "notstarted" => StepState::NotStarted,
            Phase::Running => StepState::Running,
            Phase::Succeeded | Phase::PreviewReady => StepState::Done,
            Phase::Failed | Phase::Canceled => StepState::Failed,
        },
        word: word.clone(),
        progress: None,
        estimate: None,
        messages: Vec::new(),
    };
    Ok(Snapshot {
        id,
        phase,
        word,
        word_known,
        steps: vec![job],
        messages,
        failure,
        submission: None,
    })
}

/// Every detail of an error tree that has a message, depth first in document order, with its depth.
pub(super) fn walk(error: &Value, depth: usize, found: &mut Vec<(usize, Option<String>, String)>) {
    if let Some(message) = text(&error["message"]) {
        found.push((depth, text(&error["code"]), message));
    }
    if let Value::Array(details) = &error["details"] {
        for detail in details {
            walk(detail, depth + 1, found);
        }
    }
}

/// `certification` when the tree speaks of it anywhere, else the first error's `resourceId`.
pub(super) fn failed_step(errors: &[Value]) -> Option<String> {
    fn mentions(error: &Value) -> bool {
        let said = |field: &str| {
            error[field]
                .as_str()
                .is_some_and(|t| t.to_ascii_lowercase().contains("certification"))
        };
        said("code")
            || said("message")
            || error["details"]
                .as_array()
                .is_some_and(|details| details.iter().any(mentions))
    }
    if errors.iter().any(mentions) {
        return Some("certification".to_string());
    }
    match errors.first().map(|e| &e["resourceId"]) {
        Some(Value::String(id)) if !id.trim().is_empty() => Some(id.clone()),
        Some(object @ Value::Object(_)) => Some(object.to_string()),
        _ => None,
    }
}
