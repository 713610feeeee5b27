//! The Product Ingestion API (contract section 6), Partner Center's successor of the Cloud Partner
//! Portal: the product found by its external id, its submissions read for the guard and the end
//! state, publishing through `POST {B}/configure`, and the job that starts followed at
//! `{B}/configure/{jobId}/status`. B may carry a path, so every URL is B's path plus a tail.

pub mod image;

use std::sync::Mutex;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::OnceCell;
use url::Url;

use super::{
    check_version, key, origin_scope, text, ApiRules, Begun, Command, Failure, Message, Phase,
    Service, ServiceError, ServiceResult, Severity, Snapshot, Step, StepState, Target,
};
use crate::input::validate_id;
use crate::outcome::Outcome;
use crate::text::{body_excerpt, excerpt};
use crate::transport::{rejection, unreadable, Answer, Transport};

/// Product Ingestion's input rules (contract sections 1 and 6).
pub static RULES: ApiRules = ApiRules {
    names: &["product-ingestion"],
    default_base: "https://graph.microsoft.com/rp/product-ingestion",
    default_version: "2022-03-01-preview2",
    publisher_required: false,
    check_offer,
    offer_forms:
        "the offer id in Partner Center (e.g. contoso-offer), product/<guid> or the product's guid",
    cancel_needs_operation: true,
    draft_changes: true,
    // The service asks for at most one status read a minute; preview and live jobs run for days.
    default_poll: (Duration::from_secs(60), Duration::from_secs(300)),
    check_base: any_path,
    check_version,
    // The default base's origin is Microsoft Graph's, whose scope is exactly its origin + `/.default`.
    scope: origin_scope,
    resolve_operation,
    operation_forms: "the operation-location output of an earlier run, or configure/{jobId}",
};

/// The submission resource's schema; the configure envelope's follows `MARKETPLACE_API_VERSION`.
const SUBMISSION_SCHEMA: &str =
    "https://schema.mp.microsoft.com/schema/submission/2022-03-01-preview2";
const SCHEMA_ROOT: &str = "https://schema.mp.microsoft.com/schema";

/// Pages of a listing followed at most: a service handing out endless `@nextLink`s must not hold the run.
const MAX_PAGES: usize = 100;

