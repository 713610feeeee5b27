//! Contract tests of the publish path: the built binary against an `httpmock` server, one test per
//! status code, header variant, body shape and retry path of the contract and API-NOTES.md.

mod common;

use common::{github_env, run, set, TOKEN};
use httpmock::prelude::*;
use serde_json::json;

const PUBLISH: &str = "/api/publishers/contoso/offers/contoso-offer/publish";
const SUBMISSIONS: &str = "/api/publishers/contoso/offers/contoso-offer/submissions/";
const OLD_OPERATION: &str =
    "/api/operations/contoso$56615b67-2185-49fe-80d2-c4ddf77bb2e8$2$preview";
const NEW_OPERATION: &str =
    "/api/publishers/contoso/offers/contoso-offer/operations/56615b67-2185-49fe-80d2-c4ddf77bb2e8";

fn operation(status: &str) -> serde_json::Value {
    json!({
        "id": "56615b67-2185-49fe-80d2-c4ddf77bb2e8",
        "submissionType": "publish",
        "status": status,
        "steps": [
            {"stepName": "displaydummycertify", "description": "Validate Pre-Requisites", "status": "complete",
             "estimatedTimeFrame": "< 15 min", "progressPercentage": 100, "messages": []},
            {"stepName": "displaycertify", "description": "Certification", "status": status,
             "estimatedTimeFrame": "< 5 day", "progressPercentage": 100, "messages": []}
        ]
    })
}

/// A server whose publish answers 202 naming `location` in `header`, and whose operation is `answer`.
fn accepting(server: &MockServer, header: &str, location: &str, answer: serde_json::Value) {
    let location = location.to_string();
    let header = header.to_string();
    server.mock(|when, then| {
        when.method(POST).path(PUBLISH);
        then.status(202).header(header, location);
    });
    server.mock(|when, then| {
        when.method(GET).path(OLD_OPERATION);
        then.status(200).json_body(answer.clone());
    });
    server.mock(|when, then| {
        when.method(GET).path(NEW_OPERATION);
        then.status(200).json_body(answer);
    });
}

#[test]
fn a_publish_is_sent_as_the_contract_says_and_followed_to_success() {
    let server = MockServer::start();
    let publish = server.mock(|when, then| {
        when.method(POST)
            .path(PUBLISH)
            .query_param("api-version", "2017-10-31")
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .json_body(json!({"metadata": {"notification-emails": "a@x.com,b@y.com"}}));
        then.status(202).header(
            "Operation-Location",
            format!("{OLD_OPERATION}?api-version=2017-10-31"),
        );
    });
    let follow = server.mock(|when, then| {
        when.method(GET)
            .path(OLD_OPERATION)
            .query_param("api-version", "2017-10-31")
            .header("authorization", format!("Bearer {TOKEN}"));
        then.status(200).json_body(json!([operation("completed")]));
    });
    let mut env = github_env(&server.base_url());
    set(
        &mut env,
        "MARKETPLACE_NOTIFICATION_EMAILS",
        "a@x.com, b@y.com",
    );
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stdout);
    publish.assert_calls(1);
    follow.assert_calls(1);
    assert_eq!(run.output("outcome"), "succeeded");
    assert_eq!(run.output("exit-code"), "0");
    assert_eq!(run.output("http-status"), "202");
    assert_eq!(
        run.output("operation-location"),
        format!(
            "{}{OLD_OPERATION}?api-version=2017-10-31",
            server.base_url()
        )
    );
    assert_eq!(
        run.output("operation-id"),
        "56615b67-2185-49fe-80d2-c4ddf77bb2e8"
    );
    assert_eq!(run.output("operation-status"), "completed");
    assert_eq!(run.output("error-message"), "");
    assert_eq!(run.result["outcome"], "succeeded");
    assert_eq!(run.result["exit_code"], 0);
    assert!(run.stdout.contains("::notice"), "{}", run.stdout);
    assert!(run.summary.contains("displaycertify"), "{}", run.summary);
    run.assert_never_shows(TOKEN);
}

