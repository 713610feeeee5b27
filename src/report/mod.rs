//! Telling the CI what happened: one writer per CI (GitHub, Azure DevOps, GitLab, plain) behind the
//! [`Reporter`] handle that the rest of the program uses.
//!
//! The handle redacts every registered secret from all text before a writer sees it (a secret too short
//! to be real only where it stands as a word of its own, so that a placeholder cannot garble the log);
//! each writer then escapes text for its CI so that nothing from the service can become a workflow
//! command.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::outcome::RunResult;

/// A secret shorter than this (in characters) is no real token, secret or assertion, all of which are
/// dozens of characters: it is taken for a placeholder such as `MARKETPLACE_TOKEN=t`.
const PLACEHOLDER_CHARS: usize = 8;

mod azure;
pub mod escape;
mod github;
mod gitlab;
mod plain;
pub mod summary;
#[cfg(test)]
pub(crate) mod test_support;

use azure::AzureWriter;
use github::GitHubWriter;
use gitlab::GitLabWriter;
use plain::PlainWriter;

/// Which CI the run reports to, with the files that CI hands us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiTarget {
    /// `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`, and `RUNNER_DEBUG=1`.
    GitHub {
        output: Option<PathBuf>,
        summary: Option<PathBuf>,
        debug: bool,
    },
    /// `AGENT_TEMPDIRECTORY` (where the Markdown summary is written before upload) and `SYSTEM_DEBUG=true`.
    AzureDevOps {
        temp_dir: Option<PathBuf>,
        debug: bool,
    },
    /// The dotenv file for `artifacts:reports:dotenv` (`MARKETPLACE_DOTENV_FILE`), and `CI_DEBUG_TRACE=true`.
    GitLab {
        dotenv: Option<PathBuf>,
        debug: bool,
    },
    Plain {
        debug: bool,
    },
}

/// How important a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
}

/// One CI's way of printing. Text arguments are already redacted but otherwise untrusted: the writer escapes them.
pub trait CiWriter: Send {
    /// Ask the CI to hide `secret` in its logs. Called before the secret is used.
    fn mask(&mut self, secret: &str) -> io::Result<()>;
    /// A log line; `Warning` and `Error` become annotations where the CI has them, with `title`.
    fn log(&mut self, level: Level, title: &str, text: &str) -> io::Result<()>;
    fn group_start(&mut self, title: &str) -> io::Result<()>;
    fn group_end(&mut self) -> io::Result<()>;
    /// Outputs, the closing annotation, the summary: everything written once at the end. Returns the
    /// files the CI reads that could not be written; a line the log could not take is not among them,
    /// as there is nowhere left to tell of it.
    fn finish(&mut self, result: &RunResult) -> Vec<Unwritten>;
}

/// A file the CI reads after the step that could not be written: which one, where, and why.
#[derive(Debug)]
pub struct Unwritten {
    /// The variable that names the file (`GITHUB_OUTPUT`), or what the file is.
    pub file: &'static str,
    pub path: PathBuf,
    pub error: io::Error,
}

impl Unwritten {
    fn of(file: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Unwritten {
        let path = path.to_path_buf();
        move |error| Unwritten { file, path, error }
    }

    /// The warning's title: which file.
    pub fn title(&self) -> String {
        format!("could not write {}", self.file)
    }

    /// The warning's text: where, why, and what to do.
    pub fn detail(&self) -> String {
        format!(
            "{}: {}; later steps will not see what it holds: check that the path exists and that \
             this step may write it",
            self.path.display(),
            self.error
        )
    }
}

struct Inner {
    writer: Box<dyn CiWriter>,
    secrets: Vec<String>,
    debug: bool,
}

/// A cheap-to-clone handle to the run's CI writer. Write failures are ignored on purpose: a broken
/// pipe on stdout must not stop a publish.
#[derive(Clone)]
pub struct Reporter {
    inner: Arc<Mutex<Inner>>,
}

impl Reporter {
    /// The handle for `target`, with that CI's writer; only the plain writer uses `stderr`.
    pub fn new(
        target: &CiTarget,
        stdout: Box<dyn Write + Send>,
        stderr: Box<dyn Write + Send>,
    ) -> Reporter {
        // CI writers put everything on stdout: two pipes interleave unpredictably (a line could land
        // outside its group), and Azure DevOps can fail a task for any stderr output.
        let (writer, debug): (Box<dyn CiWriter>, bool) = match target {
            CiTarget::GitHub {
                output,
                summary,
                debug,
            } => (
                Box::new(GitHubWriter::new(stdout, output.clone(), summary.clone())),
                *debug,
            ),
            CiTarget::AzureDevOps { temp_dir, debug } => {
                (Box::new(AzureWriter::new(stdout, temp_dir.clone())), *debug)
            }
            CiTarget::GitLab { dotenv, debug } => {
                (Box::new(GitLabWriter::new(stdout, dotenv.clone())), *debug)
            }
            CiTarget::Plain { debug } => (Box::new(PlainWriter::new(stdout, stderr)), *debug),
        };
        Reporter {
            inner: Arc::new(Mutex::new(Inner {
                writer,
                secrets: Vec::new(),
                debug,
            })),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut inner)
    }

