//! The Cloud Partner Portal API (`api-version=2017-10-31`): URLs, request bodies, status words, and
//! reading its answers in every shape seen (an operation as an object or an array holding one; the
//! location in `Operation-Location` or `Location`, relative or absolute).

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use url::Url;

use super::{
    check_version, key, origin_scope, text, ApiRules, Begun, Command, Failure, Message, Phase,
    Service, ServiceError, ServiceResult, Severity, Snapshot, Step, StepState, Target,
};
use crate::input::validate_id;
use crate::outcome::Outcome;
use crate::text::{excerpt, one_line};
use crate::transport::{rejection, unreadable, Answer, Transport};

/// The Cloud Partner Portal's input rules (contract sections 1 and 2).
pub static RULES: ApiRules = ApiRules {
    names: &["cloud-partner-portal", "cpp"],
    default_base: "https://cloudpartner.azure.com",
    default_version: "2017-10-31",
    publisher_required: true,
    check_offer,
    offer_forms: "the offer id in Partner Center (e.g. contoso-offer)",
    cancel_needs_operation: false,
    notification_mail: true,
    draft_changes: false,
    polite_poll: Duration::ZERO,
    default_poll: (Duration::from_secs(15), Duration::from_secs(60)),
    check_base: origin_only,
    check_version,
    scope: origin_scope,
    resolve_operation,
    operation_forms:
        "the operation-location output of an earlier run, or a path starting with /api/",
};

fn origin_only(base: &Url) -> Result<(), String> {
    if base.path() != "/" {
        return Err(
            "must be an origin only, such as https://host or https://host:8443 (no path, query or user)"
                .to_string(),
        );
    }
    Ok(())
}

fn check_offer(offer: &str) -> Result<(), String> {
    validate_id(offer).map_err(|why| format!("{why} (e.g. contoso-offer)"))
}

/// Resolve an operation location against the API base: an absolute URL must be on the API origin; a
/// relative one is resolved against the base and must lead under `/api/`. The path is kept as given
/// (`$` is not re-encoded).
pub fn resolve_operation(api_base: &Url, value: &str) -> Result<Url, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("the operation location is empty".to_string());
    }
    if value.starts_with("//") || value.contains('\\') || value.chars().any(|c| c.is_control()) {
        return Err(format!(
            "'{}' is not a usable operation location",
            excerpt(value)
        ));
    }
    let absolute = Url::parse(value);
    let url = match absolute {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => api_base
            .join(&format!("/{}", value.trim_start_matches('/')))
            .map_err(|_| format!("'{}' is not a usable path", excerpt(value)))?,
        Err(_) => {
            return Err(format!(
                "'{}' is neither an absolute URL nor a path starting with /api/",
                excerpt(value)
            ))
        }
    };
    if url.origin() != api_base.origin() {
        return Err(format!(
            "'{}' is not on the API origin {}; nothing is sent to another origin",
            excerpt(value),
            api_base.origin().ascii_serialization()
        ));
    }
    if !url.path().starts_with("/api/") || !url.username().is_empty() || url.password().is_some() {
        return Err(format!("'{}' is not an API path", excerpt(value)));
    }
    Ok(url)
}

/// A client for one offer of one publisher.
pub struct CloudPartnerPortal {
    transport: Transport,
    publisher_id: String,
    offer_id: String,
    api_version: String,
    notification_emails: Vec<String>,
}

impl CloudPartnerPortal {
    /// `publisher_id` and `offer_id` must already be validated (config does), so they are safe in a path.
    pub fn new(
        transport: Transport,
        publisher_id: &str,
        offer_id: &str,
        api_version: &str,
        notification_emails: &[String],
    ) -> CloudPartnerPortal {
        CloudPartnerPortal {
            transport,
            publisher_id: publisher_id.to_string(),
            offer_id: offer_id.to_string(),
            api_version: api_version.to_string(),
            notification_emails: notification_emails.to_vec(),
        }
    }

    fn offer_url(&self, tail: &str) -> Url {
        let mut url = self.transport.origin().clone();
        url.set_path(&format!(
            "/api/publishers/{}/offers/{}/{tail}",
            self.publisher_id, self.offer_id
        ));
        url.set_query(Some(&format!("api-version={}", self.api_version)));
        url
    }

    /// `{"metadata":{"notification-emails":"a@x.com,b@y.com"}}`, the key left out without addresses.
    fn notification_body(&self) -> Value {
        if self.notification_emails.is_empty() {
            json!({"metadata": {}})
        } else {
            json!({"metadata": {"notification-emails": self.notification_emails.join(",")}})
        }
    }

