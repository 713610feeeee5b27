//! The fault suite: the built binary, run as a GitHub step, against the simulated portal, once per fault
//! in the table below. Every row checks the outcome and exit code, that the run ends under the watchdog,
//! that the operation location is reported whenever one was started, that no secret shows, that no
//! service text becomes a workflow command, that nothing goes to the foreign origin, and how many
//! publish and status requests were sent. docs/DEVELOPMENT.md's fault table is this table.

mod common;

use std::ops::RangeInclusive;

use common::{github_env, run, set, Run, TOKEN};
use marketplace_publish::sim::{scenario, Plan, Simulator};
use marketplace_publish::transport::MAX_ATTEMPTS;

/// One fault and what the run must make of it.
struct Case {
    /// A scenario name (`preview`, `expiring-token`, ...) or a fault plan in JSON.
    plan: &'static str,
    /// Variables set on top of [`github_env`]; `{base}` stands for the simulator's URL, empty removes one.
    env: &'static [(&'static str, &'static str)],
    outcome: &'static str,
    exit: i32,
    /// Publish requests the portal must have received: 1 when nothing is retried.
    publishes: usize,
    /// Status reads (operation or offer status) the portal may have received.
    reads: RangeInclusive<usize>,
    /// Whether the run reports where the operation is: false only when the service named none it may follow.
    location: bool,
    /// Text the run's output must contain (the service's words, the retry line), or empty.
    says: &'static str,
}

/// The happy path's defaults, for rows that change one thing.
const OK: Case = Case {
    plan: "{}",
    env: &[],
    outcome: "succeeded",
    exit: 0,
    publishes: 1,
    reads: 6..=6,
    location: true,
    says: "",
};

/// A row that stops at the publish answer: nothing started, nothing read.
const REFUSED: Case = Case {
    reads: 0..=0,
    location: false,
    ..OK
};

/// Client credentials against the simulator's own Entra, instead of a static token.
const CLIENT_CREDENTIALS: &[(&str, &str)] = &[
    ("MARKETPLACE_TOKEN", ""),
    ("MARKETPLACE_TENANT_ID", "sim-tenant"),
    ("MARKETPLACE_CLIENT_ID", "sim-client"),
    ("MARKETPLACE_CLIENT_SECRET", "sim-secret"),
    ("MARKETPLACE_AUTHORITY_HOST", "{base}"),
];

/// One `#[test]` per row, named for what it checks.
macro_rules! scenarios {
    ($($name:ident: $case:expr,)*) => {
        $(
            #[test]
            fn $name() {
                check(&$case);
            }
        )*
    };
}

scenarios! {
    a_happy_publish_succeeds: OK,
    an_operation_answered_as_an_array_is_read: Case {
        plan: r#"{"routes":{"operation":[{"shape":"array","times":"always"}]}}"#,
        ..OK
    },
    the_2018_operation_location_header_is_followed: Case {
        plan: r#"{"location":{"header":"operation-location"}}"#,
        ..OK
    },
    both_location_headers_are_followed: Case {
        plan: r#"{"location":{"header":"both"}}"#,
        ..OK
    },
    an_absolute_location_is_followed: Case {
        plan: r#"{"location":{"form":"absolute"}}"#,
        ..OK
    },
    a_dollar_shaped_location_is_followed_as_given: Case {
        plan: r#"{"location":{"shape":"dollar"}}"#,
        ..OK
    },
    a_foreign_location_is_refused_and_nothing_sent_there: Case {
        plan: r#"{"location":{"form":"foreign"}}"#,
        outcome: "error",
        exit: 8,
        says: "not on the API origin",
        ..REFUSED
    },
    an_accepted_publish_without_a_location_is_an_error: Case {
        plan: r#"{"location":{"header":"none"}}"#,
        outcome: "error",
        exit: 8,
        says: "named no operation",
        ..REFUSED
    },
    a_400_is_a_bad_request: Case {
        plan: r#"{"routes":{"publish":[{"status":400}]}}"#,
        outcome: "bad-request",
        exit: 3,
        says: "Simulated 400 Bad Request.",
        ..REFUSED
    },
    a_401_with_a_static_token_is_unauthorized: Case {
        plan: r#"{"routes":{"publish":[{"status":401}]}}"#,
        outcome: "unauthorized",
        exit: 6,
        says: "Simulated 401 Unauthorized.",
        ..REFUSED
    },
    a_403_is_unauthorized: Case {
        plan: r#"{"routes":{"publish":[{"status":403}]}}"#,
        outcome: "unauthorized",
        exit: 6,
        says: "Simulated 403 Forbidden.",
        ..REFUSED
    },
    a_404_is_not_found: Case {
        plan: r#"{"routes":{"publish":[{"status":404}]}}"#,
        outcome: "not-found",
        exit: 4,
        says: "Simulated 404 Not Found.",
        ..REFUSED
    },
    a_422_is_an_invalid_offer: Case {
        plan: "validation",
        outcome: "invalid-offer",
        exit: 5,
        says: "plan 'base' has no markets",
        ..REFUSED
    },
    a_429_waits_its_retry_after_then_succeeds: Case {
        plan: r#"{"routes":{"publish":[{"status":429,"headers":{"Retry-After":"1"}}]}}"#,
        publishes: 2,
        says: "trying again in 1s",
        ..OK
    },
    two_503s_then_success: Case {
        plan: r#"{"routes":{"publish":[{"status":503,"times":2}]}}"#,
        publishes: 3,
        ..OK
    },
    a_408_502_and_504_then_success: Case {
        plan: r#"{"routes":{"publish":[{"status":408},{"status":502},{"status":504}]}}"#,
        publishes: 4,
        ..OK
    },
    a_500_forever_gives_up_after_six_tries: Case {
        plan: r#"{"routes":{"publish":[{"status":500,"times":"always"}]}}"#,
        outcome: "error",
        exit: 8,
        publishes: 6,
        says: "gave up after 6 tries",
        ..REFUSED
    },
    a_dropped_connection_is_retried_then_succeeds: Case {
        plan: r#"{"routes":{"publish":[{"drop":true}]}}"#,
        publishes: 2,
        ..OK
    },
    a_truncated_status_answer_is_read_again: Case {
        plan: r#"{"routes":{"operation":[{"truncate":true}]}}"#,
        says: "broke off",
        ..OK
    },
    a_status_answer_that_is_not_json_is_an_error: Case {
        plan: r#"{"routes":{"operation":[{"text":"{\"status\": \"runn"}]}}"#,
        outcome: "error",
        exit: 8,
        reads: 1..=1,
        says: "not valid JSON",
        ..OK
    },
    a_huge_status_answer_is_cut_and_refused: Case {
        plan: r#"{"routes":{"operation":[{"huge":2000000}]}}"#,
        outcome: "error",
        exit: 8,
        reads: 1..=1,
        says: "larger than 1024 KiB",
        ..OK
    },
    a_status_read_that_never_answers_times_out_with_the_location: Case {
        plan: r#"{"routes":{"operation":[{"delay_ms":60000,"times":"always"}]}}"#,
        env: &[("MARKETPLACE_TIMEOUT", "1s")],
        outcome: "timed-out",
        exit: 7,
        reads: 1..=1,
        says: "MARKETPLACE_OPERATION=http://127.0.0.1",
        ..OK
    },
    a_token_expiring_mid_operation_is_renewed: Case {
        plan: "expiring-token",
        env: CLIENT_CREDENTIALS,
        reads: 9..=9,
        says: "renewing the token once",
        ..OK
    },
    a_failed_step_fails_the_run_with_its_message: Case {
        plan: "failed",
        outcome: "failed",
        exit: 1,
        reads: 1..=1,
        says: "the offer's logo must be a 216x216 PNG",
        ..OK
    },
    a_blocked_step_that_clears_ends_in_success: Case {
        plan: r#"{"operation":{"block_at":{"step":"displaycertify","messages":["Waiting on the VHD."]},"unblock_after":4}}"#,
        says: "step displaycertify is blocked",
        ..OK
    },
    a_publish_at_signoff_is_preview_ready: Case {
        plan: "preview",
        outcome: "preview-ready",
        reads: 4..=4,
        ..OK
    },
    an_operation_canceled_by_someone_else_fails_the_run: Case {
        plan: r#"{"operation":{"final_status":"canceled"}}"#,
        outcome: "canceled",
        exit: 1,
        says: "someone else canceled the operation",
        ..OK
    },
    injected_service_text_never_becomes_a_workflow_command: Case {
        plan: "injection",
        outcome: "failed",
        exit: 1,
        reads: 1..=1,
        ..OK
    },
}

