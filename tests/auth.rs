//! Authentication end to end: the built binary signs in against the simulated Entra and GitHub OIDC
//! endpoints with each kind of credential, keeps its token alive through a publish, explains every
//! refusal before touching the API, and never shows a secret.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{github_env, run, set, Run};
use marketplace_publish::sim::{scenario, Plan, Recorded, Route, Simulator};
use serde_json::{json, Value};

/// What the simulator's identity endpoints accept by default (`AuthPlan::default`).
const GIVEN_TOKEN: &str = "sim-token";
const TENANT: &str = "sim-tenant";
const CLIENT: &str = "sim-client";
const CLIENT_SECRET: &str = "sim-secret";
const REQUEST_TOKEN: &str = "sim-oidc-request";
const SUBJECT: &str = "repo:contoso/offer:ref:refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const AUDIENCE: &str = "api://AzureADTokenExchange";

/// Every Cloud Partner Portal route: none may be called before a token is had.
const API_ROUTES: [&str; 6] = [
    "publish",
    "golive",
    "cancel",
    "status",
    "operation",
    "submissions",
];

/// One kind of credential, set the way a workflow author would set it.
#[derive(Debug, Clone)]
enum Cred {
    Token,
    ClientSecret,
    /// The client secret through `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET`.
    AzureVariables,
    /// GitHub's `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
    GitHubOidc,
    /// `AZURE_FEDERATED_TOKEN_FILE`.
    TokenFile(PathBuf),
}

/// The sign-in a run used, as the simulator saw it.
#[derive(Debug, PartialEq, Eq)]
enum Used {
    Token,
    ClientSecret,
    GitHubOidc,
    TokenFile,
}

/// A file holding a platform's JWT, removed when the test ends.
struct TokenFile(PathBuf);

impl TokenFile {
    fn new(name: &str, jwt: &str) -> TokenFile {
        let path = std::env::temp_dir().join(format!(
            "marketplace-publish-auth-{}-{name}.jwt",
            std::process::id()
        ));
        std::fs::write(&path, format!("{jwt}\n")).unwrap();
        TokenFile(path)
    }

    fn cred(&self) -> Cred {
        Cred::TokenFile(self.0.clone())
    }
}

impl Drop for TokenFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An unsigned JWT with `claims`: the client and the simulator only read the claims.
fn jwt(claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        part(&json!({"alg": "RS256", "typ": "JWT"})),
        part(claims),
        URL_SAFE_NO_PAD.encode("signature")
    )
}

/// A platform's token for `subject`, valid for ten minutes.
fn platform_jwt(subject: &str) -> String {
    jwt(&json!({"iss": ISSUER, "sub": subject, "aud": AUDIENCE, "exp": unix_now() + 600}))
}

fn start(plan: Plan) -> Simulator {
    Simulator::start_in_thread(plan).expect("the simulator starts")
}

fn plan(json: &str) -> Plan {
    Plan::from_json(json).expect("a valid plan")
}

/// A GitHub step's variables for a publish against `sim` (API and authority), with exactly `creds`.
fn env(sim: &Simulator, creds: &[Cred]) -> Vec<(String, String)> {
    let base = sim.base_url();
    let mut env = github_env(&base);
    set(&mut env, "MARKETPLACE_TOKEN", "");
    set(&mut env, "MARKETPLACE_AUTHORITY_HOST", &base);
    let oidc_url = format!("{base}/oidc/token?x=1");
    for cred in creds {
        let file;
        let app = [
            ("MARKETPLACE_TENANT_ID", TENANT),
            ("MARKETPLACE_CLIENT_ID", CLIENT),
        ];
        let vars: Vec<(&str, &str)> = match cred {
            Cred::Token => vec![("MARKETPLACE_TOKEN", GIVEN_TOKEN)],
            Cred::ClientSecret => [("MARKETPLACE_CLIENT_SECRET", CLIENT_SECRET)]
                .into_iter()
                .chain(app)
                .collect(),
            Cred::AzureVariables => vec![
                ("AZURE_TENANT_ID", TENANT),
                ("AZURE_CLIENT_ID", CLIENT),
                ("AZURE_CLIENT_SECRET", CLIENT_SECRET),
            ],
            Cred::GitHubOidc => [
                ("ACTIONS_ID_TOKEN_REQUEST_URL", oidc_url.as_str()),
                ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN),
            ]
            .into_iter()
            .chain(app)
            .collect(),
            Cred::TokenFile(path) => {
                file = path.to_string_lossy().into_owned();
                [("AZURE_FEDERATED_TOKEN_FILE", file.as_str())]
                    .into_iter()
                    .chain(app)
                    .collect()
            }
        };
        for (name, value) in vars {
            set(&mut env, name, value);
        }
    }
    env
}