    /// POST a request that starts an operation; `None` when the service finished at once (cancel's 200).
    async fn start(&self, action: &str, tail: &str, body: Option<Value>) -> ServiceResult<Begun> {
        let what = &format!("{action} request");
        let url = self.offer_url(tail);
        let answer = self
            .transport
            .send(what, Method::POST, &url, body.as_ref())
            .await?;
        if !(200..300).contains(&answer.status) {
            return Err(rejection(what, &answer, hint_for));
        }
        let location = answer
            .header("operation-location")
            .or_else(|| answer.header("location"));
        let Some(value) = location else {
            if answer.status == 200 && tail == "cancel" {
                return Ok(Begun::Finished {
                    outcome: Outcome::Canceled { requested: true },
                    http_status: Some(answer.status),
                    note: Some("the service canceled the operation at once".to_string()),
                });
            }
            return Err(ServiceError {
                http_status: Some(answer.status),
                ..ServiceError::unusable(
                    what,
                    format!(
                        "the service accepted the request (HTTP {}) but named no operation \
                         (no Operation-Location or Location header)",
                        answer.status
                    ),
                    "check the offer's status in Partner Center, or run again with MARKETPLACE_COMMAND=status",
                )
            });
        };
        let location =
            resolve_operation(self.transport.origin(), &value).map_err(|why| ServiceError {
                http_status: Some(answer.status),
                ..ServiceError::unusable(
                    what,
                    format!("the service named an operation that cannot be followed: {why}"),
                    "nothing was sent there; report the answer to Microsoft support",
                )
            })?;
        Ok(Begun::Started {
            action: action.to_string(),
            id: operation_id(&location),
            location,
            http_status: answer.status,
            prerequisite: false,
        })
    }

    async fn get_json(&self, what: &str, url: &Url) -> ServiceResult<(Answer, Value)> {
        let answer = self.transport.send(what, Method::GET, url, None).await?;
        if answer.status != 200 && answer.status != 202 {
            return Err(rejection(what, &answer, hint_for));
        }
        let json = answer
            .json()
            .map_err(|why| unreadable(what, &answer, why))?;
        Ok((answer, json))
    }

    /// The offer's status, with the steps of its latest operation.
    async fn offer_status(&self) -> ServiceResult<Snapshot> {
        let what = "offer status request";
        let (answer, json) = self.get_json(what, &self.offer_url("status")).await?;
        parse_operation(&json).map_err(|why| unreadable(what, &answer, why))
    }

    /// The guard against double work: the offer's running operation, if the service names one.
    async fn running_operation(&self) -> ServiceResult<Option<Url>> {
        let what = "running operations request";
        let mut url = self.offer_url("submissions/");
        url.set_query(Some(&format!(
            "api-version={}&status=running",
            self.api_version
        )));
        let (_, json) = self.get_json(what, &url).await?;
        let list = match &json {
            Value::Array(items) => items.clone(),
            Value::Object(object) => match object.get("value") {
                Some(Value::Array(items)) => items.clone(),
                _ => vec![json.clone()],
            },
            _ => Vec::new(),
        };
        let running = list.iter().find(|op| {
            let phase = operation_phase(op["status"].as_str().unwrap_or("running")).0;
            !phase.is_final() && op["id"].as_str().is_some_and(|id| !id.is_empty())
        });
        let Some(operation) = running else {
            return Ok(None);
        };
        let id = operation["id"].as_str().unwrap_or_default();
        if !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '$'))
        {
            return Err(ServiceError::unusable(
                what,
                format!("the running operation has an unusable id '{}'", excerpt(id)),
                "check the offer's status in Partner Center",
            ));
        }
        Ok(Some(self.offer_url(&format!("operations/{id}"))))
    }

    /// Publish, unless the offer already has a running operation: then that one is followed. A listing
    /// that fails for another reason than credentials does not stop the publish (publish is idempotent
    /// at the service), but it is said.
    async fn publish(&self) -> ServiceResult<Begun> {
        match self.running_operation().await {
            Ok(Some(location)) => {
                return Ok(Begun::Existing {
                    target: Target::Operation(location.clone()),
                    http_status: None,
                    note: Some(format!(
                        "the offer already had a running operation, so it was followed instead of \
                         starting another: {location}"
                    )),
                })
            }
            Ok(None) => {}
            Err(e) if e.outcome == Outcome::Unauthorized => return Err(e),
            Err(e) => self.transport.warn(
                "running-operation check skipped",
                &format!("{e}; publishing anyway, as the service takes a repeated publish as one"),
            ),
        }
        let body = self.notification_body();
        self.start("publish", "publish", Some(body)).await
    }

    /// `status` without an operation: the offer's running operation if there is one, else its status.
    async fn status(&self) -> ServiceResult<Begun> {
        let snapshot = self.offer_status().await?;
        if snapshot.steps.is_empty() && step_state(&snapshot.word) == Some(StepState::NotStarted) {
            return Err(ServiceError {
                outcome: Outcome::NotFound,
                http_status: Some(200),
                context: "offer status request".to_string(),
                code: Some(snapshot.word.clone()),
                message: format!(
                    "the offer {}/{} has never been published: there is no operation to report",
                    self.publisher_id, self.offer_id
                ),
                hint: Some("run with MARKETPLACE_COMMAND=publish first".to_string()),
                transient: false,
            });
        }
        if !snapshot.phase.is_final() {
            if let Ok(Some(location)) = self.running_operation().await {
                return Ok(Begun::Existing {
                    target: Target::Operation(location),
                    http_status: Some(200),
                    note: None,
                });
            }
        }
        Ok(Begun::Read {
            target: Target::Offer,
            http_status: Some(200),
            snapshot,
        })
    }
}