/// The base is origin plus path (`/rp/product-ingestion`); the shared URL rule already refused a
/// query, a fragment and credentials.
fn any_path(_: &Url) -> Result<(), String> {
    Ok(())
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex.
fn is_guid(value: &str) -> bool {
    value.len() == 36
        && value.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The product's key as the durable id `product/<key>` writes it; it goes into paths, so only safe characters.
fn is_product_key(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && value.chars().any(|c| c.is_ascii_alphanumeric())
}

/// The product key when the offer is given as `product/<guid>` or a bare guid; `None` for an external id.
fn given_product(offer: &str) -> Option<&str> {
    match offer.strip_prefix("product/") {
        Some(key) => Some(key).filter(|k| is_product_key(k)),
        None => Some(offer).filter(|o| is_guid(o)),
    }
}

fn check_offer(offer: &str) -> Result<(), String> {
    if offer.starts_with("product/") && given_product(offer).is_none() {
        return Err("product/ must be followed by the product's guid".to_string());
    }
    if given_product(offer).is_some() {
        return Ok(());
    }
    validate_id(offer)
        .map_err(|why| format!("{why} (e.g. contoso-offer, product/<guid> or the product's guid)"))
}

/// A job id goes into a path: letters, digits, `-` and `_` only.
fn check_job_id(job: &str) -> Result<(), String> {
    let fine = (1..=64).contains(&job.len())
        && job
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && job.chars().any(|c| c.is_ascii_alphanumeric());
    match fine {
        true => Ok(()),
        false => Err(format!("'{}' is not a usable job id", excerpt(job))),
    }
}

/// `{B}/{tail}` with B's path kept, and `query` as given (callers build it from checked values).
fn under_base(base: &Url, tail: &str, query: Option<&str>) -> Url {
    let mut url = base.clone();
    url.set_path(&format!("{}/{tail}", base.path().trim_end_matches('/')));
    url.set_query(query);
    url
}

/// Where a job is read: `{B}/configure/{jobId}/status`, without a query.
fn job_location(base: &Url, job: &str) -> Url {
    under_base(base, &format!("configure/{job}/status"), None)
}

/// Resolve `MARKETPLACE_OPERATION`: `configure/{jobId}` relative to B, or the absolute
/// `{B}/configure/{jobId}/status` of an earlier run. Either way the result is the job's canonical
/// location on B; anything off B's origin or outside B's path is refused.
pub fn resolve_operation(base: &Url, value: &str) -> Result<Url, String> {
    let value = value.trim();
    let tail = match value.strip_prefix("configure/") {
        Some(rest) => rest.to_string(),
        None => {
            let url = Url::parse(value).map_err(|_| {
                format!(
                    "'{}' is neither an absolute URL nor configure/{{jobId}}",
                    excerpt(value)
                )
            })?;
            if url.origin() != base.origin() {
                return Err(format!(
                    "'{}' is not on the API origin {}; nothing is sent to another origin",
                    excerpt(value),
                    base.origin().ascii_serialization()
                ));
            }
            if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
                return Err(format!("'{}' is not a job location", excerpt(value)));
            }
            let prefix = format!("{}/configure/", base.path().trim_end_matches('/'));
            url.path()
                .strip_prefix(&prefix)
                .ok_or_else(|| format!("'{}' is not a job under {base}", excerpt(value)))?
                .to_string()
        }
    };
    let job = tail.strip_suffix("/status").unwrap_or(&tail);
    check_job_id(job)?;
    Ok(job_location(base, job))
}

/// The job id of a location [`resolve_operation`] made.
fn job_of(location: &Url) -> Option<String> {
    let mut segments = location.path_segments()?.rev();
    match (segments.next(), segments.next()) {
        (Some("status"), Some(job)) if check_job_id(job).is_ok() => Some(job.to_string()),
        _ => None,
    }
}

/// What to do next after the service refused a request with `status`.
fn hint_for(status: u16) -> &'static str {
    match status {
        400 => "fix what the message names before running again; the same request will be refused again",
        403 => "add the application in Partner Center (Account settings, User management, Microsoft Entra \
                applications) with the Manager role",
        404 => "check MARKETPLACE_OFFER_ID: the product must be in the Partner Center account that the \
                application was added to",
        409 => "another submission is in progress for this offer; follow it with MARKETPLACE_COMMAND=status",
        300..=399 => "the service answered with a redirect, which is not followed so that the token stays on the API origin",
        _ => "check the service's message; if it persists, report it to Microsoft support",
    }
}

/// A refused request; a conflict is a bad request here (contract section 6).
fn refused(what: &str, answer: &Answer) -> ServiceError {
    let mut error = rejection(what, answer, hint_for);
    if answer.status == 409 {
        error.outcome = Outcome::BadRequest;
    }
    error
}

/// A failure found before anything is sent, or in what was read.
fn refuse(outcome: Outcome, context: &str, message: String, hint: &str) -> ServiceError {
    ServiceError {
        outcome,
        http_status: None,
        context: context.to_string(),
        code: None,
        message,
        hint: Some(hint.to_string()),
        transient: false,
    }
}

/// One entry of `GET {B}/submission/{guid}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Submission {
    id: String,
    /// `draft`, `preview` or `live`, as compared.
    target: String,
    status: Option<String>,
    result: Option<String>,
}

impl Submission {
    fn parse(entry: &Value) -> Option<Submission> {
        Some(Submission {
            id: text(&entry["id"])?,
            target: key(&text(&entry["target"]["targetType"])?),
            status: text(&entry["status"]),
            result: text(&entry["result"]),
        })
    }

