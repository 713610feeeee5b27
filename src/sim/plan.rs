//! The fault plan: what the simulated portal does, written as JSON so that a test, the demo, or a person
//! at the `simulate` command line can script an incident without writing Rust.
//!
//! A plan has two parts. `routes` scripts the Nth request of a route (the first answer goes to the first
//! request, and so on); once a route's script runs out, the portal behaves normally. The other fields are
//! global knobs on that normal behaviour: where the operation is named, how it walks, how tokens expire.
//! [`scenario`] names the plans that tests and the demo share.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{json, Value};

/// The routes a script can target, by their names in the plan's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    Publish,
    Golive,
    Cancel,
    /// The offer's status: `GET .../offers/{o}/status`.
    Status,
    /// An operation read at its location, either shape.
    Operation,
    Submissions,
    /// Entra's token endpoint.
    Token,
    /// GitHub's OIDC token endpoint.
    Oidc,
    /// Product Ingestion: `GET .../product` (the offer by external id, paged).
    #[serde(rename = "pi-product")]
    PiProduct,
    /// Product Ingestion: `GET .../plan` (a plan by external id).
    #[serde(rename = "pi-plan")]
    PiPlan,
    /// Product Ingestion: `GET .../submission/{product}`.
    #[serde(rename = "pi-submissions")]
    PiSubmissions,
    /// Product Ingestion: `POST .../configure`, which starts a job.
    #[serde(rename = "pi-configure")]
    PiConfigure,
    /// Product Ingestion: `GET .../configure/{job}/status`.
    #[serde(rename = "pi-job")]
    PiJob,
    /// Product Ingestion: `POST .../configure/{job}/cancel`.
    #[serde(rename = "pi-cancel")]
    PiCancel,
    /// Product Ingestion: `GET .../virtual-machine-plan-technical-configuration/{product}/{plan}`.
    #[serde(rename = "pi-vm-config")]
    PiVmConfig,
}

impl Route {
    /// The route's name as the plan and [`crate::sim::Simulator::count`] spell it.
    pub fn name(self) -> &'static str {
        match self {
            Route::Publish => "publish",
            Route::Golive => "golive",
            Route::Cancel => "cancel",
            Route::Status => "status",
            Route::Operation => "operation",
            Route::Submissions => "submissions",
            Route::Token => "token",
            Route::Oidc => "oidc",
            Route::PiProduct => "pi-product",
            Route::PiPlan => "pi-plan",
            Route::PiSubmissions => "pi-submissions",
            Route::PiConfigure => "pi-configure",
            Route::PiJob => "pi-job",
            Route::PiCancel => "pi-cancel",
            Route::PiVmConfig => "pi-vm-config",
        }
    }

    /// Every Product Ingestion route, for scenarios that break the whole API.
    pub const INGESTION: [Route; 7] = [
        Route::PiProduct,
        Route::PiPlan,
        Route::PiSubmissions,
        Route::PiConfigure,
        Route::PiJob,
        Route::PiCancel,
        Route::PiVmConfig,
    ];

    /// Whether the route belongs to the Product Ingestion API, whose errors are spelled differently.
    pub fn is_ingestion(self) -> bool {
        Route::INGESTION.contains(&self)
    }

    /// Whether the route belongs to a marketplace API (bearer token, a version parameter), as opposed to an
    /// identity endpoint; it decides the shape of scripted error bodies.
    pub fn is_api(self) -> bool {
        !matches!(self, Route::Token | Route::Oidc)
    }
}

/// A whole simulated world. Every field has a default, so `{}` is the happy path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Plan {
    /// Scripted answers per route, served in order to that route's requests.
    pub routes: BTreeMap<Route, Vec<Scripted>>,
    /// The only publisher id the portal knows; others are 404.
    pub publisher: String,
    /// The only offer id the portal knows; others are 404.
    pub offer: String,
    /// The only `api-version` accepted.
    pub api_version: String,
    /// Where the offer stands when the simulator starts.
    pub start: Start,
    /// How a 202 names its operation.
    pub location: LocationPlan,
    /// How operations walk and end.
    pub operation: OperationPlan,
    /// Who may call, and how long tokens last.
    pub auth: AuthPlan,
    /// How the Product Ingestion API, served beside the portal, behaves.
    pub ingestion: IngestionPlan,
}

