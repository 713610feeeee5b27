//! The Cloud Partner Portal API (`api-version=2017-10-31`): URLs, request bodies, and reading its answers
//! in every shape seen (an operation as an object or an array holding one; the location in
//! `Operation-Location` or `Location`, relative or absolute).

use reqwest::Method;
use serde_json::{json, Value};
use url::Url;

use super::{Message, OperationView, Portal, ServiceError, ServiceResult, Started, Status, Step};
use crate::config::resolve_operation;
use crate::outcome::Outcome;
use crate::text::{excerpt, one_line};
use crate::transport::{service_error, Answer, Transport};

/// A client for one offer of one publisher.
pub struct CloudPartnerPortal {
    transport: Transport,
    publisher_id: String,
    offer_id: String,
    api_version: String,
}

impl CloudPartnerPortal {
    /// `publisher_id` and `offer_id` must already be validated (config does), so they are safe in a path.
    pub fn new(
        transport: Transport,
        publisher_id: &str,
        offer_id: &str,
        api_version: &str,
    ) -> CloudPartnerPortal {
        CloudPartnerPortal {
            transport,
            publisher_id: publisher_id.to_string(),
            offer_id: offer_id.to_string(),
            api_version: api_version.to_string(),
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

    async fn start(&self, what: &str, tail: &str, body: Option<Value>) -> ServiceResult<Started> {
        let url = self.offer_url(tail);
        let answer = self
            .transport
            .send(what, Method::POST, &url, body.as_ref())
            .await?;
        if !(200..300).contains(&answer.status) {
            return Err(rejection(what, &answer));
        }
        let location = answer
            .header("operation-location")
            .or_else(|| answer.header("location"));
        let operation = match location {
            Some(value) => Some(
                resolve_operation(self.transport.origin(), &value).map_err(|why| ServiceError {
                    http_status: Some(answer.status),
                    ..ServiceError::unusable(
                        format!("{what}: the service named an operation that cannot be followed: {why}"),
                        "nothing was sent there; report the answer to Microsoft support",
                    )
                })?,
            ),
            None if answer.status == 200 && tail == "cancel" => None,
            None => {
                return Err(ServiceError {
                    http_status: Some(answer.status),
                    ..ServiceError::unusable(
                        format!(
                            "{what}: the service accepted the request (HTTP {}) but named no operation \
                             (no Operation-Location or Location header)",
                            answer.status
                        ),
                        "check the offer's status in Partner Center, or run again with MARKETPLACE_COMMAND=status",
                    )
                })
            }
        };
        Ok(Started {
            http_status: answer.status,
            operation,
        })
    }

    async fn get_json(&self, what: &str, url: &Url) -> ServiceResult<(Answer, Value)> {
        let answer = self.transport.send(what, Method::GET, url, None).await?;
        if answer.status != 200 {
            return Err(rejection(what, &answer));
        }
        let json = answer.json().map_err(|why| ServiceError {
            http_status: Some(answer.status),
            ..ServiceError::unusable(
                format!("{what}: {why}"),
                "the service sent an answer that cannot be read; run again later",
            )
        })?;
        Ok((answer, json))
    }

    fn notification_body(emails: &[String]) -> Value {
        if emails.is_empty() {
            json!({"metadata": {}})
        } else {
            json!({"metadata": {"notification-emails": emails.join(",")}})
        }
    }
}

impl Portal for CloudPartnerPortal {
    async fn publish(&self, notification_emails: &[String]) -> ServiceResult<Started> {
        let body = Self::notification_body(notification_emails);
        self.start("publish request", "publish", Some(body)).await
    }

    async fn go_live(&self) -> ServiceResult<Started> {
        self.start("go-live request", "golive", None).await
    }

    async fn cancel(&self, notification_emails: &[String]) -> ServiceResult<Started> {
        let body = Self::notification_body(notification_emails);
        self.start("cancel request", "cancel", Some(body)).await
    }

    async fn offer_status(&self) -> ServiceResult<OperationView> {
        let what = "offer status request";
        let (answer, json) = self.get_json(what, &self.offer_url("status")).await?;
        parse_operation(&json).map_err(|why| unreadable(what, &answer, why))
    }

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
            let status = Status::from_word(op["status"].as_str().unwrap_or("running"));
            !status.is_final() && op["id"].as_str().is_some_and(|id| !id.is_empty())
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
                format!(
                    "{what}: the running operation has an unusable id '{}'",
                    excerpt(id)
                ),
                "check the offer's status in Partner Center",
            ));
        }
        Ok(Some(self.offer_url(&format!("operations/{id}"))))
    }

    async fn operation(&self, location: &Url) -> ServiceResult<OperationView> {
        let what = "operation status request";
        let mut url = location.clone();
        if !url.query_pairs().any(|(k, _)| k == "api-version") {
            url.query_pairs_mut()
                .append_pair("api-version", &self.api_version);
        }
        let (answer, json) = self.get_json(what, &url).await?;
        parse_operation(&json).map_err(|why| unreadable(what, &answer, why))
    }
}

fn unreadable(what: &str, answer: &Answer, why: String) -> ServiceError {
    ServiceError {
        http_status: Some(answer.status),
        ..ServiceError::unusable(
            format!("{what}: {why}"),
            "the service sent an answer that cannot be read; run again later",
        )
    }
}

