//! The simulator driven over real sockets with `reqwest`: the walks the client will follow, every header
//! and shape variant, authentication, each scenario and each wire fault.

use std::io::{Read, Write};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::plan::{LocationForm, LocationHeader, LocationShape};
use super::{scenario, Plan, Simulator};

const TOKEN: &str = "sim-token";
const OFFER: &str = "/api/publishers/contoso/offers/contoso-offer";
const VERSION: &str = "api-version=2017-10-31";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const METADATA: &str = r#"{"metadata":{"notification-emails":"a@x.com,b@y.com"}}"#;
const PUBLISH_STEPS: [&str; 6] = [
    "displaydummycertify",
    "displaycertify",
    "displayprovision",
    "displaypackage",
    "publisher-signoff",
    "live",
];

/// One answer, read whole.
pub(super) struct Reply {
    pub(super) status: u16,
    headers: reqwest::header::HeaderMap,
    pub(super) text: String,
}

impl Reply {
    pub(super) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    pub(super) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }

    fn location(&self) -> String {
        self.header("location")
            .or_else(|| self.header("operation-location"))
            .expect("a location header")
    }

    pub(super) fn error_code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap().to_string()
    }
}

/// A request builder: `path` is a path on the simulator or an absolute URL.
pub(super) struct Call<'a> {
    sim: &'a Simulator,
    method: reqwest::Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<String>,
    timeout: Option<Duration>,
}

impl Call<'_> {
    pub(super) fn bearer(mut self, token: &str) -> Self {
        self.headers
            .push(("authorization", format!("Bearer {token}")));
        self
    }

    pub(super) fn body(mut self, content_type: &str, body: &str) -> Self {
        self.headers
            .push(("content-type", content_type.to_string()));
        self.body = Some(body.to_string());
        self
    }

    fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    async fn try_send(self) -> reqwest::Result<Reply> {
        let url = match self.path.starts_with("http") {
            true => self.path,
            false => format!("{}{}", self.sim.base_url(), self.path),
        };
        let mut builder = reqwest::Client::new().request(self.method, url);
        for (name, value) in self.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = self.body {
            builder = builder.body(body);
        }
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        let response = builder.send().await?;
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let text = response.text().await?;
        Ok(Reply {
            status,
            headers,
            text,
        })
    }

    pub(super) async fn send(self) -> Reply {
        self.try_send().await.expect("an answer")
    }
}

pub(super) fn call<'a>(sim: &'a Simulator, method: &str, path: &str) -> Call<'a> {
    Call {
        sim,
        method: method.parse().unwrap(),
        path: path.to_string(),
        headers: Vec::new(),
        body: None,
        timeout: None,
    }
}

/// An authorized API call.
pub(super) fn api<'a>(sim: &'a Simulator, method: &str, path: &str) -> Call<'a> {
    call(sim, method, path).bearer(TOKEN)
}

fn post_action<'a>(sim: &'a Simulator, action: &str) -> Call<'a> {
    api(sim, "POST", &format!("{OFFER}/{action}?{VERSION}")).body("application/json", METADATA)
}

async fn publish(sim: &Simulator) -> Reply {
    post_action(sim, "publish").send().await
}

async fn read(sim: &Simulator, location: &str) -> Value {
    let reply = api(sim, "GET", location).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()
}

/// Reads the operation until it is no longer running; every answer, in order.
async fn follow(sim: &Simulator, location: &str) -> Vec<Value> {
    let mut answers = Vec::new();
    loop {
        let answer = read(sim, location).await;
        let done = answer["status"] != "running";
        answers.push(answer);
        if done || answers.len() > 20 {
            return answers;
        }
    }
}

fn step_statuses(operation: &Value) -> Vec<String> {
    let steps = operation["steps"].as_array().unwrap();
    steps
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_string())
        .collect()
}

fn step<'v>(operation: &'v Value, name: &str) -> &'v Value {
    let steps = operation["steps"].as_array().unwrap();
    steps.iter().find(|s| s["stepName"] == name).unwrap()
}

pub(super) async fn start(plan: Plan) -> Simulator {
    Simulator::start(plan).await.unwrap()
}