    /// Register a secret: the CI is told to mask it, and it is redacted from everything written after.
    pub fn mask(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        self.with(|inner| {
            if !inner.secrets.iter().any(|s| s == secret) {
                inner.secrets.push(secret.to_string());
                let _ = inner.writer.mask(secret);
            }
        });
    }

    /// Register the secret held by the input variable `name`, and warn when it is too short to be real:
    /// such a value is a placeholder, and is masked only where it stands as a word of its own.
    pub fn mask_input(&self, name: &str, value: &str) {
        self.mask(value);
        let length = value.chars().count();
        if (1..PLACEHOLDER_CHARS).contains(&length) {
            self.warning(
                &format!("{name} looks like a placeholder"),
                &format!(
                    "{name} is {length} characters long, too short for a real credential: it is \
                     probably a placeholder. It is masked only where it stands as a word of its own, \
                     so that the log stays readable"
                ),
            );
        }
    }

    /// Detail shown only when the CI's debug mode is on.
    pub fn debug(&self, text: &str) {
        self.log(Level::Debug, "", text);
    }

    /// A plain progress line.
    pub fn info(&self, text: &str) {
        self.log(Level::Info, "", text);
    }

    /// Something worth a look that does not fail the run; an annotation where the CI has them.
    pub fn warning(&self, title: &str, text: &str) {
        self.log(Level::Warning, title, text);
    }

    /// Something that fails the run; an annotation where the CI has them.
    pub fn error(&self, title: &str, text: &str) {
        self.log(Level::Error, title, text);
    }

    fn log(&self, level: Level, title: &str, text: &str) {
        self.with(|inner| {
            if level == Level::Debug && !inner.debug {
                return;
            }
            let title = redact(&inner.secrets, title);
            let text = redact(&inner.secrets, text);
            let _ = inner.writer.log(level, &title, &text);
        });
    }

    /// Open a collapsible group of log lines.
    pub fn group_start(&self, title: &str) {
        self.with(|inner| {
            let title = redact(&inner.secrets, title);
            let _ = inner.writer.group_start(&title);
        });
    }

    /// Close the innermost open group.
    pub fn group_end(&self) {
        self.with(|inner| {
            let _ = inner.writer.group_end();
        });
    }

    /// Write the closing outputs, annotation and summary; returns the files that could not be written.
    pub fn finish(&self, result: &RunResult) -> Vec<Unwritten> {
        self.with(|inner| {
            let result = redact_result(&inner.secrets, result);
            inner.writer.finish(&result)
        })
    }

    /// Write the JSON result to `path` (`MARKETPLACE_RESULT_FILE`).
    pub fn write_result_file(&self, path: &Path, result: &RunResult) -> io::Result<()> {
        let json = self.with(|inner| redact_result(&inner.secrets, result).to_json());
        std::fs::write(path, format!("{json}\n"))
    }
}

/// The plain-text prefix for a level, where no annotation is written.
fn level_prefix(level: Level) -> &'static str {
    match level {
        Level::Debug => "debug: ",
        Level::Info => "",
        Level::Warning => "warning: ",
        Level::Error => "error: ",
    }
}

