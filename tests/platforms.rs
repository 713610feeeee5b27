//! The built binary as Azure DevOps, GitLab and a plain container step run it, against the simulated
//! portal, with what it wrote read back the way each platform reads it: the agent's parser for
//! `##vso[...]` logging commands, GitLab's dotenv report parser and log sections, and the one JSON line.
//! Each platform also gets the `injection` scenario, whose service text is full of forged commands.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use common::{github_env, run_bare, scratch_dir, set, Run};
use marketplace_publish::sim::{scenario, Simulator};
use serde_json::Value;

/// The token the simulated portal accepts.
const SIM_TOKEN: &str = "sim-token";

/// The contract's outputs, in its order: written out here rather than taken from the program, so that
/// a change to the program's list fails this test.
const OUTPUTS: [&str; 12] = [
    "outcome",
    "exit-code",
    "http-status",
    "operation-location",
    "operation-id",
    "operation-status",
    "failed-step",
    "error-code",
    "error-message",
    "elapsed-seconds",
    "product-id",
    "submission-id",
];

/// The outputs' names in JSON and on Azure DevOps: `_` for `-`.
fn snake_names() -> BTreeSet<String> {
    OUTPUTS.iter().map(|o| o.replace('-', "_")).collect()
}

/// Publish to a simulator serving `name`, with the fast polling of the GitHub tests, but as
/// `platform` (its variables) rather than as a GitHub step. Returns the run and the simulator's base URL.
fn publish(name: &str, platform: &[(&str, String)]) -> (Run, String) {
    let sim = Simulator::start_in_thread(scenario(name).expect("a known scenario"))
        .expect("the simulator starts");
    let base = sim.base_url();
    let mut env = github_env(&base);
    set(&mut env, "GITHUB_ACTIONS", "");
    set(&mut env, "MARKETPLACE_TOKEN", SIM_TOKEN);
    for (variable, value) in platform {
        set(&mut env, variable, value);
    }
    (run_bare(&env), base)
}

/// Lines as a CI agent reads them (.NET `ReadLine`): `\r`, `\n` and `\r\n` all end one.
fn agent_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split(['\n', '\r'])
}

/// Service text must never act as a command: no `##vso[` in any case (the agent finds it anywhere in a
/// line), save the one that starts each of our own `##vso[task.` lines when `ours` are expected, and no
/// line that GitHub's runner would read as a command.
fn assert_no_forged_commands(run: &Run, ours: bool) {
    for line in agent_lines(&run.stdout).chain(agent_lines(&run.stderr)) {
        let markers = line.to_ascii_lowercase().matches("##vso[").count();
        let expected = usize::from(ours && line.starts_with("##vso[task."));
        assert_eq!(markers, expected, "a forged logging command: {line:?}");
        assert!(
            !line.trim_start().starts_with("::"),
            "a forged workflow command: {line:?}"
        );
    }
}

// ----- Azure DevOps -----------------------------------------------------------------------------

/// One logging command as the agent's `Command.TryParse` reads it.
#[derive(Debug)]
struct Vso {
    /// `area.event`, e.g. `task.setvariable`.
    name: String,
    /// Property names compare without case in the agent, so they are kept in lower case.
    properties: BTreeMap<String, String>,
    data: String,
}

/// The agent's parse: the first `##vso[` in the line, its command info up to the next `]`, the name
/// up to the first space (`area.event`), `;`-separated `key=value` properties (empty keys or values
/// are dropped), and the rest of the line as data, all unescaped.
fn parse_vso(line: &str) -> Option<Vso> {
    const PREFIX: &str = "##vso[";
    let info_start = line.find(PREFIX)? + PREFIX.len();
    let info_end = info_start + line[info_start..].find(']')?;
    let info = &line[info_start..info_end];
    let (name, properties) = info.split_once(' ').unwrap_or((info, ""));
    if name.split('.').filter(|part| !part.is_empty()).count() != 2 {
        return None;
    }
    let properties = properties
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, value)| !key.is_empty() && !value.is_empty())
        .map(|(key, value)| (key.to_ascii_lowercase(), vso_unescape(value)))
        .collect();
    Some(Vso {
        name: name.to_string(),
        properties,
        data: vso_unescape(&line[info_end + 1..]),
    })
}