    fn in_progress(&self) -> bool {
        self.status
            .as_deref()
            .is_some_and(|s| matches!(key(s).as_str(), "notstarted" | "running"))
    }

    /// `completed` with this result.
    fn ended(&self, result: &str) -> bool {
        self.status.as_deref().map(key).as_deref() == Some("completed")
            && self.result.as_deref().map(key).as_deref() == Some(result)
    }

    /// The word shown: the result once completed, else the status.
    fn word(&self) -> String {
        match self.status.as_deref().map(key).as_deref() {
            Some("completed") => self.result.clone(),
            _ => self.status.clone(),
        }
        .unwrap_or_else(|| "unknown".to_string())
    }

    fn step(&self) -> Step {
        let state = if self.in_progress() {
            StepState::Running
        } else if self.ended("succeeded") {
            StepState::Done
        } else if self.status.is_some() {
            StepState::Failed
        } else {
            StepState::NotStarted
        };
        Step {
            name: self.target.clone(),
            description: Some(self.id.clone()),
            state,
            word: self.word(),
            progress: None,
            estimate: None,
            messages: Vec::new(),
        }
    }
}

/// The submissions of one product.
struct Submissions(Vec<Submission>);

impl Submissions {
    fn of(&self, target: &str) -> Option<&Submission> {
        self.0.iter().find(|s| s.target == target)
    }

    /// A preview or live submission still in progress.
    fn busy(&self) -> Option<&Submission> {
        ["preview", "live"]
            .into_iter()
            .filter_map(|t| self.of(t))
            .find(|s| s.in_progress())
    }

    /// Where the offer stands; `None` when it has only a draft (never published). A ready preview
    /// counts as succeeded unless `stop_at_preview`, as the commands that go on to live never stop there.
    fn snapshot(&self, stop_at_preview: bool) -> Option<Snapshot> {
        let (preview, live) = (self.of("preview"), self.of("live"));
        // The latest: what is in progress, else a preview not yet live, else the live one.
        let latest = self
            .busy()
            .or(preview.filter(|p| live.is_none_or(|l| l.id != p.id)))
            .or(live)?;
        let (phase, word_known) = if latest.in_progress() {
            (Phase::Running, true)
        } else if latest.ended("succeeded") {
            match latest.target.as_str() {
                "preview" if stop_at_preview => (Phase::PreviewReady, true),
                _ => (Phase::Succeeded, true),
            }
        } else if latest.ended("failed") {
            (Phase::Failed, true)
        } else {
            (Phase::Running, false)
        };
        let failure = (phase == Phase::Failed).then(|| Failure {
            step: Some(latest.target.clone()),
            code: None,
            message: Some(format!(
                "the {} submission {} failed; Partner Center shows why",
                latest.target, latest.id
            )),
        });
        Some(Snapshot {
            id: None,
            phase,
            word: latest.word(),
            word_known,
            steps: [preview, live]
                .into_iter()
                .flatten()
                .map(Submission::step)
                .collect(),
            messages: Vec::new(),
            failure,
            submission: Some(latest.id.clone()),
        })
    }
}

