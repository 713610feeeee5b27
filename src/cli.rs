//! The command line: with no arguments the program runs from the environment, as CI calls it.

use std::ffi::OsString;

use crate::config::{ConfigError, Env};

const HELP: &str = "\
marketplace-publish: publish an Azure Marketplace offer from CI

USAGE:
    marketplace-publish                  run from MARKETPLACE_* environment variables (see the README)
    marketplace-publish demo [SCENARIO]  publish to the built-in simulated portal, as a GitHub step would
    marketplace-publish simulate [--listen ADDR] [--scenario NAME | --plan FILE]
                                         serve the simulated portal (default 127.0.0.1:8080, scenario happy)
    marketplace-publish --version
    marketplace-publish --help
";

/// Run the binary with `args` (without the program name); returns the exit code. An argument that is
/// not UTF-8 still ends the way a CI step needs: an outcome, its outputs and a message.
pub fn main(args: &[OsString]) -> i32 {
    let Some(args) = args
        .iter()
        .map(|arg| arg.to_str().map(str::to_string))
        .collect::<Option<Vec<String>>>()
    else {
        return crate::run::run_refused(
            &Env::from_process(),
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
            vec![ConfigError::new(
                "command line",
                "an argument is not valid UTF-8; give no arguments to run from MARKETPLACE_* variables",
            )],
        );
    };
    match args.first().map(String::as_str) {
        None => crate::run::block_on(crate::run::run(
            &Env::from_process(),
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
        )),
        Some("demo") => crate::demo::main(&args[1..]),
        Some("simulate") => simulate(&args[1..]),
        Some("--version" | "-V") => {
            println!("marketplace-publish {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some("--help" | "-h") => {
            print!("{HELP}");
            0
        }
        Some(other) => {
            eprintln!("marketplace-publish: unknown argument '{other}'\n\n{HELP}");
            2
        }
    }
}

/// `simulate`: serve a scenario or a JSON fault plan until interrupted (for the self-test, benchmarks
/// and trying the action by hand).
fn simulate(args: &[String]) -> i32 {
    let mut listen = "127.0.0.1:8080".to_string();
    let mut plan = Ok(crate::sim::Plan::default());
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let Some(value) = rest.next() else {
            eprintln!("simulate: {flag} needs a value\n\n{HELP}");
            return 2;
        };
        match flag.as_str() {
            "--listen" => listen = value.clone(),
            "--scenario" => {
                plan = crate::sim::scenario(value).ok_or_else(|| {
                    format!(
                        "unknown scenario '{value}'; choose one of: {}",
                        crate::sim::SCENARIOS.join(", ")
                    )
                })
            }
            "--plan" => {
                plan = std::fs::read_to_string(value)
                    .map_err(|e| format!("cannot read {value}: {e}"))
                    .and_then(|text| {
                        crate::sim::Plan::from_json(&text).map_err(|e| format!("{value}: {e}"))
                    })
            }
            _ => {
                eprintln!("simulate: unknown option {flag}\n\n{HELP}");
                return 2;
            }
        }
    }
    let plan = match plan {
        Ok(plan) => plan,
        Err(why) => {
            eprintln!("simulate: {why}");
            return 2;
        }
    };
    let Ok(addr) = listen.parse::<std::net::SocketAddr>() else {
        eprintln!("simulate: --listen takes an address such as 127.0.0.1:8080");
        return 2;
    };
    if !addr.ip().is_loopback() {
        eprintln!("simulate: the simulator listens on loopback addresses only");
        return 2;
    }
    match crate::sim::run_blocking(addr, plan) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("simulate: {e}");
            1
        }
    }
}
