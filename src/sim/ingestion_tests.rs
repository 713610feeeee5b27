//! The simulated Product Ingestion API over real sockets: lookup and paging, the submissions as jobs move
//! them, the configure checks, cancel, failures, the VM plan configuration, and scripted faults.

use serde_json::{json, Value};

use super::tests::{api, call, plan, start, start_scenario, Reply};
use super::{Plan, Simulator};

const PI: &str = "/rp/product-ingestion";
const V: &str = "$version=2022-03-01-preview2";
const GUID: &str = "2d541119-7c3e-4f0a-9b1d-5e8f6a0c4b21";
const CONFIGURE: &str = "https://schema.mp.microsoft.com/schema/configure/2022-03-01-preview2";
const SUBMISSION: &str = "https://schema.mp.microsoft.com/schema/submission/2022-03-01-preview2";

async fn get(sim: &Simulator, path: &str) -> Reply {
    api(sim, "GET", &format!("{PI}/{path}")).send().await
}

async fn configure(sim: &Simulator, body: &Value) -> Reply {
    let path = format!("{PI}/configure?{V}");
    let body = body.to_string();
    api(sim, "POST", &path)
        .body("application/json", &body)
        .send()
        .await
}

fn submit(target: &str, id: Option<&str>) -> Value {
    let mut resource = json!({"$schema": SUBMISSION, "product": format!("product/{GUID}"),
        "target": {"targetType": target}});
    if let Some(id) = id {
        resource["id"] = json!(id);
    }
    json!({"$schema": CONFIGURE, "resources": [resource]})
}