#[test]
fn the_location_header_and_absolute_locations_are_accepted() {
    let server = MockServer::start();
    let absolute = format!(
        "{}{NEW_OPERATION}?api-version=2017-10-31",
        server.base_url()
    );
    accepting(&server, "Location", &absolute, operation("complete"));
    let run = run(&github_env(&server.base_url()));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.output("outcome"), "succeeded");
    assert_eq!(run.output("operation-location"), absolute);
}

#[test]
fn an_operation_answered_as_an_object_is_read_too() {
    let server = MockServer::start();
    accepting(&server, "Location", NEW_OPERATION, operation("Succeeded"));
    let run = run(&github_env(&server.base_url()));
    assert_eq!(run.output("outcome"), "succeeded", "{}", run.stdout);
}

#[test]
fn an_accepted_publish_without_a_location_is_an_error() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path(PUBLISH);
        then.status(202);
    });
    let run = run(&github_env(&server.base_url()));
    assert_eq!(run.code, 8);
    assert_eq!(run.output("outcome"), "error");
    assert_eq!(run.output("http-status"), "202");
    assert!(run.output("error-message").contains("named no operation"));
}

#[test]
fn a_foreign_operation_location_is_refused_and_nothing_is_sent_there() {
    let server = MockServer::start();
    let foreign = MockServer::start();
    let trap = foreign.mock(|when, then| {
        when.any_request();
        then.status(200).json_body(operation("completed"));
    });
    let location = format!("{}{NEW_OPERATION}", foreign.url(""));
    accepting(
        &server,
        "Operation-Location",
        &location,
        operation("completed"),
    );
    let run = run(&github_env(&server.base_url()));
    assert_eq!(run.code, 8, "{}", run.stdout);
    assert_eq!(run.output("outcome"), "error");
    assert!(run
        .output("error-message")
        .contains("not on the API origin"));
    trap.assert_calls(0);
}

fn rejected(status: u16, body: serde_json::Value) -> common::Run {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path(PUBLISH);
        then.status(status).json_body(body);
    });
    run(&github_env(&server.base_url()))
}

#[test]
fn each_final_status_has_its_outcome_and_the_services_message() {
    let table = [
        (
            400,
            "bad-request",
            3,
            "BadRequest",
            "The argument: 'OfferTypeId' cannot be null or empty.",
        ),
        (
            401,
            "unauthorized",
            6,
            "Unauthorized",
            "Access token is expired.",
        ),
        (
            403,
            "unauthorized",
            6,
            "Forbidden",
            "User does not have the required permissions",
        ),
        (
            404,
            "not-found",
            4,
            "NotFound",
            "Offer contoso-offer was not found",
        ),
        (
            422,
            "invalid-offer",
            5,
            "ValidationFailed",
            "The offer has validation errors",
        ),
    ];
    for (status, outcome, code, error_code, message) in table {
        let run = rejected(
            status,
            json!({"error": {"code": error_code, "message": message}}),
        );
        assert_eq!(run.code, code, "HTTP {status}: {}", run.stdout);
        assert_eq!(run.output("outcome"), outcome);
        assert_eq!(run.output("http-status"), status.to_string());
        assert_eq!(run.output("error-code"), error_code);
        assert!(run.output("error-message").contains(message));
        let annotation = run
            .stdout
            .lines()
            .find(|l| l.starts_with("::error"))
            .unwrap_or_else(|| panic!("no error annotation for {status}: {}", run.stdout));
        assert!(annotation.contains(&status.to_string()), "{annotation}");
        assert!(annotation.contains(message), "{annotation}");
        assert_eq!(run.result["http_status"], status);
    }
}