impl Default for Plan {
    fn default() -> Plan {
        Plan {
            routes: BTreeMap::new(),
            publisher: "contoso".into(),
            offer: "contoso-offer".into(),
            api_version: "2017-10-31".into(),
            start: Start::default(),
            location: LocationPlan::default(),
            operation: OperationPlan::default(),
            auth: AuthPlan::default(),
            ingestion: IngestionPlan::default(),
        }
    }
}

impl Plan {
    /// Reads a plan from JSON; unknown fields are errors, so that a typo cannot silently test nothing.
    pub fn from_json(text: &str) -> Result<Plan, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The scripted answer for the request numbered `index` (from 0) on `route`, if the script reaches it.
    pub fn scripted(&self, route: Route, index: usize) -> Option<&Scripted> {
        let mut first = 0usize;
        for answer in self.routes.get(&route)? {
            match answer.times {
                Times::Always => return Some(answer),
                Times::Count(n) => {
                    first += n as usize;
                    if index < first {
                        return Some(answer);
                    }
                }
            }
        }
        None
    }

    fn script(mut self, route: Route, answers: Vec<Scripted>) -> Plan {
        self.routes.insert(route, answers);
        self
    }
}

/// One scripted answer. Without `status` it is the portal's normal answer (side effects included: a
/// dropped publish still starts the operation), changed only by the other fields; with `status` it
/// replaces the answer and nothing happens on the portal's side.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scripted {
    /// How many requests in a row get this answer: a number (1 when left out) or `"always"`.
    pub times: Times,
    /// The status to answer instead of the portal's own answer.
    pub status: Option<u16>,
    /// Headers to set; `null` removes one (say, the `Location` of a normal 202).
    pub headers: BTreeMap<String, Option<String>>,
    /// A JSON body. With `status` and no body or text, a body in the service's error shape is made up.
    pub body: Option<Value>,
    /// A raw text body, sent as `text/plain` (a gateway's HTML page, a half JSON).
    pub text: Option<String>,
    /// Milliseconds to wait before answering.
    pub delay_ms: u64,
    /// Close the connection without answering.
    pub drop: bool,
    /// Declare the full body length, send half the body, close.
    pub truncate: bool,
    /// Replace the body with a JSON error of exactly this many bytes, its message all `x`.
    pub huge: Option<usize>,
    /// For operation answers: an object, or an array holding one.
    pub shape: Option<Shape>,
}

impl Scripted {
    /// A scripted status with a made-up body, the building block of the presets.
    pub fn status(status: u16) -> Scripted {
        Scripted {
            status: Some(status),
            ..Scripted::default()
        }
    }

    fn with_error(mut self, code: &str, message: &str) -> Scripted {
        self.body = Some(json!({"error": {"code": code, "message": message}}));
        self
    }

    fn with_header(mut self, name: &str, value: &str) -> Scripted {
        self.headers.insert(name.into(), Some(value.into()));
        self
    }

    fn always(mut self) -> Scripted {
        self.times = Times::Always;
        self
    }
}

/// How many requests a scripted answer covers: a count, or every request from there on (`"always"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    Count(u32),
    Always,
}

impl Default for Times {
    fn default() -> Times {
        Times::Count(1)
    }
}

impl Serialize for Times {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Times::Count(n) => s.serialize_u32(*n),
            Times::Always => s.serialize_str("always"),
        }
    }
}

impl<'de> Deserialize<'de> for Times {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Times, D::Error> {
        struct TimesVisitor;
        impl Visitor<'_> for TimesVisitor {
            type Value = Times;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a count or \"always\"")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Times, E> {
                u32::try_from(n)
                    .map(Times::Count)
                    .map_err(|_| E::custom("count too large"))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Times, E> {
                match s {
                    "always" => Ok(Times::Always),
                    _ => Err(E::invalid_value(de::Unexpected::Str(s), &self)),
                }
            }
        }
        d.deserialize_any(TimesVisitor)
    }
}

