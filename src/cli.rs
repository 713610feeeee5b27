//! The command line: with no arguments the program runs from the environment, as CI calls it; `demo`
//! and `simulate` try it without Azure; `help` says all of that, with every input, output and exit code.
//!
//! Everything is written through `terminal`'s `say` and `complain`, which never panic: `demo | head -3` closes the
//! pipe early, and a closed pipe is no reason to crash.

use std::ffi::OsString;

use crate::config::{ConfigError, Env};
use crate::outcome::Output;
use crate::sim::SCENARIOS;
use crate::terminal::{complain, say};

const USAGE: &str = "\
USAGE:
    marketplace-publish                  run from the MARKETPLACE_* variables below, as CI calls it
    marketplace-publish demo [SCENARIO]  publish to the built-in simulated service, as a GitHub step
    marketplace-publish simulate [--listen ADDR] [--scenario NAME | --plan FILE]
                                         serve the simulated service, to try the program by hand
    marketplace-publish help [COMMAND]   this text, or a command's (also --help, -h, COMMAND --help)
    marketplace-publish --version
";

/// Every input, with its meaning; `tests` checks that none the program reads is missing.
const INPUTS: &[(&str, &str)] = &[
    (
        "API",
        "cloud-partner-portal (default; also cpp) or product-ingestion",
    ),
    (
        "PUBLISHER_ID",
        "publisher id, e.g. contoso (required for cloud-partner-portal)",
    ),
    (
        "OFFER_ID",
        "offer id (required; product-ingestion: also product/<guid>)",
    ),
    (
        "COMMAND",
        "publish (default), go-live, status, cancel or configure",
    ),
    (
        "NOTIFICATION_EMAILS",
        "comma-separated e-mail addresses for progress mail",
    ),
    (
        "OPERATION",
        "an earlier run's operation-location: follow it, start nothing",
    ),
    (
        "WAIT",
        "true (default): follow to the end; false: stop once accepted",
    ),
    ("TIMEOUT", "how long to wait in all (default 60m)"),
    (
        "POLL_INTERVAL",
        "first wait between status reads (default 15s; PI 60s)",
    ),
    (
        "POLL_MAX_INTERVAL",
        "longest wait between status reads (default 60s; PI 5m)",
    ),
    (
        "CANCEL_ON_INTERRUPT",
        "true: cancel the operation too on SIGINT/SIGTERM",
    ),
    ("AUTH", "auto (default), token, client-secret or oidc"),
    ("TOKEN", "a bearer token for the API"),
    (
        "TENANT_ID",
        "Microsoft Entra tenant id (default: AZURE_TENANT_ID)",
    ),
    (
        "CLIENT_ID",
        "the application's (client) id (default: AZURE_CLIENT_ID)",
    ),
    (
        "CLIENT_SECRET",
        "the application's client secret (default: AZURE_CLIENT_SECRET)",
    ),
    (
        "API_BASE",
        "API base (default https://cloudpartner.azure.com; PI: Graph's)",
    ),
    (
        "API_VERSION",
        "the api-version query value ($version for product-ingestion)",
    ),
    (
        "AUTHORITY_HOST",
        "Entra authority (default https://login.microsoftonline.com)",
    ),
    (
        "CI",
        "auto (default), github, azure-devops, gitlab or plain",
    ),
    ("RESULT_FILE", "a path: the JSON result is written there"),
    (
        "DOTENV_FILE",
        "GitLab: the dotenv file for artifacts:reports:dotenv",
    ),
    ("DEBUG", "plain mode: true prints debug lines"),
    (
        "CONFIGURE_FILE",
        "product-ingestion: JSON resources to apply before publishing",
    ),
    (
        "PLAN_ID",
        "product-ingestion: the plan that gets a new VM image version",
    ),
    (
        "IMAGE_VERSION",
        "product-ingestion: that version, e.g. 1.2.3",
    ),
    ("OS_DISK_URL", "product-ingestion: the OS disk's SAS URI"),
    (
        "DATA_DISK_URLS",
        "product-ingestion: data disk SAS URIs, comma-separated",
    ),
    (
        "IMAGE_TYPE",
        "product-ingestion: the image type (default x64Gen2)",
    ),
];