/// Read a configure job's status answer (with or without `$schema`, `jobId` or `jobID`).
fn parse_job(json: &Value) -> Result<Snapshot, String> {
    if !json.is_object() {
        return Err("the job status is not a JSON object".to_string());
    }
    let status = text(&json["jobStatus"]).ok_or("the job status has no jobStatus")?;
    let result = text(&json["jobResult"]);
    let (phase, word_known, word) = match key(&status).as_str() {
        "notstarted" | "running" => (Phase::Running, true, status.clone()),
        "completed" => {
            let result = result.unwrap_or_else(|| "unknown".to_string());
            let phase = match key(&result).as_str() {
                "succeeded" => Some(Phase::Succeeded),
                "failed" => Some(Phase::Failed),
                "cancelled" | "canceled" => Some(Phase::Canceled),
                _ => None,
            };
            (phase.unwrap_or(Phase::Running), phase.is_some(), result)
        }
        _ => (Phase::Running, false, status.clone()),
    };
    let errors = match &json["errors"] {
        Value::Array(errors) => errors.as_slice(),
        _ => &[],
    };
    let mut found = Vec::new();
    for error in errors {
        walk(error, 0, &mut found);
    }
    let messages = found
        .iter()
        .map(|(_, code, message)| Message {
            level: Severity::Error,
            text: match code {
                Some(code) => format!("{code}: {message}"),
                None => message.clone(),
            },
        })
        .collect();
    let failure = matches!(phase, Phase::Failed | Phase::Canceled).then(|| {
        // The deepest detail with a message; the first such in document order.
        let deepest = found.iter().fold(
            None,
            |best: Option<&(usize, Option<String>, String)>, e| match best {
                Some(b) if b.0 >= e.0 => Some(b),
                _ => Some(e),
            },
        );
        Failure {
            step: failed_step(errors),
            code: deepest.and_then(|d| d.1.clone()),
            message: deepest.map(|d| d.2.clone()),
        }
    });
    Ok(Snapshot {
        id: text(&json["jobId"]).or_else(|| text(&json["jobID"])),
        phase,
        word,
        word_known,
        steps: Vec::new(),
        messages,
        failure,
        submission: None,
    })
}

/// Every detail of an error tree that has a message, depth first in document order, with its depth.
fn walk(error: &Value, depth: usize, found: &mut Vec<(usize, Option<String>, String)>) {
    if let Some(message) = text(&error["message"]) {
        found.push((depth, text(&error["code"]), message));
    }
    if let Value::Array(details) = &error["details"] {
        for detail in details {
            walk(detail, depth + 1, found);
        }
    }
}

/// `certification` when the tree speaks of it anywhere, else the first error's `resourceId`.
fn failed_step(errors: &[Value]) -> Option<String> {
    fn mentions(error: &Value) -> bool {
        let said = |field: &str| {
            error[field]
                .as_str()
                .is_some_and(|t| t.to_ascii_lowercase().contains("certification"))
        };
        said("code")
            || said("message")
            || error["details"]
                .as_array()
                .is_some_and(|details| details.iter().any(mentions))
    }
    if errors.iter().any(mentions) {
        return Some("certification".to_string());
    }
    match errors.first().map(|e| &e["resourceId"]) {
        Some(Value::String(id)) if !id.trim().is_empty() => Some(id.clone()),
        Some(object @ Value::Object(_)) => Some(object.to_string()),
        _ => None,
    }
}

/// A client for one product.
pub struct ProductIngestion {
    transport: Transport,
    base: Url,
    offer_id: String,
    api_version: String,
    command: Command,
    /// The product's key (`product/<key>`), once given or looked up.
    product: OnceCell<String>,
    /// The submission the job publishes, once known (go-live knows it before it starts).
    submission: Mutex<Option<String>>,
}

impl ProductIngestion {
    /// `offer_id` and `api_version` must already be validated (config does), so they are safe in a URL.
    pub fn new(
        transport: Transport,
        offer_id: &str,
        api_version: &str,
        command: Command,
    ) -> ProductIngestion {
        ProductIngestion {
            base: transport.origin().clone(),
            transport,
            offer_id: offer_id.to_string(),
            api_version: api_version.to_string(),
            command,
            product: OnceCell::new_with(given_product(offer_id).map(str::to_string)),
            submission: Mutex::new(None),
        }
    }

    /// `{B}/{tail}?$version={v}` plus `query`.
    fn endpoint(&self, tail: &str, query: Option<&str>) -> Url {
        let version = format!("$version={}", self.api_version);
        let query = match query {
            Some(query) => format!("{query}&{version}"),
            None => version,
        };
        under_base(&self.base, tail, Some(&query))
    }