/// The JSON shape of an operation answer: the reference page shows an array, live answers an object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    #[default]
    Object,
    Array,
}

/// The offer's state before the first request, so that `status`, `cancel` and `go-live` can be tested
/// without a publish first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Start {
    #[default]
    NeverPublished,
    /// A publish is running, at its first step.
    Running,
    /// A publish waits at publisher sign-off: preview is up, go-live is next.
    Preview,
}

/// Where and how a 202 names its operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocationPlan {
    /// Which header carries it.
    pub header: LocationHeader,
    /// Relative, absolute, or on a foreign origin.
    pub form: LocationForm,
    /// Which of the two paths seen in the wild.
    pub shape: LocationShape,
}

/// The header that carries the operation location: the 2018 page's, today's, both, or neither.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LocationHeader {
    OperationLocation,
    #[default]
    Location,
    Both,
    None,
}

/// How the location is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocationForm {
    /// A path, as the service sends it.
    #[default]
    Relative,
    /// The simulator's own base URL and the path.
    Absolute,
    /// The same server under another origin (`http://localhost:PORT`), so a client that follows it
    /// anyway shows up in the recorded requests with its token.
    Foreign,
}

/// The two location paths seen in the wild.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocationShape {
    /// `/api/operations/{publisher}${id}$2$preview?api-version=...` (older offers).
    Dollar,
    /// `/api/publishers/{p}/offers/{o}/operations/{id}?api-version=...`.
    #[default]
    Offer,
}

/// How an operation walks its steps and how it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OperationPlan {
    /// Status reads (operation or offer status) per step: count-based, so tests are fast and repeatable.
    pub polls_per_step: u32,
    /// When set, a step takes this many milliseconds instead, whatever the polling (for the demo).
    pub step_ms: Option<u64>,
    /// The operation's status word once every step is done (`completed`, `complete`, `succeeded`,
    /// `failed`, `canceled`).
    pub final_status: String,
    /// A publish stops at `publisher-signoff`, `waitingForPublisherReview`, until a go-live.
    pub stop_at_signoff: bool,
    /// The walk fails at this step: the step `failed` with these messages, the operation `failed`.
    pub fail_at: Option<StepIssue>,
    /// The walk stalls at this step: the step `blocked` with these messages, the operation still `running`.
    pub block_at: Option<StepIssue>,
    /// When set, the block lifts once the operation has been read this many times in all, as when the
    /// publisher supplies what the service waited for; the walk then goes on where the reads have taken it.
    pub unblock_after: Option<u32>,
    /// `cancel` answers 200 at once instead of 202 with a cancel operation.
    pub cancel_at_once: bool,
}

impl Default for OperationPlan {
    fn default() -> OperationPlan {
        OperationPlan {
            polls_per_step: 1,
            step_ms: None,
            final_status: "completed".into(),
            stop_at_signoff: false,
            fail_at: None,
            block_at: None,
            unblock_after: None,
            cancel_at_once: false,
        }
    }
}

/// A step that goes wrong, with the error messages the service shows for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepIssue {
    /// The step's `stepName`, e.g. `displaycertify`.
    pub step: String,
    /// Each becomes an `error` message of the step, verbatim (hostile text included).
    pub messages: Vec<String>,
}

/// Who may call, and how long their tokens last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthPlan {
    /// Bearer tokens the API accepts as given, never expiring (for `MARKETPLACE_TOKEN`).
    pub tokens: Vec<String>,
    /// The only tenant the token endpoint knows (AADSTS90002 otherwise).
    pub tenant: String,
    /// The only application it knows (AADSTS700016 otherwise).
    pub client_id: String,
    /// The secret it accepts (AADSTS7000215 otherwise).
    pub client_secret: String,
    /// The `sub` claim of the JWT the OIDC endpoint hands out, and the only one Entra accepts.
    pub subject: String,
    /// The bearer token the OIDC endpoint wants (`ACTIONS_ID_TOKEN_REQUEST_TOKEN`).
    pub oidc_request_token: String,
    /// When set, the only `scope` the token endpoint accepts; otherwise any `.../.default`.
    pub scope: Option<String>,
    /// The lifetime the token endpoint announces, as a number or (as Entra sometimes does) a string.
    pub expires_in: ExpiresIn,
    /// Whether the API answers 401 once an issued token's `expires_in` seconds have passed.
    pub enforce_expiry: bool,
    /// An issued token stops working after this many API requests: expiry without waiting.
    pub token_uses: Option<u32>,
}