/// The agent's unescaping, `%AZP25` last so that an escaped `%` cannot start another escape.
fn vso_unescape(text: &str) -> String {
    [("%3B", ";"), ("%0D", "\r"), ("%0A", "\n"), ("%5D", "]")]
        .iter()
        .fold(text.to_string(), |text, (from, to)| text.replace(from, to))
        .replace("%AZP25", "%")
}

/// What an Azure DevOps step left behind, read as the agent reads it.
struct AzureRun {
    run: Run,
    base: String,
    commands: Vec<Vso>,
    /// Output variables (`task.setvariable ... isoutput=true`) by name.
    variables: BTreeMap<String, String>,
    /// The Markdown file named by `task.uploadsummary`.
    summary: String,
}

impl AzureRun {
    fn named(&self, name: &str) -> Vec<&Vso> {
        self.commands.iter().filter(|c| c.name == name).collect()
    }

    fn variable(&self, name: &str) -> &str {
        self.variables
            .get(name)
            .unwrap_or_else(|| panic!("no output variable {name}:\n{}", self.run.stdout))
    }
}

/// A publish against `name` as an Azure DevOps step, with what holds for every run checked on the
/// way: each output variable set once, one summary upload, nothing on stderr, the token masked first.
fn azure(name: &str) -> AzureRun {
    let dir = scratch_dir();
    let (run, base) = publish(
        name,
        &[
            ("TF_BUILD", "True".to_string()),
            ("AGENT_TEMPDIRECTORY", dir.display().to_string()),
        ],
    );
    let commands: Vec<Vso> = agent_lines(&run.stdout).filter_map(parse_vso).collect();
    let mut variables = BTreeMap::new();
    for command in commands.iter().filter(|c| c.name == "task.setvariable") {
        assert_eq!(
            command.properties.get("isoutput").map(String::as_str),
            Some("true")
        );
        let variable = command.properties["variable"].clone();
        let earlier = variables.insert(variable.clone(), command.data.clone());
        assert!(earlier.is_none(), "{variable} is set twice");
    }
    let uploads: Vec<&Vso> = commands
        .iter()
        .filter(|c| c.name == "task.uploadsummary")
        .collect();
    assert_eq!(uploads.len(), 1, "one summary upload:\n{}", run.stdout);
    let summary_path = PathBuf::from(&uploads[0].data);
    assert!(
        summary_path.starts_with(&dir),
        "{summary_path:?} is in the agent's temp directory"
    );
    assert_eq!(
        summary_path.extension().and_then(|e| e.to_str()),
        Some("md")
    );
    let summary = std::fs::read_to_string(&summary_path).expect("the uploaded summary exists");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        run.stderr.is_empty(),
        "stderr, which fails a task with failOnStderr:\n{}",
        run.stderr
    );
    assert_secret_masked_first(&run, &summary);
    AzureRun {
        run,
        base,
        commands,
        variables,
        summary,
    }
}

/// `task.setsecret` with the token comes before any other line, and the token shows nowhere else.
fn assert_secret_masked_first(run: &Run, summary: &str) {
    let first = run.stdout.lines().next().and_then(parse_vso);
    let first = first.expect("a logging command first");
    assert_eq!(
        (first.name.as_str(), first.data.as_str()),
        ("task.setsecret", SIM_TOKEN)
    );
    run.assert_never_shows(SIM_TOKEN);
    assert!(!summary.contains(SIM_TOKEN), "{summary}");
}