#[test]
fn a_rejected_static_token_says_what_would_renew_it() {
    let run = rejected(
        401,
        json!({"error": {"code": "Unauthorized", "message": "expired"}}),
    );
    assert!(
        run.stdout.contains("MARKETPLACE_CLIENT_SECRET"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_error_body_that_is_not_json_is_excerpted() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path(PUBLISH);
        then.status(400)
            .body("<html><body>Bad\r\nthing</body></html>");
    });
    let run = run(&github_env(&server.base_url()));
    assert_eq!(run.code, 3);
    // The output carries the service's words alone; what failed is in the annotation and the log.
    assert_eq!(
        run.output("error-message"),
        "Bad Request: '<html><body>Bad thing</body></html>'"
    );
    assert!(
        run.stdout
            .contains("HTTP 400: publish request: Bad Request"),
        "{}",
        run.stdout
    );
}

#[test]
fn transient_failures_are_retried_then_given_up() {
    let server = MockServer::start();
    let publish = server.mock(|when, then| {
        when.method(POST).path(PUBLISH);
        then.status(503)
            .header("Retry-After", "0")
            .json_body(json!({"error": {"code": "ServiceUnavailable", "message": "try later"}}));
    });
    let run = run(&github_env(&server.base_url()));
    publish.assert_calls(6);
    assert_eq!(run.code, 8);
    assert_eq!(run.output("outcome"), "error");
    assert_eq!(run.output("http-status"), "503");
    assert!(run.output("error-message").contains("try later"));
}

#[test]
fn an_unreachable_service_is_an_error_that_names_the_host() {
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = run(&github_env(&format!("http://127.0.0.1:{free_port}")));
    assert_eq!(run.code, 8);
    assert!(run
        .output("error-message")
        .contains("could not connect to 127.0.0.1"));
    assert_eq!(run.output("http-status"), "");
    assert!(run.result["http_status"].is_null());
}

#[test]
fn a_huge_operation_answer_is_cut_and_refused() {
    let server = MockServer::start();
    let huge = format!(
        "{{\"status\":\"running\",\"pad\":\"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    server.mock(|when, then| {
        when.method(POST).path(PUBLISH);
        then.status(202).header("Location", NEW_OPERATION);
    });
    server.mock(|when, then| {
        when.method(GET).path(NEW_OPERATION);
        then.status(200).body(huge);
    });
    let run = run(&github_env(&server.base_url()));
    assert_eq!(run.code, 8, "{}", run.stdout);
    assert!(run.output("error-message").contains("larger than"));
    assert!(!run.output("operation-location").is_empty());
}

#[test]
fn not_waiting_stops_once_accepted() {
    let server = MockServer::start();
    accepting(&server, "Location", NEW_OPERATION, operation("running"));
    let mut env = github_env(&server.base_url());
    set(&mut env, "MARKETPLACE_WAIT", "false");
    let run = run(&env);
    assert_eq!(run.code, 0);
    assert_eq!(run.output("outcome"), "accepted");
    assert!(run.output("operation-location").ends_with(NEW_OPERATION));
    assert!(
        run.stdout.contains("MARKETPLACE_OPERATION="),
        "{}",
        run.stdout
    );
}

#[test]
fn a_failed_operation_names_the_step_and_the_services_words() {
    let server = MockServer::start();
    let mut answer = operation("failed");
    answer["steps"][1]["messages"] = json!([
        {"messageHtml": "<p>The VHD is not generalized</p>", "level": "error", "timestamp": "2026-11-25T10:00:00Z"},
        {"messageHtml": "all fine here", "level": "information"}
    ]);
    accepting(&server, "Location", NEW_OPERATION, answer);
    let run = run(&github_env(&server.base_url()));
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.output("outcome"), "failed");
    assert_eq!(run.output("failed-step"), "displaycertify");
    assert_eq!(run.output("error-message"), "The VHD is not generalized");
    assert!(run.summary.contains("The VHD is not generalized"));
}

#[test]
fn a_publish_at_publisher_signoff_is_preview_ready() {
    let server = MockServer::start();
    let answer = json!({"id": "op", "status": "running", "steps": [
        {"stepName": "displaypackage", "status": "complete"},
        {"stepName": "publisher-signoff", "status": "waitingForPublisherReview"},
        {"stepName": "live", "status": "notStarted"}
    ]});
    accepting(&server, "Location", NEW_OPERATION, answer);
    let run = run(&github_env(&server.base_url()));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.output("outcome"), "preview-ready");
}