/// `title: text`, or just the text when there is no title.
fn titled(title: &str, text: &str) -> String {
    if title.is_empty() {
        text.to_string()
    } else {
        format!("{title}: {text}")
    }
}

/// Print one line the writer composed itself (a command whose untrusted parts are already escaped),
/// flushed at once so that it keeps its place among the lines of other processes.
fn emit(out: &mut dyn Write, line: &str) -> io::Result<()> {
    writeln!(out, "{line}")?;
    out.flush()
}

/// Print untrusted text as neutralized lines, each after `prefix`.
fn write_lines(out: &mut dyn Write, prefix: &str, text: &str) -> io::Result<()> {
    for line in escape::neutralize(text).split('\n') {
        emit(out, &format!("{prefix}{line}"))?;
    }
    Ok(())
}

/// Append to a file the CI reads after the step (outputs, step summary), creating it if needed.
fn append_to(path: &Path, text: &str) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// The longest prefix of `text` within `max_bytes` that ends on a character boundary.
fn truncate_to(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The closing annotation's title: tool, command, outcome and HTTP status, so it reads on its own
/// in the CI's list of annotations.
fn closing_title(result: &RunResult) -> String {
    let mut title = String::from("marketplace-publish");
    if let Some(command) = &result.command {
        title = format!("{title} {command}");
    }
    format!("{title}: {}", result.outcome.as_str())
}

/// The closing message: the headline (status or failed step, the service's message, code, hint),
/// never empty.
fn closing_text(result: &RunResult) -> String {
    let headline = result.headline();
    if headline.trim().is_empty() {
        result.outcome.as_str().to_string()
    } else {
        headline
    }
}

/// The closing line for logs without annotations: title and message together.
fn closing_line(result: &RunResult) -> String {
    titled(&closing_title(result), &closing_text(result))
}

/// Replace every registered secret in `text` with `***`.
fn redact(secrets: &[String], text: &str) -> String {
    secrets
        .iter()
        .fold(text.to_string(), |text, secret| mask_in(&text, secret))
}

/// `text` with `secret` replaced by `***`: wherever it occurs when it is long enough to be real, else
/// only where it is not run into a longer word (the placeholder `t` stays in `input`).
fn mask_in(text: &str, secret: &str) -> String {
    if !text.contains(secret) {
        return text.to_string();
    }
    if secret.chars().count() >= PLACEHOLDER_CHARS {
        return text.replace(secret, "***");
    }
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let joins = |outside: Option<char>, edge: Option<char>| {
        outside.is_some_and(is_word) && edge.is_some_and(is_word)
    };
    let mut masked = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, _) in text.match_indices(secret) {
        let end = at + secret.len();
        let before = text[..at].chars().next_back();
        let after = text[end..].chars().next();
        if joins(before, secret.chars().next()) || joins(after, secret.chars().next_back()) {
            continue;
        }
        masked.push_str(&text[copied..at]);
        masked.push_str("***");
        copied = end;
    }
    masked.push_str(&text[copied..]);
    masked
}

