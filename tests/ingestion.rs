//! Contract tests of the Product Ingestion API (contract section 6): the built binary against an
//! `httpmock` server whose base carries a path, one test per request shape and answer variant.

mod common;

use common::{set, Run, TOKEN};
use httpmock::prelude::*;
use httpmock::Mock;
use serde_json::{json, Value};

const ROOT: &str = "/rp/product-ingestion";
const VERSION: &str = "2022-03-01-preview2";
const GUID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
const JOB: &str = "d4261631-c583-4949-a612-5150882632e9";

fn base(server: &MockServer) -> String {
    format!("{}{ROOT}", server.base_url())
}

fn path(tail: &str) -> String {
    format!("{ROOT}/{tail}")
}

fn submission(n: u64) -> String {
    format!("submission/{GUID}/{n}")
}

fn env(server: &MockServer) -> Vec<(String, String)> {
    [
        ("GITHUB_ACTIONS", "true"),
        ("MARKETPLACE_API", "product-ingestion"),
        ("MARKETPLACE_OFFER_ID", "contoso-offer"),
        ("MARKETPLACE_TOKEN", TOKEN),
        ("MARKETPLACE_API_BASE", &base(server)),
        ("MARKETPLACE_POLL_INTERVAL", "10ms"),
        ("MARKETPLACE_POLL_MAX_INTERVAL", "40ms"),
        ("MARKETPLACE_TIMEOUT", "15s"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn draft() -> Value {
    json!({"id": submission(0), "product": format!("product/{GUID}"), "target": {"targetType": "draft"}})
}

fn entry(n: u64, target: &str, status: &str, result: &str) -> Value {
    json!({"$schema": "https://schema.mp.microsoft.com/schema/submission/2022-03-01-preview2",
           "id": submission(n), "product": format!("product/{GUID}"),
           "target": {"targetType": target}, "status": status, "result": result})
}

/// The product lookup answering with the offer in one page.
fn product(server: &MockServer) -> Mock<'_> {
    server.mock(|when, then| {
        when.method(GET)
            .path(path("product"))
            .query_param("externalId", "contoso-offer")
            .query_param("$version", VERSION)
            .header("authorization", format!("Bearer {TOKEN}"));
        then.status(200).json_body(json!({"value": [
            {"id": format!("product/{GUID}"), "identity": {"externalId": "contoso-offer"},
             "type": "azureVirtualMachine"}]}));
    })
}

fn submissions(server: &MockServer, entries: Vec<Value>) -> Mock<'_> {
    server.mock(|when, then| {
        when.method(GET)
            .path(path(&format!("submission/{GUID}")))
            .query_param("$version", VERSION);
        then.status(200).json_body(json!({ "value": entries }));
    })
}

fn configure(server: &MockServer, body: Value, answer: Value) -> Mock<'_> {
    server.mock(|when, then| {
        when.method(POST)
            .path(path("configure"))
            .query_param("$version", VERSION)
            .header("content-type", "application/json")
            .json_body(body);
        then.status(200).json_body(answer);
    })
}

fn job_status(server: &MockServer, answer: Value) -> Mock<'_> {
    server.mock(|when, then| {
        when.method(GET)
            .path(path(&format!("configure/{JOB}/status")))
            .query_param("$version", VERSION);
        then.status(200).json_body(answer);
    })
}

fn job(status: &str, result: &str) -> Value {
    json!({"jobId": JOB, "jobStatus": status, "jobResult": result,
           "jobStart": "2022-03-01T13:32:43.123456Z", "jobEnd": "0001-01-01T00:00:00", "errors": []})
}

fn preview_body() -> Value {
    json!({"$schema": format!("https://schema.mp.microsoft.com/schema/configure/{VERSION}"),
           "resources": [{"$schema": "https://schema.mp.microsoft.com/schema/submission/2022-03-01-preview2",
                          "product": format!("product/{GUID}"), "target": {"targetType": "preview"}}]})
}