/// Every output and nothing else, under its Azure DevOps name.
fn assert_all_outputs(ado: &AzureRun) {
    let names: BTreeSet<String> = ado.variables.keys().cloned().collect();
    assert_eq!(names, snake_names(), "{}", ado.run.stdout);
}

#[test]
fn azure_devops_reads_every_output_variable_and_the_summary() {
    let ado = azure("happy");
    assert_eq!(ado.run.code, 0, "{}", ado.run.stdout);
    assert_all_outputs(&ado);
    assert_eq!(ado.variable("outcome"), "succeeded");
    assert_eq!(ado.variable("exit_code"), "0");
    assert_eq!(ado.variable("http_status"), "202");
    let location = ado.variable("operation_location");
    assert!(
        location.starts_with(&format!("{}/api/", ado.base)),
        "{location}"
    );
    assert!(!ado.variable("operation_id").is_empty());
    assert!(!ado.variable("operation_status").is_empty());
    assert_eq!(ado.variable("error_message"), "");
    assert!(ado.variable("elapsed_seconds").parse::<u64>().is_ok());
    assert!(ado.named("task.logissue").is_empty(), "{}", ado.run.stdout);
    assert!(ado.named("task.complete").is_empty(), "{}", ado.run.stdout);
    assert!(ado.summary.starts_with("## "), "{}", ado.summary);
    assert!(ado.summary.contains("contoso-offer"), "{}", ado.summary);
    assert!(ado.summary.contains("succeeded"), "{}", ado.summary);
}

#[test]
fn azure_devops_sees_an_error_issue_and_a_failed_task() {
    for (name, code, http) in [("failed", 1, None), ("not-found", 4, Some("404"))] {
        let ado = azure(name);
        assert_eq!(ado.run.code, code, "{name}: {}", ado.run.stdout);
        assert_all_outputs(&ado);
        assert_eq!(ado.variable("outcome"), name);
        assert_eq!(ado.variable("exit_code"), code.to_string());
        let message = ado.variable("error_message");
        assert!(!message.is_empty(), "{name}");
        let errors: Vec<&Vso> = ado
            .named("task.logissue")
            .into_iter()
            .filter(|c| c.properties.get("type").map(String::as_str) == Some("error"))
            .collect();
        assert!(!errors.is_empty(), "{name}: {}", ado.run.stdout);
        let last_error = &errors[errors.len() - 1].data;
        assert!(last_error.contains(message), "{name}: {last_error}");
        if let Some(http) = http {
            assert_eq!(ado.variable("http_status"), http);
            assert!(last_error.contains(&format!("HTTP {http}")), "{last_error}");
        }
        let last = ado.commands.last().expect("commands");
        assert_eq!(last.name, "task.complete", "{name}: {}", ado.run.stdout);
        assert_eq!(
            last.properties.get("result").map(String::as_str),
            Some("Failed")
        );
        assert!(ado.summary.contains("❌"), "{}", ado.summary);
    }
}

#[test]
fn azure_devops_runs_no_command_from_service_text() {
    let ado = azure("injection");
    assert_eq!(ado.run.code, 1, "{}", ado.run.stdout);
    assert_eq!(ado.variable("outcome"), "failed");
    let ours = [
        "task.setsecret",
        "task.setvariable",
        "task.logissue",
        "task.uploadsummary",
        "task.complete",
    ];
    for command in &ado.commands {
        assert!(ours.contains(&command.name.as_str()), "{command:?}");
    }
    assert_all_outputs(&ado);
    assert_no_forged_commands(&ado.run, true);
    for line in agent_lines(&ado.run.stdout) {
        let formatting = line.starts_with("##[group]") || line.starts_with("##[endgroup]");
        assert!(
            formatting || !line.contains("##["),
            "a forged formatting command: {line:?}"
        );
    }
}

// ----- GitLab -----------------------------------------------------------------------------------