fn redact_result(secrets: &[String], result: &RunResult) -> RunResult {
    let mut result = result.clone();
    for field in [
        &mut result.operation_location,
        &mut result.operation_id,
        &mut result.operation_status,
        &mut result.failed_step,
        &mut result.error_code,
        &mut result.error_message,
        &mut result.error_context,
        &mut result.hint,
        &mut result.product_id,
        &mut result.submission_id,
    ]
    .into_iter()
    .flatten()
    {
        *field = redact(secrets, field);
    }
    for note in &mut result.notes {
        *note = redact(secrets, note);
    }
    for step in &mut result.steps {
        if let Some(description) = &mut step.description {
            *description = redact(secrets, description);
        }
        for (_, text) in &mut step.messages {
            *text = redact(secrets, text);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::{failed_result, SharedBuf, TempPath};

    const SECRET: &str = "s3cr3t-T0ken";

    /// A target of each kind with all its files under `dir`, and debug output on.
    fn targets(dir: &Path) -> Vec<CiTarget> {
        vec![
            CiTarget::GitHub {
                output: Some(dir.join("output")),
                summary: Some(dir.join("summary.md")),
                debug: true,
            },
            CiTarget::AzureDevOps {
                temp_dir: Some(dir.to_path_buf()),
                debug: true,
            },
            CiTarget::GitLab {
                dotenv: Some(dir.join("job.env")),
                debug: true,
            },
            CiTarget::Plain { debug: true },
        ]
    }

    /// Every file the writers left in `dir`, concatenated.
    fn files_in(dir: &Path) -> String {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
            .collect()
    }

    #[test]
    fn secrets_appear_only_in_the_mask_command() {
        let mask_commands = ["::add-mask::", "##vso[task.setsecret]"];
        for index in 0..4 {
            let dir = TempPath::dir("redaction");
            let target = targets(&dir.path()).swap_remove(index);
            let (out, err) = (SharedBuf::default(), SharedBuf::default());
            let reporter = Reporter::new(&target, out.boxed(), err.boxed());
            reporter.mask(SECRET);
            reporter.group_start(&format!("group {SECRET}"));
            reporter.debug(&format!("debug {SECRET}"));
            reporter.info(&format!("info {SECRET}\nline two {SECRET}"));
            reporter.warning(&format!("title {SECRET}"), &format!("warning {SECRET}"));
            reporter.error("title", &format!("error {SECRET}"));
            reporter.group_end();
            let mut result = failed_result(SECRET);
            result.operation_location = Some(format!("https://x/{SECRET}"));
            result.hint = Some(SECRET.to_string());
            assert!(reporter.finish(&result).is_empty());
            reporter
                .write_result_file(&dir.path().join("result.json"), &result)
                .unwrap();

            let stdout = out.text();
            let (masks, rest): (Vec<&str>, Vec<&str>) = stdout
                .lines()
                .partition(|l| mask_commands.iter().any(|m| l.starts_with(m)));
            assert!(masks.len() <= 1, "{target:?}");
            if let Some(mask) = masks.first() {
                assert!(stdout.starts_with(mask), "mask comes first in {target:?}");
            }
            for (place, text) in [
                ("stdout", rest.join("\n")),
                ("stderr", err.text()),
                ("files", files_in(&dir.path())),
            ] {
                assert!(!text.contains(SECRET), "{place} of {target:?}:\n{text}");
                let redacted = text.is_empty() || text.contains("***");
                assert!(redacted, "{place} of {target:?} shows the redaction");
            }
        }
    }

    #[test]
    fn a_placeholder_is_masked_as_a_whole_word_and_warned_about() {
        let err = SharedBuf::default();
        let reporter = Reporter::new(
            &CiTarget::Plain { debug: false },
            SharedBuf::default().boxed(),
            err.boxed(),
        );
        reporter.mask_input("MARKETPLACE_TOKEN", "t");
        reporter.info("invalid input: t, (t) and 't' but not tt or t_1");
        let log = err.text();
        let lines: Vec<&str> = log.lines().collect();
        assert!(
            lines[0].starts_with(
                "warning: MARKETPLACE_TOKEN looks like a placeholder: MARKETPLACE_TOKEN is 1 \
                 characters long"
            ),
            "{log}"
        );
        assert_eq!(
            lines[1],
            "invalid input: ***, (***) and '***' but not tt or t_1"
        );
    }

    #[test]
    fn a_real_secret_is_masked_even_inside_a_word() {
        let err = SharedBuf::default();
        let reporter = Reporter::new(
            &CiTarget::Plain { debug: false },
            SharedBuf::default().boxed(),
            err.boxed(),
        );
        reporter.mask_input("MARKETPLACE_TOKEN", SECRET);
        reporter.info(&format!("Bearer{SECRET}x and {SECRET}"));
        assert_eq!(err.text(), "Bearer***x and ***\n");
    }

    #[test]
    fn debug_lines_only_when_asked() {
        let err = SharedBuf::default();
        let reporter = Reporter::new(
            &CiTarget::Plain { debug: false },
            SharedBuf::default().boxed(),
            err.boxed(),
        );
        reporter.debug("hidden");
        reporter.info("shown");
        assert_eq!(err.text(), "shown\n");
    }
}
