//! Following an operation until it ends: status requests spaced by exponential backoff with jitter, a
//! log line when a step changes, and the outcome the final status means.
//!
//! The overall deadline and signals are not handled here: the caller races [`Follower::follow`] against
//! them and reads what was seen so far from the shared [`Progress`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backoff::backoff::Backoff;
use backoff::ExponentialBackoff;
use url::Url;

use crate::outcome::{Outcome, StepView};
use crate::report::Reporter;
use crate::service::{OperationView, Portal, ServiceError, Status};

/// How often the operation is read: from `initial`, growing to at most `max`.
#[derive(Debug, Clone, Copy)]
pub struct PollPolicy {
    pub initial: Duration,
    pub max: Duration,
}

impl PollPolicy {
    /// Jitter spreads many pipelines' requests while the wait grows; once the wait reaches `max` it
    /// stays exactly there, so that `max` is both the longest wait and the request rate's ceiling.
    ///
    /// The growth factor is 4 so that the defaults (15 s, 60 s) reach the cap after one wait: with no
    /// wait longer than 60 s, an hour holds at most 60 reads only if the waits after the first fall
    /// short of 60 s by less than 15 s in all, and a gentler ramp (1.5x: 15, 22, 34, 51 s) spends 73 s.
    fn waits(self) -> impl FnMut() -> Duration {
        let mut backoff = ExponentialBackoff {
            current_interval: self.initial,
            initial_interval: self.initial,
            randomization_factor: 0.2,
            multiplier: 4.0,
            max_interval: self.max,
            max_elapsed_time: None,
            ..ExponentialBackoff::default()
        };
        move || {
            if backoff.current_interval >= self.max {
                return self.max;
            }
            backoff
                .next_backoff()
                .unwrap_or(self.max)
                .clamp(self.initial, self.max)
        }
    }

    /// How many status reads a follow makes within `span`, jitter drawn at random.
    #[cfg(test)]
    pub(crate) fn reads_within(self, span: Duration) -> u64 {
        let mut next = self.waits();
        let (mut at, mut reads) = (next(), 0);
        while at <= span {
            reads += 1;
            at += next();
        }
        reads
    }
}

/// When a step was first seen running and first seen finished, for the summary's durations.
#[derive(Debug, Clone, Default)]
struct StepClock {
    status_word: String,
    progress: Option<u8>,
    started: Option<Instant>,
    ended: Option<Instant>,
}

/// What has been seen of the operation so far; shared with the caller, who reports it however the
/// run ends (including a timeout or a signal).
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub location: Option<Url>,
    pub last: Option<OperationView>,
    pub status_requests: u32,
    clocks: BTreeMap<String, StepClock>,
    warned: Vec<String>,
}

impl Progress {
    /// The steps of the latest answer, with the durations this run saw.
    pub fn step_views(&self) -> Vec<StepView> {
        let Some(view) = &self.last else {
            return Vec::new();
        };
        let now = Instant::now();
        view.steps
            .iter()
            .map(|step| {
                let clock = self.clocks.get(&step.name);
                let duration = clock.and_then(|c| {
                    c.started
                        .map(|start| c.ended.unwrap_or(now).saturating_duration_since(start))
                });
                StepView {
                    name: step.name.clone(),
                    description: step.description.clone(),
                    status: step.status_word.clone(),
                    progress: step.progress,
                    estimate: step.estimate.clone(),
                    duration,
                    messages: step
                        .messages
                        .iter()
                        .filter(|m| m.level == "error" || m.level == "warning")
                        .map(|m| (m.level.clone(), m.text.clone()))
                        .collect(),
                }
            })
            .collect()
    }

    /// Record an answer; returns the log lines for steps that changed since the last one.
    fn record(&mut self, view: &OperationView) -> Vec<String> {
        let now = Instant::now();
        let mut changes = Vec::new();
        for step in &view.steps {
            let clock = self.clocks.entry(step.name.clone()).or_default();
            if clock.status_word == step.status_word && clock.progress == step.progress {
                continue;
            }
            let first_sight = clock.status_word.is_empty();
            let done = step.status.is_final() || step.status == Status::WaitingForReview;
            // A duration is only shown for what this run saw start; a step already done when first
            // seen has none.
            if clock.started.is_none()
                && step.status != Status::NotStarted
                && !(first_sight && done)
            {
                clock.started = Some(now);
            }
            if clock.started.is_some() && clock.ended.is_none() && done {
                clock.ended = Some(now);
            }
            clock.status_word = step.status_word.clone();
            clock.progress = step.progress;
            if first_sight && step.status == Status::NotStarted {
                continue;
            }
            let mut line = format!("step {}", step.name);
            if !step.description.is_empty() {
                line.push_str(&format!(" ({})", step.description));
            }
            line.push_str(&format!(": {}", step.status_word));
            if let Some(p) = step.progress {
                line.push_str(&format!(", {p}%"));
            }
            if !step.estimate.is_empty() && !step.status.is_final() {
                line.push_str(&format!(", the service expects {}", step.estimate));
            }
            changes.push(line);
        }
        self.last = Some(view.clone());
        changes
    }