/// One status read of the job, answered 200.
async fn status(sim: &Simulator, job: &str) -> Value {
    let reply = get(sim, &format!("configure/{job}/status?{V}")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()
}

/// The entries of `GET /submission`, as `(targetType, id, status, result)`.
async fn entries(sim: &Simulator) -> Vec<(String, String, String, String)> {
    let reply = get(sim, &format!("submission/{GUID}?{V}")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let value = reply.json()["value"].as_array().unwrap().clone();
    value
        .iter()
        .map(|e| {
            let target = text(&e["target"]["targetType"]);
            (
                target,
                text(&e["id"]),
                text(&e["status"]),
                text(&e["result"]),
            )
        })
        .collect()
}

fn job_id(answer: &Value) -> String {
    answer["jobId"].as_str().expect("a jobId").to_string()
}

#[tokio::test]
async fn the_lookup_finds_the_offer_by_external_id_and_pages() {
    let sim = start(Plan::default()).await;
    let found = get(&sim, &format!("product?externalId=contoso-offer&{V}"))
        .await
        .json();
    assert_eq!(found["value"][0]["id"], format!("product/{GUID}"));
    assert_eq!(found["value"][0]["identity"]["externalId"], "contoso-offer");
    assert_eq!(found["value"][0]["type"], "azureVirtualMachine");
    assert!(found.get("@nextLink").is_none());
    let unknown = get(&sim, &format!("product?externalId=other&{V}"))
        .await
        .json();
    assert_eq!(unknown, json!({"value": []}));

    let sim = start_scenario("pi-paging").await;
    let mut next = format!(
        "{}{PI}/product?externalId=contoso-offer&{V}",
        sim.base_url()
    );
    let mut pages = Vec::new();
    loop {
        let page = api(&sim, "GET", &next).send().await.json();
        pages.push(page["value"][0]["identity"]["externalId"].clone());
        match page["@nextLink"].as_str() {
            Some(link) => {
                assert!(
                    link.starts_with(&format!("{}{PI}/", sim.base_url())),
                    "{link}"
                );
                next = link.to_string();
            }
            None => break,
        }
    }
    assert_eq!(
        pages,
        ["contoso-offer-1", "contoso-offer-2", "contoso-offer"]
    );

    let sim = start_scenario("pi-not-found").await;
    let none = get(&sim, &format!("product?externalId=contoso-offer&{V}"))
        .await
        .json();
    assert_eq!(none, json!({"value": []}));
}

#[tokio::test]
async fn a_preview_job_runs_then_go_live_takes_the_preview_id() {
    let sim = start(Plan::default()).await;
    let draft = format!("submission/{GUID}/0");
    let before = entries(&sim).await;
    assert_eq!(
        before,
        [("draft".into(), draft.clone(), "".into(), "".into())]
    );

    let started = configure(&sim, &submit("preview", None)).await;
    assert_eq!(started.status, 200, "{}", started.text);
    let started = started.json();
    assert_eq!(started["jobStatus"], "notStarted");
    assert_eq!(started["jobResult"], "pending");
    assert_eq!(started["jobEnd"], "0001-01-01T00:00:00");
    let job = job_id(&started);

    // Reading the submissions is a read of the job too: it is now running.
    let during = entries(&sim).await;
    let preview = during[1].clone();
    assert_eq!(preview.0, "preview");
    assert!(preview.1.starts_with(&format!("submission/{GUID}/")));
    assert_eq!(
        (preview.2.as_str(), preview.3.as_str()),
        ("running", "pending")
    );

    let done = status(&sim, &job).await;
    assert_eq!(
        (done["jobStatus"].as_str(), done["jobResult"].as_str()),
        (Some("completed"), Some("succeeded"))
    );
    assert_ne!(done["jobEnd"], "0001-01-01T00:00:00");
    assert_eq!(entries(&sim).await[1].2, "completed");
    assert_eq!(entries(&sim).await[1].3, "succeeded");

    // Live with the preview's id; nothing else.
    let refused = configure(&sim, &submit("live", None)).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    let live = configure(&sim, &submit("live", Some(&preview.1)))
        .await
        .json();
    let live_job = job_id(&live);
    while status(&sim, &live_job).await["jobStatus"] != "completed" {}
    let after = entries(&sim).await;
    assert_eq!(
        after[2],
        (
            "live".into(),
            preview.1,
            "completed".into(),
            "succeeded".into()
        )
    );
    assert_eq!(sim.count("pi-configure"), 3);
}

#[tokio::test]
async fn configure_refuses_what_the_service_refuses() {
    let sim = start(Plan::default()).await;
    let mut retired = submit("preview", None);
    retired["$schema"] =
        json!("https://product-ingestion.azureedge.net/schema/configure/2022-03-01-preview2");
    let reply = configure(&sim, &retired).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error_code(), "badRequest");
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("could not be accessed"), "{message}");

    let unversioned = api(&sim, "POST", &format!("{PI}/configure"))
        .body("application/json", &submit("preview", None).to_string())
        .send()
        .await;
    assert_eq!(unversioned.status, 400);
    assert!(get(&sim, &format!("submission/{GUID}")).await.status == 400);

    let before_preview =
        configure(&sim, &submit("live", Some(&format!("submission/{GUID}/1")))).await;
    assert_eq!(before_preview.status, 400);
    let mut no_target = submit("preview", None);
    no_target["resources"][0]["target"] = json!({});
    assert_eq!(configure(&sim, &no_target).await.status, 400);
    let not_json = api(&sim, "POST", &format!("{PI}/configure?{V}")).body("application/json", "{");
    assert_eq!(not_json.send().await.status, 400);
    let no_token = call(&sim, "GET", &format!("{PI}/product?{V}")).send().await;
    assert_eq!(no_token.status, 401);
    assert_eq!(
        no_token.header("www-authenticate").as_deref(),
        Some("Bearer")
    );
    assert_eq!(no_token.error_code(), "unauthorized");

    // One submission in progress at a time.
    assert_eq!(configure(&sim, &submit("preview", None)).await.status, 200);
    let second = configure(&sim, &submit("preview", None)).await;
    assert_eq!(second.status, 409, "{}", second.text);
}

#[tokio::test]
async fn the_plan_can_answer_202_and_spell_the_id_job_id_upper() {
    let sim = start(plan(
        json!({"ingestion": {"configure_status": 202, "job_id_key": "jobID"}}),
    ))
    .await;
    let reply = configure(&sim, &submit("preview", None)).await;
    assert_eq!(reply.status, 202);
    let body = reply.json();
    assert!(body.get("jobId").is_none());
    let job = body["jobID"].as_str().unwrap();
    assert_eq!(status(&sim, job).await["jobID"], job);
}