fn requests_to(sim: &Simulator, route: Route) -> Vec<Recorded> {
    sim.requests()
        .into_iter()
        .filter(|r| r.route == Some(route))
        .collect()
}

fn form(request: &Recorded) -> HashMap<String, String> {
    url::form_urlencoded::parse(&request.request.body)
        .into_owned()
        .collect()
}

fn api_requests(sim: &Simulator) -> Vec<Recorded> {
    sim.requests()
        .into_iter()
        .filter(|r| r.route.is_some_and(Route::is_api))
        .collect()
}

fn api_calls(sim: &Simulator) -> usize {
    API_ROUTES.iter().map(|route| sim.count(route)).sum()
}

/// The access tokens the API was called with, in the order they were first used (the order of issue).
fn access_tokens(sim: &Simulator) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    for request in api_requests(sim) {
        let bearer = request.request.bearer().expect("API calls carry a token");
        if !tokens.iter().any(|t| t == bearer) {
            tokens.push(bearer.to_string());
        }
    }
    tokens
}

/// Which credential the run signed in with, read from what reached the simulator.
fn used(sim: &Simulator) -> Used {
    let token_requests = requests_to(sim, Route::Token);
    match token_requests.first().map(form) {
        None => Used::Token,
        Some(form) if form.contains_key("client_secret") => Used::ClientSecret,
        Some(_) if sim.count("oidc") > 0 => Used::GitHubOidc,
        Some(_) => Used::TokenFile,
    }
}

