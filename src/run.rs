//! One run, start to end: settings, token source, the service backend (chosen here, in one place), the
//! command, the follower raced against the deadline and signals, and the report. Always ends in a
//! [`RunResult`], whatever happened.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use url::Url;

use crate::auth::TokenSource;
use crate::config::{ci_target, Backend, ConfigError, Env, Settings};
use crate::follow::{conclude, Follower, PollPolicy, Progress};
use crate::http;
use crate::outcome::{Outcome, RunResult};
use crate::report::{CiTarget, Reporter};
use crate::service::cpp::CloudPartnerPortal;
use crate::service::ingestion::ProductIngestion;
use crate::service::{Begun, Command, Service, ServiceError, Snapshot, Target};
use crate::signals;
use crate::text::format_duration;
use crate::transport::{RetryPolicy, Transport};

/// Variables that hold secrets: masked as soon as the reporter exists, before anything else runs.
const SECRET_VARIABLES: [&str; 4] = [
    "MARKETPLACE_TOKEN",
    "MARKETPLACE_CLIENT_SECRET",
    "AZURE_CLIENT_SECRET",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
];

/// How long a cancellation asked for on interruption may take. CI runners follow their first signal
/// with a second 7.5 s later and kill 2.5 s after that, so the outputs are written well before.
const CANCEL_ON_INTERRUPT_LIMIT: Duration = Duration::from_secs(5);

/// Run the program for `env`, writing to `stdout` and `stderr`; returns the exit code.
pub async fn run(env: &Env, stdout: Box<dyn Write + Send>, stderr: Box<dyn Write + Send>) -> i32 {
    // First of all: a signal during the setup below must be held for the race, not kill the process.
    let stop = signals::listen();
    let started = Instant::now();
    let (target, ci_error) = match ci_target(env) {
        Ok(target) => (target, None),
        Err(e) => (CiTarget::Plain { debug: false }, Some(e)),
    };
    let reporter = Reporter::new(&target, stdout, stderr);
    for name in SECRET_VARIABLES {
        if let Some(value) = env.get(name) {
            reporter.mask_input(name, &value);
        }
    }
    for name in env.unknown_inputs() {
        reporter.warning(
            "unknown input",
            &format!(
                "{name} is not an input of marketplace-publish and is ignored; check its spelling"
            ),
        );
    }
    let settings = match (ci_error, Settings::from_env(env)) {
        (None, Ok(settings)) => settings,
        (ci_error, settings) => {
            let errors = ci_error
                .into_iter()
                .chain(settings.err().unwrap_or_default());
            return finish(&reporter, config_failure(errors.collect()), None, started);
        }
    };
    if let Some(changes) = &settings.changes {
        for secret in &changes.secrets {
            reporter.mask(secret.expose());
        }
        if let Some(location) = &settings.operation {
            reporter.warning(
                "changes not applied",
                &format!(
                    "MARKETPLACE_OPERATION is given, so {location} is followed and the draft changes given \
                     alongside are not applied; leave it out to apply them"
                ),
            );
        }
    }
    let mut result = execute(&settings, &reporter, stop).await;
    result.command = Some(settings.command.as_str().to_string());
    result.publisher_id = settings.publisher_id.clone();
    result.offer_id = Some(settings.offer_id.clone());
    finish(&reporter, result, settings.result_file.as_deref(), started)
}

/// A run that ends before anything is sent: an outcome, outputs and a clear message all the same.
pub fn run_refused(
    env: &Env,
    stdout: Box<dyn Write + Send>,
    stderr: Box<dyn Write + Send>,
    errors: Vec<ConfigError>,
) -> i32 {
    let target = ci_target(env).unwrap_or(CiTarget::Plain { debug: false });
    let reporter = Reporter::new(&target, stdout, stderr);
    finish(&reporter, config_failure(errors), None, Instant::now())
}

fn finish(
    reporter: &Reporter,
    mut result: RunResult,
    result_file: Option<&std::path::Path>,
    started: Instant,
) -> i32 {
    result.elapsed = started.elapsed();
    for unwritten in reporter.finish(&result) {
        reporter.warning(&unwritten.title(), &unwritten.detail());
    }
    if let Some(path) = result_file {
        if let Err(e) = reporter.write_result_file(path, &result) {
            reporter.warning(
                "could not write MARKETPLACE_RESULT_FILE",
                &format!("{}: {e}", path.display()),
            );
        }
    }
    result.exit_code()
}

