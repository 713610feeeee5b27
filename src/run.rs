//! One run, start to end: settings, token source, portal client, the command, the follower raced against
//! the deadline and signals, and the report. Always ends in a [`RunResult`], whatever happened.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use url::Url;

use crate::auth::TokenSource;
use crate::config::{ci_target, format_duration, Command, ConfigError, Env, Settings};
use crate::follow::{conclude, failure_details, Ending, Follower, PollPolicy, Progress, Target};
use crate::http;
use crate::outcome::{Outcome, RunResult};
use crate::report::{CiTarget, Reporter};
use crate::service::cpp::CloudPartnerPortal;
use crate::service::{OperationView, Portal, ServiceError, Started, Status};
use crate::signals;
use crate::transport::{RetryPolicy, Transport};

/// Variables that hold secrets: masked as soon as the reporter exists, before anything else runs.
const SECRET_VARIABLES: [&str; 4] = [
    "MARKETPLACE_TOKEN",
    "MARKETPLACE_CLIENT_SECRET",
    "AZURE_CLIENT_SECRET",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
];

/// How long a cancellation asked for on interruption may take before the process exits anyway.
const CANCEL_ON_INTERRUPT_LIMIT: Duration = Duration::from_secs(10);

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
    let settings = match ci_error.map_or_else(|| Settings::from_env(env), Err) {
        Ok(settings) => settings,
        Err(e) => return finish(&reporter, config_failure(e), None, started),
    };
    let mut result = execute(&settings, &reporter, stop).await;
    result.command = settings.command.as_str().to_string();
    result.publisher_id = settings.publisher_id.clone();
    result.offer_id = settings.offer_id.clone();
    finish(&reporter, result, settings.result_file.as_deref(), started)
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

fn config_failure(e: ConfigError) -> RunResult {
    let mut result = RunResult::new(Outcome::ConfigError);
    result.error_code = "ConfigError".to_string();
    result.error_message = format!("invalid input {e}");
    result.hint = format!("fix {} and run again; nothing was sent", e.variable);
    result
}

