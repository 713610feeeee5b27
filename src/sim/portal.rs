//! The simulated services' behaviour: the Cloud Partner Portal's offer and operation routes as the
//! contract (section 2) and the API notes describe them, with the scripts of the plan laid over them, and
//! the routing to the identity endpoints and to the Product Ingestion API (`ingestion`), which shares the
//! token checks, the recording and the scripts.
//!
//! Everything here is synchronous and runs under one lock: the server hands a whole request in and gets a
//! whole answer back, so the state cannot change halfway through an answer. Operations advance by status
//! reads (or by the clock, in the demo's time mode), never by background tasks.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use super::http::{self, Delivery, Request, Response, Served};
use super::identity::{self, entra_error, Tokens};
use super::ingestion;
use super::operation::{is_success, normalize, offer_word, steps_json, Kind, Operation, SIGNOFF};
use super::plan::{
    LocationForm, LocationHeader, LocationShape, Plan, Route, Scripted, Shape, Start,
};
use super::stamp::{timestamp, uuid};
use super::Recorded;

/// The portal's whole state behind one lock, with the plan it follows.
pub(super) struct Portal {
    plan: Plan,
    base_url: String,
    /// The same server under another origin, for `LocationForm::Foreign`.
    foreign_origin: String,
    state: Mutex<State>,
}

struct State {
    log: Vec<Recorded>,
    operations: Vec<Operation>,
    tokens: Tokens,
    /// Counts operations, so that their ids differ and runs repeat.
    minted: u64,
    ingestion: ingestion::State,
}

impl Portal {
    pub(super) fn new(plan: Plan, base_url: String, foreign_origin: String) -> Portal {
        let state = State {
            log: Vec::new(),
            operations: Vec::new(),
            tokens: Tokens::default(),
            minted: 0,
            ingestion: ingestion::State::new(&plan),
        };
        let portal = Portal {
            plan,
            base_url,
            foreign_origin,
            state: Mutex::new(state),
        };
        portal.seed();
        portal
    }