const ABOUT_INPUTS: &str = "\
Blank counts as unset; PI is product-ingestion. Durations: 250ms, 90s, 45m, 2h (a bare number is
seconds). A proxy is taken from HTTPS_PROXY, HTTP_PROXY and NO_PROXY, never for 127.0.0.1 or
localhost; a private CA from SSL_CERT_FILE. The GitHub action's inputs are these names in kebab case
(offer-id). OIDC outside GitHub: AZURE_FEDERATED_TOKEN_FILE names a file holding the ID token.
";

const EXIT_CODES: &str = "\
EXIT CODES:
    0      accepted, succeeded, preview-ready, running, or canceled by this run's cancel
    1      failed, or canceled by someone else
    2      config-error: an input is missing or invalid; nothing was sent
    3      bad-request: HTTP 400
    4      not-found: HTTP 404
    5      invalid-offer: HTTP 422, the offer did not pass validation
    6      unauthorized: HTTP 401 or 403, or no token could be had
    7      timed-out: still running when MARKETPLACE_TIMEOUT ran out
    8      error: retries used up, or an answer that cannot be used
    128+n  interrupted by signal n (SIGINT or Ctrl-C 130, SIGTERM 143, Ctrl-Break 149);
           the outputs are still written
";

const DEMO_HELP: &str = "\
USAGE:
    marketplace-publish demo [SCENARIO]

Publishes an offer to the built-in simulated portal on 127.0.0.1 through the real publish path, with no
Azure account, and shows what a GitHub step shows: the log with its workflow commands, then the
$GITHUB_OUTPUT file and the step summary. The exit code is the run's.

The default scenario, preview, stops where a real publish stops: at publisher sign-off, preview-ready.
";

const SIMULATE_HELP: &str = "\
USAGE:
    marketplace-publish simulate [--listen ADDR] [--scenario NAME | --plan FILE]

Serves the simulated portal (with Entra's token endpoint and GitHub's OIDC endpoint beside it) until
Ctrl-C. The first line on stdout is its URL; the lines after it are the variables to set for a run
against it. Each request is logged on stderr.

OPTIONS:
    --listen ADDR     a loopback address (default 127.0.0.1:8080; port 0 picks a free one)
    --scenario NAME   what the portal does (default happy)
    --plan FILE       a JSON fault plan instead of a scenario
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
    let Some((first, rest)) = args.split_first() else {
        return crate::run::block_on(crate::run::run(
            &Env::from_process(),
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
        ));
    };
    match first.as_str() {
        "demo" | "simulate" if asks_for_help(rest) => help(Some(first.as_str())),
        "demo" => match rest {
            [] => crate::demo::main(None),
            [scenario] => crate::demo::main(Some(scenario)),
            [_, extra, ..] => misuse("demo", &format!("unexpected argument '{extra}'")),
        },
        "simulate" => simulate(rest),
        "help" | "--help" | "-h" => match rest {
            [] => help(None),
            [command] => help(Some(command)),
            [_, extra, ..] => misuse("help", &format!("unexpected argument '{extra}'")),
        },
        "--version" | "-V" if rest.is_empty() => {
            say(&format!(
                "marketplace-publish {}\n",
                env!("CARGO_PKG_VERSION")
            ));
            0
        }
        "--version" | "-V" => misuse(
            "marketplace-publish",
            &format!("unexpected argument '{}'", rest[0]),
        ),
        other => misuse(
            "marketplace-publish",
            &format!("unknown command or option '{other}'"),
        ),
    }
}

fn asks_for_help(args: &[String]) -> bool {
    args.iter().any(|a| a == "--help" || a == "-h")
}

/// A wrong command line: what was wrong, and where the right one is described; exit 2.
fn misuse(command: &str, why: &str) -> i32 {
    let help = match command {
        "demo" | "simulate" => format!("marketplace-publish {command} --help"),
        _ => "marketplace-publish --help".to_string(),
    };
    complain(&format!("{command}: {why}; see '{help}'\n"));
    2
}

/// Print the help for `command`, or the whole program's.
fn help(command: Option<&str>) -> i32 {
    let scenarios = format!("SCENARIOS: {}\n", SCENARIOS.join(", "));
    match command {
        None => say(&full_help()),
        Some("demo") => say(&format!("{DEMO_HELP}\n{scenarios}")),
        Some("simulate") => say(&format!("{SIMULATE_HELP}\n{scenarios}")),
        Some(other) => return misuse("help", &format!("no command '{other}'")),
    }
    0
}