impl Service for CloudPartnerPortal {
    async fn begin(&self, command: Command) -> ServiceResult<Begun> {
        match command {
            Command::Publish => self.publish().await,
            Command::GoLive => self.start("go-live", "golive", None).await,
            Command::Status => self.status().await,
            Command::Cancel => self.cancel(None).await,
            Command::Configure => Err(ServiceError {
                outcome: Outcome::ConfigError,
                ..ServiceError::unusable(
                    "configure",
                    "the Cloud Partner Portal API has no draft changes to apply",
                    "use MARKETPLACE_API=product-ingestion for configure",
                )
            }),
        }
    }

    async fn cancel(&self, operation: Option<&Url>) -> ServiceResult<Begun> {
        let body = self.notification_body();
        let begun = self.start("cancel", "cancel", Some(body)).await?;
        // The cancel request is the offer's; when it names no operation of its own, the given one
        // shows how the cancellation goes.
        Ok(match (begun, operation) {
            (Begun::Finished { http_status, .. }, Some(location)) => Begun::Existing {
                target: Target::Operation(location.clone()),
                http_status,
                note: None,
            },
            (begun, _) => begun,
        })
    }

    async fn then(&self, _command: Command, _ended: &Snapshot) -> ServiceResult<Option<Begun>> {
        Ok(None)
    }

    async fn read(&self, target: &Target) -> ServiceResult<Snapshot> {
        let Target::Operation(location) = target else {
            return self.offer_status().await;
        };
        let what = "operation status request";
        let mut url = location.clone();
        if !url.query_pairs().any(|(k, _)| k == "api-version") {
            url.query_pairs_mut()
                .append_pair("api-version", &self.api_version);
        }
        let (answer, json) = self.get_json(what, &url).await?;
        parse_operation(&json).map_err(|why| unreadable(what, &answer, why))
    }

    fn product_id(&self) -> Option<String> {
        None
    }
}

/// The operation's id: the last segment of its location (`.../operations/{id}`).
fn operation_id(location: &Url) -> Option<String> {
    location
        .path_segments()?
        .next_back()
        .filter(|id| !id.is_empty())
        .map(str::to_string)
}

/// What to do next after the service refused a request with `status`.
fn hint_for(status: u16) -> &'static str {
    match status {
        400 => "fix what the message names before running again; the same request will be refused again",
        403 => "add the application (service principal) as a user of the publisher account in Partner Center, \
                with a role that may publish",
        404 => "check MARKETPLACE_PUBLISHER_ID and MARKETPLACE_OFFER_ID: the offer must exist in that publisher \
                account (ids are case-sensitive)",
        409 => "another operation is in progress for this offer; follow it with MARKETPLACE_COMMAND=status",
        422 => "the offer did not pass validation: fix what the message names in the offer, then publish again",
        300..=399 => "the service answered with a redirect, which is not followed so that the token stays on the API origin",
        _ => "check the service's message; if it persists, report it to Microsoft support",
    }
}

/// An operation's phase from its status word, and whether the word is known.
fn operation_phase(word: &str) -> (Phase, bool) {
    match step_state(word) {
        Some(StepState::Done) => (Phase::Succeeded, true),
        Some(StepState::Failed) => match key(word).as_str() {
            "canceled" | "cancelled" => (Phase::Canceled, true),
            _ => (Phase::Failed, true),
        },
        Some(StepState::Waiting) => (Phase::PreviewReady, true),
        Some(_) => (Phase::Running, true),
        None => (Phase::Running, false),
    }
}