    /// Warnings not shown yet: blocked steps and messages of level error or warning.
    fn new_warnings(&mut self, view: &OperationView) -> Vec<(String, String)> {
        let mut found = Vec::new();
        if view.status == Status::Unknown {
            found.push((
                "unknown status".to_string(),
                format!(
                    "the service reported the status '{}', which this version does not know; \
                     following on until it ends or the timeout runs out",
                    view.status_word
                ),
            ));
        }
        for step in &view.steps {
            if step.status == Status::Blocked {
                found.push((
                    format!("step {} is blocked", step.name),
                    step.description.clone(),
                ));
            }
            for m in step
                .messages
                .iter()
                .filter(|m| m.level == "error" || m.level == "warning")
            {
                found.push((format!("step {}: {}", step.name, m.level), m.text.clone()));
            }
        }
        found.retain(|(title, text)| {
            let key = format!("{title}\n{text}");
            if self.warned.contains(&key) {
                return false;
            }
            self.warned.push(key);
            true
        });
        found
    }
}

/// What is followed: one operation, or the offer's status when no operation is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Operation(Url),
    Offer,
}

/// How a followed operation ended.
#[derive(Debug, Clone)]
pub struct Ending {
    pub outcome: Outcome,
    pub view: OperationView,
}

/// Follows one operation of a portal.
pub struct Follower<'a, P: Portal> {
    portal: &'a P,
    reporter: Reporter,
    policy: PollPolicy,
    progress: Arc<Mutex<Progress>>,
}

/// Consecutive status requests that may fail for a passing reason (each after its own retries)
/// before the follower gives up.
const TOLERATED_FAILED_POLLS: u32 = 3;

impl<'a, P: Portal> Follower<'a, P> {
    pub fn new(
        portal: &'a P,
        reporter: Reporter,
        policy: PollPolicy,
        progress: Arc<Mutex<Progress>>,
    ) -> Follower<'a, P> {
        Follower {
            portal,
            reporter,
            policy,
            progress,
        }
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remember the operation as soon as it is known, so that every ending can report where it is.
    pub fn track(&self, target: &Target) {
        if let Target::Operation(location) = target {
            self.progress().location = Some(location.clone());
        }
    }

    /// Read the target once and record what it shows.
    pub async fn read(&self, target: &Target) -> Result<OperationView, ServiceError> {
        self.track(target);
        let view = match target {
            Target::Operation(location) => self.portal.operation(location).await?,
            Target::Offer => self.portal.offer_status().await?,
        };
        self.observe(&view);
        Ok(view)
    }

    /// Record an answer, logging step changes and warnings.
    fn observe(&self, view: &OperationView) {
        let (changes, warnings) = {
            let mut progress = self.progress();
            progress.status_requests += 1;
            (progress.record(view), progress.new_warnings(view))
        };
        for line in changes {
            self.reporter.info(&line);
        }
        for (title, text) in warnings {
            self.reporter.warning(&title, &text);
        }
    }

    /// Poll `target` until the operation ends, or reaches publisher sign-off when `stop_at_preview`.
    /// `cancel_requested` says whether this run asked for a cancellation (a canceled end is then a success).
    pub async fn follow(
        &self,
        target: &Target,
        stop_at_preview: bool,
        cancel_requested: bool,
    ) -> Result<Ending, ServiceError> {
        let mut next_wait = self.policy.waits();
        let mut failed_polls = 0;
        loop {
            tokio::time::sleep(next_wait()).await;
            let view = match self.read(target).await {
                Ok(view) => view,
                Err(e) if e.transient && failed_polls + 1 < TOLERATED_FAILED_POLLS => {
                    failed_polls += 1;
                    self.reporter.warning(
                        "status request failed",
                        &format!("{e}; still following the operation"),
                    );
                    continue;
                }
                Err(e) => return Err(e),
            };
            failed_polls = 0;
            if let Some(outcome) = conclude(&view, stop_at_preview, cancel_requested) {
                return Ok(Ending { outcome, view });
            }
        }
    }
}

/// The outcome an answer means, or `None` while the operation still runs.
pub fn conclude(
    view: &OperationView,
    stop_at_preview: bool,
    cancel_requested: bool,
) -> Option<Outcome> {
    match view.status {
        Status::Succeeded => Some(Outcome::Succeeded),
        Status::Failed => Some(Outcome::Failed),
        Status::Canceled => Some(Outcome::Canceled {
            requested: cancel_requested,
        }),
        _ if stop_at_preview && at_signoff(view) => Some(Outcome::PreviewReady),
        _ => None,
    }
}

/// True when the operation waits for the publisher's sign-off: preview is up, go-live is next.
fn at_signoff(view: &OperationView) -> bool {
    view.status == Status::WaitingForReview
        || view
            .steps
            .iter()
            .any(|s| s.status == Status::WaitingForReview)
}