#[test]
fn an_operation_still_running_at_the_deadline_times_out_and_keeps_its_location() {
    let server = MockServer::start();
    accepting(&server, "Location", NEW_OPERATION, operation("running"));
    let mut env = github_env(&server.base_url());
    set(&mut env, "MARKETPLACE_TIMEOUT", "300ms");
    let run = run(&env);
    assert_eq!(run.code, 7);
    assert_eq!(run.output("outcome"), "timed-out");
    assert!(run.output("operation-location").ends_with(NEW_OPERATION));
}

#[test]
fn a_running_operation_is_followed_instead_of_publishing_again() {
    let server = MockServer::start();
    let publish = server.mock(|when, then| {
        when.method(POST).path(PUBLISH);
        then.status(202).header("Location", NEW_OPERATION);
    });
    server.mock(|when, then| {
        when.method(GET)
            .path(SUBMISSIONS)
            .query_param("status", "running");
        then.status(200).json_body(
            json!([{"id": "56615b67-2185-49fe-80d2-c4ddf77bb2e8", "status": "running"}]),
        );
    });
    server.mock(|when, then| {
        when.method(GET).path(NEW_OPERATION);
        then.status(200).json_body(operation("completed"));
    });
    let run = run(&github_env(&server.base_url()));
    assert_eq!(run.code, 0, "{}", run.stdout);
    publish.assert_calls(0);
    assert!(
        run.summary.contains("already had a running operation"),
        "{}",
        run.summary
    );
}

#[test]
fn bad_input_exits_2_before_anything_is_sent() {
    let server = MockServer::start();
    let any = server.mock(|when, then| {
        when.any_request();
        then.status(500);
    });
    for (name, value) in [
        ("MARKETPLACE_OFFER_ID", "../etc"),
        ("MARKETPLACE_PUBLISHER_ID", ""),
        ("MARKETPLACE_TIMEOUT", "soon"),
        ("MARKETPLACE_WAIT", "perhaps"),
        ("MARKETPLACE_COMMAND", "deploy"),
        ("MARKETPLACE_NOTIFICATION_EMAILS", "not-an-address"),
        ("MARKETPLACE_API_BASE", "http://example.com"),
        (
            "MARKETPLACE_OPERATION",
            "https://elsewhere.example/api/operations/1",
        ),
    ] {
        let mut env = github_env(&server.base_url());
        set(&mut env, name, value);
        let run = run(&env);
        assert_eq!(run.code, 2, "{name}={value}: {}", run.stdout);
        assert_eq!(run.output("outcome"), "config-error");
        assert!(
            run.output("error-message").contains(name),
            "{}",
            run.output("error-message")
        );
        run.assert_never_shows(TOKEN);
    }
    any.assert_calls(0);
}

#[test]
fn service_text_never_becomes_a_workflow_command() {
    let server = MockServer::start();
    let evil = "bad\n::set-output name=outcome::succeeded\r\n::error::forged %0A ##vso[task.setvariable variable=x]1 ##[error]x";
    server.mock(|when, then| {
        when.method(POST).path(PUBLISH);
        then.status(400)
            .json_body(json!({"error": {"code": "::warning::x", "message": evil}}));
    });
    let run = run(&github_env(&server.base_url()));
    assert_eq!(run.code, 3);
    run.assert_no_forged_commands();
    // `::error::` is one of ours, so the service's own `::error::forged` needs a look of its own.
    assert!(!run
        .stdout
        .lines()
        .any(|l| l.trim_start().starts_with("::error::forged")));
    assert_eq!(run.output("outcome"), "bad-request");
}

#[test]
fn a_skipped_running_operation_check_is_said_as_a_warning() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path(SUBMISSIONS);
        then.status(500).body("down");
    });
    accepting(&server, "Location", NEW_OPERATION, operation("completed"));
    let run = run(&github_env(&server.base_url()));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("::warning") && l.contains("running-operation check skipped")),
        "{}",
        run.stdout
    );
}