pub(super) async fn start_scenario(name: &str) -> Simulator {
    start(scenario(name).unwrap()).await
}

pub(super) fn plan(json: Value) -> Plan {
    serde_json::from_value(json).unwrap()
}

#[tokio::test]
async fn happy_publish_walks_every_step_to_completed() {
    let sim = start_scenario("happy").await;
    let accepted = publish(&sim).await;
    assert_eq!(accepted.status, 202);
    assert_eq!(accepted.header("operation-location"), None);
    let location = accepted.location();
    assert!(
        location.starts_with(&format!("{OFFER}/operations/")),
        "{location}"
    );
    assert!(location.ends_with(&format!("?{VERSION}")));

    let answers = follow(&sim, &location).await;
    assert_eq!(answers.len(), PUBLISH_STEPS.len());
    for (poll, answer) in answers[..answers.len() - 1].iter().enumerate() {
        assert_eq!(answer["status"], "running");
        let in_progress = step(answer, PUBLISH_STEPS[poll + 1]);
        assert_eq!(in_progress["status"], "inProgress", "poll {poll}");
        assert_eq!(in_progress["messages"][0]["level"], "information");
    }
    let done = answers.last().unwrap();
    assert_eq!(done["status"], "completed");
    assert_eq!(done["submissionType"], "publish");
    assert!(step_statuses(done).iter().all(|s| s == "completed"));
    for field in [
        "id",
        "createdDateTime",
        "lastActionDateTime",
        "previewLinks",
    ] {
        assert!(!done[field].is_null(), "{field}");
    }
    assert_eq!(done["liveLinks"].as_array().unwrap().len(), 1);
    assert_eq!(
        step(done, "displaycertify")["estimatedTimeFrame"],
        "< 5 days"
    );

    let status = read(&sim, &format!("{OFFER}/status?{VERSION}")).await;
    assert_eq!(status["status"], "Succeeded");
    assert_eq!(sim.count("publish"), 1);
    assert_eq!(sim.count("operation"), PUBLISH_STEPS.len());
    let first = &sim.requests()[0];
    assert_eq!(
        first.request.header("authorization"),
        Some("Bearer sim-token")
    );
    assert_eq!(first.request.body_text(), METADATA);
}

#[tokio::test]
async fn publish_is_idempotent_while_an_operation_runs() {
    let sim = start_scenario("happy").await;
    let first = publish(&sim).await.location();
    let again = publish(&sim).await;
    assert_eq!((again.status, again.location()), (202, first.clone()));
    let running = read(
        &sim,
        &format!("{OFFER}/submissions/?{VERSION}&status=running"),
    )
    .await;
    let running = running.as_array().unwrap();
    assert_eq!(running.len(), 1);
    assert!(first.contains(running[0]["id"].as_str().unwrap()));
    assert_eq!(sim.count("publish"), 2);
    assert_eq!(sim.count("submissions"), 1);
    assert_eq!(sim.operation_locations(), vec![first]);
}

#[tokio::test]
async fn location_header_names_forms_and_shapes() {
    let cases = [
        (
            LocationHeader::OperationLocation,
            &["operation-location"][..],
        ),
        (LocationHeader::Location, &["location"][..]),
        (
            LocationHeader::Both,
            &["operation-location", "location"][..],
        ),
        (LocationHeader::None, &[][..]),
    ];
    for (header, present) in cases {
        let mut plan = Plan::default();
        plan.location.header = header;
        let sim = start(plan).await;
        let reply = publish(&sim).await;
        for name in ["operation-location", "location"] {
            assert_eq!(
                reply.header(name).is_some(),
                present.contains(&name),
                "{header:?} {name}"
            );
        }
    }

    let mut plan = Plan::default();
    plan.location.form = LocationForm::Absolute;
    let sim = start(plan).await;
    let location = publish(&sim).await.location();
    assert!(location.starts_with(&format!("{}/api/", sim.base_url())));
    assert_eq!(read(&sim, &location).await["status"], "running");

    let mut plan = Plan::default();
    plan.location.form = LocationForm::Foreign;
    let sim = start(plan).await;
    let location = publish(&sim).await.location();
    let port = sim.base_url().rsplit(':').next().unwrap().to_string();
    assert!(
        location.starts_with(&format!("http://localhost:{port}/api/")),
        "{location}"
    );
}

