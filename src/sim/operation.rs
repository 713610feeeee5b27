//! An operation's walk through its steps, and how it reads at any moment: which step it is at, how
//! that step stands, and the words the service would use. Pure functions of the plan, the operation's
//! poll count and the clock; the portal owns the operations and answers with these views.

use std::time::{Instant, SystemTime};

use serde_json::{json, Value};

use super::plan::{OperationPlan, StepIssue};
use super::stamp::timestamp;

/// A step as the service describes it.
pub(super) struct StepDef {
    name: &'static str,
    description: &'static str,
    time_frame: &'static str,
}

/// The step where a publish waits for the publisher's go-live.
pub(super) const SIGNOFF: &str = "publisher-signoff";

const PUBLISH_STEPS: &[StepDef] = &[
    step("displaydummycertify", "Validate Pre-Requisites", "< 15 min"),
    step("displaycertify", "Certification", "< 5 days"),
    step("displayprovision", "Provisioning", "< 1 day"),
    step("displaypackage", "Packaging", "< 1 hour"),
    step(SIGNOFF, "Publisher signoff", "Waiting for publisher"),
    step("live", "Live", "< 5 days"),
];
const GO_LIVE_STEPS: &[StepDef] = &[step("live", "Live", "< 5 days")];
const CANCEL_STEPS: &[StepDef] = &[step("cancel", "Cancel the operation", "< 15 min")];

const fn step(name: &'static str, description: &'static str, time_frame: &'static str) -> StepDef {
    StepDef {
        name,
        description,
        time_frame,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Publish,
    GoLive,
    Cancel,
}

impl Kind {
    pub(super) fn steps(self) -> &'static [StepDef] {
        match self {
            Kind::Publish => PUBLISH_STEPS,
            Kind::GoLive => GO_LIVE_STEPS,
            Kind::Cancel => CANCEL_STEPS,
        }
    }

    pub(super) fn index_of(self, name: &str) -> Option<usize> {
        self.steps().iter().position(|s| s.name == name)
    }

    pub(super) fn submission_type(self) -> &'static str {
        match self {
            Kind::Publish => "publish",
            Kind::GoLive => "goLive",
            Kind::Cancel => "cancel",
        }
    }
}

/// One operation the portal made: publish, go-live or cancel.
pub(super) struct Operation {
    pub(super) id: String,
    pub(super) kind: Kind,
    /// The location handed out, path and query.
    pub(super) location: String,
    pub(super) created: SystemTime,
    pub(super) started: Instant,
    /// Steps already behind it when it was made (an offer that starts at sign-off).
    pub(super) walked: usize,
    pub(super) polls: u32,
    /// It stops at publisher sign-off until a go-live.
    pub(super) await_signoff: bool,
    /// The step it was canceled at.
    pub(super) canceled_at: Option<usize>,
}

/// An operation at one moment: the step it is at, how that step stands, and the operation's status.
pub(super) struct View {
    pub(super) kind: Kind,
    /// Steps before it are completed, steps after it not started; past the end when all are done.
    pub(super) current: usize,
    pub(super) step_status: String,
    pub(super) messages: Vec<(&'static str, String)>,
    pub(super) status: String,
}

impl View {
    pub(super) fn running(&self) -> bool {
        normalize(&self.status) == "running"
    }

    pub(super) fn waiting_for_signoff(&self) -> bool {
        self.step_status == WAITING_FOR_REVIEW
    }
}

const WAITING_FOR_REVIEW: &str = "waitingForPublisherReview";

impl Operation {
    pub(super) fn path(&self) -> &str {
        self.location.split('?').next().unwrap_or_default()
    }

    /// How many steps the walk has covered: by status reads, or by the clock in time mode.
    pub(super) fn position(&self, plan: &OperationPlan, now: Instant) -> usize {
        let covered = match plan.step_ms {
            Some(ms) => now.duration_since(self.started).as_millis() / u128::from(ms.max(1)),
            None => u128::from(self.polls / plan.polls_per_step.max(1)),
        };
        self.walked + usize::try_from(covered).unwrap_or(usize::MAX)
    }