/// A step's state from its status word; `None` for a word this version does not know.
fn step_state(word: &str) -> Option<StepState> {
    Some(match key(word).as_str() {
        "notstarted" | "neverpublished" | "pending" | "queued" => StepState::NotStarted,
        "running" | "inprogress" | "waitingforapproval" => StepState::Running,
        "waitingforpublisherreview" => StepState::Waiting,
        "blocked" => StepState::Blocked,
        "complete" | "completed" | "succeeded" | "success" => StepState::Done,
        "failed" | "rejected" | "canceled" | "cancelled" => StepState::Failed,
        _ => return None,
    })
}

/// Read an operation (or offer status) answer: an object, or an array holding one.
pub fn parse_operation(json: &Value) -> Result<Snapshot, String> {
    let object = match json {
        Value::Object(_) => json,
        Value::Array(items) => items
            .first()
            .filter(|o| o.is_object())
            .ok_or("the answer is an array without an operation in it")?,
        _ => return Err("the answer is not a JSON object".to_string()),
    };
    let word = text(&object["status"]).ok_or("the answer has no status")?;
    let steps: Vec<Step> = match &object["steps"] {
        Value::Array(steps) => steps.iter().map(parse_step).collect(),
        _ => Vec::new(),
    };
    let (mut phase, word_known) = operation_phase(&word);
    // The publish operation goes on running while its sign-off step waits for the publisher.
    if phase == Phase::Running && steps.iter().any(|s| s.state == StepState::Waiting) {
        phase = Phase::PreviewReady;
    }
    let messages = parse_messages(&object["messages"]);
    let failure = matches!(phase, Phase::Failed | Phase::Canceled)
        .then(|| failure(&object["error"], &steps, &messages));
    Ok(Snapshot {
        id: text(&object["id"]),
        phase,
        word,
        word_known,
        steps,
        messages,
        failure,
        submission: None,
    })
}

/// The step that failed and the service's words for why: the operation's error, then the failed
/// step's messages of level error.
fn failure(error: &Value, steps: &[Step], messages: &[Message]) -> Failure {
    let (code, message) = match error {
        Value::Object(e) => (
            text(e.get("code").unwrap_or(&Value::Null)),
            text(e.get("message").unwrap_or(&Value::Null)),
        ),
        Value::String(_) => (None, text(error)),
        _ => (None, None),
    };
    let failed = steps
        .iter()
        .find(|s| s.state == StepState::Failed)
        .or_else(|| steps.iter().find(|s| s.state == StepState::Blocked));
    let words: Vec<String> = message
        .into_iter()
        .chain(
            failed
                .into_iter()
                .flat_map(|s| s.messages.iter())
                .chain(messages)
                .filter(|m| m.level == Severity::Error)
                .map(|m| m.text.clone()),
        )
        .collect();
    Failure {
        step: failed.map(|s| s.name.clone()),
        code,
        message: (!words.is_empty()).then(|| words.join("; ")),
    }
}

fn parse_step(step: &Value) -> Step {
    let word = text(&step["status"]).unwrap_or_default();
    let name = [&step["stepName"], &step["id"], &step["name"]]
        .into_iter()
        .find_map(text)
        .unwrap_or_else(|| "step".to_string());
    let progress = match &step["progressPercentage"] {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().trim_end_matches('%').parse().ok(),
        _ => None,
    }
    .map(|p| p.clamp(0.0, 100.0) as u8);
    Step {
        name,
        description: text(&step["description"]),
        state: step_state(&word).unwrap_or(StepState::Running),
        word,
        progress,
        estimate: text(&step["estimatedTimeFrame"]),
        messages: parse_messages(&step["messages"]),
    }
}

fn parse_messages(messages: &Value) -> Vec<Message> {
    let Value::Array(items) = messages else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|m| {
            let (level, raw) = match m {
                Value::String(s) => (Severity::Information, s.clone()),
                Value::Object(_) => (
                    match text(&m["level"]).map(|l| l.to_ascii_lowercase()).as_deref() {
                        Some("error") => Severity::Error,
                        Some("warning") => Severity::Warning,
                        _ => Severity::Information,
                    },
                    [&m["messageHtml"], &m["message"], &m["text"]]
                        .into_iter()
                        .find_map(text)?,
                ),
                _ => return None,
            };
            let text = strip_html(&raw);
            (!text.is_empty()).then_some(Message { level, text })
        })
        .collect()
}

/// `messageHtml` as plain text: tags dropped, the common entities decoded, white space folded.
fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    let decoded = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    one_line(&decoded, 200)
}

#[cfg(test)]
mod tests;
