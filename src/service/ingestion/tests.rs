use super::answers::*;
use super::rules::*;
use super::*;
use serde_json::json;

use crate::service::Severity;

fn base() -> Url {
    Url::parse("https://graph.microsoft.com/rp/product-ingestion").unwrap()
}

const JOB: &str = "d4261631-c583-4949-a612-5150882632e9";

#[test]
fn offers_are_external_ids_durable_ids_or_guids() {
    let guid = "12345678-abcd-ef01-2345-678901234567";
    assert_eq!(given_product(&format!("product/{guid}")), Some(guid));
    assert_eq!(given_product(guid), Some(guid));
    assert_eq!(given_product("contoso-offer"), None);
    assert!(check_offer("contoso-offer").is_ok());
    assert!(check_offer(&format!("product/{guid}")).is_ok());
    for bad in ["product/", "product/../x", "product/a b", "a/b", ".."] {
        assert!(check_offer(bad).is_err(), "{bad}");
    }
}

#[test]
fn job_locations_stay_under_the_base() {
    let status = format!("https://graph.microsoft.com/rp/product-ingestion/configure/{JOB}/status");
    for given in [
        format!("configure/{JOB}"),
        format!("configure/{JOB}/status"),
        status.clone(),
        format!("{status}?$version=2022-03-01-preview2"),
    ] {
        assert_eq!(
            resolve_operation(&base(), &given).unwrap().as_str(),
            status,
            "{given}"
        );
    }
    assert_eq!(job_of(&Url::parse(&status).unwrap()).as_deref(), Some(JOB));
    for bad in [
        format!("https://evil.example/rp/product-ingestion/configure/{JOB}/status"),
        format!("https://graph.microsoft.com/v1.0/configure/{JOB}/status"),
        format!("https://graph.microsoft.com/rp/product-ingestion/configure/../../x/{JOB}/status"),
        "configure/".to_string(),
        "configure/a/b".to_string(),
        "configure/%2e%2e".to_string(),
        format!("/configure/{JOB}"),
        String::new(),
    ] {
        assert!(resolve_operation(&base(), &bad).is_err(), "{bad}");
    }
    // A base at the origin's root works the same.
    let root = Url::parse("http://127.0.0.1:8080").unwrap();
    assert_eq!(
        resolve_operation(&root, &format!("configure/{JOB}"))
            .unwrap()
            .as_str(),
        format!("http://127.0.0.1:8080/configure/{JOB}/status")
    );
}

#[test]
fn job_words_in_every_phase() {
    let job = |status: &str, result: &str| {
        parse_job(
            &json!({"jobID": JOB, "jobStatus": status, "jobResult": result,
                          "jobEnd": "0001-01-01T00:00:00"}),
        )
        .unwrap()
    };
    let running = job("running", "pending");
    assert_eq!(
        (running.phase, running.word.as_str()),
        (Phase::Running, "running")
    );
    assert_eq!(running.id.as_deref(), Some(JOB));
    assert_eq!(job("notStarted", "pending").phase, Phase::Running);
    let done = job("completed", "succeeded");
    assert_eq!(
        (done.phase, done.word.as_str()),
        (Phase::Succeeded, "succeeded")
    );
    assert_eq!(job("completed", "failed").phase, Phase::Failed);
    assert_eq!(job("completed", "cancelled").phase, Phase::Canceled);
    assert!(!job("somethingNew", "pending").word_known);
    assert!(parse_job(&json!({"jobId": JOB})).is_err());
}

#[test]
fn a_certification_tree_names_its_deepest_message() {
    let view = parse_job(&json!({"jobId": JOB, "jobStatus": "completed", "jobResult": "failed",
        "errors": [{"resourceId": "submission/2d541119", "code": "internalServerError", "message": "Operation failed",
            "details": [{"code": "invalidState", "message": "Certification",
                "details": [{"code": "invalidState", "message": "Issues found during Certification."}]},
                {"code": "other", "details": [{"code": "x", "message": "also deep"}]}]}]}))
    .unwrap();
    let failure = view.failure.unwrap();
    assert_eq!(failure.step.as_deref(), Some("certification"));
    assert_eq!(failure.code.as_deref(), Some("invalidState"));
    assert_eq!(
        failure.message.as_deref(),
        Some("Issues found during Certification.")
    );
    assert_eq!(view.messages.len(), 4);
    assert!(view.messages.iter().all(|m| m.level == Severity::Error));
}

#[test]
fn without_certification_the_failed_step_is_the_resource() {
    let failed = |resource: Value| {
        parse_job(&json!({"jobStatus": "completed", "jobResult": "failed",
            "errors": [{"resourceId": resource, "code": "conflict", "message": "The start date should be defined"}]}))
        .unwrap()
        .failure
        .unwrap()
        .step
    };
    assert_eq!(failed(json!("plan/1/2")).as_deref(), Some("plan/1/2"));
    assert_eq!(
        failed(json!({"externalId": "gold"})).as_deref(),
        Some(r#"{"externalId":"gold"}"#)
    );
    assert_eq!(failed(Value::Null), None);
}

fn submissions(entries: Value) -> Submissions {
    Submissions(
        entries
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Submission::parse)
            .collect(),
    )
}

#[test]
fn submissions_say_where_the_offer_stands() {
    let draft = json!({"id": "submission/p/0", "target": {"targetType": "draft"}});
    let entry = |id: &str, target: &str, status: &str, result: &str| json!({"id": id, "target": {"targetType": target}, "status": status, "result": result});
    let phase = |entries: Value, stop: bool| submissions(entries).snapshot(stop).map(|s| s.phase);
    assert_eq!(phase(json!([draft]), true), None);
    let live = entry("submission/p/1", "live", "completed", "succeeded");
    let ready = entry("submission/p/2", "preview", "completed", "succeeded");
    assert_eq!(
        phase(json!([draft, live, ready]), true),
        Some(Phase::PreviewReady)
    );
    assert_eq!(
        phase(json!([draft, live, ready]), false),
        Some(Phase::Succeeded)
    );
    let same = entry("submission/p/1", "preview", "completed", "succeeded");
    assert_eq!(
        phase(json!([draft, live, same]), true),
        Some(Phase::Succeeded)
    );
    let busy = entry("submission/p/3", "preview", "running", "pending");
    let s = submissions(json!([draft, live, busy]))
        .snapshot(true)
        .unwrap();
    assert_eq!(
        (s.phase, s.submission.as_deref()),
        (Phase::Running, Some("submission/p/3"))
    );
    let failed = entry("submission/p/3", "preview", "completed", "failed");
    assert_eq!(
        phase(json!([draft, live, failed]), true),
        Some(Phase::Failed)
    );
}