/// Runs one row and checks everything the suite promises for it.
fn check(case: &Case) {
    let mut plan = scenario(case.plan)
        .unwrap_or_else(|| Plan::from_json(case.plan).expect("the row's plan is valid"));
    plan.auth.tokens = vec![TOKEN.to_string()];
    let sim = Simulator::start_in_thread(plan).expect("the simulator starts");
    let base = sim.base_url();
    let mut env = github_env(&base);
    for (name, value) in case.env {
        set(&mut env, name, &value.replace("{base}", &base));
    }
    let run = run(&env);
    let context = format!("stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);

    assert_eq!(run.code, case.exit, "{context}");
    assert_eq!(run.output("outcome"), case.outcome, "{context}");
    assert_eq!(run.result["outcome"], case.outcome);
    assert_eq!(run.result["exit_code"], case.exit);

    let reported = run.output("operation-location");
    match (case.location, sim.operation_locations().last()) {
        (true, Some(path)) => assert_eq!(reported, format!("{base}{path}"), "{context}"),
        (true, None) => panic!("no operation was started; {context}"),
        (false, _) => assert_eq!(reported, "", "{context}"),
    }
    assert_eq!(run.result["operation_location"], reported);

    assert_no_secret_shows(&run, &sim, &env);
    run.assert_no_forged_commands();

    let publishes = sim.count("publish");
    assert_eq!(publishes, case.publishes, "publish requests; {context}");
    assert!(publishes <= MAX_ATTEMPTS as usize);
    let reads = sim.count("operation") + sim.count("status");
    assert!(
        case.reads.contains(&reads),
        "{reads} status reads, expected {:?}; {context}",
        case.reads
    );

    // The simulator's foreign origin is itself under the name `localhost`: a request that came that
    // way was sent to an origin the run should have refused.
    let foreign = base.replace("http://127.0.0.1", "localhost");
    assert!(
        sim.requests()
            .iter()
            .all(|r| r.request.header("host") != Some(foreign.as_str())),
        "a request went to the foreign origin"
    );

    assert!(
        run.everything().contains(case.says),
        "expected {:?}; {context}",
        case.says
    );
}

/// The given token or client secret, and every access token the simulator saw, show nowhere.
fn assert_no_secret_shows(run: &Run, sim: &Simulator, env: &[(String, String)]) {
    run.assert_never_shows(TOKEN);
    env.iter()
        .filter(|(name, _)| name.ends_with("_SECRET") || name.ends_with("_TOKEN"))
        .for_each(|(_, secret)| run.assert_never_shows(secret));
    sim.requests()
        .iter()
        .filter_map(|r| r.request.bearer())
        .for_each(|token| run.assert_never_shows(token));
}