impl Default for AuthPlan {
    fn default() -> AuthPlan {
        AuthPlan {
            tokens: vec!["sim-token".into()],
            tenant: "sim-tenant".into(),
            client_id: "sim-client".into(),
            client_secret: "sim-secret".into(),
            subject: "repo:contoso/offer:ref:refs/heads/main".into(),
            oidc_request_token: "sim-oidc-request".into(),
            scope: None,
            expires_in: ExpiresIn::Number(3599),
            enforce_expiry: true,
            token_uses: None,
        }
    }
}

/// The Product Ingestion API's world: one product whose external id is the plan's `offer`, one VM plan, and
/// jobs that advance by reads, as operations do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestionPlan {
    /// The product's GUID, in `product/<guid>` and `submission/<guid>/<n>`.
    pub product_guid: String,
    /// Whether the product lookup finds the offer; when not, only its GUID reaches it.
    pub listed: bool,
    /// The page (from 1) of the product lookup that holds the offer; earlier pages hold other products
    /// and an `@nextLink`.
    pub product_page: u32,
    /// The VM plan's external id, and its GUID in `plan/<productGuid>/<planGuid>`.
    pub plan_id: String,
    pub plan_guid: String,
    /// Reads (job status or submissions) per job state: notStarted, running, then completed. 0 is an
    /// instant job: completed at its first read, as benchmarks want to time the client alone.
    pub reads_per_state: u32,
    /// The status of a `POST /configure` that starts a job: 200, or 202 as some clients expect.
    pub configure_status: u16,
    /// How the job id is spelled in job answers: `jobId` or, as one reference sample has it, `jobID`.
    pub job_id_key: String,
    /// Where the submissions stand when the simulator starts.
    pub start: IngestionStart,
    /// Preview jobs fail certification.
    pub fail_certification: bool,
    /// Draft jobs (resources other than submissions) fail validation.
    pub fail_draft: bool,
}

impl Default for IngestionPlan {
    fn default() -> IngestionPlan {
        IngestionPlan {
            product_guid: "2d541119-7c3e-4f0a-9b1d-5e8f6a0c4b21".into(),
            listed: true,
            product_page: 1,
            plan_id: "base".into(),
            plan_guid: "8e1f0a52-3b6d-4c97-a2e4-71d9c05b3f68".into(),
            reads_per_state: 1,
            configure_status: 200,
            job_id_key: "jobId".into(),
            start: IngestionStart::default(),
            fail_certification: false,
            fail_draft: false,
        }
    }
}

/// The product's submissions before the first request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IngestionStart {
    /// Only the draft: never published.
    #[default]
    Draft,
    /// A preview job has just started (its entry `notStarted`, then `running`).
    PreviewRunning,
    /// A preview succeeded and waits for go-live.
    PreviewReady,
    /// A preview went live: the live entry has the preview's id.
    Live,
}

/// `expires_in` as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExpiresIn {
    Number(u64),
    Text(String),
}

impl ExpiresIn {
    /// The lifetime in seconds; text that is not a number counts as already expired.
    pub fn seconds(&self) -> u64 {
        match self {
            ExpiresIn::Number(n) => *n,
            ExpiresIn::Text(t) => t.trim().parse().unwrap_or(0),
        }
    }

    /// The value as the token endpoint sends it, number or string as configured.
    pub fn to_json(&self) -> Value {
        match self {
            ExpiresIn::Number(n) => json!(n),
            ExpiresIn::Text(t) => json!(t),
        }
    }
}