fn location(server: &MockServer) -> String {
    format!("{}/configure/{JOB}/status", base(server))
}

fn checked(run: Run) -> Run {
    run.assert_never_shows(TOKEN);
    run.assert_no_forged_commands();
    run
}

#[test]
fn a_publish_looks_up_the_product_posts_the_preview_and_ends_at_a_ready_preview() {
    let server = MockServer::start();
    let lookup = product(&server);
    let subs = submissions(
        &server,
        vec![
            draft(),
            entry(1, "live", "completed", "succeeded"),
            entry(2, "preview", "completed", "succeeded"),
        ],
    );
    let post = configure(
        &server,
        preview_body(),
        json!({"jobId": JOB, "jobStatus": "notStarted"}),
    );
    let status = job_status(&server, job("completed", "succeeded"));
    let run = checked(common::run(&env(&server)));
    assert_eq!(run.code, 0, "{}", run.stdout);
    lookup.assert_calls(1);
    post.assert_calls(1);
    status.assert_calls(1);
    // The guard before, and the end state after.
    subs.assert_calls(2);
    assert_eq!(run.output("outcome"), "preview-ready");
    assert_eq!(run.output("product-id"), format!("product/{GUID}"));
    assert_eq!(run.output("submission-id"), submission(2));
    assert_eq!(run.output("operation-location"), location(&server));
    assert_eq!(run.output("operation-id"), JOB);
    assert_eq!(run.output("operation-status"), "succeeded");
    assert_eq!(run.output("http-status"), "200");
}

#[test]
fn the_lookup_follows_next_links_and_a_durable_id_needs_none() {
    let server = MockServer::start();
    let first = server.mock(|when, then| {
        when.method(GET)
            .path(path("product"))
            .query_param_missing("continuationToken");
        then.status(200).json_body(json!({
            "value": [{"id": "product/aaaaaaaa-0000-0000-0000-000000000000",
                       "identity": {"externalId": "contoso-offer-2"}}],
            "@nextLink": format!("{}/product?externalId=contoso-offer&continuationToken=abc", base(&server))}));
    });
    let second = server.mock(|when, then| {
        when.method(GET)
            .path(path("product"))
            .query_param("continuationToken", "abc")
            .query_param("$version", VERSION);
        then.status(200).json_body(json!({"value": [
            {"id": format!("product/{GUID}"), "identity": {"externalId": "contoso-offer"}}]}));
    });
    submissions(&server, vec![draft()]);
    let mut env = env(&server);
    set(&mut env, "MARKETPLACE_COMMAND", "status");
    let run = checked(common::run(&env));
    first.assert_calls(1);
    second.assert_calls(1);
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert!(run.output("error-message").contains("never been published"));
    assert_eq!(run.output("product-id"), format!("product/{GUID}"));

    let server = MockServer::start();
    let lookup = product(&server);
    submissions(&server, vec![draft()]);
    for given in [format!("product/{GUID}"), GUID.to_string()] {
        let mut env = self::env(&server);
        set(&mut env, "MARKETPLACE_COMMAND", "status");
        set(&mut env, "MARKETPLACE_OFFER_ID", &given);
        let run = checked(common::run(&env));
        assert_eq!(run.code, 4, "{}", run.stdout);
        assert_eq!(run.output("product-id"), format!("product/{GUID}"));
    }
    lookup.assert_calls(0);
}

#[test]
fn a_next_link_off_the_api_origin_is_refused_and_nothing_is_sent_there() {
    let server = MockServer::start();
    let elsewhere = MockServer::start();
    let foreign = elsewhere.mock(|when, then| {
        when.any_request();
        then.status(200).json_body(json!({"value": []}));
    });
    server.mock(|when, then| {
        when.method(GET).path(path("product"));
        then.status(200).json_body(json!({"value": [],
            "@nextLink": format!("{}/product?page=2", base(&elsewhere))}));
    });
    let run = checked(common::run(&env(&server)));
    assert_eq!(run.code, 8, "{}", run.stdout);
    assert_eq!(run.output("outcome"), "error");
    foreign.assert_calls(0);
}