    fn known_submission(&self) -> Option<String> {
        self.submission
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn get_json(&self, what: &str, url: &Url) -> ServiceResult<Value> {
        let answer = self.transport.send(what, Method::GET, url, None).await?;
        if !(200..300).contains(&answer.status) {
            return Err(refused(what, &answer));
        }
        answer.json().map_err(|why| unreadable(what, &answer, why))
    }

    /// Every `value` entry of a listing, following `@nextLink` on B's origin only.
    async fn list(&self, what: &str, first: Url) -> ServiceResult<Vec<Value>> {
        let mut url = first;
        let mut entries = Vec::new();
        for _ in 0..MAX_PAGES {
            let json = self.get_json(what, &url).await?;
            let Value::Array(page) = &json["value"] else {
                return Err(ServiceError::unusable(
                    what,
                    "the answer has no value list",
                    "the service sent an answer that cannot be read; run again later",
                ));
            };
            entries.extend(page.iter().cloned());
            let Some(next) = text(&json["@nextLink"]) else {
                return Ok(entries);
            };
            url = self.next_page(what, &next)?;
        }
        Err(ServiceError::unusable(
            what,
            format!("the listing went on for more than {MAX_PAGES} pages"),
            "report the answer to Microsoft support",
        ))
    }

    /// The next page's URL: on B's origin, or refused with nothing sent there; `$version` added when missing.
    fn next_page(&self, what: &str, next: &str) -> ServiceResult<Url> {
        let url = Url::parse(next)
            .or_else(|_| self.base.join(next))
            .ok()
            .filter(|url| url.origin() == self.base.origin() && url.username().is_empty());
        let Some(mut url) = url else {
            return Err(ServiceError::unusable(
                what,
                format!(
                    "the next page is named as '{}', which is not on the API origin {}; nothing was sent there",
                    excerpt(next),
                    self.base.origin().ascii_serialization()
                ),
                "report the answer to Microsoft support",
            ));
        };
        if !url.query_pairs().any(|(k, _)| k == "$version") {
            url.query_pairs_mut()
                .append_pair("$version", &self.api_version);
        }
        Ok(url)
    }

    /// The product's key: as given, or looked up by its external id once.
    async fn product(&self) -> ServiceResult<&str> {
        self.product
            .get_or_try_init(|| self.look_up())
            .await
            .map(String::as_str)
    }

    async fn look_up(&self) -> ServiceResult<String> {
        let what = "product lookup";
        let url = self.endpoint("product", Some(&format!("externalId={}", self.offer_id)));
        let entries = self.list(what, url).await?;
        let found = entries.iter().find(|entry| {
            let identity = &entry["identity"];
            [&identity["externalId"], &identity["externalID"]]
                .into_iter()
                .any(|id| id.as_str() == Some(self.offer_id.as_str()))
        });
        let Some(entry) = found else {
            return Err(ServiceError {
                http_status: Some(200),
                ..refuse(
                    Outcome::NotFound,
                    what,
                    format!(
                        "no product with the external id '{}' in this Partner Center account",
                        self.offer_id
                    ),
                    "check MARKETPLACE_OFFER_ID (the offer id shown in Partner Center), or give the product as product/<guid>",
                )
            });
        };
        let id = text(&entry["id"]).unwrap_or_default();
        match id.strip_prefix("product/").filter(|k| is_product_key(k)) {
            Some(key) => Ok(key.to_string()),
            None => Err(ServiceError::unusable(
                what,
                format!("the product's id '{}' is not product/<guid>", excerpt(&id)),
                "report the answer to Microsoft support",
            )),
        }
    }

    async fn submissions(&self) -> ServiceResult<Submissions> {
        let product = self.product().await?;
        let url = self.endpoint(&format!("submission/{product}"), None);
        let entries = self.list("submissions request", url).await?;
        Ok(Submissions(
            entries.iter().filter_map(Submission::parse).collect(),
        ))
    }

    /// The offer's state from its submissions; never published is `not-found`.
    async fn offer_snapshot(&self) -> ServiceResult<Snapshot> {
        let snapshot = self
            .submissions()
            .await?
            .snapshot(self.command.stops_at_preview());
        snapshot.ok_or_else(|| ServiceError {
            http_status: Some(200),
            ..refuse(
                Outcome::NotFound,
                "submissions request",
                format!(
                    "the offer {} has never been published: it has only a draft",
                    self.offer_id
                ),
                "run with MARKETPLACE_COMMAND=publish first",
            )
        })
    }

    /// The guard: a preview or live submission in progress is followed, and nothing is started.
    fn guard(&self, submissions: &Submissions) -> Option<Begun> {
        let busy = submissions.busy()?;
        Some(Begun::Existing {
            target: Target::Offer,
            http_status: None,
            note: Some(format!(
                "the {} submission {} was already in progress, so it is followed and nothing new is started",
                busy.target, busy.id
            )),
        })
    }

    /// `POST {B}/configure` with one resource; any 2xx naming a job starts it.
    async fn configure(&self, what: &str, resource: Value) -> ServiceResult<Begun> {
        let body = json!({
            "$schema": format!("{SCHEMA_ROOT}/configure/{}", self.api_version),
            "resources": [resource],
        });
        let url = self.endpoint("configure", None);
        let answer = self
            .transport
            .send(what, Method::POST, &url, Some(&body))
            .await?;
        if !(200..300).contains(&answer.status) {
            return Err(refused(what, &answer));
        }
        let json = answer
            .json()
            .map_err(|why| unreadable(what, &answer, why))?;
        let job = text(&json["jobId"]).or_else(|| text(&json["jobID"]));
        let Some(job) = job else {
            return Err(unreadable(
                what,
                &answer,
                format!(
                    "the service accepted the request (HTTP {}) but named no job (no jobId): '{}'",
                    answer.status,
                    body_excerpt(&answer.body)
                ),
            ));
        };
        check_job_id(&job).map_err(|why| unreadable(what, &answer, why))?;
        Ok(Begun::Started {
            location: job_location(&self.base, &job),
            id: Some(job),
            http_status: answer.status,
            prerequisite: false,
        })
    }

    fn submission_resource(&self, product: &str, id: Option<&str>, target: &str) -> Value {
        let mut resource = json!({
            "$schema": SUBMISSION_SCHEMA,
            "product": format!("product/{product}"),
            "target": {"targetType": target},
        });
        if let Some(id) = id {
            resource["id"] = json!(id);
        }
        resource
    }

    async fn publish(&self) -> ServiceResult<Begun> {
        let submissions = self.submissions().await?;
        if let Some(begun) = self.guard(&submissions) {
            return Ok(begun);
        }
        let product = self.product().await?;
        let resource = self.submission_resource(product, None, "preview");
        self.configure("publish request", resource).await
    }

    async fn go_live(&self) -> ServiceResult<Begun> {
        let what = "go-live request";
        let submissions = self.submissions().await?;
        if let Some(begun) = self.guard(&submissions) {
            return Ok(begun);
        }
        let preview = submissions.of("preview");
        let Some(preview) = preview.filter(|p| p.ended("succeeded")) else {
            let state = preview.map_or("none".to_string(), Submission::word);
            return Err(refuse(
                Outcome::BadRequest,
                what,
                format!(
                    "there is no preview that completed successfully to take live (preview: {state}); nothing was sent"
                ),
                "publish to preview first (MARKETPLACE_COMMAND=publish) and wait for preview-ready",
            ));
        };
        *self.submission.lock().unwrap_or_else(|e| e.into_inner()) = Some(preview.id.clone());
        if submissions.of("live").is_some_and(|l| l.id == preview.id) {
            return Ok(Begun::Finished {
                outcome: Outcome::Succeeded,
                http_status: Some(200),
                note: Some(format!(
                    "the submission {} is live already; nothing was sent",
                    preview.id
                )),
            });
        }
        let product = self.product().await?;
        let resource = self.submission_resource(product, Some(&preview.id), "live");
        self.configure(what, resource).await
    }

    async fn status(&self) -> ServiceResult<Begun> {
        Ok(Begun::Read {
            target: Target::Offer,
            http_status: Some(200),
            snapshot: self.offer_snapshot().await?,
        })
    }

    /// Read a job; a succeeded one (but for configure) is checked against the submissions once, so
    /// that a preview waiting for go-live is reported as such.
    async fn read_job(&self, location: &Url) -> ServiceResult<Snapshot> {
        let what = "job status request";
        let mut url = location.clone();
        url.set_query(Some(&format!("$version={}", self.api_version)));
        let json = self.get_json(what, &url).await?;
        let mut snapshot = parse_job(&json).map_err(|why| {
            ServiceError::unusable(
                what,
                why,
                "the service sent an answer that cannot be read; run again later",
            )
        })?;
        snapshot.submission = self.known_submission();
        if snapshot.phase == Phase::Succeeded && self.command != Command::Configure {
            if let Some(offer) = self
                .submissions()
                .await?
                .snapshot(self.command.stops_at_preview())
            {
                if offer.phase == Phase::PreviewReady {
                    snapshot.phase = Phase::PreviewReady;
                }
                snapshot.submission = snapshot.submission.or(offer.submission);
            }
        }
        Ok(snapshot)
    }
}

impl Service for ProductIngestion {
    async fn begin(&self, command: Command) -> ServiceResult<Begun> {
        match command {
            Command::Publish => self.publish().await,
            Command::GoLive => self.go_live().await,
            Command::Status => self.status().await,
            Command::Cancel => self.cancel(None).await,
            Command::Configure => Err(refuse(
                Outcome::ConfigError,
                "configure",
                "configure applies draft changes given in MARKETPLACE_CONFIGURE_FILE, which this version \
                 does not read yet; nothing was sent"
                    .to_string(),
                "make the changes in Partner Center, then run with MARKETPLACE_COMMAND=publish",
            )),
        }
    }