#[tokio::test]
async fn dollar_locations_are_served_only_as_given() {
    let mut plan = Plan::default();
    plan.location.shape = LocationShape::Dollar;
    let sim = start(plan).await;
    let location = publish(&sim).await.location();
    let (path, query) = location.split_once('?').unwrap();
    let parts: Vec<&str> = path
        .strip_prefix("/api/operations/")
        .unwrap()
        .split('$')
        .collect();
    assert_eq!(parts.len(), 4, "{location}");
    assert_eq!(
        (parts[0], parts[2], parts[3], query),
        ("contoso", "2", "preview", VERSION)
    );

    assert_eq!(read(&sim, &location).await["id"], parts[1]);
    let recorded = sim.requests().last().unwrap().request.target.clone();
    assert_eq!(recorded, location, "the client must not re-encode the path");
    let encoded = location.replace('$', "%24");
    assert_eq!(api(&sim, "GET", &encoded).send().await.status, 404);
    let by_id = format!("{OFFER}/operations/{}?{VERSION}", parts[1]);
    assert_eq!(read(&sim, &by_id).await["id"], parts[1]);
}

#[tokio::test]
async fn operation_answers_come_as_array_or_object() {
    let sim = start(plan(
        json!({"routes": {"operation": [{"shape": "array"}, {"shape": "object"}]}}),
    ))
    .await;
    let location = publish(&sim).await.location();
    let array = read(&sim, &location).await;
    assert_eq!(array.as_array().unwrap().len(), 1);
    assert_eq!(array[0]["status"], "running");
    let object = read(&sim, &location).await;
    assert!(object.is_object());
    assert_eq!(sim.count("operation"), 2);
}

#[tokio::test]
async fn the_api_refuses_missing_wrong_and_expired_tokens() {
    let sim = start(plan(json!({"auth": {"expires_in": "0"}}))).await;
    let path = format!("{OFFER}/status?{VERSION}");
    let missing = call(&sim, "GET", &path).send().await;
    assert_eq!(
        (missing.status, missing.error_code()),
        (401, "Unauthorized".into())
    );
    assert_eq!(
        missing.header("www-authenticate").as_deref(),
        Some("Bearer")
    );
    let wrong = call(&sim, "GET", &path).bearer("nope").send().await;
    assert_eq!(wrong.status, 401);

    let token = client_secret_token(&sim, "sim-secret").await;
    assert_eq!(
        token.json()["expires_in"],
        "0",
        "expires_in as the plan's string"
    );
    let access = token.json()["access_token"].as_str().unwrap().to_string();
    let expired = call(&sim, "GET", &path).bearer(&access).send().await;
    assert_eq!(expired.status, 401);
    assert!(expired.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));
    assert_eq!(
        api(&sim, "GET", &path).send().await.status,
        200,
        "a given token never expires"
    );
}

#[tokio::test]
async fn issued_tokens_last_their_lifetime_or_their_uses() {
    let sim = start_scenario("expiring-token").await;
    let token = client_secret_token(&sim, "sim-secret").await.json();
    assert_eq!(token["expires_in"], 3599);
    let access = token["access_token"].as_str().unwrap();
    let path = format!("{OFFER}/status?{VERSION}");
    let statuses = [
        call(&sim, "GET", &path).bearer(access).send().await.status,
        call(&sim, "GET", &path).bearer(access).send().await.status,
        call(&sim, "GET", &path).bearer(access).send().await.status,
    ];
    assert_eq!(statuses, [200, 200, 401]);
    let renewed = client_secret_token(&sim, "sim-secret").await.json();
    assert_ne!(renewed["access_token"], token["access_token"]);
    let renewed = renewed["access_token"].as_str().unwrap();
    assert_eq!(
        call(&sim, "GET", &path).bearer(renewed).send().await.status,
        200
    );
    assert_eq!(sim.count("token"), 2);
}