/// The `::error` annotations of a GitHub run.
fn errors(run: &Run) -> String {
    run.stdout
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn each_mode_signs_in_and_publishes() {
    let file = TokenFile::new("each-mode", &platform_jwt(SUBJECT));
    let cases = [
        ("token", Cred::Token, Used::Token),
        ("client-secret", Cred::ClientSecret, Used::ClientSecret),
        ("client-secret", Cred::AzureVariables, Used::ClientSecret),
        ("oidc", Cred::GitHubOidc, Used::GitHubOidc),
        ("oidc", file.cred(), Used::TokenFile),
    ];
    for (mode, cred, expected) in cases {
        let sim = start(Plan::default());
        let mut env = env(&sim, std::slice::from_ref(&cred));
        set(&mut env, "MARKETPLACE_AUTH", mode);
        let run = run(&env);
        let case = format!("{mode} with {cred:?}");
        assert_eq!(run.code, 0, "{case}:\n{}", run.stdout);
        assert_eq!(run.output("outcome"), "succeeded", "{case}");
        assert_eq!(used(&sim), expected, "{case}");

        let tokens = access_tokens(&sim);
        if expected == Used::Token {
            assert_eq!(tokens, [GIVEN_TOKEN], "{case}");
            assert_eq!(sim.count("token") + sim.count("oidc"), 0, "{case}");
            continue;
        }
        assert_eq!(sim.count("token"), 1, "{case}: one token lasts the run");
        assert!(
            tokens.len() == 1 && tokens[0].starts_with("sim-access-"),
            "{case}: {tokens:?}"
        );
        let sent = form(&requests_to(&sim, Route::Token)[0]);
        assert_eq!(sent["grant_type"], "client_credentials", "{case}");
        assert_eq!(sent["client_id"], CLIENT, "{case}");
        assert_eq!(sent["scope"], format!("{}/.default", sim.base_url()));
        match expected {
            Used::ClientSecret => assert_eq!(sent["client_secret"], CLIENT_SECRET),
            _ => assert_eq!(
                sent["client_assertion_type"],
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            ),
        }
        if let Cred::TokenFile(path) = &cred {
            let written = std::fs::read_to_string(path).unwrap();
            assert_eq!(sent["client_assertion"], written.trim());
        }
        if expected == Used::GitHubOidc {
            let oidc = &requests_to(&sim, Route::Oidc)[0].request;
            assert_eq!(oidc.bearer(), Some(REQUEST_TOKEN));
            assert_eq!(oidc.query("x").as_deref(), Some("1"), "{}", oidc.target);
            assert_eq!(oidc.query("audience").as_deref(), Some(AUDIENCE));
        }
    }
}

#[test]
fn auto_prefers_a_token_then_a_client_secret_then_federation() {
    let file = TokenFile::new("auto", &platform_jwt(SUBJECT));
    let cases = [
        (
            vec![
                Cred::Token,
                Cred::ClientSecret,
                Cred::GitHubOidc,
                file.cred(),
            ],
            Used::Token,
        ),
        (
            vec![Cred::ClientSecret, Cred::GitHubOidc, file.cred()],
            Used::ClientSecret,
        ),
        (
            vec![Cred::AzureVariables, Cred::GitHubOidc],
            Used::ClientSecret,
        ),
        (vec![Cred::GitHubOidc, file.cred()], Used::GitHubOidc),
        (vec![file.cred()], Used::TokenFile),
    ];
    for (index, (creds, expected)) in cases.into_iter().enumerate() {
        let sim = start(Plan::default());
        let mut env = env(&sim, &creds);
        // Leaving it out and saying `auto` must be the same.
        if index % 2 == 1 {
            set(&mut env, "MARKETPLACE_AUTH", "auto");
        }
        let run = run(&env);
        assert_eq!(run.code, 0, "{creds:?}:\n{}", run.stdout);
        assert_eq!(used(&sim), expected, "{creds:?}");
    }
}

#[test]
fn a_token_that_stops_working_mid_operation_is_renewed_and_the_run_succeeds() {
    let file = TokenFile::new("used-up", &platform_jwt(SUBJECT));
    for cred in [Cred::ClientSecret, Cred::GitHubOidc, file.cred()] {
        // The simulator's tokens stop working after two API calls; the publish takes more.
        let sim = start(scenario("expiring-token").unwrap());
        let run = run(&env(&sim, std::slice::from_ref(&cred)));
        assert_eq!(run.code, 0, "{cred:?}:\n{}", run.stdout);
        assert_eq!(run.output("outcome"), "succeeded");
        assert!(
            run.stdout.contains("HTTP 401, renewing the token once"),
            "{}",
            run.stdout
        );
        let issued = sim.count("token");
        assert!(issued >= 2, "{cred:?}: {issued} token requests");
        assert_eq!(access_tokens(&sim).len(), issued, "{cred:?}");
        if let Cred::GitHubOidc = cred {
            assert_eq!(
                sim.count("oidc"),
                issued,
                "a fresh assertion for each token"
            );
        }
    }
}

#[test]
fn a_token_is_renewed_before_it_expires() {
    // Two-second tokens, announced as a string, on a walk of six 500 ms steps: the client must renew
    // ahead of expiry (at half life, for tokens this short), so the API never gets to refuse a token.
    let sim = start(plan(
        r#"{"auth": {"expires_in": "2", "enforce_expiry": true}, "operation": {"step_ms": 500}}"#,
    ));
    let run = run(&env(&sim, &[Cred::ClientSecret]));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.output("outcome"), "succeeded");
    assert!(
        sim.count("token") >= 2,
        "{} token requests",
        sim.count("token")
    );
    assert!(access_tokens(&sim).len() >= 2);
    assert!(
        !run.stdout.contains("renewing the token once"),
        "renewed only after a 401:\n{}",
        run.stdout
    );
}

#[test]
fn a_rejected_given_token_exits_6_saying_what_would_renew_it() {
    let sim = start(Plan::default());
    let mut env = env(&sim, &[]);
    set(&mut env, "MARKETPLACE_TOKEN", "stale-token-0d1e");
    let run = run(&env);
    assert_eq!(run.code, 6, "{}", run.stdout);
    assert_eq!(run.output("outcome"), "unauthorized");
    assert_eq!(run.output("http-status"), "401");
    let errors = errors(&run);
    assert!(
        errors.contains("HTTP 401")
            && errors.contains("MARKETPLACE_CLIENT_SECRET or OIDC federation would renew it"),
        "{errors}"
    );
    assert_eq!(sim.count("token"), 0, "a given token cannot be renewed");
    // The first request (the check for a running operation) is refused; nothing more is sent.
    assert_eq!(sim.count("submissions"), 1, "a 401 is not retried");
    assert_eq!(
        sim.count("publish"),
        0,
        "a rejected token is not sent again"
    );
    run.assert_never_shows("stale-token-0d1e");
}