    /// Sets up the offer's starting point from `plan.start`.
    fn seed(&self) {
        let mut state = self.lock();
        match self.plan.start {
            Start::NeverPublished => {}
            Start::Running => {
                self.create(&mut state, Kind::Publish);
            }
            Start::Preview => {
                let at = self.create(&mut state, Kind::Publish);
                let op = &mut state.operations[at];
                op.await_signoff = true;
                op.walked = Kind::Publish.index_of(SIGNOFF).unwrap_or_default();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A test that panicked mid-request must not hide what the others recorded.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn requests(&self) -> Vec<Recorded> {
        self.lock().log.clone()
    }

    pub(super) fn operation_locations(&self) -> Vec<String> {
        let state = self.lock();
        state
            .operations
            .iter()
            .map(|op| op.location.clone())
            .collect()
    }

    /// Answers one request: the route's script first, then the normal behaviour; records the request.
    pub(super) fn handle(&self, request: Request) -> (Response, Delivery) {
        let target = Target::parse(request.path());
        let route = target.as_ref().map(Target::route);
        let mut state = self.lock();
        let script = route.and_then(|route| {
            let earlier = state.log.iter().filter(|r| r.route == Some(route)).count();
            self.plan.scripted(route, earlier)
        });
        let mut response = match (script.and_then(|s| s.status.zip(route)), &target) {
            (Some((status, route)), _) => made_up(route, status),
            (None, Some(target)) => {
                let shape = script.and_then(|s| s.shape).unwrap_or_default();
                self.answer(&mut state, &request, target, shape)
                    .unwrap_or_else(|error| error)
            }
            (None, None) => api_error(404, "NotFound", "No resource matches the request path."),
        };
        let delivery = script.map_or_else(Delivery::default, |s| apply(s, &mut response));
        state.log.push(Recorded { route, request });
        (response, delivery)
    }

    fn answer(&self, state: &mut State, req: &Request, target: &Target, shape: Shape) -> Served {
        match target {
            Target::Token { tenant } => {
                expect_method(req, "POST")?;
                state.tokens.token(&self.plan.auth, req, tenant)
            }
            Target::Oidc => {
                expect_method(req, "GET")?;
                identity::oidc(&self.plan.auth, req)
            }
            Target::Ingestion(target) => {
                expect_method(req, target.method())?;
                self.authenticate(state, req)
                    .map_err(|message| challenge(ingestion::error(401, "unauthorized", message)))?;
                ingestion::answer(
                    &self.plan,
                    &self.base_url,
                    &mut state.ingestion,
                    req,
                    target,
                )
            }
            Target::DollarOperation => {
                expect_method(req, "GET")?;
                self.authorize(state, req)?;
                let at = state
                    .operations
                    .iter()
                    .position(|op| op.path() == req.path());
                self.read_operation(state, at, shape)
            }
            Target::Offer {
                publisher,
                offer,
                action,
            } => {
                expect_method(req, action.method())?;
                self.authorize(state, req)?;
                if *publisher != self.plan.publisher || *offer != self.plan.offer {
                    let message = format!("The offer '{publisher}/{offer}' was not found.");
                    return Err(api_error(404, "NotFound", &message));
                }
                match action {
                    Action::Publish => self.publish(state, req),
                    Action::Golive => self.go_live(state, req),
                    Action::Cancel => self.cancel(state, req),
                    Action::Status => Ok(self.offer_status(state)),
                    Action::Submissions => Ok(self.submissions(state, req)),
                    Action::Operation(id) => {
                        let at = state.operations.iter().position(|op| op.id == *id);
                        self.read_operation(state, at, shape)
                    }
                }
            }
        }
    }

    /// Checks the bearer token and the `api-version`, as the API does before anything else.
    fn authorize(&self, state: &mut State, req: &Request) -> Result<(), Response> {
        self.authenticate(state, req)
            .map_err(|message| challenge(api_error(401, "Unauthorized", message)))?;
        if req.query("api-version").as_deref() != Some(self.plan.api_version.as_str()) {
            let message = format!(
                "Invalid api version. Allowed values are [{}]",
                self.plan.api_version
            );
            return Err(api_error(400, "InvalidAPIVersion", &message));
        }
        Ok(())
    }

    /// Checks the bearer token, for either API; says why it is refused.
    fn authenticate(&self, state: &mut State, req: &Request) -> Result<(), &'static str> {
        let token = req.bearer().ok_or(
            "Authentication failed. The 'Authorization' header is missing or is not a Bearer token.",
        )?;
        if !self.plan.auth.tokens.iter().any(|t| t == token) {
            state.tokens.admit(&self.plan.auth, token)?;
        }
        Ok(())
    }

    /// Publish is idempotent: while any operation runs, the answer names that one again.
    fn publish(&self, state: &mut State, req: &Request) -> Served {
        metadata_body(req)?;
        let at = match self.running(state) {
            Some(at) => at,
            None => self.create(state, Kind::Publish),
        };
        Ok(self.accepted(&state.operations[at]))
    }

    /// Go-live approves a publish waiting at publisher sign-off and starts the `live` step; while that
    /// runs, another go-live names it again.
    fn go_live(&self, state: &mut State, req: &Request) -> Served {
        if !req.body.is_empty() {
            json_body(req)?;
        }
        let now = Instant::now();
        let plan = &self.plan.operation;
        let waiting = self.running(state).map(|at| {
            let op = &state.operations[at];
            (at, op.kind, op.view(plan, now).waiting_for_signoff())
        });
        let at = match waiting {
            Some((at, Kind::GoLive, _)) => at,
            Some((at, _, true)) => {
                // The publish ends here and the go-live carries the `live` step, so that only one
                // operation runs at a time.
                let publish = &mut state.operations[at];
                publish.await_signoff = false;
                publish.walked = publish.kind.steps().len();
                self.create(state, Kind::GoLive)
            }
            Some(_) => {
                let message = "Another operation is in progress for this offer.";
                return Err(api_error(400, "BadRequest", message));
            }
            None => {
                let message = "The offer has no preview waiting for publisher sign-off.";
                return Err(api_error(400, "BadRequest", message));
            }
        };
        Ok(self.accepted(&state.operations[at]))
    }

    /// Cancel marks the running operation canceled, then answers 200 with it or 202 with a cancel
    /// operation of its own, as `cancel_at_once` says.
    fn cancel(&self, state: &mut State, req: &Request) -> Served {
        metadata_body(req)?;
        let Some(at) = self.running(state) else {
            let message = "There is no operation in progress to cancel.";
            return Err(api_error(400, "BadRequest", message));
        };
        if state.operations[at].kind == Kind::Cancel {
            return Ok(self.accepted(&state.operations[at]));
        }
        let plan = &self.plan.operation;
        let op = &mut state.operations[at];
        op.canceled_at = Some(op.view(plan, Instant::now()).current);
        if plan.cancel_at_once {
            return Ok(Response::json(200, &self.operation_json(op)));
        }
        let cancel = self.create(state, Kind::Cancel);
        Ok(self.accepted(&state.operations[cancel]))
    }

    /// The offer's status is that of its latest publish or go-live, read as a poll.
    fn offer_status(&self, state: &mut State) -> Response {
        let latest = state
            .operations
            .iter_mut()
            .rev()
            .find(|op| op.kind != Kind::Cancel);
        let Some(op) = latest else {
            return Response::json(200, &json!({"status": "NeverPublished", "steps": []}));
        };
        op.polls += 1;
        let view = op.view(&self.plan.operation, Instant::now());
        let status = if view.running() {
            "Running".to_string()
        } else {
            offer_word(&view.status)
        };
        Response::json(200, &json!({"status": status, "steps": steps_json(&view)}))
    }

    fn submissions(&self, state: &State, req: &Request) -> Response {
        let wanted = req.query("status").map(|s| normalize(&s));
        let now = Instant::now();
        let list: Vec<Value> = state
            .operations
            .iter()
            .filter(|op| {
                let status = normalize(&op.view(&self.plan.operation, now).status);
                wanted.as_ref().is_none_or(|w| *w == status)
            })
            .map(|op| self.operation_json(op))
            .collect();
        Response::json(200, &Value::Array(list))
    }

    /// One status read of an operation: it advances the walk, then answers in the asked shape.
    fn read_operation(&self, state: &mut State, at: Option<usize>, shape: Shape) -> Served {
        let op = at
            .map(|at| &mut state.operations[at])
            .ok_or_else(|| api_error(404, "NotFound", "The operation was not found."))?;
        op.polls += 1;
        let body = self.operation_json(op);
        Ok(Response::json(
            200,
            &match shape {
                Shape::Object => body,
                Shape::Array => json!([body]),
            },
        ))
    }

    /// The running operation of the offer, if any: there is at most one.
    fn running(&self, state: &State) -> Option<usize> {
        let now = Instant::now();
        state
            .operations
            .iter()
            .position(|op| op.view(&self.plan.operation, now).running())
    }

    fn create(&self, state: &mut State, kind: Kind) -> usize {
        state.minted += 1;
        let id = uuid(state.minted);
        let query = format!("?api-version={}", self.plan.api_version);
        let (publisher, offer) = (&self.plan.publisher, &self.plan.offer);
        let location = match self.plan.location.shape {
            LocationShape::Dollar => format!("/api/operations/{publisher}${id}$2$preview{query}"),
            LocationShape::Offer => {
                format!("/api/publishers/{publisher}/offers/{offer}/operations/{id}{query}")
            }
        };
        state.operations.push(Operation {
            id,
            kind,
            location,
            created: SystemTime::now(),
            started: Instant::now(),
            walked: 0,
            polls: 0,
            await_signoff: kind == Kind::Publish && self.plan.operation.stop_at_signoff,
            canceled_at: None,
        });
        state.operations.len() - 1
    }

    /// A 202 naming the operation where the plan says.
    fn accepted(&self, op: &Operation) -> Response {
        let url = match self.plan.location.form {
            LocationForm::Relative => op.location.clone(),
            LocationForm::Absolute => format!("{}{}", self.base_url, op.location),
            LocationForm::Foreign => format!("{}{}", self.foreign_origin, op.location),
        };
        let names: &[&str] = match self.plan.location.header {
            LocationHeader::OperationLocation => &["Operation-Location"],
            LocationHeader::Location => &["Location"],
            LocationHeader::Both => &["Operation-Location", "Location"],
            LocationHeader::None => &[],
        };
        Response {
            status: 202,
            headers: names.iter().map(|n| (n.to_string(), url.clone())).collect(),
            body: Vec::new(),
        }
    }

    fn operation_json(&self, op: &Operation) -> Value {
        let view = op.view(&self.plan.operation, Instant::now());
        let listing = format!("{}.{}", self.plan.publisher, self.plan.offer);
        let preview = match view.current >= op.kind.index_of(SIGNOFF).unwrap_or(usize::MAX) {
            true => {
                json!([{"displayText": "Preview", "uri": format!("https://portal.azure.com/#create/{listing}-preview")}])
            }
            false => json!([]),
        };
        let live = match is_success(&view.status) && op.kind != Kind::Cancel {
            true => {
                json!([{"displayText": "Live", "uri": format!("https://azuremarketplace.microsoft.com/marketplace/apps/{listing}")}])
            }
            false => json!([]),
        };
        json!({
            "id": op.id,
            "submissionType": op.kind.submission_type(),
            "createdDateTime": timestamp(op.created),
            "lastActionDateTime": timestamp(SystemTime::now()),
            "status": view.status,
            "cancellationRequestState": if view.running() { "canCancel" } else { "cannotCancel" },
            "publishingVersion": 2,
            "steps": steps_json(&view),
            "previewLinks": preview,
            "liveLinks": live,
        })
    }
}

/// Where a request path leads. Paths are matched as sent, so an operation path whose `$` was
/// re-encoded as `%24` finds nothing, as the API notes warn.
enum Target<'a> {
    Offer {
        publisher: &'a str,
        offer: &'a str,
        action: Action<'a>,
    },
    /// `/api/operations/{publisher}${id}$2$preview`, found by its whole path.
    DollarOperation,
    Token {
        tenant: &'a str,
    },
    Oidc,
    Ingestion(ingestion::Target<'a>),
}

enum Action<'a> {
    Publish,
    Golive,
    Cancel,
    Status,
    Submissions,
    Operation(&'a str),
}

impl<'a> Target<'a> {
    fn parse(path: &'a str) -> Option<Target<'a>> {
        let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        match segments.as_slice() {
            ["api", "publishers", publisher, "offers", offer, rest @ ..] => {
                let action = match rest {
                    ["publish"] => Action::Publish,
                    ["golive"] => Action::Golive,
                    ["cancel"] => Action::Cancel,
                    ["status"] => Action::Status,
                    ["submissions"] | ["submissions", ""] => Action::Submissions,
                    ["operations", id] => Action::Operation(id),
                    _ => return None,
                };
                Some(Target::Offer {
                    publisher,
                    offer,
                    action,
                })
            }
            ["api", "operations", _] => Some(Target::DollarOperation),
            [tenant, "oauth2", "v2.0", "token"] => Some(Target::Token { tenant }),
            ["oidc", "token"] => Some(Target::Oidc),
            ["rp", "product-ingestion", rest @ ..] => {
                ingestion::Target::parse(rest).map(Target::Ingestion)
            }
            _ => None,
        }
    }

    fn route(&self) -> Route {
        match self {
            Target::Offer { action, .. } => match action {
                Action::Publish => Route::Publish,
                Action::Golive => Route::Golive,
                Action::Cancel => Route::Cancel,
                Action::Status => Route::Status,
                Action::Submissions => Route::Submissions,
                Action::Operation(_) => Route::Operation,
            },
            Target::DollarOperation => Route::Operation,
            Target::Token { .. } => Route::Token,
            Target::Oidc => Route::Oidc,
            Target::Ingestion(target) => target.route(),
        }
    }
}

impl Action<'_> {
    fn method(&self) -> &'static str {
        match self {
            Action::Publish | Action::Golive | Action::Cancel => "POST",
            Action::Status | Action::Submissions | Action::Operation(_) => "GET",
        }
    }
}

fn expect_method(req: &Request, method: &str) -> Result<(), Response> {
    if req.method == method {
        return Ok(());
    }
    let mut response = api_error(405, "MethodNotAllowed", "The method is not allowed here.");
    response.set_header("Allow", method);
    Err(response)
}

fn json_body(req: &Request) -> Result<Value, Response> {
    if !req.has_content_type("application/json") {
        let message = "The request body must be sent with Content-Type: application/json.";
        return Err(api_error(400, "BadRequest", message));
    }
    serde_json::from_slice(&req.body).map_err(|e| {
        let message = format!("The request body is not valid JSON: {e}");
        api_error(400, "BadRequest", &message)
    })
}

/// Publish and cancel want `{"metadata":{...}}`, with `notification-emails` a string when present.
fn metadata_body(req: &Request) -> Result<(), Response> {
    let body = json_body(req)?;
    let emails = &body["metadata"]["notification-emails"];
    if !body["metadata"].is_object() {
        let message = "The argument: 'metadata' cannot be null or empty.";
        return Err(api_error(400, "BadRequest", message));
    }
    if !(emails.is_null() || emails.is_string()) {
        let message = "The argument: 'notification-emails' must be a comma-separated string.";
        return Err(api_error(400, "BadRequest", message));
    }
    Ok(())
}

fn api_error(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

/// A 401 that names the scheme, as both APIs' gateways do.
fn challenge(mut response: Response) -> Response {
    response.set_header("WWW-Authenticate", "Bearer");
    response
}

/// The body a scripted status gets when the script gives none: empty for 2xx, otherwise an error in the
/// shape of the service the route belongs to.
fn made_up(route: Route, status: u16) -> Response {
    if (200..300).contains(&status) {
        return Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        };
    }
    let reason = http::reason(status);
    let message = format!("Simulated {status} {reason}.");
    if route.is_ingestion() {
        // The API's codes are camel case: `serviceUnavailable`, `tooManyRequests`.
        let code: String = reason
            .split(' ')
            .map(|w| {
                let mut chars = w.chars();
                chars
                    .next()
                    .map_or(String::new(), |c| c.to_uppercase().chain(chars).collect())
            })
            .collect();
        let code = code[..1].to_lowercase() + &code[1..];
        return ingestion::error(status, &code, &message);
    }
    if route.is_api() {
        return api_error(status, &reason.replace(' ', ""), &message);
    }
    let error = match status {
        400 => "invalid_request",
        401 => "invalid_client",
        _ => "temporarily_unavailable",
    };
    entra_error(status, error, 50000, &message)
}

/// Applies a script's changes to an answer and says how to deliver it. Body changes come first so that
/// scripted headers (a lying `Content-Length`, an odd `Content-Type`) have the last word.
fn apply(script: &Scripted, response: &mut Response) -> Delivery {
    let replacement = match (&script.body, &script.text, script.huge) {
        (_, _, Some(size)) => Some(("application/json", huge_body(size))),
        (Some(body), _, None) => Some(("application/json", body.to_string().into_bytes())),
        (None, Some(text), None) => Some(("text/plain", text.clone().into_bytes())),
        (None, None, None) => None,
    };
    if let Some((content_type, body)) = replacement {
        response.set_header("Content-Type", content_type);
        response.body = body;
    }
    for (name, value) in &script.headers {
        match value {
            Some(value) => response.set_header(name, value),
            None => response.remove_header(name),
        }
    }
    Delivery {
        delay: Duration::from_millis(script.delay_ms),
        drop: script.drop,
        truncate: script.truncate,
    }
}

/// A valid JSON error of exactly `size` bytes (or its bare skeleton when `size` is smaller).
fn huge_body(size: usize) -> Vec<u8> {
    let skeleton = r#"{"error":{"code":"Huge","message":""}}"#;
    let filler = "x".repeat(size.saturating_sub(skeleton.len()));
    format!(r#"{{"error":{{"code":"Huge","message":"{filler}"}}}}"#).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_bodies_are_exact_and_still_json() {
        assert_eq!(huge_body(100).len(), 100);
        assert!(serde_json::from_slice::<Value>(&huge_body(100)).is_ok());
    }
}
