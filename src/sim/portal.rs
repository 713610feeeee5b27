//! The simulated services' behaviour: the Cloud Partner Portal's offer and operation routes, Entra's token
//! endpoint and GitHub's OIDC endpoint, as the contract (section 2) and the API notes describe them.
//!
//! Everything here is synchronous and runs under one lock: the server hands a whole request in and gets a
//! whole answer back, so the state cannot change halfway through an answer. Operations advance by status
//! reads (or by the clock, in the demo's time mode), never by background tasks.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::http::{self, Delivery, Request, Response};
use super::plan::{
    AuthPlan, LocationForm, LocationHeader, LocationShape, OperationPlan, Plan, Route, Scripted,
    Shape, Start, StepIssue,
};
use super::Recorded;
use crate::config::FEDERATION_AUDIENCE;

/// An answer or an error answer; checks return the error early with `?`.
type Answer = Result<Response, Response>;

/// The portal's whole state behind one lock, with the plan it follows.
pub(super) struct Portal {
    plan: Plan,
    base_url: String,
    /// The same server under another origin, for `LocationForm::Foreign`.
    foreign_origin: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    log: Vec<Recorded>,
    operations: Vec<Operation>,
    issued: HashMap<String, Issued>,
    /// Feeds operation ids and access tokens, so that runs are repeatable.
    minted: u64,
}

/// An access token handed out by the token endpoint.
struct Issued {
    at: Instant,
    uses: u32,
}

