//! Scenario tests of the Product Ingestion API: the built binary against the simulator's `pi-*`
//! scenarios, as a GitHub step, checking outcome, exit code, outputs, request counts and secrets.

mod common;

use common::{run, Run};
use marketplace_publish::sim::{scenario, Simulator};

/// The token the simulator's scenarios accept.
const SIM_TOKEN: &str = "sim-token";

fn publish(name: &str, extra: &[(&str, &str)]) -> (Simulator, Run) {
    let sim = Simulator::start_in_thread(scenario(name).expect("a known scenario")).unwrap();
    let mut env: Vec<(String, String)> = [
        ("GITHUB_ACTIONS", "true"),
        ("MARKETPLACE_API", "product-ingestion"),
        ("MARKETPLACE_OFFER_ID", "contoso-offer"),
        ("MARKETPLACE_TOKEN", SIM_TOKEN),
        ("MARKETPLACE_POLL_INTERVAL", "20ms"),
        ("MARKETPLACE_POLL_MAX_INTERVAL", "50ms"),
        ("MARKETPLACE_TIMEOUT", "15s"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.push((
        "MARKETPLACE_API_BASE".into(),
        format!("{}/rp/product-ingestion", sim.base_url()),
    ));
    for (k, v) in extra {
        env.push((k.to_string(), v.to_string()));
    }
    let run = run(&env);
    run.assert_never_shows(SIM_TOKEN);
    run.assert_no_forged_commands();
    (sim, run)
}

fn assert_outcome(run: &Run, outcome: &str, code: i32) {
    assert_eq!(
        (run.output("outcome"), run.code),
        (outcome, code),
        "stdout:\n{}",
        run.stdout
    );
}

#[test]
fn a_publish_ends_with_the_preview_ready_and_names_product_submission_and_job() {
    let (sim, run) = publish("pi-happy", &[]);
    assert_outcome(&run, "preview-ready", 0);
    assert!(run.output("product-id").starts_with("product/"));
    assert!(run.output("submission-id").starts_with("submission/"));
    assert!(run
        .output("operation-location")
        .ends_with(&format!("/configure/{}/status", run.output("operation-id"))));
    assert_eq!(sim.count("pi-configure"), 1);
}

#[test]
fn a_running_preview_is_followed_and_nothing_new_is_started() {
    let (sim, run) = publish("pi-guard", &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(sim.count("pi-configure"), 0);
}

#[test]
fn a_failed_certification_reads_as_one_in_microsofts_words() {
    let (_, run) = publish("pi-certification", &[]);
    assert_outcome(&run, "failed", 1);
    assert_eq!(run.output("failed-step"), "certification");
    assert!(run
        .output("error-message")
        .contains("Issues found during Certification"));
}

#[test]
fn go_live_takes_the_ready_preview_live() {
    let (_, run) = publish("pi-go-live", &[("MARKETPLACE_COMMAND", "go-live")]);
    assert_outcome(&run, "succeeded", 0);
}

#[test]
fn a_flaky_service_is_ridden_out() {
    let (_, run) = publish("pi-flaky", &[]);
    assert_outcome(&run, "preview-ready", 0);
}

#[test]
fn refusals_map_to_their_outcomes() {
    let (_, run) = publish("pi-forbidden", &[]);
    assert_outcome(&run, "unauthorized", 6);
    let (_, run) = publish("pi-not-found", &[]);
    assert_outcome(&run, "not-found", 4);
}

#[test]
fn a_started_job_is_canceled_on_request() {
    let (sim, first) = publish("pi-cancel", &[("MARKETPLACE_WAIT", "false")]);
    assert_outcome(&first, "accepted", 0);
    let location = first.output("operation-location").to_string();
    let mut env: Vec<(String, String)> = vec![
        ("GITHUB_ACTIONS".into(), "true".into()),
        ("MARKETPLACE_API".into(), "product-ingestion".into()),
        ("MARKETPLACE_OFFER_ID".into(), "contoso-offer".into()),
        ("MARKETPLACE_TOKEN".into(), SIM_TOKEN.into()),
        ("MARKETPLACE_COMMAND".into(), "cancel".into()),
        ("MARKETPLACE_OPERATION".into(), location),
        ("MARKETPLACE_POLL_INTERVAL".into(), "20ms".into()),
        ("MARKETPLACE_POLL_MAX_INTERVAL".into(), "50ms".into()),
    ];
    env.push((
        "MARKETPLACE_API_BASE".into(),
        format!("{}/rp/product-ingestion", sim.base_url()),
    ));
    let cancel = run(&env);
    assert_outcome(&cancel, "canceled", 0);
    assert_eq!(sim.count("pi-cancel"), 1);
}