async fn token_request(sim: &Simulator, tenant: &str, form: &[(&str, &str)]) -> Reply {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    call(sim, "POST", &format!("/{tenant}/oauth2/v2.0/token"))
        .body("application/x-www-form-urlencoded", &body)
        .send()
        .await
}

async fn client_secret_token(sim: &Simulator, secret: &str) -> Reply {
    let scope = format!("{}/.default", sim.base_url());
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "sim-client"),
        ("client_secret", secret),
        ("scope", scope.as_str()),
    ];
    token_request(sim, "sim-tenant", &form).await
}

/// Form fields of a token request.
type Form = &'static [(&'static str, &'static str)];
/// What Entra answers to a bad token request: status, `error`, and the AADSTS code.
type Refusal = (u16, &'static str, &'static str);

fn entra_code(reply: &Reply) -> (u16, String, String) {
    let body = reply.json();
    let description = body["error_description"].as_str().unwrap();
    let code = description.split(':').next().unwrap().to_string();
    (
        reply.status,
        body["error"].as_str().unwrap().to_string(),
        code,
    )
}

#[tokio::test]
async fn the_token_endpoint_answers_like_entra() {
    let sim = start_scenario("happy").await;
    let good = client_secret_token(&sim, "sim-secret").await;
    assert_eq!(good.status, 200);
    assert_eq!(good.json()["token_type"], "Bearer");
    let wrong = client_secret_token(&sim, "wrong").await;
    assert_eq!(
        entra_code(&wrong),
        (401, "invalid_client".into(), "AADSTS7000215".into())
    );

    let base = [
        ("grant_type", "client_credentials"),
        ("scope", "https://cloudpartner.azure.com/.default"),
    ];
    let cases: [(&str, Form, Refusal); 4] = [
        (
            "other-tenant",
            &[("client_id", "sim-client"), ("client_secret", "sim-secret")],
            (400, "invalid_request", "AADSTS90002"),
        ),
        (
            "sim-tenant",
            &[("client_id", "nobody"), ("client_secret", "sim-secret")],
            (400, "unauthorized_client", "AADSTS700016"),
        ),
        (
            "sim-tenant",
            &[("client_id", "sim-client")],
            (401, "invalid_client", "AADSTS7000218"),
        ),
        (
            "sim-tenant",
            &[
                ("client_id", "sim-client"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", "not-a-jwt"),
            ],
            (400, "invalid_request", "AADSTS50027"),
        ),
    ];
    for (tenant, extra, (status, error, code)) in cases {
        let form: Vec<_> = base.iter().chain(extra).copied().collect();
        let reply = token_request(&sim, tenant, &form).await;
        assert_eq!(
            entra_code(&reply),
            (status, error.into(), code.into()),
            "{extra:?}"
        );
    }
    let bad_scope = [
        ("grant_type", "client_credentials"),
        ("client_id", "sim-client"),
        ("client_secret", "sim-secret"),
        ("scope", "openid"),
    ];
    let reply = token_request(&sim, "sim-tenant", &bad_scope).await;
    assert_eq!(entra_code(&reply).2, "AADSTS70011");
}

async fn oidc_jwt(sim: &Simulator, query: &str) -> Reply {
    call(sim, "GET", &format!("/oidc/token?api-version=2.0{query}"))
        .bearer("sim-oidc-request")
        .send()
        .await
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn exchange(sim: &Simulator, assertion: &str) -> Reply {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "sim-client"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
        ("scope", "https://cloudpartner.azure.com/.default"),
    ];
    token_request(sim, "sim-tenant", &form).await
}

#[tokio::test]
async fn oidc_tokens_exchange_for_an_access_token() {
    let sim = start_scenario("happy").await;
    let refused = call(&sim, "GET", "/oidc/token?audience=x").send().await;
    assert_eq!(refused.status, 401);

    let reply = oidc_jwt(&sim, "&audience=api://AzureADTokenExchange").await;
    let jwt = reply.json()["value"].as_str().unwrap().to_string();
    let claims = claims(&jwt);
    assert_eq!(claims["sub"], "repo:contoso/offer:ref:refs/heads/main");
    assert_eq!(claims["aud"], "api://AzureADTokenExchange");
    assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap());
    assert_eq!(exchange(&sim, &jwt).await.status, 200);

    let default_audience = oidc_jwt(&sim, "").await.json();
    let reply = exchange(&sim, default_audience["value"].as_str().unwrap()).await;
    assert_eq!(entra_code(&reply).2, "AADSTS700212");
    assert_eq!(sim.count("oidc"), 3);
}