impl Portal {
    pub(super) fn new(plan: Plan, base_url: String, foreign_origin: String) -> Portal {
        let portal = Portal {
            plan,
            base_url,
            foreign_origin,
            state: Mutex::new(State::default()),
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

    fn answer(&self, state: &mut State, req: &Request, target: &Target, shape: Shape) -> Answer {
        match target {
            Target::Token { tenant } => {
                expect_method(req, "POST")?;
                self.token(state, req, tenant)
            }
            Target::Oidc => {
                expect_method(req, "GET")?;
                self.oidc(req)
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
        let token = bearer(req).ok_or_else(|| {
            unauthorized("Authentication failed. The 'Authorization' header is missing or is not a Bearer token.")
        })?;
        if !self.plan.auth.tokens.iter().any(|t| t == token) {
            let issued = state.issued.get_mut(token).ok_or_else(|| {
                unauthorized("Authentication failed. The access token is not valid.")
            })?;
            if issued.expired(&self.plan.auth) {
                return Err(unauthorized("The access token has expired."));
            }
            issued.uses += 1;
        }
        if req.query("api-version").as_deref() != Some(self.plan.api_version.as_str()) {
            let message = format!(
                "Invalid api version. Allowed values are [{}]",
                self.plan.api_version
            );
            return Err(api_error(400, "InvalidAPIVersion", &message));
        }
        Ok(())
    }

    /// Publish is idempotent: while any operation runs, the answer names that one again.
    fn publish(&self, state: &mut State, req: &Request) -> Answer {
        metadata_body(req)?;
        let at = match self.running(state) {
            Some(at) => at,
            None => self.create(state, Kind::Publish),
        };
        Ok(self.accepted(&state.operations[at]))
    }

    /// Go-live approves a publish waiting at publisher sign-off and starts the `live` step; while that
    /// runs, another go-live names it again.
    fn go_live(&self, state: &mut State, req: &Request) -> Answer {
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
    fn cancel(&self, state: &mut State, req: &Request) -> Answer {
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
                wanted.as_ref().map_or(true, |w| *w == status)
            })
            .map(|op| self.operation_json(op))
            .collect();
        Response::json(200, &Value::Array(list))
    }

    /// One status read of an operation: it advances the walk, then answers in the asked shape.
    fn read_operation(&self, state: &mut State, at: Option<usize>, shape: Shape) -> Answer {
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

    /// Entra's v2 client-credentials grant, with a secret or a federated assertion.
    fn token(&self, state: &mut State, req: &Request, tenant: &str) -> Answer {
        let auth = &self.plan.auth;
        let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        let field = |name: &str| form.get(name).map(String::as_str);
        let missing = |name: &str| {
            let text = format!("The request body must contain the following parameter: '{name}'.");
            entra_error(400, "invalid_request", 900144, &text)
        };
        if !has_content_type(req, "application/x-www-form-urlencoded") {
            return Err(missing("grant_type"));
        }
        if tenant != auth.tenant {
            let text = format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.");
            return Err(entra_error(400, "invalid_request", 90002, &text));
        }
        match field("grant_type") {
            None => return Err(missing("grant_type")),
            Some("client_credentials") => {}
            Some(other) => {
                let text = format!("The app requested an unsupported grant type '{other}'.");
                return Err(entra_error(400, "unsupported_grant_type", 70003, &text));
            }
        }
        let client_id = field("client_id").ok_or_else(|| missing("client_id"))?;
        if client_id != auth.client_id {
            let text = format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'.");
            return Err(entra_error(400, "unauthorized_client", 700016, &text));
        }
        let scope = field("scope").ok_or_else(|| missing("scope"))?;
        let scope_ok = match &auth.scope {
            Some(wanted) => scope == wanted,
            None => scope.ends_with("/.default"),
        };
        if !scope_ok {
            let text = format!("The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid.");
            return Err(entra_error(400, "invalid_scope", 70011, &text));
        }
        match (field("client_secret"), field("client_assertion")) {
            (Some(secret), _) if secret != auth.client_secret => {
                let text = format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'.");
                return Err(entra_error(401, "invalid_client", 7000215, &text));
            }
            (Some(_), _) => {}
            (None, Some(assertion)) => {
                if field("client_assertion_type") != Some(JWT_BEARER) {
                    let text = "The client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.";
                    return Err(entra_error(400, "invalid_request", 50027, text));
                }
                check_assertion(auth, assertion)?;
            }
            (None, None) => {
                let text = "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.";
                return Err(entra_error(401, "invalid_client", 7000218, text));
            }
        }
        state.minted += 1;
        let token = format!("sim-access-{:016x}", splitmix(state.minted ^ 0xacce55));
        let issued = Issued {
            at: Instant::now(),
            uses: 0,
        };
        state.issued.insert(token.clone(), issued);
        let expires_in = auth.expires_in.to_json();
        Ok(Response::json(
            200,
            &json!({"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": token}),
        ))
    }

    /// GitHub's OIDC token endpoint: a JWT for the asked audience, for the plan's subject.
    fn oidc(&self, req: &Request) -> Answer {
        if bearer(req) != Some(self.plan.auth.oidc_request_token.as_str()) {
            let body = json!({"message": "Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable: bad request token"});
            return Err(Response::json(401, &body));
        }
        let owner = self
            .plan
            .auth
            .subject
            .split(['/', ':'])
            .nth(1)
            .unwrap_or("contoso");
        let audience = req
            .query("audience")
            .unwrap_or_else(|| format!("https://github.com/{owner}"));
        let now = unix_now();
        let claims = json!({
            "iss": "https://token.actions.githubusercontent.com",
            "sub": self.plan.auth.subject,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        });
        Ok(Response::json(200, &json!({"value": jwt(&claims)})))
    }
}

impl Issued {
    fn expired(&self, auth: &AuthPlan) -> bool {
        let lifetime = Duration::from_secs(auth.expires_in.seconds());
        (auth.enforce_expiry && self.at.elapsed() >= lifetime)
            || auth.token_uses.is_some_and(|limit| self.uses >= limit)
    }
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Accepts a federated assertion as Entra would with one federated credential: right audience, right
/// subject, not expired. The signature is not checked; the simulator's JWTs have none worth checking.
fn check_assertion(auth: &AuthPlan, assertion: &str) -> Result<(), Response> {
    let claims = assertion
        .split('.')
        .nth(1)
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .ok_or_else(|| {
            entra_error(
                400,
                "invalid_request",
                50027,
                "JWT token is invalid or malformed.",
            )
        })?;
    let claim = |name: &str| claims[name].as_str().unwrap_or_default().to_string();
    let (iss, sub, aud) = (claim("iss"), claim("sub"), claim("aud"));
    if aud != FEDERATION_AUDIENCE {
        let text = format!(
            "No matching federated identity record found for presented assertion audience '{aud}'."
        );
        return Err(entra_error(400, "invalid_request", 700212, &text));
    }
    if sub != auth.subject {
        let text = format!("No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{aud}'.");
        return Err(entra_error(400, "invalid_request", 70021, &text));
    }
    if claims["exp"].as_u64().unwrap_or_default() <= unix_now() {
        let text = "Client assertion is not within its valid time range.";
        return Err(entra_error(400, "invalid_client", 700024, text));
    }
    Ok(())
}

/// An unsigned JWT (the signature is a placeholder): clients only read its claims.
fn jwt(claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "sim"});
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        part(&header),
        part(claims),
        URL_SAFE_NO_PAD.encode("sim-signature")
    )
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

/// A step as the service describes it.
struct StepDef {
    name: &'static str,
    description: &'static str,
    time_frame: &'static str,
}

const SIGNOFF: &str = "publisher-signoff";

const PUBLISH_STEPS: &[StepDef] = &[
    step("displaydummycertify", "Validate Pre-Requisites", "< 15 min"),
    step("displaycertify", "Certification", "< 5 days"),
    step("displayprovision", "Provisioning", "< 1 day"),
    step("displaypackage", "Packaging", "< 1 hour"),
    step(SIGNOFF, "Publisher signoff", "Waiting for publisher"),
    step("live", "Live", "< 5 days"),
];
const GO_LIVE_STEPS: &[StepDef] = &[step("live", "Live", "< 5 days")];
const CANCEL_STEPS: &[StepDef] = &[step("cancel", "Cancel the operation", "< 15 min")];

const fn step(name: &'static str, description: &'static str, time_frame: &'static str) -> StepDef {
    StepDef {
        name,
        description,
        time_frame,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Publish,
    GoLive,
    Cancel,
}

impl Kind {
    fn steps(self) -> &'static [StepDef] {
        match self {
            Kind::Publish => PUBLISH_STEPS,
            Kind::GoLive => GO_LIVE_STEPS,
            Kind::Cancel => CANCEL_STEPS,
        }
    }

    fn index_of(self, name: &str) -> Option<usize> {
        self.steps().iter().position(|s| s.name == name)
    }

    fn submission_type(self) -> &'static str {
        match self {
            Kind::Publish => "publish",
            Kind::GoLive => "goLive",
            Kind::Cancel => "cancel",
        }
    }
}

struct Operation {
    id: String,
    kind: Kind,
    /// The location handed out, path and query.
    location: String,
    created: SystemTime,
    started: Instant,
    /// Steps already behind it when it was made (an offer that starts at sign-off).
    walked: usize,
    polls: u32,
    /// It stops at publisher sign-off until a go-live.
    await_signoff: bool,
    /// The step it was canceled at.
    canceled_at: Option<usize>,
}

/// An operation at one moment: the step it is at, how that step stands, and the operation's status.
struct View {
    kind: Kind,
    /// Steps before it are completed, steps after it not started; past the end when all are done.
    current: usize,
    step_status: String,
    messages: Vec<(&'static str, String)>,
    status: String,
}

impl View {
    fn running(&self) -> bool {
        normalize(&self.status) == "running"
    }

    fn waiting_for_signoff(&self) -> bool {
        self.step_status == WAITING_FOR_REVIEW
    }
}

const WAITING_FOR_REVIEW: &str = "waitingForPublisherReview";

impl Operation {
    fn path(&self) -> &str {
        self.location.split('?').next().unwrap_or_default()
    }

    /// How many steps the walk has covered: by status reads, or by the clock in time mode.
    fn position(&self, plan: &OperationPlan, now: Instant) -> usize {
        let covered = match plan.step_ms {
            Some(ms) => now.duration_since(self.started).as_millis() / u128::from(ms.max(1)),
            None => u128::from(self.polls / plan.polls_per_step.max(1)),
        };
        self.walked + usize::try_from(covered).unwrap_or(usize::MAX)
    }

    fn view(&self, plan: &OperationPlan, now: Instant) -> View {
        let steps = self.kind.steps();
        let at = |current, step_status: &str, messages, status: &str| View {
            kind: self.kind,
            current,
            step_status: step_status.to_string(),
            messages,
            status: status.to_string(),
        };
        let info = |text: String| vec![("information", text)];
        if let Some(current) = self.canceled_at {
            let note = vec![("warning", "The operation was canceled.".to_string())];
            return at(current, "canceled", note, "canceled");
        }
        // The walk stops at the first of: a failing step, a blocked step, sign-off awaiting go-live.
        let issue = |issue: &Option<StepIssue>, step_status, status| -> Option<View> {
            let issue = issue.as_ref()?;
            let errors = issue.messages.iter().map(|m| ("error", m.clone()));
            let index = self.kind.index_of(&issue.step)?;
            Some(at(index, step_status, errors.collect(), status))
        };
        let preview = "Your offer preview is ready. Review it, then go live.";
        let signoff = (self.kind.index_of(SIGNOFF))
            .filter(|_| self.await_signoff)
            .map(|index| at(index, WAITING_FOR_REVIEW, info(preview.into()), "running"));
        let position = self.position(plan, now);
        let stop = [
            issue(&plan.fail_at, "failed", "failed"),
            issue(&plan.block_at, "blocked", "running"),
            signoff,
        ]
        .into_iter()
        .flatten()
        .filter(|stop| position >= stop.current)
        .min_by_key(|stop| stop.current);
        if let Some(stop) = stop {
            return stop;
        }
        if let Some(step) = steps.get(position) {
            let note = format!("{} is in progress.", step.description);
            return at(position, "inProgress", info(note), "running");
        }
        let end = &plan.final_status;
        if is_success(end) {
            return at(steps.len(), "completed", Vec::new(), end);
        }
        let note = vec![("error", format!("The operation ended {end}."))];
        at(steps.len() - 1, end, note, end)
    }
}

fn steps_json(view: &View) -> Value {
    let now = timestamp(SystemTime::now());
    let steps = view.kind.steps().iter().enumerate().map(|(i, step)| {
        let (status, messages, progress) = match i.cmp(&view.current) {
            std::cmp::Ordering::Less => {
                let done = format!("{} completed.", step.description);
                ("completed", vec![("information", done)], 100)
            }
            std::cmp::Ordering::Equal => (view.step_status.as_str(), view.messages.clone(), 50),
            std::cmp::Ordering::Greater => ("notStarted", Vec::new(), 0),
        };
        let messages: Vec<Value> = messages
            .into_iter()
            .map(|(level, text)| json!({"messageHtml": text, "level": level, "timestamp": now}))
            .collect();
        json!({
            "id": format!("{}-{}", i + 1, step.name),
            "stepName": step.name,
            "description": step.description,
            "status": status,
            "estimatedTimeFrame": step.time_frame,
            "progressPercentage": progress,
            "messages": messages,
        })
    });
    Value::Array(steps.collect())
}

/// Status words compared as the contract says: without regard to case, `-`, `_` or spaces.
fn normalize(word: &str) -> String {
    word.chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

fn is_success(word: &str) -> bool {
    matches!(
        normalize(word).as_str(),
        "completed" | "complete" | "succeeded"
    )
}

/// The offer status word for a finished operation's status.
fn offer_word(status: &str) -> String {
    match normalize(status).as_str() {
        "failed" => "Failed".into(),
        "canceled" | "cancelled" => "Canceled".into(),
        _ if is_success(status) => "Succeeded".into(),
        _ => status.into(),
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

fn bearer(req: &Request) -> Option<&str> {
    let (scheme, token) = req.header("authorization")?.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn has_content_type(req: &Request, wanted: &str) -> bool {
    let value = req.header("content-type").unwrap_or_default();
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case(wanted)
}

fn json_body(req: &Request) -> Result<Value, Response> {
    if !has_content_type(req, "application/json") {
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

fn unauthorized(message: &str) -> Response {
    let mut response = api_error(401, "Unauthorized", message);
    response.set_header("WWW-Authenticate", "Bearer");
    response
}

fn entra_error(status: u16, error: &str, code: u32, description: &str) -> Response {
    let trace = uuid(u64::from(code));
    let body = json!({
        "error": error,
        // Entra puts line breaks in its descriptions: clients must not pass them on raw.
        "error_description": format!("AADSTS{code}: {description}\r\nTrace ID: {trace}\r\nCorrelation ID: {trace}\r\nTimestamp: {}", timestamp(SystemTime::now())),
        "error_codes": [code],
        "timestamp": timestamp(SystemTime::now()),
        "trace_id": trace,
        "correlation_id": trace,
    });
    Response::json(status, &body)
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

/// A bijective 64-bit mix, so that ids look random but repeat from run to run.
fn splitmix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A version-4-shaped UUID from a counter.
fn uuid(n: u64) -> String {
    let (a, b) = (splitmix(n), splitmix(!n));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// An ISO 8601 UTC timestamp with the service's seven fractional digits.
fn timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (days, secs) = (since.as_secs() / 86_400, since.as_secs() % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:07}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        since.subsec_nanos() / 100
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_ids() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        let id = uuid(1);
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
        assert_ne!(uuid(1), uuid(2));
        assert_eq!(huge_body(100).len(), 100);
        assert!(serde_json::from_slice::<Value>(&huge_body(100)).is_ok());
    }

    #[test]
    fn words_compare_loosely() {
        assert_eq!(
            normalize("Waiting_For-Publisher Review"),
            "waitingforpublisherreview"
        );
        assert!(is_success("Succeeded") && is_success("complete"));
        assert_eq!(offer_word("cancelled"), "Canceled");
    }
}