/// An Entra refusal the run must explain without calling the API.
struct Refusal {
    case: &'static str,
    plan: Plan,
    creds: Vec<Cred>,
    overrides: &'static [(&'static str, &'static str)],
    status: &'static str,
    code: &'static str,
    hints: Vec<String>,
}

#[test]
fn entra_refusals_exit_6_with_the_code_and_what_to_do_before_any_api_call() {
    let other_subject = "repo:contoso/offer:ref:refs/heads/feature";
    let foreign = TokenFile::new("foreign-subject", &platform_jwt(other_subject));
    let claims = |subject: &str| {
        vec![
            format!("issuer `{ISSUER}`"),
            format!("subject `{subject}`"),
            format!("audience `{AUDIENCE}`"),
        ]
    };
    let no_federated_credential = plan(
        r#"{"routes": {"token": [{"status": 400, "times": "always", "body": {"error": "invalid_request",
            "error_description": "AADSTS70021: No matching federated identity record found for presented assertion.\r\nTrace ID: 1\r\nCorrelation ID: 2"}}]}}"#,
    );
    let cases = [
        Refusal {
            case: "wrong secret",
            plan: Plan::default(),
            creds: vec![Cred::ClientSecret],
            overrides: &[("MARKETPLACE_CLIENT_SECRET", "the-secret-id-not-its-value")],
            status: "401",
            code: "AADSTS7000215",
            hints: vec!["the secret's value (not its secret ID)".into()],
        },
        Refusal {
            case: "unknown application",
            plan: Plan::default(),
            creds: vec![Cred::ClientSecret],
            overrides: &[("MARKETPLACE_CLIENT_ID", "unknown-app")],
            status: "400",
            code: "AADSTS700016",
            hints: vec![
                "no application with client id unknown-app exists in tenant sim-tenant".into(),
            ],
        },
        Refusal {
            case: "unknown tenant",
            plan: Plan::default(),
            creds: vec![Cred::AzureVariables],
            overrides: &[("AZURE_TENANT_ID", "other-tenant")],
            status: "400",
            code: "AADSTS90002",
            hints: vec!["tenant other-tenant was not found".into()],
        },
        Refusal {
            case: "no federated credential for the file's subject",
            plan: Plan::default(),
            creds: vec![foreign.cred()],
            overrides: &[],
            status: "400",
            code: "AADSTS70021",
            hints: claims(other_subject),
        },
        Refusal {
            case: "no federated credential for GitHub's subject",
            plan: no_federated_credential,
            creds: vec![Cred::GitHubOidc],
            overrides: &[],
            status: "400",
            code: "AADSTS70021",
            hints: claims(SUBJECT),
        },
    ];
    for refusal in cases {
        let case = refusal.case;
        let sim = start(refusal.plan);
        let mut env = env(&sim, &refusal.creds);
        for (name, value) in refusal.overrides {
            set(&mut env, name, value);
        }
        let run = run(&env);
        assert_eq!(run.code, 6, "{case}:\n{}", run.stdout);
        assert_eq!(run.output("outcome"), "unauthorized", "{case}");
        assert_eq!(run.output("error-code"), refusal.code, "{case}");
        assert_eq!(run.output("http-status"), refusal.status, "{case}");
        assert_eq!(run.result["error_code"], refusal.code, "{case}");
        assert!(
            !run.output("error-message").contains("Trace ID"),
            "{case}: {}",
            run.output("error-message")
        );
        let errors = errors(&run);
        assert!(errors.contains(refusal.code), "{case}: {errors}");
        for hint in &refusal.hints {
            assert!(
                errors.contains(hint.as_str()),
                "{case}: no {hint} in {errors}"
            );
        }
        assert_eq!(api_calls(&sim), 0, "{case}: the API was called");
        assert_eq!(
            sim.count("token"),
            1,
            "{case}: refused credentials were sent again"
        );
        for secret in secrets_sent(&sim) {
            run.assert_never_shows(&secret);
        }
    }
}