/// Everything a user of the bare binary needs: commands, inputs, outputs and exit codes.
fn full_help() -> String {
    let inputs: String = INPUTS
        .iter()
        .map(|(name, meaning)| format!("    {:<32} {meaning}\n", format!("MARKETPLACE_{name}")))
        .collect();
    let names: Vec<&str> = Output::ALL.iter().map(|output| output.name()).collect();
    let outputs = names
        .chunks(6)
        .map(|row| format!("    {}\n", row.join(", ")))
        .collect::<String>();
    format!(
        "marketplace-publish {}: publish an Azure Marketplace offer from CI, follow the publish\n\
         to its end, and tell the pipeline what happened: outputs, annotations, a summary, the exit code.\n\n\
         {USAGE}\nINPUTS (environment variables):\n{inputs}\n{ABOUT_INPUTS}\n\
         OUTPUTS (GitHub step outputs; Azure DevOps output variables with _ for -; GitLab dotenv\n\
         MARKETPLACE_OUTCOME, ...; the JSON result's snake_case keys, also stdout's last line in plain mode):\n\
         {outputs}\n{EXIT_CODES}\n\
         More: README.md at https://github.com/marketplace-publish/marketplace-publish\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// `simulate`: serve a scenario or a JSON fault plan until interrupted (for the self-test, benchmarks
/// and trying the action by hand).
fn simulate(args: &[String]) -> i32 {
    let mut listen = "127.0.0.1:8080".to_string();
    let mut plan = Ok(crate::sim::Plan::default());
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        if !matches!(flag.as_str(), "--listen" | "--scenario" | "--plan") {
            return misuse("simulate", &format!("unknown option '{flag}'"));
        }
        let Some(value) = rest.next() else {
            return misuse("simulate", &format!("{flag} needs a value"));
        };
        match flag.as_str() {
            "--listen" => listen = value.clone(),
            "--scenario" => {
                plan = crate::sim::scenario(value).ok_or_else(|| {
                    format!(
                        "unknown scenario '{value}'; choose one of: {}",
                        SCENARIOS.join(", ")
                    )
                })
            }
            _ => {
                plan = std::fs::read_to_string(value)
                    .map_err(|e| format!("cannot read {value}: {e}"))
                    .and_then(|text| {
                        crate::sim::Plan::from_json(&text).map_err(|e| format!("{value}: {e}"))
                    })
            }
        }
    }
    let plan = match plan {
        Ok(plan) => plan,
        Err(why) => return misuse("simulate", &why),
    };
    let Ok(addr) = listen.parse::<std::net::SocketAddr>() else {
        return misuse(
            "simulate",
            "--listen takes an address such as 127.0.0.1:8080",
        );
    };
    if !addr.ip().is_loopback() {
        return misuse(
            "simulate",
            "the simulator listens on loopback addresses only",
        );
    }
    match crate::sim::run_blocking(addr, plan) {
        Ok(()) => 0,
        Err(e) => {
            complain(&format!(
                "simulate: could not serve on {addr}: {e}; pick another port with --listen\n"
            ));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_names_every_input_output_and_exit_code() {
        let text = full_help();
        let names = crate::config::input_names();
        for name in names {
            let variable = format!("MARKETPLACE_{}", name.to_ascii_uppercase());
            assert!(
                text.contains(&format!("    {variable} ")),
                "{variable} is not in the help"
            );
        }
        assert_eq!(INPUTS.len(), names.len());
        for output in Output::ALL {
            let name = output.name();
            assert!(text.contains(name), "output {name} is not in the help");
        }
        for (code, outcome) in [
            ("0 ", "preview-ready"),
            ("1 ", "failed"),
            ("2 ", "config-error"),
            ("3 ", "bad-request"),
            ("4 ", "not-found"),
            ("5 ", "invalid-offer"),
            ("6 ", "unauthorized"),
            ("7 ", "timed-out"),
            ("8 ", "error"),
            ("128+n", "interrupted"),
        ] {
            let line = text.lines().find(|l| l.trim_start().starts_with(code));
            assert!(
                line.is_some_and(|l| l.contains(outcome)),
                "exit {code}: {line:?}"
            );
        }
        assert!(text.contains("demo [SCENARIO]") && text.contains("simulate [--listen"));
    }
}