/// The names [`scenario`] knows, for help text and error messages.
pub const SCENARIOS: &[&str] = &[
    "happy",
    "preview",
    "failed",
    "flaky",
    "injection",
    "validation",
    "bad-request",
    "unauthorized",
    "forbidden",
    "not-found",
    "expiring-token",
    "demo",
    "pi-happy",
    "pi-update",
    "pi-paging",
    "pi-guard",
    "pi-certification",
    "pi-go-live",
    "pi-cancel",
    "pi-flaky",
    "pi-invalid",
    "pi-forbidden",
    "pi-not-found",
];

/// Text that must never become a workflow command when a client prints it.
const INJECTIONS: &[&str] = &[
    "::error::injected annotation",
    "##vso[task.setvariable variable=outcome;isoutput=true]succeeded",
    "line one\n::set-output name=outcome::succeeded\r\n##[error]fake",
    "percent %0A::warning::encoded newline %25 %AZP25",
    "<script>alert('pwned')</script>",
];

/// A named plan; `None` for a name not in [`SCENARIOS`].
pub fn scenario(name: &str) -> Option<Plan> {
    let plan = Plan::default();
    let every_offer_route = |plan: Plan, answer: Scripted| {
        [Route::Publish, Route::Golive, Route::Cancel, Route::Status]
            .into_iter()
            .fold(plan, |plan, route| plan.script(route, vec![answer.clone()]))
    };
    Some(match name {
        "happy" => plan,
        "preview" => Plan {
            operation: OperationPlan {
                stop_at_signoff: true,
                ..OperationPlan::default()
            },
            ..plan
        },
        "failed" => Plan {
            operation: OperationPlan {
                fail_at: Some(StepIssue {
                    step: "displaycertify".into(),
                    messages: vec![
                        "Certification failed: the offer's logo must be a 216x216 PNG.".into(),
                    ],
                }),
                ..OperationPlan::default()
            },
            ..plan
        },
        "flaky" => plan
            .script(
                Route::Publish,
                vec![
                    Scripted::status(429)
                        .with_header("Retry-After", "1")
                        .with_error("TooManyRequests", "Rate limit is exceeded."),
                    Scripted::status(503),
                ],
            )
            .script(
                Route::Operation,
                vec![
                    Scripted::status(503).with_header("Retry-After", "0"),
                    Scripted::default(),
                    Scripted::status(500).with_error(
                        "InternalServerError",
                        "We cannot complete the request now, please try again later.",
                    ),
                ],
            ),
        "injection" => Plan {
            operation: OperationPlan {
                fail_at: Some(StepIssue {
                    step: "displaycertify".into(),
                    messages: INJECTIONS.iter().map(|s| s.to_string()).collect(),
                }),
                ..OperationPlan::default()
            },
            ..plan
        },
        "validation" => plan.script(
            Route::Publish,
            vec![Scripted::status(422).with_error(
                "UnprocessableEntity",
                "The offer failed validation: plan 'base' has no markets; 'Summary' is required.",
            )],
        ),
        "bad-request" => plan.script(
            Route::Publish,
            vec![Scripted::status(400).with_error(
                "BadRequest",
                "The argument: 'OfferTypeId' cannot be null or empty.",
            )],
        ),
        "unauthorized" => every_offer_route(
            plan,
            Scripted::status(401)
                .with_error("Unauthorized", "Access token validation failed.")
                .always(),
        ),
        "forbidden" => every_offer_route(
            plan,
            Scripted::status(403)
                .with_error("Forbidden", "User does not have the required permissions")
                .always(),
        ),
        "not-found" => every_offer_route(
            plan,
            Scripted::status(404)
                .with_error("NotFound", "The offer 'contoso-offer' was not found.")
                .always(),
        ),
        "expiring-token" => Plan {
            auth: AuthPlan {
                token_uses: Some(2),
                ..AuthPlan::default()
            },
            ..plan
        },
        "demo" => Plan {
            operation: OperationPlan {
                step_ms: Some(2000),
                ..OperationPlan::default()
            },
            ..plan
        },
        name if name.starts_with("pi-") => return ingestion_scenario(name, plan),
        _ => return None,
    })
}

