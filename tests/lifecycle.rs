//! The whole life of an offer, run as a pipeline would against the simulated portal: publish to
//! preview, go live, status, cancel, resuming a publish in a second run, the guard against a second
//! publish, and interruption by real signals (SIGINT and SIGTERM on Unix, Ctrl-Break on Windows).

mod common;

use std::time::{Duration, Instant};

use common::{github_env, run, set, Run, TOKEN};
use marketplace_publish::sim::{Plan, Simulator};

/// A simulator for `plan` (JSON) that accepts the tests' token.
fn simulator(plan: &str) -> Simulator {
    let mut plan = Plan::from_json(plan).expect("a valid plan");
    plan.auth.tokens = vec![TOKEN.to_string()];
    Simulator::start_in_thread(plan).expect("the simulator starts")
}

fn env_for(sim: &Simulator, pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = github_env(&sim.base_url());
    for (name, value) in pairs {
        set(&mut env, name, value);
    }
    env
}

fn assert_outcome(run: &Run, outcome: &str, code: i32) {
    assert_eq!(
        (run.output("outcome"), run.code),
        (outcome, code),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    run.assert_never_shows(TOKEN);
}

#[test]
fn a_publish_stops_at_preview_and_go_live_finishes_it() {
    let sim = simulator(r#"{"operation": {"stop_at_signoff": true}}"#);
    let publish = run(&env_for(&sim, &[]));
    assert_outcome(&publish, "preview-ready", 0);
    assert!(
        publish.stdout.contains("MARKETPLACE_COMMAND=go-live"),
        "{}",
        publish.stdout
    );

    let go_live = run(&env_for(&sim, &[("MARKETPLACE_COMMAND", "go-live")]));
    assert_outcome(&go_live, "succeeded", 0);
    assert_eq!(sim.count("golive"), 1);
    assert_ne!(
        go_live.output("operation-location"),
        publish.output("operation-location")
    );
    assert!(go_live.summary.contains("live"), "{}", go_live.summary);
}

#[test]
fn status_of_an_offer_never_published_is_not_found() {
    let sim = simulator("{}");
    let status = run(&env_for(&sim, &[("MARKETPLACE_COMMAND", "status")]));
    assert_outcome(&status, "not-found", 4);
    assert!(status
        .output("error-message")
        .contains("never been published"));
    assert_eq!(sim.count("publish"), 0);
}

#[test]
fn status_without_waiting_reports_a_running_operation_and_where_it_is() {
    let sim = simulator(r#"{"start": "running", "operation": {"polls_per_step": 100}}"#);
    let status = run(&env_for(
        &sim,
        &[
            ("MARKETPLACE_COMMAND", "status"),
            ("MARKETPLACE_WAIT", "false"),
        ],
    ));
    assert_outcome(&status, "running", 0);
    assert!(!status.output("operation-location").is_empty());
    assert_eq!(status.output("operation-status"), "running");
}

#[test]
fn status_follows_the_running_operation_to_its_end() {
    let sim = simulator(r#"{"start": "running"}"#);
    let status = run(&env_for(&sim, &[("MARKETPLACE_COMMAND", "status")]));
    assert_outcome(&status, "succeeded", 0);
    assert_eq!(sim.count("publish"), 0);
}

#[test]
fn status_at_publisher_signoff_is_preview_ready() {
    let sim = simulator(r#"{"start": "preview"}"#);
    let status = run(&env_for(&sim, &[("MARKETPLACE_COMMAND", "status")]));
    assert_outcome(&status, "preview-ready", 0);
}

#[test]
fn cancel_follows_the_cancel_operation_to_a_confirmed_cancellation() {
    let sim = simulator(r#"{"start": "running", "operation": {"polls_per_step": 100}}"#);
    let cancel = run(&env_for(&sim, &[("MARKETPLACE_COMMAND", "cancel")]));
    assert_outcome(&cancel, "canceled", 0);
    assert_eq!(cancel.output("http-status"), "202");
    assert_eq!(sim.count("cancel"), 1);
}

#[test]
fn cancel_answered_at_once_is_a_cancellation() {
    let sim = simulator(r#"{"start": "running", "operation": {"cancel_at_once": true}}"#);
    let cancel = run(&env_for(&sim, &[("MARKETPLACE_COMMAND", "cancel")]));
    assert_outcome(&cancel, "canceled", 0);
    assert_eq!(cancel.output("http-status"), "200");
}

#[test]
fn an_operation_canceled_by_someone_else_fails_the_run() {
    let sim = simulator(r#"{"operation": {"final_status": "canceled"}}"#);
    let publish = run(&env_for(&sim, &[]));
    assert_outcome(&publish, "canceled", 1);
    assert!(publish.stdout.contains("::error"), "{}", publish.stdout);
}

#[test]
fn a_publish_that_timed_out_is_resumed_and_completed_by_a_second_run() {
    let sim = simulator(r#"{"operation": {"polls_per_step": 12}}"#);
    let first = run(&env_for(&sim, &[("MARKETPLACE_TIMEOUT", "150ms")]));
    assert_outcome(&first, "timed-out", 7);
    // The publish was accepted: its status and the operation's id are known even though it runs on.
    assert_eq!(first.output("http-status"), "202");
    assert!(!first.output("operation-id").is_empty());
    let location = first.output("operation-location").to_string();
    assert!(location.starts_with(&sim.base_url()), "{location}");
    assert!(first
        .stdout
        .contains(&format!("MARKETPLACE_OPERATION={location}")));

    let second = run(&env_for(
        &sim,
        &[
            ("MARKETPLACE_COMMAND", "status"),
            ("MARKETPLACE_OPERATION", &location),
        ],
    ));
    assert_outcome(&second, "succeeded", 0);
    assert_eq!(second.output("operation-location"), location);
    assert_eq!(sim.count("publish"), 1);
}

#[test]
fn a_publish_while_one_runs_follows_that_one_instead() {
    let sim = simulator(r#"{"start": "running"}"#);
    let publish = run(&env_for(&sim, &[]));
    assert_outcome(&publish, "succeeded", 0);
    assert_eq!(sim.count("publish"), 0);
    assert!(
        publish.stdout.contains("already had a running operation"),
        "{}",
        publish.stdout
    );
    assert!(
        publish.summary.contains("already had a running operation"),
        "{}",
        publish.summary
    );
}

/// Start a publish under `plan`, call `send` with its process id once it is being followed, and
/// collect the run. A run that ignored the signal would outlive the common watchdog and fail.
fn interrupted_in(plan: &str, send: impl FnOnce(u32), extra: &[(&str, &str)]) -> (Simulator, Run) {
    let sim = simulator(plan);
    let pending = common::spawn(&env_for(&sim, extra));
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.count("operation") < 2 {
        assert!(Instant::now() < deadline, "the publish was never followed");
        std::thread::sleep(Duration::from_millis(10));
    }
    send(pending.child.id());
    let run = pending.finish();
    (sim, run)
}

/// Sends `signal` (`TERM`, `INT`) with kill(1).
#[cfg(unix)]
fn kill(signal: &str) -> impl FnOnce(u32) + '_ {
    move |pid| assert!(common::send_signal(signal, pid), "kill -{signal}")
}

/// Sends Ctrl-Break to the process group `pid` leads: `common::spawn` starts every run in a group of
/// its own on Windows, so only that run gets it. (Ctrl-C cannot be sent to one group alone.)
#[cfg(windows)]
fn ctrl_break(pid: u32) {
    const CTRL_BREAK_EVENT: u32 = 1;
    #[link(name = "kernel32")]
    extern "system" {
        fn GenerateConsoleCtrlEvent(event: u32, process_group_id: u32) -> i32;
    }
    // SAFETY: a plain Win32 call with two integers; it reads no memory of ours.
    let sent = unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, pid) };
    assert_ne!(
        sent,
        0,
        "GenerateConsoleCtrlEvent: {}",
        std::io::Error::last_os_error()
    );
}

/// A publish that would run for minutes, interrupted by `send`.
fn interrupted(send: impl FnOnce(u32), extra: &[(&str, &str)]) -> (Simulator, Run) {
    interrupted_in(r#"{"operation": {"polls_per_step": 1000}}"#, send, extra)
}

/// Sends each of `signals` with kill(1), a second apart, as CI runners do (more slowly) when they
/// cancel a job. The run may be gone by the last one, a SIGKILL that then finds no process.
#[cfg(unix)]
fn in_turn<'a>(signals: &'a [&'a str]) -> impl FnOnce(u32) + 'a {
    move |pid| {
        for (i, signal) in signals.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(Duration::from_secs(1));
            }
            let sent = common::send_signal(signal, pid);
            assert!(sent || i + 1 == signals.len(), "kill -{signal}");
        }
    }
}

/// CI runners cancel with SIGINT, then SIGTERM, then SIGKILL: a cancellation that hangs must not
/// hold the run past the second signal, so the outputs are written before the kill.
#[cfg(unix)]
#[test]
fn a_second_signal_ends_a_hanging_cancellation_with_the_outputs_written() {
    let (sim, run) = interrupted_in(
        r#"{"operation": {"polls_per_step": 1000},
            "routes": {"cancel": [{"delay_ms": 60000, "times": "always"}]}}"#,
        in_turn(&["INT", "TERM", "KILL"]),
        &[("MARKETPLACE_CANCEL_ON_INTERRUPT", "true")],
    );
    assert_outcome(&run, "interrupted", 130);
    assert!(run
        .output("operation-location")
        .starts_with(&sim.base_url()));
    assert!(
        run.output("error-message").contains("cancel"),
        "{}",
        run.output("error-message")
    );
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_wait_at_once_and_still_writes_the_outputs() {
    let (sim, run) = interrupted(kill("TERM"), &[]);
    assert_outcome(&run, "interrupted", 143);
    assert_eq!(run.output("exit-code"), "143");
    assert_eq!(run.output("http-status"), "202");
    assert!(!run.output("operation-id").is_empty());
    assert!(run
        .output("operation-location")
        .starts_with(&sim.base_url()));
    assert!(
        run.output("error-message").contains("left running"),
        "{}",
        run.output("error-message")
    );
    assert_eq!(run.result["outcome"], "interrupted");
    assert_eq!(sim.count("cancel"), 0);
}

#[cfg(unix)]
#[test]
fn sigint_is_exit_130() {
    let (_, run) = interrupted(kill("INT"), &[]);
    assert_outcome(&run, "interrupted", 130);
}

#[cfg(unix)]
#[test]
fn an_interrupt_cancels_the_operation_when_asked_to() {
    let (sim, run) = interrupted(kill("TERM"), &[("MARKETPLACE_CANCEL_ON_INTERRUPT", "true")]);
    assert_outcome(&run, "interrupted", 143);
    assert_eq!(sim.count("cancel"), 1);
    assert!(run.output("error-message").contains("asked to cancel"));
}

#[test]
fn a_status_read_answered_202_is_still_running() {
    let sim =
        simulator(r#"{"routes": {"operation": [{"status": 202, "body": {"status": "running"}}]}}"#);
    let publish = run(&env_for(&sim, &[]));
    assert_outcome(&publish, "succeeded", 0);
}

#[test]
fn a_deadline_before_anything_was_accepted_is_an_error_not_a_timeout() {
    let sim = simulator(
        r#"{"routes": {"publish": [{"status": 503, "times": "always", "headers": {"Retry-After": "86400"}}]}}"#,
    );
    let publish = run(&env_for(&sim, &[("MARKETPLACE_TIMEOUT", "2s")]));
    assert_outcome(&publish, "error", 8);
    assert_eq!(publish.output("operation-location"), "");
    // The last answer's status and the service's words, not a made-up timeout.
    assert_eq!(publish.output("http-status"), "503");
    assert!(!publish.output("error-message").is_empty());
    assert!(!publish
        .output("error-message")
        .contains("MARKETPLACE_TIMEOUT"));
}

#[cfg(windows)]
#[test]
fn ctrl_break_stops_the_wait_at_once_and_is_exit_149() {
    let (sim, run) = interrupted(ctrl_break, &[]);
    assert_outcome(&run, "interrupted", 149);
    assert_eq!(run.output("exit-code"), "149");
    assert!(run
        .output("operation-location")
        .starts_with(&sim.base_url()));
    assert_eq!(run.result["outcome"], "interrupted");
    assert_eq!(sim.count("cancel"), 0);
}

#[cfg(windows)]
#[test]
fn ctrl_break_cancels_the_operation_when_asked_to() {
    let (sim, run) = interrupted(ctrl_break, &[("MARKETPLACE_CANCEL_ON_INTERRUPT", "true")]);
    assert_outcome(&run, "interrupted", 149);
    assert_eq!(sim.count("cancel"), 1);
}