    async fn cancel(&self, operation: Option<&Url>) -> ServiceResult<Begun> {
        let what = "cancel request";
        let Some((location, job)) = operation.and_then(|l| Some((l, job_of(l)?))) else {
            return Err(refuse(
                Outcome::ConfigError,
                what,
                "the Product Ingestion API cancels jobs, and no job was given; nothing was sent".to_string(),
                "give MARKETPLACE_OPERATION: the operation-location output of the run that started the job",
            ));
        };
        let url = self.endpoint(&format!("configure/{job}/cancel"), None);
        let answer = self.transport.send(what, Method::POST, &url, None).await?;
        if !(200..300).contains(&answer.status) {
            let mut error = refused(what, &answer);
            if answer.status == 400 {
                error.hint = Some(
                    "the job may have completed already, or be too far along to cancel; see how it ended with \
                     MARKETPLACE_COMMAND=status"
                        .to_string(),
                );
            }
            return Err(error);
        }
        let target = Target::Operation(location.clone());
        // The answer is the job's status where the service sends one; else the job is read.
        Ok(match answer.json().ok().and_then(|j| parse_job(&j).ok()) {
            Some(snapshot) => Begun::Read {
                target,
                http_status: Some(answer.status),
                snapshot,
            },
            None => Begun::Existing {
                target,
                http_status: Some(answer.status),
                note: None,
            },
        })
    }

    async fn then(&self, _command: Command, _ended: &Snapshot) -> ServiceResult<Option<Begun>> {
        Ok(None)
    }

    async fn read(&self, target: &Target) -> ServiceResult<Snapshot> {
        match target {
            Target::Operation(location) => self.read_job(location).await,
            Target::Offer => self.offer_snapshot().await,
        }
    }

    fn product_id(&self) -> Option<String> {
        self.product.get().map(|key| format!("product/{key}"))
    }
}

#[cfg(test)]
mod tests;