/// The Product Ingestion scenarios: the same listener, the API under its own prefix.
fn ingestion_scenario(name: &str, plan: Plan) -> Option<Plan> {
    let with = |ingestion: IngestionPlan| Plan {
        ingestion,
        ..plan.clone()
    };
    let base = IngestionPlan::default();
    Some(match name {
        // Two reads per state, so that a demo shows the job running before it ends.
        // The demo passes a new VM image version with `pi-update`: the draft job, then the publish.
        "pi-happy" | "pi-update" => with(IngestionPlan {
            reads_per_state: 2,
            ..base
        }),
        "pi-paging" => with(IngestionPlan {
            product_page: 3,
            ..base
        }),
        "pi-guard" => with(IngestionPlan {
            start: IngestionStart::PreviewRunning,
            reads_per_state: 2,
            ..base
        }),
        "pi-certification" => with(IngestionPlan {
            fail_certification: true,
            ..base
        }),
        "pi-go-live" => with(IngestionPlan {
            start: IngestionStart::PreviewReady,
            ..base
        }),
        // As long as a real preview job (days): only a cancel ends it.
        "pi-cancel" => with(IngestionPlan {
            reads_per_state: 1_000_000,
            ..base
        }),
        "pi-flaky" => plan
            .script(
                Route::PiJob,
                vec![
                    Scripted::status(503).with_header("Retry-After", "0"),
                    Scripted::default(),
                    Scripted::status(429).with_header("Retry-After", "1"),
                    Scripted::status(500),
                ],
            )
            .script(Route::PiConfigure, vec![Scripted::status(503)])
            .script(Route::PiSubmissions, vec![Scripted::status(502)]),
        "pi-invalid" => with(IngestionPlan {
            fail_draft: true,
            ..base
        }),
        "pi-forbidden" => Route::INGESTION.into_iter().fold(plan, |plan, route| {
            plan.script(route, vec![Scripted::status(403).always()])
        }),
        "pi-not-found" => with(IngestionPlan {
            listed: false,
            ..base
        }),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_exists_and_survives_json() {
        for name in SCENARIOS {
            let plan = scenario(name).unwrap_or_else(|| panic!("scenario {name}"));
            let text = serde_json::to_string(&plan).unwrap();
            assert_eq!(Plan::from_json(&text).unwrap(), plan, "{name}");
        }
        assert_eq!(scenario("nope"), None);
    }

    #[test]
    fn empty_json_is_the_happy_path() {
        assert_eq!(Plan::from_json("{}").unwrap(), scenario("happy").unwrap());
        assert!(Plan::from_json(r#"{"rotues":{}}"#).is_err());
    }

    #[test]
    fn scripts_cover_requests_in_order_then_run_out() {
        let plan = Plan::from_json(
            r#"{"routes":{"publish":[{"status":503,"times":2},{"status":429}],
                          "operation":[{},{"status":500,"times":"always"}]}}"#,
        )
        .unwrap();
        let status = |route, i| plan.scripted(route, i).map(|s| s.status);
        assert_eq!(status(Route::Publish, 0), Some(Some(503)));
        assert_eq!(status(Route::Publish, 1), Some(Some(503)));
        assert_eq!(status(Route::Publish, 2), Some(Some(429)));
        assert_eq!(status(Route::Publish, 3), None);
        assert_eq!(status(Route::Operation, 0), Some(None));
        assert_eq!(status(Route::Operation, 99), Some(Some(500)));
        assert_eq!(status(Route::Token, 0), None);
    }

    #[test]
    fn expires_in_reads_as_number_or_text() {
        let auth: AuthPlan = serde_json::from_str(r#"{"expires_in":"3599"}"#).unwrap();
        assert_eq!(auth.expires_in, ExpiresIn::Text("3599".into()));
        assert_eq!(auth.expires_in.seconds(), 3599);
        assert_eq!(auth.expires_in.to_json(), json!("3599"));
    }
}
