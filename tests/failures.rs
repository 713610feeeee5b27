//! Failures a newcomer or a hostile network meets, run with the built binary: each must end quickly
//! with words that say what failed, where, and what to do.

mod common;

use std::time::Duration;

use common::{github_env, run, set, spawn, TOKEN};
use marketplace_publish::sim::{Plan, Simulator};

/// What issue #13 promises for a wrong API base at the default settings: two calls (the check for a
/// running operation, then the publish), each given up on within seconds.
const UNREACHABLE_LIMIT: Duration = Duration::from_secs(15);

/// The variables of a GitHub step at the default poll and retry settings, against `api_base`.
fn default_env(api_base: &str) -> Vec<(String, String)> {
    let mut env = github_env(api_base);
    for name in [
        "MARKETPLACE_POLL_INTERVAL",
        "MARKETPLACE_POLL_MAX_INTERVAL",
        "MARKETPLACE_TIMEOUT",
    ] {
        set(&mut env, name, "");
    }
    env
}

#[test]
fn a_refused_api_base_ends_in_seconds_naming_the_address_the_cause_and_the_input() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let run =
        spawn(&default_env(&format!("http://127.0.0.1:{port}"))).finish_within(UNREACHABLE_LIMIT);
    assert_eq!(
        (run.code, run.output("outcome")),
        (8, "error"),
        "{}",
        run.stdout
    );
    let message = run.output("error-message");
    assert!(
        message.contains(&format!(
            "could not connect to 127.0.0.1:{port} (Connection refused"
        )),
        "{message}"
    );
    let annotation = run.stdout.lines().last().unwrap();
    assert!(annotation.starts_with("::error "), "{annotation}");
    assert!(annotation.contains("MARKETPLACE_API_BASE"), "{annotation}");
}

#[test]
fn a_failed_operation_whose_message_has_a_lone_surrogate_is_failed_with_its_message() {
    let operation = r#"{"id":"op-1","status":"failed","steps":[{"stepName":"displaycertify",
        "description":"Certification","status":"failed","messages":[{"level":"error",
        "messageHtml":"The logo \ud83d is not a 216x216 PNG."}]}]}"#;
    let plan =
        serde_json::json!({"routes": {"operation": [{"text": operation, "times": "always"}]}});
    let mut plan = Plan::from_json(&plan.to_string()).unwrap();
    plan.auth.tokens = vec![TOKEN.to_string()];
    let sim = Simulator::start_in_thread(plan).unwrap();
    let run = run(&github_env(&sim.base_url()));
    assert_eq!(
        (run.code, run.output("outcome")),
        (1, "failed"),
        "{}",
        run.stdout
    );
    assert_eq!(run.output("failed-step"), "displaycertify");
    assert_eq!(
        run.output("error-message"),
        "The logo \u{FFFD} is not a 216x216 PNG."
    );
}

#[test]
fn a_placeholder_token_leaves_the_log_readable_and_is_warned_about() {
    let mut plan = Plan::default();
    plan.auth.tokens = vec!["t".to_string()];
    let sim = Simulator::start_in_thread(plan).unwrap();
    let mut env = github_env(&sim.base_url());
    set(&mut env, "MARKETPLACE_TOKEN", "t");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("publish accepted (HTTP 202)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("::warning title=MARKETPLACE_TOKEN looks like a placeholder::"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_unwritable_step_summary_is_named_and_the_outputs_are_still_written() {
    let mut plan = Plan::default();
    plan.auth.tokens = vec![TOKEN.to_string()];
    let sim = Simulator::start_in_thread(plan).unwrap();
    let mut env = github_env(&sim.base_url());
    let summary = std::env::temp_dir()
        .join("marketplace-publish-no-such-dir")
        .join("summary.md");
    set(
        &mut env,
        "GITHUB_STEP_SUMMARY",
        &summary.display().to_string(),
    );
    let run = run(&env);
    assert_eq!(run.output("outcome"), "succeeded");
    let warning = format!(
        "::warning title=could not write GITHUB_STEP_SUMMARY::{}: No such file or directory",
        summary.display()
    );
    assert!(run.stdout.contains(&warning), "{}", run.stdout);
    assert!(!run.stdout.contains("GITHUB_OUTPUT"), "{}", run.stdout);
}

/// A SIGTERM in the first moments of a run, while it reads the CA certificates, still ends it
/// `interrupted` with its outputs written, instead of killing it with nothing written.
#[cfg(unix)]
#[test]
fn a_sigterm_while_the_run_sets_up_still_writes_the_outputs() {
    use std::io::Read;

    let mut plan = Plan::default();
    plan.auth.tokens = vec![TOKEN.to_string()];
    let sim = Simulator::start_in_thread(plan).unwrap();
    // Tens of megabytes of lines that are no certificate: reading them holds the setup up for a while.
    let dir = common::scratch_dir();
    let ca_file = dir.join("slow-to-read.pem");
    std::fs::write(&ca_file, format!("{}\n", "x".repeat(70)).repeat(400_000)).unwrap();
    let mut env = github_env(&sim.base_url());
    set(&mut env, "SSL_CERT_FILE", &ca_file.display().to_string());
    let mut pending = spawn(&env);
    // The mask line is the first the run writes; the CA file is read after it. Read byte by byte, so
    // that the rest stays in the pipe for the run's collection.
    let stdout = pending.child.stdout.as_mut().unwrap();
    let mut first_line = Vec::new();
    let mut byte = [0u8];
    while stdout.read_exact(&mut byte).is_ok() && byte[0] != b'\n' {
        first_line.push(byte[0]);
    }
    assert!(first_line.starts_with(b"::add-mask::"), "{first_line:?}");
    assert!(common::send_signal("TERM", pending.child.id()));
    let run = pending.finish();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(run.code, 143, "{}", run.stderr);
    assert_eq!(run.output("outcome"), "interrupted");
    assert_eq!(run.result["outcome"], "interrupted");
}

/// A certificate store that cannot be read ends the run with an outcome and its outputs, not an abort.
#[test]
fn a_broken_certificate_store_ends_with_an_error_and_the_outputs_written() {
    let dir = common::scratch_dir();
    let ca_file = dir.join("broken.pem");
    std::fs::write(
        &ca_file,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let mut env = github_env("http://127.0.0.1:9");
    set(&mut env, "SSL_CERT_FILE", &ca_file.display().to_string());
    let run = run(&env);
    assert_eq!(run.code, 8, "{}", run.stdout);
    assert_eq!(run.output("outcome"), "error");
    assert_eq!(run.output("error-code"), "TlsSetup");
    assert!(run.stdout.contains("SSL_CERT_FILE"), "{}", run.stdout);
}

/// An argument that is not UTF-8 is a wrong input like any other: exit 2, with the outputs written.
#[cfg(unix)]
#[test]
fn a_non_utf8_argument_ends_with_a_config_error_and_the_outputs_written() {
    use std::os::unix::ffi::OsStrExt;

    let dir = common::scratch_dir();
    let output = dir.join("github_output");
    std::fs::write(&output, "").unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_marketplace-publish"))
        .arg(std::ffi::OsStr::from_bytes(b"\xff"))
        .env_clear()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
    let outputs = common::parse_github_output(&std::fs::read_to_string(&output).unwrap());
    assert_eq!(outputs["outcome"], "config-error");
    assert!(outputs["error-message"].contains("UTF-8"));
}