/// Every bad input at once: each named with what it accepts in the message, all of them in the hint.
fn config_failure(errors: Vec<ConfigError>) -> RunResult {
    let mut result = RunResult::new(Outcome::ConfigError);
    let variables: Vec<&str> = errors.iter().map(|e| e.variable.as_str()).collect();
    result.error_code = Some("ConfigError".to_string());
    result.error_context = Some(match errors.len() {
        1 => "invalid input".to_string(),
        n => format!("{n} invalid inputs"),
    });
    result.error_message = Some(
        errors
            .iter()
            .map(ConfigError::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    );
    result.hint = Some(format!(
        "fix {} and run again; nothing was sent",
        variables.join(", ")
    ));
    result
}

/// Everything after the settings: the client, the backend, and the command.
async fn execute(settings: &Settings, reporter: &Reporter, stop: signals::Listener) -> RunResult {
    let http = match http::client() {
        Ok(http) => http,
        Err(cause) => {
            let mut result = RunResult::new(Outcome::Error);
            result.error_code = Some("TlsSetup".to_string());
            result.error_context = Some("HTTPS client".to_string());
            result.error_message = Some(format!("the HTTPS client could not be set up: {cause}"));
            result.hint = Some(
                "check SSL_CERT_FILE and SSL_CERT_DIR: they must name readable PEM certificates; nothing was sent"
                    .to_string(),
            );
            return result;
        }
    };
    let tokens = TokenSource::new(&settings.auth, http.clone(), reporter.clone());
    for warning in tokens.preflight_warnings(settings.timeout) {
        reporter.warning("token", &warning);
    }
    let transport = Transport::new(
        http,
        settings.api_base.clone(),
        tokens,
        reporter.clone(),
        RetryPolicy::new(settings.poll_interval, settings.poll_max_interval),
        // The race below ends the run at this moment, so no retry may be planned past it.
        Some(Instant::now() + settings.timeout),
    );
    for (title, text) in settings.warnings() {
        reporter.warning(title, &text);
    }
    let (offer, version, emails) = (
        settings.offer_id.as_str(),
        settings.api_version.as_str(),
        settings.notification_emails.as_slice(),
    );
    match &settings.backend {
        Backend::CloudPartnerPortal { publisher_id } => {
            let service = CloudPartnerPortal::new(transport, publisher_id, offer, version, emails);
            drive(settings, &service, reporter, stop).await
        }
        Backend::ProductIngestion => {
            let changes = settings.changes.clone();
            let service =
                ProductIngestion::new(transport, offer, version, settings.command, changes);
            drive(settings, &service, reporter, stop).await
        }
    }
}

/// How the command part of a run ended, before it becomes the result.
enum Ending {
    /// An outcome the command reached.
    Reached(Outcome),
    /// A call failed in a way that ends the run.
    Failed(ServiceError),
    /// `MARKETPLACE_TIMEOUT` ran out.
    TimedOut,
    /// A signal stopped the run; `note` says what became of the operation.
    Interrupted { signal: i32, note: Option<String> },
}

/// Run the command against `service`, raced against the deadline and signals.
async fn drive<S: Service>(
    settings: &Settings,
    service: &S,
    reporter: &Reporter,
    stop: signals::Listener,
) -> RunResult {
    let progress = Arc::new(Mutex::new(Progress::default()));
    let follower = Follower::new(
        service,
        reporter.clone(),
        PollPolicy {
            initial: settings.poll_interval,
            max: settings.poll_max_interval,
        },
        progress.clone(),
    );
    let mut notes = Vec::new();
    let ending = tokio::select! {
        ended = command(settings, service, &follower, reporter, &mut notes) => match ended {
            Ok(outcome) => Ending::Reached(outcome),
            Err(e) => Ending::Failed(e),
        },
        _ = tokio::time::sleep(settings.timeout) => Ending::TimedOut,
        signal = stop.interrupted() => {
            let location = lock(&progress).location.clone();
            interrupted(settings, service, location, reporter, signal).await
        }
    };
    reporter.group_end();
    let progress = lock(&progress).clone();
    let mut result = describe(settings, ending, &progress);
    result.product_id = service.product_id();
    result.notes.extend(notes);
    result
}

fn lock(progress: &Mutex<Progress>) -> std::sync::MutexGuard<'_, Progress> {
    progress.lock().unwrap_or_else(|e| e.into_inner())
}