/// The step that failed and the service's words for why: the operation's error, else the failed
/// step's messages of level error.
pub fn failure_details(view: &OperationView) -> (String, String, String) {
    let failed = view
        .steps
        .iter()
        .find(|s| s.status == Status::Failed)
        .or_else(|| view.steps.iter().find(|s| s.status == Status::Blocked));
    let failed_step = failed.map(|s| s.name.clone()).unwrap_or_default();
    let step_errors: Vec<String> = failed
        .into_iter()
        .flat_map(|s| s.messages.iter())
        .chain(view.messages.iter())
        .filter(|m| m.level == "error")
        .map(|m| m.text.clone())
        .collect();
    let (code, mut message) = view.error.clone().unwrap_or_default();
    if !step_errors.is_empty() {
        if !message.is_empty() {
            message.push_str("; ");
        }
        message.push_str(&step_errors.join("; "));
    }
    (failed_step, code, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{Message, Step};

    fn step(name: &str, status: &str) -> Step {
        Step {
            name: name.into(),
            description: String::new(),
            status: Status::from_word(status),
            status_word: status.into(),
            progress: None,
            estimate: String::new(),
            messages: Vec::new(),
        }
    }

    fn view(status: &str, steps: Vec<Step>) -> OperationView {
        OperationView {
            id: "op".into(),
            status: Status::from_word(status),
            status_word: status.into(),
            steps,
            error: None,
            messages: Vec::new(),
        }
    }

    #[test]
    fn outcomes_from_status() {
        assert_eq!(
            conclude(&view("completed", vec![]), true, false),
            Some(Outcome::Succeeded)
        );
        assert_eq!(
            conclude(&view("Failed", vec![]), true, false),
            Some(Outcome::Failed)
        );
        assert_eq!(
            conclude(&view("cancelled", vec![]), true, true),
            Some(Outcome::Canceled { requested: true })
        );
        assert_eq!(
            conclude(&view("canceled", vec![]), true, false),
            Some(Outcome::Canceled { requested: false })
        );
        let signoff = view(
            "running",
            vec![step("publisher-signoff", "waitingForPublisherReview")],
        );
        assert_eq!(conclude(&signoff, true, false), Some(Outcome::PreviewReady));
        assert_eq!(conclude(&signoff, false, false), None);
        assert_eq!(conclude(&view("running", vec![]), true, false), None);
    }

    #[test]
    fn failure_carries_step_errors() {
        let mut failed = step("displaycertify", "failed");
        failed.messages.push(Message {
            level: "error".into(),
            text: "Certification failed: image not generalized".into(),
        });
        failed.messages.push(Message {
            level: "information".into(),
            text: "noise".into(),
        });
        let mut v = view(
            "failed",
            vec![step("displaydummycertify", "complete"), failed],
        );
        v.error = Some((
            "CertificationFailed".into(),
            "The offer failed certification".into(),
        ));
        let (step, code, message) = failure_details(&v);
        assert_eq!(step, "displaycertify");
        assert_eq!(code, "CertificationFailed");
        assert_eq!(
            message,
            "The offer failed certification; Certification failed: image not generalized"
        );
    }

    #[test]
    fn a_step_is_logged_when_it_changes_only() {
        let mut progress = Progress::default();
        let v1 = view(
            "running",
            vec![step("a", "inProgress"), step("b", "notStarted")],
        );
        assert_eq!(progress.record(&v1), vec!["step a: inProgress".to_string()]);
        assert_eq!(progress.record(&v1).len(), 0);
        let v2 = view(
            "running",
            vec![step("a", "complete"), step("b", "notStarted")],
        );
        assert_eq!(progress.record(&v2), vec!["step a: complete".to_string()]);
    }

    #[test]
    fn waits_grow_to_the_cap_and_stay_there() {
        let policy = PollPolicy {
            initial: Duration::from_secs(15),
            max: Duration::from_secs(60),
        };
        let mut next = policy.waits();
        let waits: Vec<Duration> = (0..12).map(|_| next()).collect();
        assert!(waits
            .iter()
            .all(|w| *w >= policy.initial && *w <= policy.max));
        assert!(waits[1..].iter().all(|w| *w == policy.max), "{waits:?}");
        let gentle = PollPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        let mut next = gentle.waits();
        let waits: Vec<Duration> = (0..6).map(|_| next()).collect();
        assert!(waits[1] > waits[0] && waits[2] > waits[1], "{waits:?}");
    }

    #[test]
    fn at_default_settings_no_hour_holds_more_than_60_status_reads() {
        let defaults = PollPolicy {
            initial: Duration::from_secs(15),
            max: Duration::from_secs(60),
        };
        for _ in 0..200 {
            assert_eq!(defaults.reads_within(Duration::from_secs(3600)), 60);
            assert_eq!(defaults.reads_within(Duration::from_secs(7200)), 120);
        }
    }
}