#[tokio::test]
async fn an_unknown_subject_is_named_in_the_refusal() {
    let sim = start(plan(
        json!({"auth": {"subject": "repo:contoso/offer:environment:prod"}}),
    ))
    .await;
    let other = start_scenario("happy").await;
    let jwt = oidc_jwt(&other, "&audience=api://AzureADTokenExchange")
        .await
        .json();
    let reply = exchange(&sim, jwt["value"].as_str().unwrap()).await;
    assert_eq!(entra_code(&reply).2, "AADSTS70021");
    let description = reply.json()["error_description"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(description.contains("Assertion Subject: 'repo:contoso/offer:ref:refs/heads/main'"));
}

#[tokio::test]
async fn requests_are_checked_like_the_service_does() {
    let sim = start_scenario("happy").await;
    let wrong_version = api(
        &sim,
        "GET",
        &format!("{OFFER}/status?api-version=2016-01-01"),
    )
    .send()
    .await;
    assert_eq!(
        (wrong_version.status, wrong_version.error_code()),
        (400, "InvalidAPIVersion".into())
    );
    let no_version = api(&sim, "GET", &format!("{OFFER}/status")).send().await;
    assert_eq!(no_version.status, 400);

    let publish_path = format!("{OFFER}/publish?{VERSION}");
    let no_type = api(&sim, "POST", &publish_path).send().await;
    assert_eq!(
        (no_type.status, no_type.error_code()),
        (400, "BadRequest".into())
    );
    let text = api(&sim, "POST", &publish_path)
        .body("text/plain", METADATA)
        .send()
        .await;
    assert_eq!(text.status, 400);
    let no_metadata = api(&sim, "POST", &publish_path)
        .body("application/json", "{}")
        .send()
        .await;
    assert_eq!(no_metadata.status, 400);
    let empty = api(&sim, "POST", &publish_path)
        .body("application/json; charset=utf-8", r#"{"metadata":{}}"#)
        .send()
        .await;
    assert_eq!(empty.status, 202);

    let unknown = api(
        &sim,
        "GET",
        &format!("/api/publishers/contoso/offers/other/status?{VERSION}"),
    )
    .send()
    .await;
    assert_eq!(
        (unknown.status, unknown.error_code()),
        (404, "NotFound".into())
    );
    assert_eq!(api(&sim, "GET", "/nowhere").send().await.status, 404);
    let wrong_method = api(&sim, "GET", &publish_path).send().await;
    assert_eq!(
        (wrong_method.status, wrong_method.header("allow")),
        (405, Some("POST".into()))
    );
    assert_eq!(
        sim.requests().iter().filter(|r| r.route.is_none()).count(),
        1
    );
}

#[tokio::test]
async fn preview_stops_at_signoff_until_go_live() {
    let sim = start_scenario("preview").await;
    assert_eq!(
        api(&sim, "POST", &format!("{OFFER}/golive?{VERSION}"))
            .send()
            .await
            .status,
        400
    );
    let location = publish(&sim).await.location();
    let mut answer = Value::Null;
    for _ in 0..10 {
        answer = read(&sim, &location).await;
    }
    assert_eq!(answer["status"], "running");
    assert_eq!(
        step(&answer, "publisher-signoff")["status"],
        "waitingForPublisherReview"
    );
    assert_eq!(step(&answer, "live")["status"], "notStarted");
    assert_eq!(answer["previewLinks"].as_array().unwrap().len(), 1);
    let offer = read(&sim, &format!("{OFFER}/status?{VERSION}")).await;
    assert_eq!(offer["status"], "Running");
    assert_eq!(
        publish(&sim).await.location(),
        location,
        "still the same operation"
    );

    let go_live = api(&sim, "POST", &format!("{OFFER}/golive?{VERSION}"))
        .send()
        .await;
    assert_eq!(go_live.status, 202);
    assert_eq!(read(&sim, &location).await["status"], "completed");
    let golive_path = format!("{OFFER}/golive?{VERSION}");
    let again = api(&sim, "POST", &golive_path).send().await;
    assert_eq!(again.location(), go_live.location());
    let one_at_a_time = publish(&sim).await.location();
    assert_eq!(one_at_a_time, go_live.location());
    let live = follow(&sim, &go_live.location()).await;
    let done = live.last().unwrap();
    assert_eq!(
        (done["status"].as_str(), done["submissionType"].as_str()),
        (Some("completed"), Some("goLive"))
    );
    assert_eq!(step_statuses(done), ["completed"]);
}

#[tokio::test]
async fn an_offer_can_start_running_or_at_preview() {
    let sim = start(plan(json!({"start": "preview"}))).await;
    let location = sim.operation_locations().pop().unwrap();
    let answer = read(&sim, &location).await;
    assert_eq!(
        step(&answer, "publisher-signoff")["status"],
        "waitingForPublisherReview"
    );
    assert_eq!(
        api(&sim, "POST", &format!("{OFFER}/golive?{VERSION}"))
            .send()
            .await
            .status,
        202
    );

    let sim = start(plan(json!({"start": "running"}))).await;
    let running = read(
        &sim,
        &format!("{OFFER}/submissions?{VERSION}&status=running"),
    )
    .await;
    assert_eq!(running.as_array().unwrap().len(), 1);
    let never = start_scenario("happy").await;
    let status = read(&never, &format!("{OFFER}/status?{VERSION}")).await;
    assert_eq!(status, json!({"status": "NeverPublished", "steps": []}));
}

#[tokio::test]
async fn failed_and_injection_scenarios_fail_certification_with_their_messages() {
    for name in ["failed", "injection"] {
        let sim = start_scenario(name).await;
        let answers = follow(&sim, &publish(&sim).await.location()).await;
        let done = answers.last().unwrap();
        assert_eq!(done["status"], "failed", "{name}");
        let certify = step(done, "displaycertify");
        assert_eq!(certify["status"], "failed");
        assert_eq!(certify["messages"][0]["level"], "error");
        assert_eq!(step(done, "displayprovision")["status"], "notStarted");
        let status = read(&sim, &format!("{OFFER}/status?{VERSION}")).await;
        assert_eq!(status["status"], "Failed");
        if name == "injection" {
            let text = certify["messages"].to_string();
            for hostile in [
                "::error::",
                "##vso[task.setvariable",
                "%0A",
                "\\n::",
                "<script>",
            ] {
                assert!(text.contains(hostile), "{hostile} in {text}");
            }
        }
    }
}

#[tokio::test]
async fn a_blocked_step_keeps_the_operation_running() {
    let sim = start(plan(json!({"operation": {
        "block_at": {"step": "displayprovision", "messages": ["Waiting on the VHD SAS URL."]},
        "polls_per_step": 2
    }})))
    .await;
    let location = publish(&sim).await.location();
    let answers: Vec<Value> = read_times(&sim, &location, 12).await;
    let last = answers.last().unwrap();
    assert_eq!(last["status"], "running");
    let blocked = step(last, "displayprovision");
    assert_eq!(blocked["status"], "blocked");
    assert_eq!(
        blocked["messages"][0]["messageHtml"],
        "Waiting on the VHD SAS URL."
    );
    assert_eq!(
        step(&answers[0], "displaydummycertify")["status"],
        "inProgress",
        "two polls per step"
    );
    assert_eq!(step(&answers[1], "displaycertify")["status"], "inProgress");
}

#[tokio::test]
async fn a_block_lifts_after_the_planned_reads() {
    let sim = start(plan(json!({"operation": {
        "block_at": {"step": "displaycertify", "messages": ["Waiting on the publisher."]},
        "unblock_after": 3
    }})))
    .await;
    let location = publish(&sim).await.location();
    let answers = read_times(&sim, &location, 3).await;
    assert_eq!(step(&answers[1], "displaycertify")["status"], "blocked");
    assert_eq!(answers[1]["status"], "running");
    let lifted = &answers[2];
    assert_eq!(step(lifted, "displaycertify")["status"], "completed");
    assert_eq!(
        step(lifted, "displaypackage")["status"],
        "inProgress",
        "the walk resumes where the reads took it"
    );
}

/// Reads the operation `n` times in a row.
async fn read_times(sim: &Simulator, location: &str, n: usize) -> Vec<Value> {
    let mut answers = Vec::new();
    for _ in 0..n {
        answers.push(read(sim, location).await);
    }
    answers
}

#[tokio::test]
async fn final_status_words_are_the_plans() {
    for word in ["complete", "succeeded", "canceled", "failed"] {
        let sim = start(plan(json!({"operation": {"final_status": word}}))).await;
        let answers = follow(&sim, &publish(&sim).await.location()).await;
        assert_eq!(answers.last().unwrap()["status"], word);
    }
}

#[tokio::test]
async fn flaky_scenario_throttles_then_recovers() {
    let sim = start_scenario("flaky").await;
    let throttled = publish(&sim).await;
    assert_eq!(
        (throttled.status, throttled.header("retry-after")),
        (429, Some("1".into()))
    );
    assert_eq!(throttled.error_code(), "TooManyRequests");
    let unavailable = publish(&sim).await;
    assert_eq!(
        (unavailable.status, unavailable.error_code()),
        (503, "ServiceUnavailable".into())
    );
    let accepted = publish(&sim).await;
    assert_eq!(accepted.status, 202);
    assert_eq!(
        sim.operation_locations().len(),
        1,
        "scripted answers start nothing"
    );

    let location = accepted.location();
    let statuses = [
        api(&sim, "GET", &location).send().await.status,
        api(&sim, "GET", &location).send().await.status,
        api(&sim, "GET", &location).send().await.status,
        api(&sim, "GET", &location).send().await.status,
    ];
    assert_eq!(statuses, [503, 200, 500, 200]);
    assert_eq!(sim.count("publish"), 3);
}

#[tokio::test]
async fn error_scenarios_answer_in_the_services_shape() {
    let cases = [
        ("bad-request", 400, "BadRequest", "OfferTypeId"),
        ("validation", 422, "UnprocessableEntity", "validation"),
        ("unauthorized", 401, "Unauthorized", "token"),
        ("forbidden", 403, "Forbidden", "permissions"),
        ("not-found", 404, "NotFound", "contoso-offer"),
    ];
    for (name, status, code, words) in cases {
        let sim = start_scenario(name).await;
        for _ in 0..2 {
            let reply = publish(&sim).await;
            assert_eq!(
                (reply.status, reply.error_code()),
                (status, code.to_string()),
                "{name}"
            );
            let message = reply.json()["error"]["message"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(message.contains(words), "{name}: {message}");
            if status == 400 || status == 422 {
                break;
            }
        }
    }
    let sim = start_scenario("forbidden").await;
    let status = api(&sim, "GET", &format!("{OFFER}/status?{VERSION}"))
        .send()
        .await;
    assert_eq!(status.status, 403, "every offer route refuses");
}

#[tokio::test]
async fn demo_time_mode_walks_by_the_clock() {
    let sim = start(plan(json!({"operation": {"step_ms": 10}}))).await;
    let location = publish(&sim).await.location();
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(read(&sim, &location).await["status"], "completed");
    assert_eq!(scenario("demo").unwrap().operation.step_ms, Some(2000));
}

#[tokio::test]
async fn cancel_ends_the_running_operation() {
    let sim = start(plan(json!({"start": "running"}))).await;
    let publish_location = sim.operation_locations().pop().unwrap();
    read(&sim, &publish_location).await;
    let cancel = post_action(&sim, "cancel").send().await;
    assert_eq!(cancel.status, 202);
    let canceled = read(&sim, &publish_location).await;
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(step(&canceled, "displaycertify")["status"], "canceled");
    let cancel_op = follow(&sim, &cancel.location()).await;
    assert_eq!(cancel_op.last().unwrap()["status"], "completed");
    assert_eq!(cancel_op.last().unwrap()["submissionType"], "cancel");
    let nothing = post_action(&sim, "cancel").send().await;
    assert_eq!(nothing.status, 400);
    let offer = read(&sim, &format!("{OFFER}/status?{VERSION}")).await;
    assert_eq!(offer["status"], "Canceled");

    let sim = start(plan(
        json!({"start": "running", "operation": {"cancel_at_once": true}}),
    ))
    .await;
    let at_once = post_action(&sim, "cancel")
        .body("application/json", r#"{"metadata":{}}"#)
        .send()
        .await;
    assert_eq!(
        (at_once.status, at_once.json()["status"].as_str()),
        (200, Some("canceled"))
    );
}

#[tokio::test]
async fn wire_faults_drop_truncate_delay_and_bloat() {
    let sim = start(plan(json!({"routes": {"status": [
        {"drop": true},
        {"truncate": true},
        {"delay_ms": 2000},
        {"huge": 2_000_000, "status": 500},
        {"text": "<html>Bad Gateway</html>", "status": 502, "headers": {"Retry-After": "7"}}
    ]}})))
    .await;
    let path = format!("{OFFER}/status?{VERSION}");
    assert!(api(&sim, "GET", &path).try_send().await.is_err(), "dropped");
    assert!(
        api(&sim, "GET", &path).try_send().await.is_err(),
        "truncated"
    );
    let late = api(&sim, "GET", &path)
        .timeout(Duration::from_millis(200))
        .try_send()
        .await;
    assert!(late.err().unwrap().is_timeout());
    let huge = api(&sim, "GET", &path).send().await;
    assert_eq!((huge.status, huge.text.len()), (500, 2_000_000));
    assert_eq!(huge.error_code(), "Huge");
    let gateway = api(&sim, "GET", &path).send().await;
    assert_eq!(
        (gateway.status, gateway.text.as_str()),
        (502, "<html>Bad Gateway</html>")
    );
    assert_eq!(gateway.header("retry-after").as_deref(), Some("7"));
    assert!(gateway
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(
        read(&sim, &path).await["status"],
        "NeverPublished",
        "script ran out"
    );
    assert_eq!(sim.count("status"), 6);
}

#[tokio::test]
async fn a_dropped_publish_still_starts_the_operation() {
    let sim = start(plan(json!({"routes": {"publish": [
        {"drop": true},
        {"headers": {"Location": null}}
    ]}})))
    .await;
    assert!(post_action(&sim, "publish").try_send().await.is_err());
    assert_eq!(sim.operation_locations().len(), 1);
    let no_location = publish(&sim).await;
    assert_eq!(
        (no_location.status, no_location.header("location")),
        (202, None)
    );
    let retried = publish(&sim).await;
    assert_eq!(retried.location(), sim.operation_locations()[0]);
}

#[tokio::test]
async fn a_lying_content_length_header_is_sent_as_scripted() {
    let sim = start(plan(json!({"routes": {"token": [
        {"status": 200, "body": {"access_token": "x"}, "headers": {"Content-Length": "4096"}}
    ]}})))
    .await;
    let reply = call(&sim, "POST", "/sim-tenant/oauth2/v2.0/token")
        .body(
            "application/x-www-form-urlencoded",
            "grant_type=client_credentials",
        )
        .try_send()
        .await;
    assert!(reply.is_err(), "the body ends before its declared length");
}

#[test]
fn a_thread_simulator_serves_synchronous_callers() {
    let sim = Simulator::start_in_thread(Plan::default()).unwrap();
    let address = sim.base_url().trim_start_matches("http://").to_string();
    let exchange = |raw: &str| {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream.write_all(raw.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    let answer = exchange(&format!(
        "GET {OFFER}/status?{VERSION} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Connection: close\r\n\r\n"
    ));
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("Connection: close\r\n"));
    assert!(answer.ends_with(r#"{"status":"NeverPublished","steps":[]}"#));
    assert!(exchange("NONSENSE\r\n\r\n").starts_with("HTTP/1.1 400 "));
    assert_eq!(sim.count("status"), 1);
    drop(sim);
    assert!(
        std::net::TcpStream::connect(&address).is_err(),
        "stopped on drop"
    );
}