#[tokio::test]
async fn with_no_reads_per_state_the_first_read_ends_the_job() {
    let sim = start(plan(json!({"ingestion": {"reads_per_state": 0}}))).await;
    let started = configure(&sim, &submit("preview", None)).await.json();
    assert_eq!(started["jobStatus"], "notStarted");
    let done = status(&sim, &job_id(&started)).await;
    assert_eq!(
        (done["jobStatus"].as_str(), done["jobResult"].as_str()),
        (Some("completed"), Some("succeeded"))
    );
    assert_eq!(entries(&sim).await[1].2, "completed");
}

#[tokio::test]
async fn cancel_ends_a_running_job_and_refuses_a_completed_one() {
    let sim = start_scenario("pi-cancel").await;
    let job = job_id(&configure(&sim, &submit("preview", None)).await.json());
    assert_eq!(status(&sim, &job).await["jobStatus"], "notStarted");
    let cancel = format!("{PI}/configure/{job}/cancel?{V}");
    let canceled = api(&sim, "POST", &cancel).send().await;
    assert_eq!(canceled.status, 200, "{}", canceled.text);
    let canceled = canceled.json();
    assert_eq!(
        (
            canceled["jobStatus"].as_str(),
            canceled["jobResult"].as_str()
        ),
        (Some("completed"), Some("cancelled"))
    );
    // Nothing was published: only the draft is left.
    assert_eq!(entries(&sim).await.len(), 1);

    let again = api(&sim, "POST", &cancel).send().await;
    assert_eq!(again.status, 400);
    let expected = json!({"error": {"code": "badRequest",
        "message": "Cannot cancel job, job has already completed.", "details": []}});
    assert_eq!(again.json(), expected);
    let unknown = api(&sim, "POST", &format!("{PI}/configure/nope/cancel?{V}"))
        .send()
        .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn a_failed_certification_answers_the_error_tree() {
    let sim = start_scenario("pi-certification").await;
    let job = job_id(&configure(&sim, &submit("preview", None)).await.json());
    let mut answer = status(&sim, &job).await;
    while answer["jobStatus"] != "completed" {
        answer = status(&sim, &job).await;
    }
    assert_eq!(answer["jobResult"], "failed");
    let error = &answer["errors"][0];
    assert_eq!(error["code"], "internalServerError");
    assert!(error["resourceId"]
        .as_str()
        .unwrap()
        .starts_with(&format!("submission/{GUID}/")));
    let deepest = &error["details"][0]["details"][0];
    assert_eq!(deepest["message"], "Issues found during Certification.");
    let preview = &entries(&sim).await[1];
    assert_eq!(
        (preview.2.as_str(), preview.3.as_str()),
        ("completed", "failed")
    );
}

#[tokio::test]
async fn the_guard_scenario_has_a_preview_in_progress_that_ends_as_it_is_read() {
    let sim = start_scenario("pi-guard").await;
    let first = entries(&sim).await;
    assert_eq!(first[1].0, "preview");
    assert_eq!(first[1].3, "pending");
    assert_eq!(configure(&sim, &submit("preview", None)).await.status, 409);
    let mut reads = 1;
    while entries(&sim).await[1].2 != "completed" {
        reads += 1;
        assert!(reads < 10);
    }
    assert_eq!(entries(&sim).await[1].3, "succeeded");

    let ready = start_scenario("pi-go-live").await;
    let preview = entries(&ready).await[1].clone();
    assert_eq!(
        (preview.2.as_str(), preview.3.as_str()),
        ("completed", "succeeded")
    );
    assert_eq!(
        configure(&ready, &submit("live", Some(&preview.1)))
            .await
            .status,
        200
    );
}

fn vm_config(version: &str) -> Value {
    json!({"$schema": CONFIGURE, "resources": [{
        "$schema": "https://schema.mp.microsoft.com/schema/virtual-machine-plan-technical-configuration/2022-03-01-preview3",
        "product": {"externalId": "contoso-offer"}, "plan": {"externalId": "base"},
        "operatingSystem": {"family": "linux", "type": "ubuntu"},
        "skus": [{"imageType": "x64Gen2", "skuId": "base-gen2"}],
        "vmImageVersions": [{"versionNumber": version, "vmImages": []}],
    }]})
}

#[tokio::test]
async fn the_vm_plan_configuration_is_replaced_when_its_job_succeeds() {
    let sim = start(Plan::default()).await;
    let plans = get(
        &sim,
        &format!("plan?product=product/{GUID}&externalId=base&{V}"),
    )
    .await
    .json();
    let plan_id = plans["value"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(plans["value"][0]["identity"]["externalId"], "base");
    let path = plan_id.replacen("plan/", "virtual-machine-plan-technical-configuration/", 1);
    let versions = |config: &Value| config["vmImageVersions"].as_array().unwrap().len();
    let before = get(&sim, &format!("{path}?{V}")).await.json();
    assert_eq!(before["plan"], plan_id.as_str());
    assert_eq!(before["vmImageVersions"][0]["versionNumber"], "1.0.0");
    assert_eq!(versions(&before), 1);

    let job = job_id(&configure(&sim, &vm_config("2.0.0")).await.json());
    assert_eq!(
        get(&sim, &format!("{path}?{V}")).await.json(),
        before,
        "not before the job ends"
    );
    while status(&sim, &job).await["jobStatus"] != "completed" {}
    let after = get(&sim, &format!("{path}?{V}")).await.json();
    assert_eq!(after["vmImageVersions"][0]["versionNumber"], "2.0.0");
    assert_eq!(after["product"], format!("product/{GUID}"));
    let unknown = get(
        &sim,
        &format!("plan?product=product/{GUID}&externalId=other&{V}"),
    )
    .await;
    assert_eq!(unknown.json(), json!({"value": []}));

    let sim = start_scenario("pi-invalid").await;
    let job = job_id(&configure(&sim, &vm_config("2.0.0")).await.json());
    let mut answer = status(&sim, &job).await;
    while answer["jobStatus"] != "completed" {
        answer = status(&sim, &job).await;
    }
    assert_eq!(answer["jobResult"], "failed");
    assert_eq!(
        answer["errors"][0]["details"][0]["code"],
        "businessValidationError"
    );
    assert_eq!(get(&sim, &format!("{path}?{V}")).await.json(), before);
}

#[tokio::test]
async fn scripted_faults_answer_in_the_api_shape() {
    let sim = start_scenario("pi-flaky").await;
    assert_eq!(configure(&sim, &submit("preview", None)).await.status, 503);
    let job = job_id(&configure(&sim, &submit("preview", None)).await.json());
    let path = format!("configure/{job}/status?{V}");
    let first = get(&sim, &path).await;
    assert_eq!(
        (first.status, first.header("retry-after")),
        (503, Some("0".into()))
    );
    assert_eq!(first.error_code(), "serviceUnavailable");
    assert_eq!(get(&sim, &path).await.status, 200);
    let throttled = get(&sim, &path).await;
    assert_eq!(
        (throttled.status, throttled.header("retry-after")),
        (429, Some("1".into()))
    );
    assert_eq!(throttled.error_code(), "tooManyRequests");
    assert_eq!(get(&sim, &path).await.status, 500);
    assert_eq!(
        get(&sim, &format!("submission/{GUID}?{V}")).await.status,
        502
    );
    assert_eq!(sim.count("pi-job"), 4);

    let sim = start_scenario("pi-forbidden").await;
    let denied = get(&sim, &format!("product?externalId=contoso-offer&{V}")).await;
    assert_eq!(
        (denied.status, denied.error_code()),
        (403, "forbidden".to_string())
    );
    assert_eq!(
        get(&sim, &format!("submission/{GUID}?{V}")).await.status,
        403
    );
}
