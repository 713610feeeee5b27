//! `marketplace-publish demo [SCENARIO]`: the real publish path against the built-in simulated portal,
//! with no Azure account, showing what a GitHub run shows: the step's log with its workflow commands,
//! then the outputs file and the step summary the runner would read.

use std::path::PathBuf;

use crate::config::Env;
use crate::sim::{scenario, Simulator, INGESTION_PREFIX, SCENARIOS};

/// Run the demo; returns the publish run's exit code (2 for an unknown scenario).
pub fn main(args: &[String]) -> i32 {
    let name = args.first().map(String::as_str).unwrap_or("happy");
    let Some(plan) = scenario(name) else {
        eprintln!(
            "unknown scenario '{name}'; choose one of: {}",
            SCENARIOS.join(", ")
        );
        return 2;
    };
    let (publisher, offer, token) = (
        plan.publisher.clone(),
        plan.offer.clone(),
        plan.auth.tokens.first().cloned().unwrap_or_default(),
    );
    let simulator = match Simulator::start_in_thread(plan) {
        Ok(simulator) => simulator,
        Err(e) => {
            eprintln!("could not start the simulated portal on 127.0.0.1: {e}");
            return 1;
        }
    };
    let dir = std::env::temp_dir().join(format!("marketplace-publish-demo-{}", std::process::id()));
    let output = dir.join("github_output");
    let summary = dir.join("step_summary.md");
    if let Err(e) = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&output, ""))
        .and_then(|()| std::fs::write(&summary, ""))
    {
        eprintln!("could not create {}: {e}", dir.display());
        return 1;
    }
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
    println!(
        "Publishing to the simulated service at {} (scenario '{name}'), as a GitHub step:\n",
        simulator.base_url()
    );
    let code = crate::run::block_on(crate::run::run(
        &env,
        Box::new(std::io::stdout()),
        Box::new(std::io::stderr()),
    ));
    for (title, file) in [
        ("$GITHUB_OUTPUT", &output),
        ("$GITHUB_STEP_SUMMARY", &summary),
    ] {
        println!("\n----- {title} -----");
        print!("{}", std::fs::read_to_string(file).unwrap_or_default());
    }
    println!("\n----- exit code {code} -----");
    let _ = std::fs::remove_dir_all(&dir);
    code
}

/// The inputs that pick the API: a `pi-*` scenario is the Product Ingestion API under the simulator's
/// ingestion prefix, any other the Cloud Partner Portal at its origin.
fn api_env(scenario: &str, base_url: &str, publisher: String) -> Vec<(&'static str, String)> {
    if scenario.starts_with("pi-") {
        return vec![
            ("MARKETPLACE_API", "product-ingestion".to_string()),
            (
                "MARKETPLACE_API_BASE",
                format!("{base_url}{INGESTION_PREFIX}"),
            ),
        ];
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