/// GitLab's `ParseDotenvArtifactService`: the file under 5 KB, at most 20 variables, each line
/// `KEY=VALUE` (both stripped); the job variable's key must be `[A-Za-z0-9_]+`.
fn parse_dotenv(text: &str) -> BTreeMap<String, String> {
    assert!(
        text.len() < 5 * 1024,
        "{} bytes is over GitLab's limit",
        text.len()
    );
    let mut variables = BTreeMap::new();
    for line in text.lines() {
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("GitLab rejects the line {line:?}"));
        let key = key.trim();
        assert!(
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "GitLab rejects the key {key:?}"
        );
        variables.insert(key.to_string(), value.trim().to_string());
    }
    assert!(variables.len() <= 20, "GitLab takes at most 20 variables");
    variables
}

/// Collapsible sections as GitLab's log renders them: every `section_start:TIME:NAME` closed by a
/// `section_end:TIME:NAME` of the same name, innermost first, not before it started.
fn assert_sections_balanced(log: &str) -> usize {
    let marker = |line: &str, kind: &str| -> Option<(u64, String)> {
        let rest = line.strip_prefix(&format!("\x1b[0K{kind}:"))?;
        let (time, rest) = rest.split_once(':')?;
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            .collect();
        Some((time.parse().ok()?, name))
    };
    let mut open: Vec<(u64, String)> = Vec::new();
    let mut sections = 0;
    for line in log.lines() {
        let has_marker = line.contains("section_start:") || line.contains("section_end:");
        assert!(
            !has_marker || line.starts_with("\x1b[0Ksection_"),
            "a section marker inside a line: {line:?}"
        );
        if let Some(start) = marker(line, "section_start") {
            open.push(start);
            sections += 1;
        } else if let Some((time, name)) = marker(line, "section_end") {
            let (started, opened) = open.pop().expect("a section_end with no open section");
            assert_eq!(name, opened);
            assert!(time >= started);
        }
    }
    assert!(open.is_empty(), "sections left open: {open:?}");
    sections
}

/// What a GitLab job left behind: the run and its dotenv report, parsed.
fn gitlab(name: &str) -> (Run, BTreeMap<String, String>, String) {
    let dir = scratch_dir();
    let dotenv_file = dir.join("marketplace.env");
    let (run, base) = publish(
        name,
        &[
            ("GITLAB_CI", "true".to_string()),
            ("MARKETPLACE_DOTENV_FILE", dotenv_file.display().to_string()),
        ],
    );
    let text = std::fs::read_to_string(&dotenv_file).expect("the dotenv report is written");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!text.contains(SIM_TOKEN), "{text}");
    run.assert_never_shows(SIM_TOKEN);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert!(assert_sections_balanced(&run.stdout) > 0, "{}", run.stdout);
    let variables = parse_dotenv(&text);
    let keys: Vec<String> = OUTPUTS
        .iter()
        .map(|o| format!("MARKETPLACE_{}", o.to_ascii_uppercase().replace('-', "_")))
        .collect();
    assert!(
        keys.iter().all(|k| variables.contains_key(k)),
        "{variables:?}"
    );
    assert_eq!(variables.len(), keys.len());
    (run, variables, base)
}

#[test]
fn gitlab_reads_the_dotenv_report_and_balanced_sections() {
    let (run, env, base) = gitlab("happy");
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(env["MARKETPLACE_OUTCOME"], "succeeded");
    assert_eq!(env["MARKETPLACE_EXIT_CODE"], "0");
    assert_eq!(env["MARKETPLACE_HTTP_STATUS"], "202");
    assert!(env["MARKETPLACE_OPERATION_LOCATION"].starts_with(&format!("{base}/api/")));
    assert!(!env["MARKETPLACE_OPERATION_ID"].is_empty());
    assert_eq!(env["MARKETPLACE_ERROR_MESSAGE"], "");
}

