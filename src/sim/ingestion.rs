//! The simulated Product Ingestion API (contract section 6, the API notes sections 2-7), served by the same
//! listener as the portal under [`PREFIX`]: product and plan lookup, the submissions, configure jobs (preview,
//! live and draft resources), job status and cancel, and a VM plan's technical configuration.
//!
//! Authorization, recording and scripted faults are the portal's (`portal.rs`); this module owns the API's
//! paths, its state and its answers. Like operations there, jobs advance by reads (of their status, or of
//! the submissions, since a client that follows a submission reads only those), never by the clock, so
//! tests repeat exactly.

use std::time::SystemTime;

use serde_json::{json, Value};
use url::form_urlencoded::byte_serialize;

use super::http::{Request, Response, Served};
use super::plan::{IngestionStart, Plan, Route};
use super::stamp::{timestamp, uuid};

/// Where the API lives on the simulator, like `/rp/product-ingestion` on `graph.microsoft.com`.
pub const PREFIX: &str = "/rp/product-ingestion";
const SCHEMA: &str = "https://schema.mp.microsoft.com/schema/";
const SUBMISSION_SCHEMA: &str =
    "https://schema.mp.microsoft.com/schema/submission/2022-03-01-preview2";
const STATUS_SCHEMA: &str =
    "https://schema.mp.microsoft.com/schema/configure-status/2022-03-01-preview2";
const VM_CONFIG: &str = "virtual-machine-plan-technical-configuration";
const VM_CONFIG_SCHEMA: &str = "https://schema.mp.microsoft.com/schema/virtual-machine-plan-technical-configuration/2022-03-01-preview3";
/// Submission numbers look like the service's: large, and growing.
const FIRST_SUBMISSION: u64 = 1_152_921_515_689_847_470;
/// Until a job ends, its end is this sentinel, as the service writes it.
const NO_END: &str = "0001-01-01T00:00:00";