    pub(super) fn view(&self, plan: &OperationPlan, now: Instant) -> View {
        let steps = self.kind.steps();
        let at = |current, step_status: &str, messages, status: &str| View {
            kind: self.kind,
            current,
            step_status: step_status.to_string(),
            messages,
            status: status.to_string(),
        };
        let info = |text: String| vec![("information", text)];
        if let Some(current) = self.canceled_at {
            let note = vec![("warning", "The operation was canceled.".to_string())];
            return at(current, "canceled", note, "canceled");
        }
        // The walk stops at the first of: a failing step, a blocked step, sign-off awaiting go-live.
        let issue = |issue: &Option<StepIssue>, step_status, status| -> Option<View> {
            let issue = issue.as_ref()?;
            let errors = issue.messages.iter().map(|m| ("error", m.clone()));
            let index = self.kind.index_of(&issue.step)?;
            Some(at(index, step_status, errors.collect(), status))
        };
        let preview = "Your offer preview is ready. Review it, then go live.";
        let signoff = (self.kind.index_of(SIGNOFF))
            .filter(|_| self.await_signoff)
            .map(|index| at(index, WAITING_FOR_REVIEW, info(preview.into()), "running"));
        let position = self.position(plan, now);
        let stop = [
            issue(&plan.fail_at, "failed", "failed"),
            issue(&plan.block_at, "blocked", "running")
                .filter(|_| plan.unblock_after.is_none_or(|reads| self.polls < reads)),
            signoff,
        ]
        .into_iter()
        .flatten()
        .filter(|stop| position >= stop.current)
        .min_by_key(|stop| stop.current);
        if let Some(stop) = stop {
            return stop;
        }
        if let Some(step) = steps.get(position) {
            let note = format!("{} is in progress.", step.description);
            return at(position, "inProgress", info(note), "running");
        }
        let end = &plan.final_status;
        if is_success(end) {
            return at(steps.len(), "completed", Vec::new(), end);
        }
        let note = vec![("error", format!("The operation ended {end}."))];
        at(steps.len() - 1, end, note, end)
    }
}

pub(super) fn steps_json(view: &View) -> Value {
    let now = timestamp(SystemTime::now());
    let steps = view.kind.steps().iter().enumerate().map(|(i, step)| {
        let (status, messages, progress) = match i.cmp(&view.current) {
            std::cmp::Ordering::Less => {
                let done = format!("{} completed.", step.description);
                ("completed", vec![("information", done)], 100)
            }
            std::cmp::Ordering::Equal => (view.step_status.as_str(), view.messages.clone(), 50),
            std::cmp::Ordering::Greater => ("notStarted", Vec::new(), 0),
        };
        let messages: Vec<Value> = messages
            .into_iter()
            .map(|(level, text)| json!({"messageHtml": text, "level": level, "timestamp": now}))
            .collect();
        json!({
            "id": format!("{}-{}", i + 1, step.name),
            "stepName": step.name,
            "description": step.description,
            "status": status,
            "estimatedTimeFrame": step.time_frame,
            "progressPercentage": progress,
            "messages": messages,
        })
    });
    Value::Array(steps.collect())
}

/// Status words compared as the contract says: without regard to case, `-`, `_` or spaces.
pub(super) fn normalize(word: &str) -> String {
    word.chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

pub(super) fn is_success(word: &str) -> bool {
    matches!(
        normalize(word).as_str(),
        "completed" | "complete" | "succeeded"
    )
}

/// The offer status word for a finished operation's status.
pub(super) fn offer_word(status: &str) -> String {
    match normalize(status).as_str() {
        "failed" => "Failed".into(),
        "canceled" | "cancelled" => "Canceled".into(),
        _ if is_success(status) => "Succeeded".into(),
        _ => status.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn words_compare_loosely() {
        assert_eq!(
            normalize("Waiting_For-Publisher Review"),
            "waitingforpublisherreview"
        );
        assert!(is_success("Succeeded") && is_success("complete"));
        assert_eq!(offer_word("cancelled"), "Canceled");
    }
}