#[test]
fn a_submission_in_progress_is_followed_and_nothing_is_started() {
    let server = MockServer::start();
    product(&server);
    submissions(
        &server,
        vec![draft(), entry(3, "preview", "running", "pending")],
    );
    let post = configure(&server, preview_body(), json!({"jobId": JOB}));
    let mut env = env(&server);
    set(&mut env, "MARKETPLACE_WAIT", "false");
    let run = checked(common::run(&env));
    assert_eq!(run.code, 0, "{}", run.stdout);
    post.assert_calls(0);
    assert!(run.everything().contains("already in progress"));
    assert_eq!(run.output("submission-id"), submission(3));
    assert_eq!(run.output("operation-status"), "running");
}

#[test]
fn a_job_named_as_job_id_with_schema_is_followed_and_wait_false_stops_at_accepted() {
    let server = MockServer::start();
    product(&server);
    submissions(&server, vec![draft()]);
    let post = configure(
        &server,
        preview_body(),
        json!({"$schema": "https://schema.mp.microsoft.com/schema/configure-status/2022-03-01-preview2",
               "jobID": JOB, "jobStatus": "notStarted", "jobResult": "pending", "jobEnd": "0001-01-01"}),
    );
    let status = job_status(&server, job("running", "pending"));
    let mut env = env(&server);
    set(&mut env, "MARKETPLACE_WAIT", "false");
    let run = checked(common::run(&env));
    assert_eq!(run.code, 0, "{}", run.stdout);
    post.assert_calls(1);
    status.assert_calls(0);
    assert_eq!(run.output("outcome"), "accepted");
    assert_eq!(run.output("operation-id"), JOB);
    assert_eq!(run.output("operation-location"), location(&server));
}

/// A go-live over `entries` whose configure would start a job: the run and the POST's mock.
fn go_live_over(server: &MockServer, entries: Vec<Value>) -> (Run, Mock<'_>) {
    product(server);
    submissions(server, entries);
    let post = server.mock(|when, then| {
        when.method(POST);
        then.status(200).json_body(json!({"jobId": JOB}));
    });
    let mut env = env(server);
    set(&mut env, "MARKETPLACE_COMMAND", "go-live");
    (checked(common::run(&env)), post)
}

#[test]
fn go_live_needs_a_succeeded_preview() {
    let server = MockServer::start();
    let (run, post) = go_live_over(
        &server,
        vec![draft(), entry(2, "preview", "completed", "failed")],
    );
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert_eq!(run.output("outcome"), "bad-request");
    post.assert_calls(0);
}

