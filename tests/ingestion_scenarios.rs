//! Scenario tests of the Product Ingestion API: the built binary against the simulator's `pi-*`
//! scenarios, as a GitHub step, checking outcome, exit code, outputs, request counts and secrets.

mod common;

use common::{run, Run};
use marketplace_publish::sim::{scenario, Simulator};

/// The token the simulator's scenarios accept.
const SIM_TOKEN: &str = "sim-token";

fn publish(name: &str, extra: &[(&str, &str)]) -> (Simulator, Run) {
    let sim = Simulator::start_in_thread(scenario(name).expect("a known scenario")).unwrap();
    let run = run_against(&sim, extra);
    (sim, run)
}

/// One run as a GitHub step against `sim`'s Product Ingestion API, `extra` overriding the defaults.
fn run_against(sim: &Simulator, extra: &[(&str, &str)]) -> Run {
    let run = run(&env_for(sim, extra));
    run.assert_never_shows(SIM_TOKEN);
    run.assert_no_forged_commands();
    run
}

/// A GitHub step's variables for `sim`'s Product Ingestion API, `extra` overriding the defaults.
fn env_for(sim: &Simulator, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let base = format!("{}/rp/product-ingestion", sim.base_url());
    let mut env: Vec<(String, String)> = [
        ("GITHUB_ACTIONS", "true"),
        ("MARKETPLACE_API", "product-ingestion"),
        ("MARKETPLACE_OFFER_ID", "contoso-offer"),
        ("MARKETPLACE_TOKEN", SIM_TOKEN),
        ("MARKETPLACE_API_BASE", base.as_str()),
        ("MARKETPLACE_POLL_INTERVAL", "20ms"),
        ("MARKETPLACE_POLL_MAX_INTERVAL", "50ms"),
        ("MARKETPLACE_TIMEOUT", "15s"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        env.push((k.to_string(), v.to_string()));
    }
    env
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
    let cancel = run_against(
        &sim,
        &[
            ("MARKETPLACE_COMMAND", "cancel"),
            ("MARKETPLACE_OPERATION", &location),
        ],
    );
    assert_outcome(&cancel, "canceled", 0);
    assert_eq!(sim.count("pi-cancel"), 1);
}

/// The SAS signature of the disk URLs: a secret that must appear nowhere the run writes.
const SIG: &str = "sig=Zm9vYmFyU0lHc2VjcmV0";

fn new_version(version: &str, disk: &str) -> Vec<(String, String)> {
    vec![
        ("MARKETPLACE_PLAN_ID".into(), "base".into()),
        ("MARKETPLACE_IMAGE_VERSION".into(), version.into()),
        (
            "MARKETPLACE_OS_DISK_URL".into(),
            format!("https://images.blob.core.windows.net/vhds/{disk}.vhd?sv=2024-01-01&{SIG}"),
        ),
    ]
}

fn pairs(list: &[(String, String)]) -> Vec<(&str, &str)> {
    list.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn a_new_image_version_is_added_then_published_and_a_rerun_changes_nothing() {
    let sim = Simulator::start_in_thread(scenario("pi-happy").unwrap()).unwrap();
    let inputs = new_version("1.4.2", "os-1.4.2");
    let first = run_against(&sim, &pairs(&inputs));
    assert_outcome(&first, "preview-ready", 0);
    first.assert_never_shows("Zm9vYmFyU0lHc2VjcmV0");
    // The draft job, then the preview.
    assert_eq!(sim.count("pi-configure"), 2);
    assert!(
        first.summary.contains("went on with the next one"),
        "{}",
        first.summary
    );

    // A re-run of the pipeline: the same version with the same disk (a fresh signature) is no change,
    // so only the publish is sent.
    let second = run_against(&sim, &pairs(&inputs));
    second.assert_never_shows("Zm9vYmFyU0lHc2VjcmV0");
    assert!(
        second.stdout.contains("nothing to send for it"),
        "{}",
        second.stdout
    );
    assert_eq!(sim.count("pi-configure"), 3);

    // The same version with another disk is refused before anything is sent.
    let conflict = run_against(&sim, &pairs(&new_version("1.4.2", "other-disk")));
    assert_outcome(&conflict, "bad-request", 3);
    conflict.assert_never_shows("Zm9vYmFyU0lHc2VjcmV0");
    assert_eq!(sim.count("pi-configure"), 3);
}

#[test]
fn configure_applies_a_file_of_draft_resources_with_its_references_filled_in() {
    let sim = Simulator::start_in_thread(scenario("pi-happy").unwrap()).unwrap();
    let dir = common::scratch_dir();
    let file = dir.join("configure.json");
    std::fs::write(
        &file,
        r#"{"$schema": "https://schema.mp.microsoft.com/schema/configure/2022-03-01-preview2",
            "resources": [{"$schema": "https://schema.mp.microsoft.com/schema/virtual-machine-plan-technical-configuration/2022-03-01-preview3",
                           "product": {"externalId": "contoso-offer"}, "plan": {"externalId": "base"},
                           "vmImageVersions": [{"versionNumber": "2.0.0", "vmImages": [{"imageType": "x64Gen2",
                             "source": {"sourceType": "sasUri", "osDisk": {"uri": "${DISK_SAS_URL}"}, "dataDisks": []}}]}]}]}"#,
    )
    .unwrap();
    let disk = format!("https://images.blob.core.windows.net/vhds/os-2.vhd?{SIG}");
    let run = run_against(
        &sim,
        &[
            ("MARKETPLACE_COMMAND", "configure"),
            ("MARKETPLACE_CONFIGURE_FILE", file.to_str().unwrap()),
            ("DISK_SAS_URL", &disk),
        ],
    );
    assert_outcome(&run, "succeeded", 0);
    run.assert_never_shows("Zm9vYmFyU0lHc2VjcmV0");
    assert_eq!(sim.count("pi-configure"), 1);
    let sent = sim
        .requests()
        .into_iter()
        .find(|r| r.route.map(|r| r.name()) == Some("pi-configure"))
        .unwrap();
    assert!(sent.request.body_text().contains(&disk));
}

#[test]
fn a_failed_draft_job_publishes_nothing() {
    let sim = Simulator::start_in_thread(scenario("pi-invalid").unwrap()).unwrap();
    let run = run_against(&sim, &pairs(&new_version("1.4.2", "os")));
    assert_outcome(&run, "failed", 1);
    assert_eq!(sim.count("pi-configure"), 1);
    run.assert_never_shows("Zm9vYmFyU0lHc2VjcmV0");
}

#[test]
fn changes_while_a_submission_runs_are_refused_at_once() {
    let sim = Simulator::start_in_thread(scenario("pi-guard").unwrap()).unwrap();
    let run = run_against(&sim, &pairs(&new_version("1.4.2", "os")));
    assert_outcome(&run, "bad-request", 3);
    assert!(run.output("error-message").contains("in progress"));
    assert_eq!(sim.count("pi-configure"), 0);
}

#[test]
fn a_job_started_without_waiting_is_resumed_by_status() {
    let (sim, first) = publish("pi-happy", &[("MARKETPLACE_WAIT", "false")]);
    assert_outcome(&first, "accepted", 0);
    let location = first.output("operation-location").to_string();
    let status = run_against(
        &sim,
        &[
            ("MARKETPLACE_COMMAND", "status"),
            ("MARKETPLACE_OPERATION", &location),
        ],
    );
    assert_outcome(&status, "preview-ready", 0);
    assert_eq!(status.output("operation-location"), location);
    assert_eq!(sim.count("pi-configure"), 1);
}

#[cfg(unix)]
#[test]
fn an_interrupt_cancels_the_job_when_asked_to() {
    let sim = Simulator::start_in_thread(scenario("pi-cancel").unwrap()).unwrap();
    let pending = common::spawn(&env_for(
        &sim,
        &[("MARKETPLACE_CANCEL_ON_INTERRUPT", "true")],
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sim.count("pi-job") < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the job was never followed"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(common::send_signal("TERM", pending.child.id()));
    let run = pending.finish();
    assert_outcome(&run, "interrupted", 143);
    assert_eq!(sim.count("pi-cancel"), 1);
    assert!(run.output("error-message").contains("asked to cancel"));
    assert!(!run.output("operation-id").is_empty());
}
