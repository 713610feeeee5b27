//! Running the built binary as a pipeline would: environment in; exit code, stdout, stderr, the
//! GitHub outputs file, the step summary and the JSON result out. A watchdog kills a run that hangs.

#![allow(dead_code)] // each test crate uses its own part of this file

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The token every test run uses; it must never appear in anything the program writes.
pub const TOKEN: &str = "test-token-3f9a1c77e2";

/// The longest one run may take: every case ends in seconds, so a run still going then has hung.
pub const WATCHDOG: Duration = Duration::from_secs(20);

/// The workflow commands the program itself writes on GitHub; any other line starting with `::` is forged.
const OUR_COMMANDS: [&str; 8] = [
    "::add-mask::",
    "::error ",
    "::error::",
    "::warning ",
    "::notice ",
    "::group::",
    "::endgroup::",
    "::debug::",
];

/// What one run of the binary left behind.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub outputs: BTreeMap<String, String>,
    pub summary: String,
    pub result: Value,
}

impl Run {
    pub fn output(&self, name: &str) -> &str {
        self.outputs
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| {
                panic!(
                    "no output {name}; outputs: {:?}\nstdout:\n{}",
                    self.outputs, self.stdout
                )
            })
    }

    /// Everything the program wrote, for searching.
    pub fn everything(&self) -> String {
        format!(
            "{}\n{}\n{:?}\n{}\n{}",
            self.stdout, self.stderr, self.outputs, self.summary, self.result
        )
    }

    /// Assert `secret` appears nowhere, except in the mask command issued for it.
    pub fn assert_never_shows(&self, secret: &str) {
        let without_masks: String = self
            .everything()
            .lines()
            .filter(|l| !l.starts_with("::add-mask::") && !l.starts_with("##vso[task.setsecret]"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            !without_masks.contains(secret),
            "the secret leaked:\n{without_masks}"
        );
    }

    /// Assert that no line of stdout or stderr is a workflow command the program did not mean to write,
    /// and that no Azure DevOps command appears anywhere (its agent spots `##vso[` mid-line).
    pub fn assert_no_forged_commands(&self) {
        for line in self.stdout.lines().chain(self.stderr.lines()) {
            let trimmed = line.trim_start();
            assert!(
                !trimmed.starts_with("::") || OUR_COMMANDS.iter().any(|c| trimmed.starts_with(c)),
                "forged command: {line}"
            );
            assert!(!line.contains("##vso["), "forged command: {line}");
            assert!(!line.contains("##["), "forged command: {line}");
        }
    }
}

/// A fresh directory for one run's files; the caller removes it.
pub fn scratch_dir() -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "marketplace-publish-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The variables of a publish against `api_base` with fast polling, as a GitHub step would set them.
pub fn github_env(api_base: &str) -> Vec<(String, String)> {
    [
        ("GITHUB_ACTIONS", "true"),
        ("MARKETPLACE_PUBLISHER_ID", "contoso"),
        ("MARKETPLACE_OFFER_ID", "contoso-offer"),
        ("MARKETPLACE_TOKEN", TOKEN),
        ("MARKETPLACE_API_BASE", api_base),
        ("MARKETPLACE_POLL_INTERVAL", "10ms"),
        ("MARKETPLACE_POLL_MAX_INTERVAL", "40ms"),
        ("MARKETPLACE_TIMEOUT", "30s"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Set `name` in `env`, replacing an earlier value; an empty value removes it.
pub fn set(env: &mut Vec<(String, String)>, name: &str, value: &str) {
    env.retain(|(k, _)| k != name);
    if !value.is_empty() {
        env.push((name.to_string(), value.to_string()));
    }
}

/// Run the binary with exactly `env` (plus the output files of a GitHub step) and collect what it wrote.
pub fn run(env: &[(String, String)]) -> Run {
    spawn(env).finish()
}

/// A run of the binary still going, for tests that act on it meanwhile (signals, say).
pub struct Pending {
    pub child: std::process::Child,
    dir: PathBuf,
}

/// Start the binary with exactly `env` plus the output files of a GitHub step.
pub fn spawn(env: &[(String, String)]) -> Pending {
    let dir = scratch_dir();
    std::fs::write(dir.join("github_output"), "").unwrap();
    std::fs::write(dir.join("step_summary"), "").unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_marketplace-publish"));
    command
        .env_clear()
        .env("GITHUB_OUTPUT", dir.join("github_output"))
        .env("GITHUB_STEP_SUMMARY", dir.join("step_summary"))
        .env("MARKETPLACE_RESULT_FILE", dir.join("result.json"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A process group of its own, so that a test can send Ctrl-Break to this run and not to itself.
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        command.creation_flags(CREATE_NEW_PROCESS_GROUP);
    }
    let child = command.spawn().expect("the binary runs");
    Pending { child, dir }
}

impl Pending {
    /// Wait for the binary to end (killing it and failing after [`WATCHDOG`]) and collect what it wrote.
    pub fn finish(self) -> Run {
        self.finish_within(WATCHDOG)
    }

    /// Like [`Pending::finish`], for a run promised to end sooner than [`WATCHDOG`].
    pub fn finish_within(self, limit: Duration) -> Run {
        let out = output_within(self.child, limit);
        let outputs =
            parse_github_output(&std::fs::read_to_string(self.dir.join("github_output")).unwrap());
        let summary = std::fs::read_to_string(self.dir.join("step_summary")).unwrap();
        let result = std::fs::read_to_string(self.dir.join("result.json"))
            .map(|text| serde_json::from_str(&text).expect("the result file is JSON"))
            .unwrap_or(Value::Null);
        let _ = std::fs::remove_dir_all(&self.dir);
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            outputs,
            summary,
            result,
        }
    }
}

/// Like [`std::process::Child::wait_with_output`], but kills the child and fails the test once `limit`
/// has passed. A pipe the caller took (or closed) reads as empty.
pub fn output_within(mut child: std::process::Child, limit: Duration) -> std::process::Output {
    // Pipes are drained on their own threads so that a chatty child never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
            panic!("the run hung: killed after {limit:?}\nstderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    std::process::Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Read `$GITHUB_OUTPUT` as the runner does: `name=value` lines and `name<<DELIMITER` blocks.
pub fn parse_github_output(text: &str) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for next in lines.by_ref() {
                if next == delimiter {
                    break;
                }
                value.push(next);
            }
            outputs.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.insert(name.to_string(), value.to_string());
        }
    }
    outputs
}

/// Run the binary with exactly `env` and none of a GitHub step's files, for the other platforms: the
/// caller names their files in `env` and reads them back itself, so `outputs`, `summary` and `result`
/// stay empty.
pub fn run_bare(env: &[(String, String)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_marketplace-publish"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("the binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        outputs: BTreeMap::new(),
        summary: String::new(),
        result: Value::Null,
    }
}

/// Sends `signal` (`TERM`, `INT`, `KILL`) to `pid` with kill(1); true when a process got it.
#[cfg(unix)]
pub fn send_signal(signal: &str, pid: u32) -> bool {
    Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .expect("kill(1) runs")
        .success()
}