/// Everything after the settings: the portal, the command, and the race against deadline and signals.
async fn execute(settings: &Settings, reporter: &Reporter, stop: signals::Listener) -> RunResult {
    let http = match http::client() {
        Ok(http) => http,
        Err(cause) => {
            let mut result = RunResult::new(Outcome::Error);
            result.error_code = "TlsSetup".to_string();
            result.error_message = format!("the HTTPS client could not be set up: {cause}");
            result.hint = "check SSL_CERT_FILE and SSL_CERT_DIR: they must name readable PEM certificates; nothing was sent".to_string();
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
    let portal = CloudPartnerPortal::new(
        transport,
        &settings.publisher_id,
        &settings.offer_id,
        &settings.api_version,
    );
    let progress = Arc::new(Mutex::new(Progress::default()));
    let follower = Follower::new(
        &portal,
        reporter.clone(),
        PollPolicy {
            initial: settings.poll_interval,
            max: settings.poll_max_interval,
        },
        progress.clone(),
    );
    let mut notes = Vec::new();
    let ended = tokio::select! {
        ended = command(settings, &portal, &follower, reporter, &mut notes) => ended,
        _ = tokio::time::sleep(settings.timeout) => Err(timed_out(settings)),
        signal = stop.interrupted() => {
            Err(interrupted(settings, &portal, &progress, reporter, signal).await)
        }
    };
    reporter.group_end();
    let progress = progress.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut result = describe(ended, &progress);
    result.notes.extend(notes);
    result
}

/// What a command ended with before the report: an outcome with the answer it came from, or a failure.
struct Ended {
    outcome: Outcome,
    http_status: Option<u16>,
}

/// How the operation to follow came about, which decides when it is first read.
enum Found {
    /// This run just started it: the first read waits one poll interval.
    Started,
    /// It was running already (given, or found by the guard): read it at once.
    Existing,
    /// Already read (the offer's status).
    Read(OperationView),
}

async fn command<P: Portal>(
    settings: &Settings,
    portal: &P,
    follower: &Follower<'_, P>,
    reporter: &Reporter,
    notes: &mut Vec<String>,
) -> Result<Ended, ServiceError> {
    let offer = format!("{}/{}", settings.publisher_id, settings.offer_id);
    reporter.group_start(&format!("{} {offer}", settings.command.as_str()));
    let (target, http_status, found) = match (settings.command, &settings.operation) {
        (Command::Status, None) => offer_status_target(settings, portal, follower).await?,
        (Command::Status | Command::Publish | Command::GoLive, Some(location)) => {
            reporter.info(&format!("following the given operation {location}"));
            (Target::Operation(location.clone()), None, Found::Existing)
        }
        (Command::Publish, None) => match running_operation(portal, reporter).await? {
            Some(location) => {
                let note = format!(
                    "the offer already had a running operation, so it was followed instead of starting another: {location}"
                );
                reporter.info(&note);
                notes.push(note);
                (Target::Operation(location), None, Found::Existing)
            }
            None => start(
                reporter,
                "publish",
                portal.publish(&settings.notification_emails).await?,
            ),
        },
        (Command::GoLive, None) => start(reporter, "go-live", portal.go_live().await?),
        (Command::Cancel, given) => {
            let answer = portal.cancel(&settings.notification_emails).await?;
            match (&answer.operation, given) {
                (Some(_), _) => start(reporter, "cancel", answer),
                (None, Some(location)) => (
                    Target::Operation(location.clone()),
                    Some(answer.http_status),
                    Found::Existing,
                ),
                (None, None) => {
                    reporter.info("the service canceled the operation at once");
                    return Ok(Ended {
                        outcome: Outcome::Canceled { requested: true },
                        http_status: Some(answer.http_status),
                    });
                }
            }
        }
    };
    follower.track(&target);
    let stop_at_preview = matches!(settings.command, Command::Publish | Command::Status);
    let cancel_requested = settings.command == Command::Cancel;
    let ended = |outcome| Ended {
        outcome: match outcome {
            // A cancel operation that completed is a confirmed cancellation.
            Outcome::Succeeded if cancel_requested => Outcome::Canceled { requested: true },
            other => other,
        },
        http_status,
    };
    let view = match found {
        Found::Started => None,
        Found::Existing => Some(follower.read(&target).await?),
        Found::Read(view) => Some(view),
    };
    if let Some(outcome) = view.and_then(|v| conclude(&v, stop_at_preview, cancel_requested)) {
        return Ok(ended(outcome));
    }
    if !settings.wait {
        return Ok(ended(match settings.command {
            Command::Status => Outcome::Running,
            _ => Outcome::Accepted,
        }));
    }
    reporter.group_end();
    reporter.group_start(&format!(
        "following the operation (at most {})",
        format_duration(settings.timeout)
    ));
    let Ending { outcome, .. } = follower
        .follow(&target, stop_at_preview, cancel_requested)
        .await?;
    Ok(ended(outcome))
}

fn start(reporter: &Reporter, what: &str, started: Started) -> (Target, Option<u16>, Found) {
    let location = started
        .operation
        .expect("start() answers carry an operation except cancel's 200");
    reporter.info(&format!(
        "{what} accepted (HTTP {}): operation {location}",
        started.http_status
    ));
    (
        Target::Operation(location),
        Some(started.http_status),
        Found::Started,
    )
}

/// The guard against double work: the offer's running operation, if the service names one. A listing
/// that fails for another reason than credentials does not stop the publish (publish is idempotent).
async fn running_operation<P: Portal>(
    portal: &P,
    reporter: &Reporter,
) -> Result<Option<Url>, ServiceError> {
    match portal.running_operation().await {
        Ok(found) => Ok(found),
        Err(e) if e.outcome == Outcome::Unauthorized => Err(e),
        Err(e) => {
            reporter.debug(&format!(
                "could not list running operations ({e}); publishing"
            ));
            Ok(None)
        }
    }
}

/// `status` without an operation: the offer's running operation if there is one, else its status.
async fn offer_status_target<P: Portal>(
    settings: &Settings,
    portal: &P,
    follower: &Follower<'_, P>,
) -> Result<(Target, Option<u16>, Found), ServiceError> {
    let view = follower.read(&Target::Offer).await?;
    if view.status == Status::NotStarted && view.steps.is_empty() {
        return Err(ServiceError {
            outcome: Outcome::NotFound,
            http_status: Some(200),
            code: view.status_word.clone(),
            message: format!(
                "the offer {}/{} has never been published: there is no operation to report",
                settings.publisher_id, settings.offer_id
            ),
            hint: "run with MARKETPLACE_COMMAND=publish first".to_string(),
            transient: false,
        });
    }
    if !view.status.is_final() {
        if let Ok(Some(location)) = portal.running_operation().await {
            return Ok((Target::Operation(location), Some(200), Found::Existing));
        }
    }
    Ok((Target::Offer, Some(200), Found::Read(view)))
}

fn resume_hint(location: Option<&Url>) -> String {
    match location {
        Some(location) => format!(
            "the operation goes on at the service: follow it later with MARKETPLACE_COMMAND=status and \
             MARKETPLACE_OPERATION={location}"
        ),
        None => "check the offer with MARKETPLACE_COMMAND=status".to_string(),
    }
}

fn timed_out(settings: &Settings) -> ServiceError {
    ServiceError {
        outcome: Outcome::TimedOut,
        http_status: None,
        code: String::new(),
        message: format!(
            "still running when MARKETPLACE_TIMEOUT ({}) ran out",
            format_duration(settings.timeout)
        ),
        hint: String::new(),
        transient: false,
    }
}

async fn interrupted<P: Portal>(
    settings: &Settings,
    portal: &P,
    progress: &Mutex<Progress>,
    reporter: &Reporter,
    signal: i32,
) -> ServiceError {
    let location = progress
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .location
        .clone();
    let mut message = format!("interrupted by signal {signal}");
    if settings.cancel_on_interrupt && location.is_some() && settings.command != Command::Cancel {
        reporter.info(
            "MARKETPLACE_CANCEL_ON_INTERRUPT is set: asking the service to cancel the operation",
        );
        let asked = tokio::time::timeout(
            CANCEL_ON_INTERRUPT_LIMIT,
            portal.cancel(&settings.notification_emails),
        )
        .await;
        message.push_str(match asked {
            Ok(Ok(_)) => "; the service was asked to cancel the operation",
            Ok(Err(_)) | Err(_) => "; asking the service to cancel the operation failed",
        });
    } else if location.is_some() {
        message.push_str("; the operation was left running at the service");
    }
    ServiceError {
        outcome: Outcome::Interrupted(signal),
        http_status: None,
        code: String::new(),
        message,
        hint: String::new(),
        transient: false,
    }
}

/// Turn how the command ended, and what was seen, into the result.
fn describe(ended: Result<Ended, ServiceError>, progress: &Progress) -> RunResult {
    let (outcome, http_status, error) = match ended {
        Ok(ended) => (ended.outcome, ended.http_status, None),
        Err(e) => (e.outcome, e.http_status, Some(e)),
    };
    let mut result = RunResult::new(outcome);
    result.http_status = http_status;
    result.operation_location = progress.location.as_ref().map(Url::to_string);
    result.steps = progress.step_views();
    if let Some(view) = &progress.last {
        result.operation_id = view.id.clone();
        result.operation_status = view.status_word.clone();
        if matches!(
            outcome,
            Outcome::Failed | Outcome::Canceled { requested: false }
        ) {
            let (step, code, message) = failure_details(view);
            result.failed_step = step;
            result.error_code = code;
            result.error_message = if message.is_empty() {
                format!("the operation ended {}", view.status_word)
            } else {
                message
            };
        }
    }
    if let Some(e) = error {
        result.error_code = e.code;
        result.error_message = e.message;
        result.hint = e.hint;
    }
    if result.hint.is_empty() {
        result.hint = match outcome {
            Outcome::Failed => "fix what the failed step's messages name, then publish again".to_string(),
            Outcome::Canceled { requested: false } => {
                "someone else canceled the operation (Partner Center or another run); publish again when ready"
                    .to_string()
            }
            Outcome::PreviewReady => {
                "check the preview links in Partner Center, then run with MARKETPLACE_COMMAND=go-live".to_string()
            }
            Outcome::TimedOut | Outcome::Interrupted(_) | Outcome::Accepted | Outcome::Running => {
                resume_hint(progress.location.as_ref())
            }
            _ => String::new(),
        };
    }
    result
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