/// The command: begin it, then follow each operation it leads to until its outcome.
async fn command<S: Service>(
    settings: &Settings,
    service: &S,
    follower: &Follower<'_, S>,
    reporter: &Reporter,
    notes: &mut Vec<String>,
) -> Result<Outcome, ServiceError> {
    let command = settings.command;
    reporter.group_start(&format!("{} {}", command.as_str(), settings.offer_id));
    let mut begun = match (command, &settings.operation) {
        (Command::Cancel, given) => service.cancel(given.as_ref()).await?,
        (_, Some(location)) => {
            reporter.info(&format!("following the given operation {location}"));
            Begun::Existing {
                target: Target::Operation(location.clone()),
                http_status: None,
                note: None,
            }
        }
        (_, None) => service.begin(command).await?,
    };
    loop {
        let (outcome, ended) = match follow(settings, follower, reporter, notes, begun).await? {
            Followed::Done(outcome) => return Ok(outcome),
            Followed::Ended(outcome, snapshot) => (outcome, snapshot),
        };
        if outcome != Outcome::Succeeded {
            return Ok(outcome);
        }
        match service.then(command, &ended).await? {
            Some(next) => {
                let ended_id = ended.id.as_deref().unwrap_or("before it");
                notes.push(format!(
                    "the operation {ended_id} succeeded, and {} went on with the next one",
                    command.as_str()
                ));
                begun = next;
            }
            None => return Ok(outcome),
        }
    }
}

/// How one operation's part of a command ended.
enum Followed {
    /// The command's outcome, with nothing more to do.
    Done(Outcome),
    /// The operation ended with this outcome and snapshot; the command may go on.
    Ended(Outcome, Snapshot),
}

/// Follow what `begun` names until it ends, or only as far as `MARKETPLACE_WAIT` asks.
async fn follow<S: Service>(
    settings: &Settings,
    follower: &Follower<'_, S>,
    reporter: &Reporter,
    notes: &mut Vec<String>,
    begun: Begun,
) -> Result<Followed, ServiceError> {
    let command = settings.command;
    let cancel_requested = command == Command::Cancel;
    let stop_at_preview = command.stops_at_preview();
    let (target, first_read, must_follow) = match begun {
        Begun::Finished {
            outcome,
            http_status,
            note,
        } => {
            follower.found(http_status);
            tell(reporter, notes, note);
            return Ok(Followed::Done(outcome));
        }
        Begun::Started {
            action,
            location,
            id,
            http_status,
            prerequisite,
        } => {
            reporter.info(&format!(
                "{action} accepted (HTTP {http_status}): operation {location}"
            ));
            follower.started(&location, id, http_status);
            (Target::Operation(location), None, prerequisite)
        }
        Begun::Existing {
            target,
            http_status,
            note,
        } => {
            follower.found(http_status);
            tell(reporter, notes, note);
            let snapshot = follower.read(&target).await?;
            (target, Some(snapshot), false)
        }
        Begun::Read {
            target,
            http_status,
            snapshot,
        } => {
            follower.found(http_status);
            follower.track(&target);
            follower.observe(&snapshot);
            (target, Some(snapshot), false)
        }
    };
    let canceled = |outcome| match outcome {
        // A cancel operation that completed is a confirmed cancellation.
        Outcome::Succeeded if cancel_requested => Outcome::Canceled { requested: true },
        other => other,
    };
    if let Some(snapshot) = first_read {
        if let Some(outcome) = conclude(&snapshot, stop_at_preview, cancel_requested) {
            return Ok(Followed::Ended(canceled(outcome), snapshot));
        }
    }
    if !settings.wait && !must_follow {
        return Ok(Followed::Done(match command {
            Command::Status => Outcome::Running,
            _ => Outcome::Accepted,
        }));
    }
    reporter.group_end();
    reporter.group_start(&format!(
        "following the operation (at most {})",
        format_duration(settings.timeout)
    ));
    let (outcome, snapshot) = follower
        .follow(&target, stop_at_preview, cancel_requested)
        .await?;
    Ok(Followed::Ended(canceled(outcome), snapshot))
}

/// Log a note about how the command went, and keep it for the summary.
fn tell(reporter: &Reporter, notes: &mut Vec<String>, note: Option<String>) {
    if let Some(note) = note {
        reporter.info(&note);
        notes.push(note);
    }
}

/// The signal's ending: the operation is left running, or (with `MARKETPLACE_CANCEL_ON_INTERRUPT`)
/// the service is asked to cancel it, for at most [`CANCEL_ON_INTERRUPT_LIMIT`] and never past a
/// second signal.
async fn interrupted<S: Service>(
    settings: &Settings,
    service: &S,
    location: Option<Url>,
    reporter: &Reporter,
    signal: i32,
) -> Ending {
    let Some(location) = location else {
        return Ending::Interrupted { signal, note: None };
    };
    if !settings.cancel_on_interrupt || settings.command == Command::Cancel {
        return Ending::Interrupted {
            signal,
            note: Some("the operation was left running at the service".to_string()),
        };
    }
    reporter
        .info("MARKETPLACE_CANCEL_ON_INTERRUPT is set: asking the service to cancel the operation");
    let asked = tokio::select! {
        asked = tokio::time::timeout(CANCEL_ON_INTERRUPT_LIMIT, service.cancel(Some(&location))) => {
            matches!(asked, Ok(Ok(_)))
        }
        _ = signals::interrupted() => false,
    };
    let note = match asked {
        true => "the service was asked to cancel the operation",
        false => "asking the service to cancel the operation failed",
    };
    Ending::Interrupted {
        signal,
        note: Some(note.to_string()),
    }
}