/// A path under [`PREFIX`].
pub(super) enum Target<'a> {
    Product,
    Plan,
    Submissions(&'a str),
    Configure,
    JobStatus(&'a str),
    Cancel(&'a str),
    VmConfig(&'a str, &'a str),
}

impl<'a> Target<'a> {
    /// `segments` are those after the prefix.
    pub(super) fn parse(segments: &[&'a str]) -> Option<Target<'a>> {
        Some(match *segments {
            ["product"] => Target::Product,
            ["plan"] => Target::Plan,
            ["submission", product] => Target::Submissions(product),
            ["configure"] => Target::Configure,
            ["configure", job, "status"] => Target::JobStatus(job),
            ["configure", job, "cancel"] => Target::Cancel(job),
            [VM_CONFIG, product, plan] => Target::VmConfig(product, plan),
            _ => return None,
        })
    }

    pub(super) fn route(&self) -> Route {
        match self {
            Target::Product => Route::PiProduct,
            Target::Plan => Route::PiPlan,
            Target::Submissions(_) => Route::PiSubmissions,
            Target::Configure => Route::PiConfigure,
            Target::JobStatus(_) => Route::PiJob,
            Target::Cancel(_) => Route::PiCancel,
            Target::VmConfig(..) => Route::PiVmConfig,
        }
    }

    pub(super) fn method(&self) -> &'static str {
        match self {
            Target::Configure | Target::Cancel(_) => "POST",
            _ => "GET",
        }
    }
}

/// Which submission a job publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Publish {
    Preview,
    Live,
}

/// A preview or live entry of `GET /submission`.
#[derive(Debug, Clone)]
struct Entry {
    number: u64,
    status: &'static str,
    result: &'static str,
    created: SystemTime,
}

impl Entry {
    fn new(number: u64) -> Entry {
        Entry {
            number,
            status: "notStarted",
            result: "pending",
            created: SystemTime::now(),
        }
    }

    fn succeeded(number: u64) -> Entry {
        Entry {
            status: "completed",
            result: "succeeded",
            ..Entry::new(number)
        }
    }

    fn in_progress(&self) -> bool {
        self.status != "completed"
    }
}

struct Job {
    id: String,
    /// The submission it publishes, with the entry's number, if any.
    publish: Option<(Publish, u64)>,
    /// The draft resources it applies (besides the submission, in a modular publish).
    resources: Vec<Value>,
    /// The entry the new submission replaced, put back when the job is cancelled.
    replaced: Option<Entry>,
    reads: u32,
    status: &'static str,
    result: &'static str,
    start: SystemTime,
    end: Option<SystemTime>,
    errors: Value,
}

/// The product's submissions, jobs and VM plan configuration; kept under the portal's lock.
pub(super) struct State {
    preview: Option<Entry>,
    live: Option<Entry>,
    jobs: Vec<Job>,
    vm_config: Value,
    /// Counts jobs and submissions, so that ids differ and runs repeat.
    minted: u64,
}

impl State {
    pub(super) fn new(plan: &Plan) -> State {
        let pi = &plan.ingestion;
        let mut state = State {
            preview: None,
            live: None,
            jobs: Vec::new(),
            vm_config: json!({
                "$schema": VM_CONFIG_SCHEMA,
                "operatingSystem": {"family": "linux", "type": "ubuntu"},
                "skus": [{"imageType": "x64Gen2", "skuId": format!("{}-gen2", pi.plan_id)}],
                "vmImageVersions": [{"versionNumber": "1.0.0", "vmImages": [{"imageType": "x64Gen2",
                    "source": {"sourceType": "sasUri", "osDisk":
                        {"uri": "https://contoso.blob.core.windows.net/vhds/os-1.0.0.vhd"}, "dataDisks": []}}]}],
            }),
            minted: 0,
        };
        state.vm_config = stored_vm_config(plan, state.vm_config);
        match pi.start {
            IngestionStart::Draft => {}
            IngestionStart::PreviewRunning => {
                state.start_job(Some(Publish::Preview), Vec::new());
            }
            IngestionStart::PreviewReady => {
                state.preview = Some(Entry::succeeded(FIRST_SUBMISSION))
            }
            IngestionStart::Live => {
                state.preview = Some(Entry::succeeded(FIRST_SUBMISSION));
                state.live = Some(Entry::succeeded(FIRST_SUBMISSION));
            }
        }
        state
    }

    fn start_job(&mut self, publish: Option<Publish>, resources: Vec<Value>) -> usize {
        self.minted += 1;
        let (publish, replaced) = match publish {
            None => (None, None),
            Some(Publish::Preview) => {
                let number = FIRST_SUBMISSION + self.minted;
                let replaced = self.preview.replace(Entry::new(number));
                (Some((Publish::Preview, number)), replaced)
            }
            Some(Publish::Live) => {
                // Live republishes the preview submission: the live entry takes its id.
                let number = self.preview.as_ref().map_or(0, |p| p.number);
                let replaced = self.live.replace(Entry::new(number));
                (Some((Publish::Live, number)), replaced)
            }
        };
        self.jobs.push(Job {
            id: uuid(self.minted | 1 << 40),
            publish,
            resources,
            replaced,
            reads: 0,
            status: "notStarted",
            result: "pending",
            start: SystemTime::now(),
            end: None,
            errors: json!([]),
        });
        self.jobs.len() - 1
    }

    fn entry(&mut self, publish: Publish) -> &mut Option<Entry> {
        match publish {
            Publish::Preview => &mut self.preview,
            Publish::Live => &mut self.live,
        }
    }

    /// One read of a job: it moves a state on every `reads_per_state` reads, and its submission entry
    /// with it; with 0 the first read completes it.
    fn tick(&mut self, plan: &Plan, at: usize) {
        let pi = &plan.ingestion;
        let per = pi.reads_per_state;
        let job = &mut self.jobs[at];
        if job.end.is_some() {
            return;
        }
        job.reads += 1;
        if job.reads < per {
            return;
        }
        if job.reads < 2 * per {
            job.status = "running";
        } else {
            let guid = &pi.product_guid;
            job.status = "completed";
            job.end = Some(SystemTime::now());
            job.errors = match job.publish {
                Some((Publish::Preview, n)) if pi.fail_certification => {
                    certification_errors(guid, n)
                }
                None if pi.fail_draft => validation_errors(&job.resources),
                _ => json!([]),
            };
            job.result = match job.errors.as_array().is_some_and(|e| e.is_empty()) {
                true => "succeeded",
                false => "failed",
            };
            if job.result == "succeeded" {
                let config = job
                    .resources
                    .iter()
                    .rev()
                    .find(|r| schema_type(r) == VM_CONFIG);
                if let Some(config) = config {
                    self.vm_config = stored_vm_config(plan, config.clone());
                }
            }
        }
        let job = &self.jobs[at];
        let (status, result) = (job.status, job.result);
        if let Some((publish, number)) = job.publish {
            if let Some(entry) = self.entry(publish).as_mut().filter(|e| e.number == number) {
                entry.status = status;
                entry.result = result;
            }
        }
    }

    fn in_progress(&self) -> bool {
        [&self.preview, &self.live]
            .into_iter()
            .flatten()
            .any(Entry::in_progress)
    }

    fn job(&self, id: &str) -> Result<usize, Response> {
        let message = format!("The job '{id}' was not found.");
        self.jobs
            .iter()
            .position(|j| j.id == id)
            .ok_or_else(|| error(404, "notFound", &message))
    }

    fn job_json(&self, plan: &Plan, at: usize) -> Value {
        let job = &self.jobs[at];
        let mut body = json!({
            "$schema": STATUS_SCHEMA,
            "jobStatus": job.status,
            "jobResult": job.result,
            "jobStart": timestamp(job.start),
            "jobEnd": job.end.map_or(NO_END.to_string(), timestamp),
            "errors": job.errors,
        });
        body[plan.ingestion.job_id_key.as_str()] = json!(job.id);
        if job.result == "succeeded" {
            let uri = format!(
                "https://product-ingestion.mp.microsoft.com/configure/{}",
                job.id
            );
            body["resourceUri"] = json!(uri);
        }
        body
    }
}

/// Answers a request already authenticated by the portal.
pub(super) fn answer(
    plan: &Plan,
    base_url: &str,
    state: &mut State,
    req: &Request,
    target: &Target,
) -> Served {
    if req.query("$version").is_none_or(|v| v.is_empty()) {
        let message = "The query parameter '$version' is required.";
        return Err(error(400, "badRequest", message));
    }
    let pi = &plan.ingestion;
    let product = format!("product/{}", pi.product_guid);
    match target {
        Target::Product => Ok(products(plan, base_url, req)),
        Target::Plan => {
            let found = req.query("product").as_deref() == Some(product.as_str())
                && req.query("externalId").is_none_or(|p| p == pi.plan_id);
            let plan_json = json!({"id": plan_id(plan), "identity": {"externalId": pi.plan_id}});
            let value = if found { vec![plan_json] } else { vec![] };
            Ok(Response::json(200, &json!({ "value": value })))
        }
        Target::Submissions(guid) => {
            known_product(plan, guid)?;
            let running: Vec<usize> = (0..state.jobs.len())
                .filter(|&at| state.jobs[at].publish.is_some())
                .collect();
            running.into_iter().for_each(|at| state.tick(plan, at));
            Ok(submissions(plan, state, req))
        }
        Target::Configure => configure(plan, state, req),
        Target::JobStatus(id) => {
            let at = state.job(id)?;
            state.tick(plan, at);
            Ok(Response::json(200, &state.job_json(plan, at)))
        }
        Target::Cancel(id) => {
            let at = state.job(id)?;
            if state.jobs[at].end.is_some() {
                let message = "Cannot cancel job, job has already completed.";
                return Err(error(400, "badRequest", message));
            }
            let job = &mut state.jobs[at];
            (job.status, job.result, job.end) = ("completed", "cancelled", Some(SystemTime::now()));
            // Nothing was published: the submission the job started gives way to the one before it.
            if let (Some((publish, _)), replaced) = (job.publish, job.replaced.take()) {
                *state.entry(publish) = replaced;
            }
            Ok(Response::json(200, &state.job_json(plan, at)))
        }
        Target::VmConfig(guid, plan_guid) => {
            known_product(plan, guid)?;
            if *plan_guid != pi.plan_guid {
                return Err(error(404, "notFound", "The plan was not found."));
            }
            Ok(Response::json(200, &state.vm_config))
        }
    }
}

/// The product lookup: the offer on the plan's page, other products before it, each page but the last
/// with an `@nextLink` on the same origin.
fn products(plan: &Plan, base_url: &str, req: &Request) -> Response {
    let pi = &plan.ingestion;
    let wanted = req.query("externalId");
    if !pi.listed || wanted.as_deref().is_some_and(|w| w != plan.offer) {
        return Response::json(200, &json!({"value": []}));
    }
    let page: u32 = req
        .query("continuationToken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    let product = |external: &str, guid: String| {
        json!({
            "$schema": "https://schema.mp.microsoft.com/schema/product/2022-03-01-preview3",
            "id": format!("product/{guid}"),
            "identity": {"externalId": external},
            "type": "azureVirtualMachine",
            "alias": external,
        })
    };
    let last = pi.product_page.max(1);
    if page >= last {
        let value = match page == last {
            true => vec![product(&plan.offer, pi.product_guid.clone())],
            false => vec![],
        };
        return Response::json(200, &json!({ "value": value }));
    }
    let other = product(
        &format!("{}-{page}", plan.offer),
        uuid(u64::from(page) | 1 << 41),
    );
    let encode = |s: &str| byte_serialize(s.as_bytes()).collect::<String>();
    let mut next = format!("{base_url}{PREFIX}/product?");
    if let Some(wanted) = &wanted {
        next += &format!("externalId={}&", encode(wanted));
    }
    let version = req.query("$version").unwrap_or_default();
    next += &format!(
        "$version={}&continuationToken={}",
        encode(&version),
        page + 1
    );
    Response::json(200, &json!({"value": [other], "@nextLink": next}))
}

/// The draft entry, then preview and live as they stand; `targetType` filters.
fn submissions(plan: &Plan, state: &State, req: &Request) -> Response {
    let guid = &plan.ingestion.product_guid;
    let base = |target: &str, number: u64| {
        json!({
            "$schema": SUBMISSION_SCHEMA,
            "id": format!("submission/{guid}/{number}"),
            "product": format!("product/{guid}"),
            "target": {"targetType": target},
        })
    };
    let mut value = vec![base("draft", 0)];
    for (target, entry) in [("preview", &state.preview), ("live", &state.live)] {
        if let Some(entry) = entry {
            let mut json = base(target, entry.number);
            json["status"] = json!(entry.status);
            json["result"] = json!(entry.result);
            json["created"] = json!(timestamp(entry.created));
            json["lifecycleState"] = json!("generallyAvailable");
            value.push(json);
        }
    }
    if let Some(wanted) = req.query("targetType") {
        value.retain(|e| e["target"]["targetType"] == wanted.as_str());
    }
    Response::json(200, &json!({ "value": value }))
}

/// Checks the body as the service does, then starts the job.
fn configure(plan: &Plan, state: &mut State, req: &Request) -> Served {
    let body: Value = serde_json::from_slice(&req.body).map_err(|e| {
        let message = format!("The request body is not valid JSON: {e}");
        error(400, "badRequest", &message)
    })?;
    if check_schema(&body)? != "configure" {
        return Err(error(
            400,
            "badRequest",
            "The document's '$schema' must be a configure schema.",
        ));
    }
    let resources = body["resources"]
        .as_array()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| error(400, "badRequest", "'resources' must be a non-empty array."))?;
    let mut publish = None;
    let mut drafts = Vec::new();
    for resource in resources {
        match check_schema(resource)? {
            "submission" if publish.is_some() => {
                return Err(error(
                    400,
                    "badRequest",
                    "Only one submission can be configured at a time.",
                ));
            }
            "submission" => publish = Some(check_submission(plan, state, resource)?),
            kind => {
                if kind == VM_CONFIG {
                    check_vm_config(plan, resource)?;
                }
                drafts.push(resource.clone());
            }
        }
    }
    if publish == Some(Publish::Live) && !drafts.is_empty() {
        let message =
            "Modular publish is not supported for live: publish the changes to preview first.";
        return Err(error(400, "badRequest", message));
    }
    if publish.is_some() && state.in_progress() {
        let message = "An In Progress submission already exists.";
        return Err(error(409, "conflict", message));
    }
    let at = state.start_job(publish, drafts);
    Ok(Response::json(
        plan.ingestion.configure_status,
        &state.job_json(plan, at),
    ))
}

/// The resource type of a `$schema` on the service's schema host (`configure`, `submission`, ...). Any
/// other host, the retired `product-ingestion.azureedge.net` included, is a schema the service cannot read.
fn check_schema(resource: &Value) -> Result<&str, Response> {
    let Some(schema) = resource["$schema"].as_str() else {
        return Err(error(
            400,
            "badRequest",
            "Every resource needs a '$schema'.",
        ));
    };
    let unreachable = || {
        error(
            400,
            "badRequest",
            &format!("Schema {schema} could not be accessed"),
        )
    };
    let rest = schema.strip_prefix(SCHEMA).ok_or_else(unreachable)?;
    match rest.split_once('/') {
        Some((kind, version)) if !kind.is_empty() && !version.is_empty() => Ok(kind),
        _ => Err(unreachable()),
    }
}

/// A submission resource: this product, preview (no id, or the draft's) or live (the preview's id, once
/// that preview succeeded).
fn check_submission(plan: &Plan, state: &State, resource: &Value) -> Result<Publish, Response> {
    let guid = &plan.ingestion.product_guid;
    if resource["product"] != format!("product/{guid}").as_str() {
        let message = format!("The product {} was not found.", resource["product"]);
        return Err(error(400, "badRequest", &message));
    }
    let id = resource["id"].as_str();
    match resource["target"]["targetType"].as_str() {
        Some("preview") => match id.is_none_or(|id| id == format!("submission/{guid}/0")) {
            true => Ok(Publish::Preview),
            false => Err(error(
                400,
                "badRequest",
                "The submission cannot be pushed to as its not the latest",
            )),
        },
        Some("live") => {
            let ready = state.preview.as_ref().filter(|p| p.result == "succeeded");
            let expected = ready.map(|p| format!("submission/{guid}/{}", p.number));
            match (expected, id) {
                (Some(expected), Some(id)) if expected == id => Ok(Publish::Live),
                (None, _) => Err(error(
                    400,
                    "badRequest",
                    "There is no preview submission that succeeded to publish live.",
                )),
                _ => Err(error(
                    400,
                    "badRequest",
                    "Live needs the id of the preview submission that succeeded.",
                )),
            }
        }
        _ => Err(error(
            400,
            "badRequest",
            "'target.targetType' must be preview or live.",
        )),
    }
}

/// A VM plan technical configuration must name this product and plan, by durable id or external id.
fn check_vm_config(plan: &Plan, resource: &Value) -> Result<(), Response> {
    let pi = &plan.ingestion;
    let product = format!("product/{}", pi.product_guid);
    let names = |reference: &Value, durable: &str, external: &str| {
        *reference == durable || reference["externalId"] == external
    };
    if !names(&resource["product"], &product, &plan.offer) {
        return Err(error(
            400,
            "badRequest",
            "The configuration names an unknown product.",
        ));
    }
    if !names(&resource["plan"], &plan_id(plan), &pi.plan_id) {
        return Err(error(
            400,
            "badRequest",
            "The configuration names an unknown plan.",
        ));
    }
    Ok(())
}

/// A VM plan configuration as a GET answers it: with durable ids, whatever references it was sent with.
fn stored_vm_config(plan: &Plan, mut config: Value) -> Value {
    let guid = &plan.ingestion.product_guid;
    let plan_id = plan_id(plan);
    let plan_guid = &plan.ingestion.plan_guid;
    config["id"] = json!(format!("{VM_CONFIG}/{guid}/{plan_guid}"));
    config["product"] = json!(format!("product/{guid}"));
    config["plan"] = json!(plan_id);
    config
}

fn plan_id(plan: &Plan) -> String {
    let pi = &plan.ingestion;
    format!("plan/{}/{}", pi.product_guid, pi.plan_guid)
}

fn known_product(plan: &Plan, guid: &str) -> Result<(), Response> {
    match guid == plan.ingestion.product_guid {
        true => Ok(()),
        false => Err(error(
            404,
            "notFound",
            &format!("The product '{guid}' was not found."),
        )),
    }
}

fn schema_type(resource: &Value) -> &str {
    check_schema(resource).unwrap_or_default()
}

/// A failed certification, as a real client's fixtures record it.
fn certification_errors(guid: &str, number: u64) -> Value {
    json!([{
        "resourceId": format!("submission/{guid}/{number}"),
        "code": "internalServerError",
        "message": "Operation failed",
        "details": [{"code": "invalidState", "message": "Certification",
            "details": [{"code": "invalidState", "message": "Issues found during Certification."}]}],
    }])
}

/// A failed draft job: one validation tree per resource.
fn validation_errors(resources: &[Value]) -> Value {
    let errors = resources.iter().map(|resource| {
        let id = resource.get("id").cloned().unwrap_or_else(|| json!(schema_type(resource)));
        json!({
            "resourceId": id,
            "code": "badRequest",
            "message": "Validation failed",
            "details": [{"code": "businessValidationError",
                "message": "The OS disk of image version could not be read: the SAS URI has expired."}],
        })
    });
    Value::Array(errors.collect())
}

/// An error in the API's shape: camel-case code, and `details`.
pub(super) fn error(status: u16, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message, "details": []}});
    Response::json(status, &body)
}