#[test]
fn gitlab_reads_a_failure() {
    let (run, env, _) = gitlab("failed");
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(env["MARKETPLACE_OUTCOME"], "failed");
    assert_eq!(env["MARKETPLACE_EXIT_CODE"], "1");
    assert!(!env["MARKETPLACE_FAILED_STEP"].is_empty());
    assert!(!env["MARKETPLACE_ERROR_MESSAGE"].is_empty());
    assert!(run.stdout.contains("ERROR:"), "{}", run.stdout);
}

#[test]
fn gitlab_runs_no_command_from_service_text() {
    let (run, env, _) = gitlab("injection");
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(env["MARKETPLACE_OUTCOME"], "failed");
    assert_no_forged_commands(&run, false);
}

// ----- plain (a container step, any other CI) ---------------------------------------------------

/// A plain run: the log on stderr, and on stdout exactly one JSON line, the same as the result file.
fn plain(name: &str) -> (Run, Value) {
    let dir = scratch_dir();
    let result_file = dir.join("result.json");
    let (run, _) = publish(
        name,
        &[
            ("MARKETPLACE_CI", "plain".to_string()),
            ("MARKETPLACE_RESULT_FILE", result_file.display().to_string()),
        ],
    );
    let file = std::fs::read_to_string(&result_file).expect("the result file is written");
    let _ = std::fs::remove_dir_all(&dir);
    run.assert_never_shows(SIM_TOKEN);
    assert!(!file.contains(SIM_TOKEN));
    assert_eq!(
        run.stdout.lines().count(),
        1,
        "one line on stdout:\n{}",
        run.stdout
    );
    let line: Value = serde_json::from_str(&run.stdout).expect("stdout is one JSON value");
    let file: Value = serde_json::from_str(&file).expect("the result file is JSON");
    assert_eq!(line, file);
    let keys: BTreeSet<String> = line
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, snake_names(), "{line}");
    assert!(!run.stderr.is_empty(), "a human log on stderr");
    (run, line)
}

#[test]
fn plain_prints_one_json_line_equal_to_the_result_file() {
    let (run, json) = plain("happy");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(json["outcome"], "succeeded");
    assert_eq!(json["exit_code"], 0);
    assert_eq!(json["http_status"], 202);
    assert!(json["elapsed_seconds"].is_u64());
    assert!(run.stderr.contains("succeeded"), "{}", run.stderr);
}

#[test]
fn plain_reports_a_failure_in_both_streams() {
    let (run, json) = plain("not-found");
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(json["outcome"], "not-found");
    assert_eq!(json["http_status"], 404);
    assert!(run.stderr.contains("error: "), "{}", run.stderr);
}

#[test]
fn plain_runs_no_command_from_service_text() {
    let (run, json) = plain("injection");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(json["outcome"], "failed");
    assert_no_forged_commands(&run, false);
}

/// Every input of the action reaches the program as the contract's variable of the same name, in
/// kebab case, and nothing else is passed under the prefix but the CI choice.
#[test]
fn the_actions_inputs_are_the_programs_variables() {
    let action =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/action.yml")).unwrap();
    let (inputs_part, rest) = action.split_once("\noutputs:").unwrap();
    let declared: BTreeSet<String> = inputs_part
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.strip_suffix(':'))
        .filter(|name| !name.starts_with(' ') && !name.contains(' '))
        .map(str::to_string)
        .collect();
    let mut passed = BTreeSet::new();
    for line in rest.lines().map(str::trim) {
        let Some((variable, value)) = line.split_once(": ${{ inputs.") else {
            continue;
        };
        let input = value.trim_end_matches(" }}");
        let expected = format!(
            "MARKETPLACE_{}",
            input.to_ascii_uppercase().replace('-', "_")
        );
        assert_eq!(variable, expected, "{line}");
        passed.insert(input.to_string());
    }
    assert_eq!(declared, passed);
    assert!(declared.contains("configure-file") && declared.contains("api"));
}