/// Turn how the command ended, and what was seen, into the result.
fn describe(settings: &Settings, ending: Ending, progress: &Progress) -> RunResult {
    let started = progress.location.is_some();
    let (outcome, error) = match ending {
        Ending::Reached(outcome) => (outcome, None),
        Ending::Failed(e) => (e.outcome, Some(e)),
        // A deadline during an outage ends with the outage's own error; a deadline before anything
        // was accepted is an error too: `timed-out` means an operation is still running.
        Ending::TimedOut => match (&progress.outage, started) {
            (Some(outage), _) => (outage.outcome, Some(outage.clone())),
            (None, true) => (
                Outcome::TimedOut,
                Some(ServiceError {
                    outcome: Outcome::TimedOut,
                    http_status: None,
                    context: "follow".to_string(),
                    code: None,
                    message: format!(
                        "still running when MARKETPLACE_TIMEOUT ({}) ran out",
                        format_duration(settings.timeout)
                    ),
                    hint: None,
                    transient: false,
                }),
            ),
            (None, false) => (
                Outcome::Error,
                Some(ServiceError {
                    outcome: Outcome::Error,
                    http_status: None,
                    context: settings.command.as_str().to_string(),
                    code: None,
                    message: format!(
                        "no request was accepted before MARKETPLACE_TIMEOUT ({}) ran out",
                        format_duration(settings.timeout)
                    ),
                    hint: Some(
                        "check MARKETPLACE_API_BASE and the network, or give MARKETPLACE_TIMEOUT more time"
                            .to_string(),
                    ),
                    transient: true,
                }),
            ),
        },
        Ending::Interrupted { signal, note } => {
            let mut message = format!("interrupted by signal {signal}");
            if let Some(note) = note {
                message = format!("{message}; {note}");
            }
            (
                Outcome::Interrupted(signal),
                Some(ServiceError {
                    outcome: Outcome::Interrupted(signal),
                    http_status: None,
                    context: "signal".to_string(),
                    code: None,
                    message,
                    hint: None,
                    transient: false,
                }),
            )
        }
    };
    let mut result = RunResult::new(outcome);
    result.http_status = progress.http_status;
    result.operation_location = progress.location.as_ref().map(Url::to_string);
    result.operation_id = progress.id.clone();
    result.steps = progress.step_views();
    if let Some(view) = &progress.last {
        result.operation_status = Some(view.word.clone());
        result.submission_id = view.submission.clone();
        if let Some(failure) = &view.failure {
            if matches!(
                outcome,
                Outcome::Failed | Outcome::Canceled { requested: false }
            ) {
                result.failed_step = failure.step.clone();
                result.error_code = failure.code.clone();
                result.error_message = Some(
                    failure
                        .message
                        .clone()
                        .unwrap_or_else(|| format!("the operation ended {}", view.word)),
                );
            }
        }
    }
    if let Some(e) = error {
        if e.http_status.is_some() || !started {
            result.http_status = e.http_status;
        }
        result.error_context = Some(e.context);
        result.error_code = e.code;
        result.error_message = Some(e.message);
        result.hint = e.hint;
    }
    if result.hint.is_none() {
        result.hint = next_step(outcome, progress.location.as_ref());
    }
    result
}

/// What to do after an outcome that needs no fixing.
fn next_step(outcome: Outcome, location: Option<&Url>) -> Option<String> {
    Some(match outcome {
        Outcome::Failed => "fix what the failed step's messages name, then publish again".to_string(),
        Outcome::Canceled { requested: false } => {
            "someone else canceled the operation (Partner Center or another run); publish again when ready"
                .to_string()
        }
        Outcome::PreviewReady => {
            "check the preview links in Partner Center, then run with MARKETPLACE_COMMAND=go-live".to_string()
        }
        Outcome::TimedOut | Outcome::Interrupted(_) | Outcome::Accepted | Outcome::Running => {
            match location {
                Some(location) => format!(
                    "the operation goes on at the service: follow it later with MARKETPLACE_COMMAND=status and \
                     MARKETPLACE_OPERATION={location}"
                ),
                None => "check the offer with MARKETPLACE_COMMAND=status".to_string(),
            }
        }
        _ => return None,
    })
}

/// A single-threaded runtime: the program waits on the network almost all the time, and one thread
/// starts faster and uses less memory than a pool.
pub fn block_on<F: std::future::Future<Output = i32>>(future: F) -> i32 {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime can be built")
        .block_on(future)
}