#[test]
fn oidc_on_github_without_the_id_token_variables_names_the_permission() {
    let sim = start(Plan::default());
    let mut env = env(&sim, &[]);
    set(&mut env, "MARKETPLACE_AUTH", "oidc");
    set(&mut env, "MARKETPLACE_TENANT_ID", TENANT);
    set(&mut env, "MARKETPLACE_CLIENT_ID", CLIENT);
    let run = run(&env);
    assert_eq!(run.code, 6, "{}", run.stdout);
    assert_eq!(run.output("outcome"), "unauthorized");
    let errors = errors(&run);
    assert!(errors.contains("permissions: id-token: write"), "{errors}");
    assert!(sim.requests().is_empty(), "{:?}", sim.requests());
}

#[test]
fn a_given_jwt_that_expires_before_the_timeout_is_warned_about_before_starting() {
    let expiring = jwt(&json!({"aud": "https://cloudpartner.azure.com", "exp": unix_now() + 600}));
    let mut plan = Plan::default();
    plan.auth.tokens = vec![expiring.clone()];
    let sim = start(plan);
    let mut env = env(&sim, &[]);
    set(&mut env, "MARKETPLACE_TOKEN", &expiring);

    set(&mut env, "MARKETPLACE_TIMEOUT", "1h");
    let warned = run(&env);
    assert_eq!(warned.code, 0, "{}", warned.stdout);
    let lines: Vec<&str> = warned.stdout.lines().collect();
    let warning = lines
        .iter()
        .position(|l| l.starts_with("::warning title=token::MARKETPLACE_TOKEN expires at"))
        .unwrap_or_else(|| panic!("no warning:\n{}", warned.stdout));
    assert!(lines[warning].contains("before MARKETPLACE_TIMEOUT (1h)"));
    assert!(lines[warning].contains("MARKETPLACE_CLIENT_SECRET"));
    let started = lines
        .iter()
        .position(|l| l.starts_with("::group::publish"))
        .unwrap();
    assert!(warning < started, "{}", warned.stdout);
    warned.assert_never_shows(&expiring);

    set(&mut env, "MARKETPLACE_TIMEOUT", "5m");
    let quiet = run(&env);
    assert_eq!(quiet.code, 0);
    assert!(!quiet.stdout.contains("::warning"), "{}", quiet.stdout);
}

/// Every secret that reached the simulator: the client secret, the OIDC request token, each federated
/// assertion and each access token.
fn secrets_sent(sim: &Simulator) -> Vec<String> {
    let mut secrets: Vec<String> = Vec::new();
    for recorded in sim.requests() {
        let found = match recorded.route {
            Some(Route::Token) => {
                let form = form(&recorded);
                ["client_secret", "client_assertion"]
                    .iter()
                    .filter_map(|field| form.get(*field).cloned())
                    .collect()
            }
            Some(_) => recorded
                .request
                .bearer()
                .map(str::to_string)
                .into_iter()
                .collect(),
            None => Vec::new(),
        };
        for secret in found {
            if !secrets.contains(&secret) {
                secrets.push(secret);
            }
        }
    }
    secrets
}

/// The line numbers of `stdout` lines that start with `prefix`.
fn lines_starting(stdout: &[&str], prefix: &str) -> Vec<usize> {
    (0..stdout.len())
        .filter(|&i| stdout[i].starts_with(prefix))
        .collect()
}

/// One credential of each mode, the federated one read from `file`.
fn every_credential(file: &TokenFile) -> [Cred; 4] {
    [
        Cred::Token,
        Cred::ClientSecret,
        Cred::GitHubOidc,
        file.cred(),
    ]
}