/// A final answer that is not a success: the service's code and message, with a hint per status.
fn rejection(what: &str, answer: &Answer) -> ServiceError {
    let (code, message) = service_error(answer);
    let hint = match answer.status {
        400 => "fix what the message names before running again; the same request will be refused again",
        403 => "add the application (service principal) as a user of the publisher account in Partner Center, \
                with a role that may publish",
        404 => "check MARKETPLACE_PUBLISHER_ID and MARKETPLACE_OFFER_ID: the offer must exist in that publisher \
                account (ids are case-sensitive)",
        409 => "another operation is in progress for this offer; follow it with MARKETPLACE_COMMAND=status",
        422 => "the offer did not pass validation: fix what the message names in the offer, then publish again",
        300..=399 => "the service answered with a redirect, which is not followed so that the token stays on the API origin",
        _ => "check the service's message; if it persists, report it to Microsoft support",
    };
    ServiceError {
        outcome: Outcome::for_http_status(answer.status),
        http_status: Some(answer.status),
        code,
        message: format!("{what}: {message}"),
        hint: hint.to_string(),
        transient: false,
    }
}

/// Read an operation (or offer status) answer: an object, or an array holding one.
pub fn parse_operation(json: &Value) -> Result<OperationView, String> {
    let object = match json {
        Value::Object(_) => json,
        Value::Array(items) => items
            .first()
            .filter(|o| o.is_object())
            .ok_or("the answer is an array without an operation in it")?,
        _ => return Err("the answer is not a JSON object".to_string()),
    };
    let status_word = text(&object["status"]);
    if status_word.is_empty() {
        return Err("the answer has no status".to_string());
    }
    let error = match &object["error"] {
        Value::Object(e) => Some((
            text(e.get("code").unwrap_or(&Value::Null)),
            text(e.get("message").unwrap_or(&Value::Null)),
        )),
        Value::String(s) if !s.is_empty() => Some((String::new(), s.clone())),
        _ => None,
    }
    .filter(|(code, message)| !code.is_empty() || !message.is_empty());
    let steps = match &object["steps"] {
        Value::Array(steps) => steps.iter().map(parse_step).collect(),
        _ => Vec::new(),
    };
    Ok(OperationView {
        id: text(&object["id"]),
        status: Status::from_word(&status_word),
        status_word,
        steps,
        error,
        messages: parse_messages(&object["messages"]),
    })
}

fn parse_step(step: &Value) -> Step {
    let status_word = text(&step["status"]);
    let name = [&step["stepName"], &step["id"], &step["name"]]
        .into_iter()
        .map(text)
        .find(|s| !s.is_empty())
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
        status: Status::from_word(&status_word),
        status_word,
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
                Value::String(s) => ("information".to_string(), s.clone()),
                Value::Object(_) => (
                    text(&m["level"]).to_ascii_lowercase(),
                    [&m["messageHtml"], &m["message"], &m["text"]]
                        .into_iter()
                        .map(text)
                        .find(|s| !s.is_empty())
                        .unwrap_or_default(),
                ),
                _ => return None,
            };
            let text = strip_html(&raw);
            (!text.is_empty()).then_some(Message { level, text })
        })
        .collect()
}

/// A JSON value as display text: strings as they are, numbers written out, anything else empty.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
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
mod tests {
    use super::*;

    #[test]
    fn operations_as_object_or_array() {
        let object = json!({
            "id": "op1", "status": "running",
            "steps": [{"stepName": "displaycertify", "description": "Certification", "status": "inProgress",
                       "estimatedTimeFrame": "< 5 day", "progressPercentage": 40,
                       "messages": [{"messageHtml": "<b>Checking</b> &amp; more", "level": "Information"}]}]
        });
        let view = parse_operation(&object).unwrap();
        assert_eq!(view.status, Status::Running);
        assert_eq!(view.steps[0].name, "displaycertify");
        assert_eq!(view.steps[0].progress, Some(40));
        assert_eq!(view.steps[0].messages[0].text, "Checking & more");
        assert_eq!(view.steps[0].messages[0].level, "information");
        assert_eq!(parse_operation(&json!([object])).unwrap(), view);
        assert!(parse_operation(&json!([])).is_err());
        assert!(parse_operation(&json!("x")).is_err());
        assert!(parse_operation(&json!({"id": "x"})).is_err());
    }

    #[test]
    fn operation_errors_in_both_shapes() {
        let view =
            parse_operation(&json!({"status": "failed", "error": {"code": "C", "message": "m"}}))
                .unwrap();
        assert_eq!(view.error, Some(("C".into(), "m".into())));
        let view = parse_operation(&json!({"status": "failed", "error": "plain"})).unwrap();
        assert_eq!(view.error, Some((String::new(), "plain".into())));
        let view =
            parse_operation(&json!({"status": "Succeeded", "progressPercentage": "50%"})).unwrap();
        assert_eq!(view.status, Status::Succeeded);
    }

    #[test]
    fn html_is_flattened() {
        assert_eq!(strip_html("a<br/>b\n\n<p>c</p>"), "a b c");
        assert_eq!(strip_html("&lt;script&gt;"), "<script>");
    }
}
