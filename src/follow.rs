//! Following an operation until it ends: status requests spaced by exponential backoff with jitter, a
//! log line when a step changes, a service outage of up to [`TOLERATED_OUTAGE`] ridden out, and the
//! outcome the final phase means. It reads only the service's neutral answers.
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
use crate::service::{Phase, Service, ServiceError, Snapshot, StepState, Target};

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
    word: String,
    progress: Option<u8>,
    started: Option<Instant>,
    ended: Option<Instant>,
}

/// What has been seen of the operation so far; shared with the caller, who reports it however the
/// run ends (including a timeout or a signal).
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub location: Option<Url>,
    /// The operation's id, as soon as the service named it.
    pub id: Option<String>,
    /// The status of the request that started the operation (202), or that found it.
    pub http_status: Option<u16>,
    pub last: Option<Snapshot>,
    pub status_requests: u32,
    /// The latest failed status read, while reads keep failing; cleared by the next answer.
    pub outage: Option<ServiceError>,
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
                    status: step.word.clone(),
                    progress: step.progress,
                    estimate: step.estimate.clone(),
                    duration,
                    messages: step
                        .messages
                        .iter()
                        .filter(|m| m.level.is_notable())
                        .map(|m| (m.level, m.text.clone()))
                        .collect(),
                }
            })
            .collect()
    }

    /// Record an answer; returns the log lines for steps that changed since the last one.
    fn record(&mut self, view: &Snapshot) -> Vec<String> {
        let now = Instant::now();
        let mut changes = Vec::new();
        for step in &view.steps {
            let clock = self.clocks.entry(step.name.clone()).or_default();
            if clock.word == step.word && clock.progress == step.progress {
                continue;
            }
            let first_sight = clock.word.is_empty();
            let done = step.state.is_over();
            // A duration is only shown for what this run saw start; a step already done when first
            // seen has none.
            if clock.started.is_none()
                && step.state != StepState::NotStarted
                && !(first_sight && done)
            {
                clock.started = Some(now);
            }
            if clock.started.is_some() && clock.ended.is_none() && done {
                clock.ended = Some(now);
            }
            clock.word = step.word.clone();
            clock.progress = step.progress;
            if first_sight && step.state == StepState::NotStarted {
                continue;
            }
            let mut line = format!("step {}", step.name);
            if let Some(description) = &step.description {
                line.push_str(&format!(" ({description})"));
            }
            line.push_str(&format!(": {}", step.word));
            if let Some(p) = step.progress {
                line.push_str(&format!(", {p}%"));
            }
            if let Some(estimate) = step
                .estimate
                .as_ref()
                .filter(|_| !matches!(step.state, StepState::Done | StepState::Failed))
            {
                line.push_str(&format!(", the service expects {estimate}"));
            }
            changes.push(line);
        }
        if view.id.is_some() {
            self.id = view.id.clone();
        }
        self.last = Some(view.clone());
        changes
    }

    /// Warnings not shown yet: blocked steps and messages of level error or warning.
    fn new_warnings(&mut self, view: &Snapshot) -> Vec<(String, String)> {
        let mut found = Vec::new();
        if !view.word_known {
            found.push((
                "unknown status".to_string(),
                format!(
                    "the service reported the status '{}', which this version does not know; \
                     following on until it ends or the timeout runs out",
                    view.word
                ),
            ));
        }
        for m in view.messages.iter().filter(|m| m.level.is_notable()) {
            found.push((format!("operation: {}", m.level.as_str()), m.text.clone()));
        }
        for step in &view.steps {
            if step.state == StepState::Blocked {
                found.push((
                    format!("step {} is blocked", step.name),
                    step.description.clone().unwrap_or_default(),
                ));
            }
            for m in step.messages.iter().filter(|m| m.level.is_notable()) {
                found.push((
                    format!("step {}: {}", step.name, m.level.as_str()),
                    m.text.clone(),
                ));
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

/// How long status reads may keep failing for a passing reason (each after its own retries) before the
/// follower gives up: a blip of the service must not end a follow of days, whatever the poll interval.
pub const TOLERATED_OUTAGE: Duration = Duration::from_secs(600);

/// Follows one operation of a service.
pub struct Follower<'a, S: Service> {
    service: &'a S,
    reporter: Reporter,
    policy: PollPolicy,
    progress: Arc<Mutex<Progress>>,
}

impl<'a, S: Service> Follower<'a, S> {
    pub fn new(
        service: &'a S,
        reporter: Reporter,
        policy: PollPolicy,
        progress: Arc<Mutex<Progress>>,
    ) -> Follower<'a, S> {
        Follower {
            service,
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

    /// Remember an operation this run started: where it is, its id and the accepting status.
    pub fn started(&self, location: &Url, id: Option<String>, http_status: u16) {
        let mut progress = self.progress();
        progress.location = Some(location.clone());
        progress.id = id;
        progress.http_status = Some(http_status);
    }

    /// Remember the status of the request that found what is followed, where one did.
    pub fn found(&self, http_status: Option<u16>) {
        if http_status.is_some() {
            self.progress().http_status = http_status;
        }
    }

    /// Read the target once and record what it shows.
    pub async fn read(&self, target: &Target) -> Result<Snapshot, ServiceError> {
        self.track(target);
        let view = self.service.read(target).await?;
        self.observe(&view);
        Ok(view)
    }

    /// Record an answer, logging step changes and warnings.
    pub fn observe(&self, view: &Snapshot) {
        let (changes, warnings) = {
            let mut progress = self.progress();
            progress.status_requests += 1;
            progress.outage = None;
            (progress.record(view), progress.new_warnings(view))
        };
        for line in changes {
            self.reporter.info(&line);
        }
        for (title, text) in warnings {
            self.reporter.warning(&title, &text);
        }
    }

    /// Poll `target` until the operation ends, or reaches a ready preview when `stop_at_preview`.
    /// `cancel_requested` says whether this run asked for a cancellation (a canceled end is then a
    /// success). Status reads that fail for a passing reason are ridden out for [`TOLERATED_OUTAGE`].
    pub async fn follow(
        &self,
        target: &Target,
        stop_at_preview: bool,
        cancel_requested: bool,
    ) -> Result<(Outcome, Snapshot), ServiceError> {
        let mut next_wait = self.policy.waits();
        // Tokio's clock, which tests can pause and advance.
        let mut failing_since: Option<tokio::time::Instant> = None;
        loop {
            tokio::time::sleep(next_wait()).await;
            let view = match self.read(target).await {
                Ok(view) => view,
                Err(e) if e.transient => {
                    let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() >= TOLERATED_OUTAGE {
                        return Err(e);
                    }
                    self.reporter.warning(
                        "status request failed",
                        &format!("{e}; still following the operation"),
                    );
                    self.progress().outage = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            failing_since = None;
            if let Some(outcome) = conclude(&view, stop_at_preview, cancel_requested) {
                return Ok((outcome, view));
            }
        }
    }
}

/// The outcome a snapshot means, or `None` while the operation still runs.
pub fn conclude(view: &Snapshot, stop_at_preview: bool, cancel_requested: bool) -> Option<Outcome> {
    match view.phase {
        Phase::Succeeded => Some(Outcome::Succeeded),
        Phase::Failed => Some(Outcome::Failed),
        Phase::Canceled => Some(Outcome::Canceled {
            requested: cancel_requested,
        }),
        Phase::PreviewReady if stop_at_preview => Some(Outcome::PreviewReady),
        Phase::PreviewReady | Phase::Running => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Step;

    fn step(name: &str, state: StepState, word: &str) -> Step {
        Step {
            name: name.into(),
            description: None,
            state,
            word: word.into(),
            progress: None,
            estimate: None,
            messages: Vec::new(),
        }
    }

    fn view(phase: Phase, steps: Vec<Step>) -> Snapshot {
        Snapshot {
            id: Some("op".into()),
            phase,
            word: format!("{phase:?}"),
            word_known: true,
            steps,
            messages: Vec::new(),
            failure: None,
            submission: None,
        }
    }

    #[test]
    fn outcomes_from_phases() {
        let table = [
            (Phase::Succeeded, true, false, Some(Outcome::Succeeded)),
            (Phase::Failed, true, false, Some(Outcome::Failed)),
            (
                Phase::Canceled,
                true,
                true,
                Some(Outcome::Canceled { requested: true }),
            ),
            (
                Phase::Canceled,
                true,
                false,
                Some(Outcome::Canceled { requested: false }),
            ),
            (
                Phase::PreviewReady,
                true,
                false,
                Some(Outcome::PreviewReady),
            ),
            (Phase::PreviewReady, false, false, None),
            (Phase::Running, true, false, None),
        ];
        for (phase, stop_at_preview, cancel_requested, outcome) in table {
            assert_eq!(
                conclude(&view(phase, vec![]), stop_at_preview, cancel_requested),
                outcome,
                "{phase:?}"
            );
        }
    }

    #[test]
    fn a_step_is_logged_when_it_changes_only() {
        let mut progress = Progress::default();
        let v1 = view(
            Phase::Running,
            vec![
                step("a", StepState::Running, "inProgress"),
                step("b", StepState::NotStarted, "notStarted"),
            ],
        );
        assert_eq!(progress.record(&v1), vec!["step a: inProgress".to_string()]);
        assert_eq!(progress.record(&v1).len(), 0);
        let v2 = view(
            Phase::Running,
            vec![
                step("a", StepState::Done, "complete"),
                step("b", StepState::NotStarted, "notStarted"),
            ],
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

    /// A service whose reads fail for a passing reason until `healthy_at` (in paused time), then
    /// answer that the operation succeeded.
    struct Outage {
        healthy_at: tokio::time::Instant,
    }

    impl Service for Outage {
        async fn begin(
            &self,
            _: crate::service::Command,
        ) -> Result<crate::service::Begun, ServiceError> {
            unreachable!("the follower only reads")
        }
        async fn cancel(&self, _: Option<&Url>) -> Result<crate::service::Begun, ServiceError> {
            unreachable!("the follower only reads")
        }
        async fn then(
            &self,
            _: crate::service::Command,
            _: &Snapshot,
        ) -> Result<Option<crate::service::Begun>, ServiceError> {
            Ok(None)
        }
        async fn read(&self, _: &Target) -> Result<Snapshot, ServiceError> {
            if tokio::time::Instant::now() < self.healthy_at {
                return Err(ServiceError {
                    transient: true,
                    ..ServiceError::unusable("status request", "503 Service Unavailable", "later")
                });
            }
            Ok(view(Phase::Succeeded, vec![]))
        }
        fn product_id(&self) -> Option<String> {
            None
        }
    }

    async fn follow_through(outage: Duration) -> Result<(Outcome, Snapshot), ServiceError> {
        let service = Outage {
            healthy_at: tokio::time::Instant::now() + outage,
        };
        let reporter = Reporter::new(
            &crate::report::CiTarget::Plain { debug: false },
            Box::new(std::io::sink()),
            Box::new(std::io::sink()),
        );
        let policy = PollPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(5),
        };
        let follower = Follower::new(&service, reporter, policy, Arc::default());
        let target = Target::Operation(Url::parse("https://x/api/operations/1").unwrap());
        follower.follow(&target, true, false).await
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_shorter_than_ten_minutes_is_ridden_out_at_any_poll_interval() {
        let (outcome, _) = follow_through(Duration::from_secs(9 * 60)).await.unwrap();
        assert_eq!(outcome, Outcome::Succeeded);
    }

    #[tokio::test(start_paused = true)]
    async fn a_longer_outage_ends_the_follow_with_its_last_error() {
        let error = follow_through(Duration::from_secs(11 * 60))
            .await
            .unwrap_err();
        assert!(error.transient && error.message.contains("503"), "{error}");
    }
}
