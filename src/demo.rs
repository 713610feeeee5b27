//! `marketplace-publish demo [SCENARIO]`: the real publish path against the built-in simulated portal,
//! with no Azure account, showing what a GitHub run shows: the step's log with its workflow commands,
//! then the outputs file and the step summary the runner would read.

use std::path::PathBuf;

use anyhow::Context;

use crate::config::Env;
use crate::sim::{scenario, Plan, Simulator, INGESTION_PREFIX, SCENARIOS};
use crate::terminal::{complain, say};

/// The scenario that adds a new VM image version to a plan, then publishes.
const UPDATE_SCENARIO: &str = "pi-update";

/// What the demo shows unless asked for another scenario: a publish that stops where a real one does,
/// at publisher sign-off (`preview-ready`).
const DEFAULT_SCENARIO: &str = "preview";

/// Run the demo; returns the publish run's exit code (2 for an unknown scenario).
pub fn main(name: Option<&str>) -> i32 {
    let name = name.unwrap_or(DEFAULT_SCENARIO);
    let Some(plan) = scenario(name) else {
        complain(&format!(
            "demo: unknown scenario '{name}'; choose one of: {}\n",
            SCENARIOS.join(", ")
        ));
        return 2;
    };
    let (publisher, offer, token) = (
        plan.publisher.clone(),
        plan.offer.clone(),
        plan.auth.tokens.first().cloned().unwrap_or_default(),
    );
    let (simulator, dir) = match set_up(plan) {
        Ok(ready) => ready,
        Err(e) => {
            complain(&format!("demo: {e:#}\n"));
            return 1;
        }
    };
    let output = dir.join("github_output");
    let summary = dir.join("step_summary.md");
    let path = |p: &PathBuf| p.display().to_string();
    let mut pairs = vec![
        ("GITHUB_ACTIONS", "true".to_string()),
        ("GITHUB_OUTPUT", path(&output)),
        ("GITHUB_STEP_SUMMARY", path(&summary)),
        ("MARKETPLACE_OFFER_ID", offer),
        ("MARKETPLACE_TOKEN", token),
        ("MARKETPLACE_POLL_INTERVAL", "250ms".to_string()),
        ("MARKETPLACE_POLL_MAX_INTERVAL", "1s".to_string()),
        ("MARKETPLACE_TIMEOUT", "2m".to_string()),
    ];
    pairs.extend(api_env(name, &simulator.base_url(), publisher));
    let env = Env::from_pairs(pairs);
    say(&format!(
        "Publishing to the simulated service at {} (scenario '{name}'), as a GitHub step:\n\n",
        simulator.base_url()
    ));
    let code = crate::run::block_on(crate::run::run(
        &env,
        Box::new(std::io::stdout()),
        Box::new(std::io::stderr()),
    ));
    for (title, file) in [
        ("$GITHUB_OUTPUT", &output),
        ("$GITHUB_STEP_SUMMARY", &summary),
    ] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        say(&format!("\n----- {title} -----\n{text}"));
    }
    say(&format!("\n----- exit code {code} -----\n"));
    if name == DEFAULT_SCENARIO {
        say(
            "\nA real publish stops here too: review the preview in Partner Center, then run with\n\
             MARKETPLACE_COMMAND=go-live. 'demo happy' shows an operation that runs on to live and\n\
             succeeded; 'demo failed' a failed certification.\n",
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    code
}

/// The simulated service, and an empty directory with the files a GitHub step writes.
fn set_up(plan: Plan) -> anyhow::Result<(Simulator, PathBuf)> {
    let simulator = Simulator::start_in_thread(plan)
        .context("could not start the simulated service on 127.0.0.1")?;
    let dir = std::env::temp_dir().join(format!("marketplace-publish-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("github_output"), ""))
        .and_then(|()| std::fs::write(dir.join("step_summary.md"), ""))
        .with_context(|| {
            format!(
                "could not create {}; set TMPDIR to a writable directory",
                dir.display()
            )
        })?;
    Ok((simulator, dir))
}

/// The inputs that pick the API: a `pi-*` scenario is the Product Ingestion API under the simulator's
/// ingestion prefix, any other the Cloud Partner Portal at its origin.
fn api_env(scenario: &str, base_url: &str, publisher: String) -> Vec<(&'static str, String)> {
    if scenario.starts_with("pi-") {
        let mut pairs = vec![
            ("MARKETPLACE_API", "product-ingestion".to_string()),
            (
                "MARKETPLACE_API_BASE",
                format!("{base_url}{INGESTION_PREFIX}"),
            ),
        ];
        if scenario == UPDATE_SCENARIO {
            // What a pipeline that just built image 1.1.0 passes: the plan, the version, the disk.
            pairs.extend([
                ("MARKETPLACE_PLAN_ID", "base".to_string()),
                ("MARKETPLACE_IMAGE_VERSION", "1.1.0".to_string()),
                (
                    "MARKETPLACE_OS_DISK_URL",
                    "https://images.blob.core.windows.net/vhds/contoso-1.1.0.vhd?sv=2024-08-04&sr=b&sp=r&sig=c2ltdWxhdGVkLXNpZ25hdHVyZQ"
                        .to_string(),
                ),
            ]);
        }
        return pairs;
    }
    vec![
        ("MARKETPLACE_PUBLISHER_ID", publisher),
        ("MARKETPLACE_API_BASE", base_url.to_string()),
        (
            "MARKETPLACE_NOTIFICATION_EMAILS",
            "jdoe@contoso.com".to_string(),
        ),
    ]
}