#[test]
fn no_secret_shows_in_any_mode_and_each_is_masked_before_use() {
    let file = TokenFile::new("leak", &platform_jwt(SUBJECT));
    for cred in every_credential(&file) {
        // Tokens used up every two calls, so that several are issued; debug on, so that every line is written.
        let sim = start(scenario("expiring-token").unwrap());
        let mut env = env(&sim, std::slice::from_ref(&cred));
        set(&mut env, "RUNNER_DEBUG", "1");
        let run = run(&env);
        assert_eq!(run.code, 0, "{cred:?}:\n{}", run.stdout);

        let secrets = secrets_sent(&sim);
        let expected = match cred {
            Cred::Token => 1,
            // The secret or the request token, an assertion, and at least two access tokens.
            _ => 4,
        };
        assert!(secrets.len() >= expected, "{cred:?}: {secrets:?}");
        let stdout: Vec<&str> = run.stdout.lines().collect();
        let mask = |secret: &str| {
            let line = format!("::add-mask::{secret}");
            stdout
                .iter()
                .position(|l| *l == line)
                .unwrap_or_else(|| panic!("{cred:?}: {secret} was not masked:\n{}", run.stdout))
        };
        for secret in &secrets {
            run.assert_never_shows(secret);
            mask(secret);
        }

        // What the workflow gave is masked before anything else is written.
        let first_other = stdout
            .iter()
            .position(|l| !l.starts_with("::add-mask::"))
            .unwrap();
        for given in [GIVEN_TOKEN, CLIENT_SECRET, REQUEST_TOKEN] {
            if secrets.iter().any(|s| s == given) {
                assert!(mask(given) < first_other, "{cred:?}: {given}");
            }
        }
        // What is obtained during the run is masked before the request that uses it: an assertion before
        // the token request it goes into, an access token before the run is told it has one.
        let token_requests = lines_starting(&stdout, "::debug::requesting an access token");
        for (k, request) in requests_to(&sim, Route::Token).iter().enumerate() {
            if let Some(assertion) = form(request).get("client_assertion") {
                assert!(
                    mask(assertion) < token_requests[k],
                    "{cred:?}: assertion {k}"
                );
            }
        }
        let obtained = lines_starting(&stdout, "::debug::obtained an access token");
        let issued: Vec<String> = access_tokens(&sim)
            .into_iter()
            .filter(|t| t != GIVEN_TOKEN)
            .collect();
        assert_eq!(issued.len(), obtained.len(), "{cred:?}");
        for (k, token) in issued.iter().enumerate() {
            assert!(mask(token) < obtained[k], "{cred:?}: access token {k}");
        }
    }
}

#[test]
fn no_secret_shows_in_plain_mode_either() {
    let file = TokenFile::new("leak-plain", &platform_jwt(SUBJECT));
    for cred in every_credential(&file) {
        let sim = start(scenario("expiring-token").unwrap());
        let mut env = env(&sim, std::slice::from_ref(&cred));
        set(&mut env, "GITHUB_ACTIONS", "");
        set(&mut env, "MARKETPLACE_DEBUG", "true");
        let run = run(&env);
        assert_eq!(run.code, 0, "{cred:?}:\n{}", run.stderr);
        if !matches!(cred, Cred::Token) {
            assert!(run.stderr.contains("debug: obtained"), "{}", run.stderr);
        }
        for secret in secrets_sent(&sim) {
            assert!(
                !run.everything().contains(&secret),
                "{cred:?}: {secret} leaked:\n{}",
                run.everything()
            );
        }
    }
}

/// The same guarantee with the Product Ingestion API, a new VM image version's SAS URL included.
#[test]
fn no_secret_shows_with_the_product_ingestion_api_either() {
    let file = TokenFile::new("leak-pi", &platform_jwt(SUBJECT));
    let signature = "sig=cGktbGVhay10ZXN0LXNpZw";
    for cred in every_credential(&file) {
        let sim = start(plan(r#"{"auth": {"token_uses": 2}}"#));
        let mut env = env(&sim, std::slice::from_ref(&cred));
        let base = format!("{}/rp/product-ingestion", sim.base_url());
        let disk = format!("https://images.blob.core.windows.net/vhds/os.vhd?sv=2024&{signature}");
        for (name, value) in [
            ("MARKETPLACE_API", "product-ingestion"),
            ("MARKETPLACE_API_BASE", base.as_str()),
            ("MARKETPLACE_PUBLISHER_ID", ""),
            ("MARKETPLACE_NOTIFICATION_EMAILS", ""),
            ("MARKETPLACE_PLAN_ID", "base"),
            ("MARKETPLACE_IMAGE_VERSION", "3.1.4"),
            ("MARKETPLACE_OS_DISK_URL", disk.as_str()),
            ("RUNNER_DEBUG", "1"),
        ] {
            set(&mut env, name, value);
        }
        let run = run(&env);
        assert_eq!(run.code, 0, "{cred:?}:\n{}", run.stdout);
        let secrets = secrets_sent(&sim);
        assert!(!secrets.is_empty(), "{cred:?}");
        let signature_value = signature.trim_start_matches("sig=");
        for secret in secrets.iter().map(String::as_str).chain([signature_value]) {
            run.assert_never_shows(secret);
        }
    }
}