#[test]
fn go_live_of_a_preview_already_live_sends_nothing() {
    let server = MockServer::start();
    let (run, post) = go_live_over(
        &server,
        vec![
            draft(),
            entry(2, "preview", "completed", "succeeded"),
            entry(2, "live", "completed", "succeeded"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.output("outcome"), "succeeded");
    post.assert_calls(0);
}

#[test]
fn go_live_posts_the_preview_submission_to_live() {
    let server = MockServer::start();
    product(&server);
    submissions(
        &server,
        vec![
            draft(),
            entry(1, "live", "completed", "succeeded"),
            entry(2, "preview", "completed", "succeeded"),
        ],
    );
    let body = json!({"$schema": format!("https://schema.mp.microsoft.com/schema/configure/{VERSION}"),
        "resources": [{"$schema": "https://schema.mp.microsoft.com/schema/submission/2022-03-01-preview2",
                       "id": submission(2), "product": format!("product/{GUID}"),
                       "target": {"targetType": "live"}}]});
    let post = configure(&server, body, json!({"jobId": JOB}));
    job_status(&server, job("completed", "succeeded"));
    let mut env = env(&server);
    set(&mut env, "MARKETPLACE_COMMAND", "go-live");
    let run = checked(common::run(&env));
    assert_eq!(run.code, 0, "{}", run.stdout);
    post.assert_calls(1);
    assert_eq!(run.output("outcome"), "succeeded");
    assert_eq!(run.output("submission-id"), submission(2));
}

#[test]
fn status_reads_the_submissions() {
    let cases = [
        (entry(3, "preview", "notStarted", "pending"), 0, "running"),
        (
            entry(3, "preview", "completed", "succeeded"),
            0,
            "preview-ready",
        ),
        (
            entry(1, "preview", "completed", "succeeded"),
            0,
            "succeeded",
        ),
        (entry(3, "preview", "completed", "failed"), 1, "failed"),
    ];
    for (preview, code, outcome) in cases {
        let server = MockServer::start();
        product(&server);
        submissions(
            &server,
            vec![draft(), entry(1, "live", "completed", "succeeded"), preview],
        );
        let mut env = env(&server);
        set(&mut env, "MARKETPLACE_COMMAND", "status");
        set(&mut env, "MARKETPLACE_WAIT", "false");
        let run = checked(common::run(&env));
        assert_eq!(
            (run.code, run.output("outcome")),
            (code, outcome),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn cancel_posts_to_the_given_job() {
    let server = MockServer::start();
    let cancel = server.mock(|when, then| {
        when.method(POST)
            .path(path(&format!("configure/{JOB}/cancel")))
            .query_param("$version", VERSION);
        then.status(200).json_body(job("completed", "cancelled"));
    });
    let mut env = env(&server);
    set(&mut env, "MARKETPLACE_COMMAND", "cancel");
    set(
        &mut env,
        "MARKETPLACE_OPERATION",
        &format!("configure/{JOB}"),
    );
    let run = checked(common::run(&env));
    assert_eq!(run.code, 0, "{}", run.stdout);
    cancel.assert_calls(1);
    assert_eq!(run.output("outcome"), "canceled");
    assert_eq!(run.output("operation-status"), "cancelled");
    assert_eq!(run.output("operation-location"), location(&server));

    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST)
            .path(path(&format!("configure/{JOB}/cancel")));
        then.status(400)
            .json_body(json!({"error": {"code": "badRequest",
            "message": "Cannot cancel job, job has already completed.", "details": []}}));
    });
    let mut env = self::env(&server);
    set(&mut env, "MARKETPLACE_COMMAND", "cancel");
    set(&mut env, "MARKETPLACE_OPERATION", &location(&server));
    let run = checked(common::run(&env));
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert!(run
        .output("error-message")
        .contains("Cannot cancel job, job has already completed."));

    set(&mut env, "MARKETPLACE_OPERATION", "");
    let run = checked(common::run(&env));
    assert_eq!(run.code, 2, "{}", run.stdout);
}

#[test]
fn a_failed_certification_names_the_step_and_the_deepest_message() {
    let server = MockServer::start();
    product(&server);
    submissions(&server, vec![draft()]);
    configure(&server, preview_body(), json!({"jobId": JOB}));
    let mut failed = job("completed", "failed");
    failed["errors"] = json!([{"resourceId": "submission/2d541119", "code": "internalServerError",
        "message": "Operation failed",
        "details": [{"code": "invalidState", "message": "Certification",
            "details": [{"code": "invalidState", "message": "Issues found during Certification."}]}]}]);
    job_status(&server, failed);
    let run = checked(common::run(&env(&server)));
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.output("outcome"), "failed");
    assert_eq!(run.output("failed-step"), "certification");
    assert_eq!(run.output("error-code"), "invalidState");
    assert_eq!(
        run.output("error-message"),
        "Issues found during Certification."
    );
    let log = format!("{}\n{}", run.stdout, run.stderr);
    for message in [
        "Operation failed",
        "Certification",
        "Issues found during Certification.",
    ] {
        assert!(log.contains(message), "{message}: {log}");
    }
}

#[test]
fn an_accepted_configure_without_a_job_id_is_unusable() {
    let server = MockServer::start();
    product(&server);
    submissions(&server, vec![draft()]);
    configure(&server, preview_body(), json!({"status": "ok"}));
    let run = checked(common::run(&env(&server)));
    assert_eq!(run.code, 8, "{}", run.stdout);
    assert!(
        run.output("error-message").contains("no job"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_given_job_is_resumed_in_either_form() {
    let server = MockServer::start();
    product(&server);
    submissions(
        &server,
        vec![
            draft(),
            entry(1, "live", "completed", "succeeded"),
            entry(2, "preview", "completed", "succeeded"),
        ],
    );
    let post = server.mock(|when, then| {
        when.method(POST);
        then.status(200).json_body(json!({"jobId": JOB}));
    });
    job_status(&server, job("completed", "succeeded"));
    for given in [format!("configure/{JOB}"), location(&server)] {
        let mut env = env(&server);
        set(&mut env, "MARKETPLACE_OPERATION", &given);
        let run = checked(common::run(&env));
        assert_eq!(run.code, 0, "{}", run.stdout);
        assert_eq!(run.output("outcome"), "preview-ready");
        assert_eq!(run.output("operation-location"), location(&server));
        assert_eq!(run.output("submission-id"), submission(2));
    }
    post.assert_calls(0);
}

const PLAN_GUID: &str = "8e1f0a52-3b6d-4c97-a2e4-71d9c05b3f68";
const OLD_DISK: &str = "https://images.blob.core.windows.net/vhds/os-1.0.0.vhd?sv=1&sig=b2xkLXNpZw";
const NEW_DISK: &str = "https://images.blob.core.windows.net/vhds/os-1.1.0.vhd?sv=1&sig=bmV3LXNpZw";

/// The plan lookup and its technical configuration with version 1.0.0 on `OLD_DISK`.
fn vm_plan(server: &MockServer) -> (Mock<'_>, Mock<'_>) {
    let lookup = server.mock(|when, then| {
        when.method(GET)
            .path(path("plan"))
            .query_param("product", format!("product/{GUID}"))
            .query_param("externalId", "standard")
            .query_param("$version", VERSION);
        then.status(200).json_body(json!({"value": [{
            "id": format!("plan/{GUID}/{PLAN_GUID}"), "identity": {"externalId": "standard"}}]}));
    });
    let configuration = server.mock(|when, then| {
        when.method(GET)
            .path(path(&format!(
                "virtual-machine-plan-technical-configuration/{GUID}/{PLAN_GUID}"
            )))
            .query_param("$version", VERSION);
        then.status(200).json_body(json!({
            "$schema": "https://schema.mp.microsoft.com/schema/virtual-machine-plan-technical-configuration/2022-03-01-preview3",
            "product": format!("product/{GUID}"), "plan": format!("plan/{GUID}/{PLAN_GUID}"),
            "operatingSystem": {"family": "linux", "type": "ubuntu"},
            "skus": [{"imageType": "x64Gen2", "skuId": "standard"}],
            "vmImageVersions": [{"versionNumber": "1.0.0", "vmImages": [{"imageType": "x64Gen2",
                "source": {"sourceType": "sasUri", "osDisk": {"uri": OLD_DISK}, "dataDisks": []}}]}]}));
    });
    (lookup, configuration)
}

/// The section 7 request shapes: the plan by its external id, its technical configuration, one draft
/// configure that keeps version 1.0.0 and adds 1.1.0, then the preview once the draft job succeeded.
#[test]
fn a_new_image_version_is_read_merged_configured_then_published() {
    let server = MockServer::start();
    product(&server);
    submissions(
        &server,
        vec![draft(), entry(1, "live", "completed", "succeeded")],
    );
    let (lookup, configuration) = vm_plan(&server);
    let draft_body = json!({
        "$schema": format!("https://schema.mp.microsoft.com/schema/configure/{VERSION}"),
        "resources": [{
            "$schema": "https://schema.mp.microsoft.com/schema/virtual-machine-plan-technical-configuration/2022-03-01-preview3",
            "product": format!("product/{GUID}"), "plan": format!("plan/{GUID}/{PLAN_GUID}"),
            "operatingSystem": {"family": "linux", "type": "ubuntu"},
            "skus": [{"imageType": "x64Gen2", "skuId": "standard"}],
            "vmImageVersions": [
                {"versionNumber": "1.0.0", "vmImages": [{"imageType": "x64Gen2",
                    "source": {"sourceType": "sasUri", "osDisk": {"uri": OLD_DISK}, "dataDisks": []}}]},
                {"versionNumber": "1.1.0", "vmImages": [{"imageType": "x64Gen2",
                    "source": {"sourceType": "sasUri", "osDisk": {"uri": NEW_DISK}, "dataDisks": []}}]}]}]});
    let draft_job = "0c5e3b1a-0000-4000-8000-000000000001";
    let draft_post = configure(&server, draft_body, json!({"jobId": draft_job}));
    let draft_status = server.mock(|when, then| {
        when.method(GET)
            .path(path(&format!("configure/{draft_job}/status")));
        then.status(200).json_body(
            json!({"jobId": draft_job, "jobStatus": "completed", "jobResult": "succeeded"}),
        );
    });
    let publish = configure(&server, preview_body(), json!({"jobId": JOB}));
    job_status(&server, job("completed", "succeeded"));
    let mut env = env(&server);
    for (name, value) in [
        ("MARKETPLACE_PLAN_ID", "standard"),
        ("MARKETPLACE_IMAGE_VERSION", "1.1.0"),
        ("MARKETPLACE_OS_DISK_URL", NEW_DISK),
    ] {
        set(&mut env, name, value);
    }
    let run = checked(common::run(&env));
    assert_eq!(run.code, 0, "{}", run.stdout);
    lookup.assert_calls(1);
    configuration.assert_calls(1);
    draft_post.assert_calls(1);
    draft_status.assert_calls(1);
    publish.assert_calls(1);
    assert_eq!(run.output("operation-id"), JOB);
    for signature in ["b2xkLXNpZw", "bmV3LXNpZw"] {
        run.assert_never_shows(signature);
    }
}

/// A pipeline resumed with `MARKETPLACE_OPERATION` and its changes still set follows that job and
/// applies nothing, saying so.
#[test]
fn changes_given_with_an_operation_are_not_applied_and_a_warning_says_so() {
    let server = MockServer::start();
    submissions(
        &server,
        vec![draft(), entry(2, "preview", "completed", "succeeded")],
    );
    let (lookup, _) = vm_plan(&server);
    let any_post = server.mock(|when, then| {
        when.method(POST);
        then.status(200).json_body(json!({"jobId": JOB}));
    });
    job_status(&server, job("completed", "succeeded"));
    let mut env = env(&server);
    for (name, value) in [
        ("MARKETPLACE_OFFER_ID", &format!("product/{GUID}")[..]),
        ("MARKETPLACE_OPERATION", &format!("configure/{JOB}")[..]),
        ("MARKETPLACE_PLAN_ID", "standard"),
        ("MARKETPLACE_IMAGE_VERSION", "1.1.0"),
        ("MARKETPLACE_OS_DISK_URL", NEW_DISK),
    ] {
        set(&mut env, name, value);
    }
    let run = checked(common::run(&env));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("::warning title=changes not applied"),
        "{}",
        run.stdout
    );
    any_post.assert_calls(0);
    lookup.assert_calls(0);
}
