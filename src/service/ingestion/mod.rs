//! The Product Ingestion API (contract section 6), Partner Center's successor of the Cloud Partner
//! Portal: the product found by its external id, its submissions read for the guard and the end
//! state, publishing through `POST {B}/configure`, and the job that starts followed at
//! `{B}/configure/{jobId}/status`. B may carry a path, so every URL is B's path plus a tail.

mod answers;
mod draft;
pub mod image;
mod rules;

use std::sync::Mutex;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::OnceCell;
use url::Url;

use super::{text, Begun, Command, Phase, Service, ServiceError, ServiceResult, Snapshot, Target};
use crate::changes::Changes;
use crate::outcome::Outcome;
use crate::text::{body_excerpt, excerpt};
use crate::transport::{unreadable, Transport};
use answers::{parse_job, Submission, Submissions};
pub use rules::RULES;
use rules::{
    check_job_id, given_product, is_product_key, job_location, job_of, refuse, refused, under_base,
    MAX_PAGES, SCHEMA_ROOT, SUBMISSION_SCHEMA,
};

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
    /// Draft changes to apply first (contract section 7).
    changes: Option<Changes>,
    /// The draft job this run started, until the command has gone on past it.
    draft_job: Mutex<Option<String>>,
}

impl ProductIngestion {
    /// `offer_id` and `api_version` must already be validated (config does), so they are safe in a URL.
    pub fn new(
        transport: Transport,
        offer_id: &str,
        api_version: &str,
        command: Command,
        changes: Option<Changes>,
    ) -> ProductIngestion {
        ProductIngestion {
            base: transport.origin().clone(),
            transport,
            offer_id: offer_id.to_string(),
            api_version: api_version.to_string(),
            command,
            product: OnceCell::new_with(given_product(offer_id).map(str::to_string)),
            submission: Mutex::new(None),
            changes,
            draft_job: Mutex::new(None),
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
        lock(&self.submission).clone()
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
    async fn configure(&self, action: &str, resources: Vec<Value>) -> ServiceResult<Begun> {
        let what = &format!("{action} request");
        let body = json!({
            "$schema": format!("{SCHEMA_ROOT}/configure/{}", self.api_version),
            "resources": resources,
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
            action: action.to_string(),
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

    /// Publish to preview: the draft changes first where there are any, else the preview at once.
    async fn publish(&self) -> ServiceResult<Begun> {
        let submissions = self.submissions().await?;
        if let Some(changes) = &self.changes {
            if let Some(busy) = submissions.busy() {
                return Err(refuse(
                    Outcome::BadRequest,
                    "publish request",
                    format!(
                        "the {} submission {} is in progress, so the draft changes cannot be applied and \
                         published now; nothing was sent",
                        busy.target, busy.id
                    ),
                    "wait for it to end (MARKETPLACE_COMMAND=status), then run again",
                ));
            }
            if let Some(begun) = self.apply(changes, true).await? {
                return Ok(begun);
            }
        }
        if let Some(begun) = self.guard(&submissions) {
            return Ok(begun);
        }
        self.publish_preview().await
    }

    async fn publish_preview(&self) -> ServiceResult<Begun> {
        let product = self.product().await?;
        let resource = self.submission_resource(product, None, "preview");
        self.configure("publish", vec![resource]).await
    }

    /// Start the draft job for `changes`; `None` when every change is in place already.
    async fn apply(&self, changes: &Changes, prerequisite: bool) -> ServiceResult<Option<Begun>> {
        let resources = self.draft_resources(changes).await?;
        if resources.is_empty() {
            self.transport
                .info("every draft change is in place already: there is nothing to apply");
            return Ok(None);
        }
        let mut begun = self.configure("configure", resources).await?;
        if let Begun::Started {
            id,
            prerequisite: gate,
            ..
        } = &mut begun
        {
            *gate = prerequisite;
            *lock(&self.draft_job) = id.clone();
        }
        Ok(Some(begun))
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
        *lock(&self.submission) = Some(preview.id.clone());
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
        self.configure("go-live", vec![resource]).await
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
        let draft =
            job_of(location).is_some_and(|job| lock(&self.draft_job).as_ref() == Some(&job));
        if snapshot.phase == Phase::Succeeded && self.command != Command::Configure && !draft {
            if let Some(offer) = self
                .submissions()
                .await?
                .snapshot(self.command.stops_at_preview())
            {
                if offer.phase == Phase::PreviewReady {
                    snapshot.phase = Phase::PreviewReady;
                }
                snapshot.submission = snapshot.submission.or(offer.submission);
                snapshot.steps.extend(offer.steps);
            }
        }
        Ok(snapshot)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Service for ProductIngestion {
    async fn begin(&self, command: Command) -> ServiceResult<Begun> {
        match command {
            Command::Publish => self.publish().await,
            Command::GoLive => self.go_live().await,
            Command::Status => self.status().await,
            Command::Cancel => self.cancel(None).await,
            Command::Configure => {
                let applied = match &self.changes {
                    Some(changes) => self.apply(changes, false).await?,
                    None => None,
                };
                Ok(applied.unwrap_or_else(|| Begun::Finished {
                    outcome: Outcome::Succeeded,
                    http_status: None,
                    note: Some(
                        "every draft change was in place already; nothing was sent".to_string(),
                    ),
                }))
            }
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

    /// After the draft job of a publish, the publish itself; after anything else, nothing.
    async fn then(&self, command: Command, _ended: &Snapshot) -> ServiceResult<Option<Begun>> {
        let drafted = lock(&self.draft_job).take();
        match (command, drafted) {
            (Command::Publish, Some(job)) => {
                self.transport.info(&format!(
                    "the draft job {job} succeeded: publishing to preview"
                ));
                self.publish_preview().await.map(Some)
            }
            _ => Ok(None),
        }
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
