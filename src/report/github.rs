//! GitHub Actions writer: workflow commands on stdout (`::add-mask::`, `::warning`/`::error`
//! annotations, `::group::`), outputs appended to `$GITHUB_OUTPUT`, and the Markdown summary appended
//! to `$GITHUB_STEP_SUMMARY`.

use std::io::{self, Write};
use std::path::PathBuf;

use super::escape::{github_data, github_property, heredoc_delimiter, neutralize, one_line};
use super::{
    append_to, closing_text, closing_title, emit, level_prefix, summary, titled, write_lines,
    CiWriter, Level, Unwritten,
};
use crate::outcome::RunResult;

/// GitHub shows at most this many annotations of one kind per step; later ones are lost.
const SHOWN_PER_KIND: usize = 10;

/// Writes for a GitHub Actions step.
pub struct GitHubWriter {
    out: Box<dyn Write + Send>,
    output: Option<PathBuf>,
    summary: Option<PathBuf>,
    budget: AnnotationBudget,
}

impl GitHubWriter {
    /// A writer printing to `out`, with the step's `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY` files.
    pub fn new(
        out: Box<dyn Write + Send>,
        output: Option<PathBuf>,
        summary: Option<PathBuf>,
    ) -> GitHubWriter {
        GitHubWriter {
            out,
            output,
            summary,
            budget: AnnotationBudget::default(),
        }
    }

    /// One workflow command; `title` (when given) as an escaped property, `text` as escaped data.
    fn command(&mut self, kind: &str, title: &str, text: &str) -> io::Result<()> {
        let properties = if title.is_empty() {
            String::new()
        } else {
            format!(" title={}", github_property(&one_line(title)))
        };
        let data = github_data(&neutralize(text));
        emit(&mut self.out, &format!("::{kind}{properties}::{data}"))
    }

    fn write_outputs(&self, result: &RunResult) -> Result<(), Unwritten> {
        let Some(path) = &self.output else {
            return Ok(());
        };
        let entries: io::Result<String> = result
            .outputs()
            .iter()
            .map(|(name, value)| output_entry(name.name(), value))
            .collect();
        entries
            .and_then(|text| append_to(path, &text))
            .map_err(Unwritten::of("GITHUB_OUTPUT", path))
    }

    fn write_summary(&self, result: &RunResult) -> Result<(), Unwritten> {
        match &self.summary {
            Some(path) => append_to(path, &summary::markdown(result))
                .map_err(Unwritten::of("GITHUB_STEP_SUMMARY", path)),
            None => Ok(()),
        }
    }
}

/// One `$GITHUB_OUTPUT` entry: `name=value` when the value is one line, else a heredoc block whose
/// delimiter the value cannot contain.
fn output_entry(name: &str, value: &str) -> io::Result<String> {
    if !value.contains(['\n', '\r']) {
        return Ok(format!("{name}={value}\n"));
    }
    let delimiter = heredoc_delimiter(name, value)?;
    Ok(format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"))
}

/// Counts annotations so that none is written where GitHub would not show it.
#[derive(Default)]
struct AnnotationBudget {
    warnings: usize,
    errors: usize,
}

impl AnnotationBudget {
    /// Whether one more annotation of `level` will be shown. Errors keep one place for the closing
    /// annotation, which must always be seen.
    fn take(&mut self, level: Level) -> bool {
        let (used, limit) = match level {
            Level::Warning => (&mut self.warnings, SHOWN_PER_KIND),
            _ => (&mut self.errors, SHOWN_PER_KIND - 1),
        };
        let shown = *used < limit;
        if shown {
            *used += 1;
        }
        shown
    }
}

impl CiWriter for GitHubWriter {
    fn mask(&mut self, secret: &str) -> io::Result<()> {
        emit(
            &mut self.out,
            &format!("::add-mask::{}", github_data(secret)),
        )
    }

    fn log(&mut self, level: Level, title: &str, text: &str) -> io::Result<()> {
        match level {
            Level::Debug => self.command("debug", "", &titled(title, text)),
            Level::Warning if self.budget.take(level) => self.command("warning", title, text),
            Level::Error if self.budget.take(level) => self.command("error", title, text),
            _ => write_lines(&mut self.out, level_prefix(level), &titled(title, text)),
        }
    }

    fn group_start(&mut self, title: &str) -> io::Result<()> {
        self.command("group", "", &one_line(title))
    }

    fn group_end(&mut self) -> io::Result<()> {
        emit(&mut self.out, "::endgroup::")
    }

    /// Outputs and summary first, so a pipeline has them even if the log is gone; each part is tried
    /// even when an earlier one failed.
    fn finish(&mut self, result: &RunResult) -> Vec<Unwritten> {
        let outputs = self.write_outputs(result);
        let summary = self.write_summary(result);
        let kind = if result.exit_code() == 0 {
            "notice"
        } else {
            "error"
        };
        let _ = self.command(kind, &closing_title(result), &closing_text(result));
        [outputs, summary]
            .into_iter()
            .filter_map(Result::err)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;
    use crate::report::test_support::{
        failed_result, parse_github_output, tricky_text, SharedBuf, TempPath,
    };
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// A writer, its stdout, and its output and summary files (unset when `files` is false).
    fn writer(files: bool) -> (GitHubWriter, SharedBuf, TempPath, TempPath) {
        let out = SharedBuf::default();
        let output = TempPath::new("github-output");
        let summary = TempPath::new("github-summary.md");
        let writer = GitHubWriter::new(
            out.boxed(),
            files.then(|| output.path()),
            files.then(|| summary.path()),
        );
        (writer, out, output, summary)
    }

    fn expected_outputs(result: &RunResult) -> BTreeMap<String, String> {
        result
            .outputs()
            .into_iter()
            .map(|(k, v)| (k.name().to_string(), v))
            .collect()
    }

    #[test]
    fn commands_are_escaped() {
        let (mut w, out, ..) = writer(false);
        w.mask("a%b\nc").unwrap();
        w.log(Level::Warning, "T: a,b", "50%\nnext").unwrap();
        w.log(Level::Error, "", "::stop-commands::x").unwrap();
        w.log(Level::Debug, "", "d ##[x]").unwrap();
        w.log(Level::Info, "", "line1\n::error::no").unwrap();
        w.group_start("Publish\n::x").unwrap();
        w.group_end().unwrap();
        assert_eq!(
            out.text(),
            "::add-mask::a%25b%0Ac\n\
             ::warning title=T%3A a%2Cb::50%25%0Anext\n\
             ::error:::\u{200B}:stop-commands::x\n\
             ::debug::d #\u{200B}#[x]\n\
             line1\n\
             :\u{200B}:error::no\n\
             ::group::Publish :\u{200B}:x\n\
             ::endgroup::\n"
        );
    }

    #[test]
    fn warnings_beyond_ten_become_plain_lines() {
        let (mut w, out, ..) = writer(false);
        for i in 0..12 {
            w.log(Level::Warning, "W", &format!("w{i}")).unwrap();
        }
        let text = out.text();
        assert_eq!(text.matches("::warning").count(), 10);
        assert!(text.ends_with("warning: W: w10\nwarning: W: w11\n"));
    }

    #[test]
    fn the_closing_error_is_always_shown() {
        let (mut w, out, ..) = writer(false);
        for i in 0..12 {
            w.log(Level::Error, "E", &format!("e{i}")).unwrap();
        }
        assert!(w.finish(&failed_result("boom")).is_empty());
        let text = out.text();
        assert_eq!(text.matches("::error").count(), SHOWN_PER_KIND);
        assert!(text.contains("error: E: e9\n"));
    }

    #[test]
    fn a_failure_closes_with_status_message_code_and_hint() {
        let (mut w, out, output, summary) = writer(true);
        let result = failed_result("bad\nimage");
        assert!(w.finish(&result).is_empty());
        let last = out.text().lines().last().unwrap().to_string();
        assert_eq!(
            last,
            "::error title=marketplace-publish publish%3A invalid-offer::\
             HTTP 422: validation failed: bad%0Aimage (ValidationFailed). fix the offer in the portal"
        );
        let outputs = parse_github_output(&output.read()).unwrap();
        assert_eq!(outputs, expected_outputs(&result));
        assert_eq!(outputs["error-message"], "validation failed: bad\nimage");
        let md = summary.read();
        assert!(md.contains("| HTTP status | 422 |"));
    }

    #[test]
    fn success_closes_with_a_notice_and_appends() {
        let (mut w, out, output, _summary) = writer(true);
        std::fs::write(output.path(), "earlier=1\n").unwrap();
        let mut result = RunResult::new(Outcome::Succeeded);
        result.command = Some("publish".into());
        assert!(w.finish(&result).is_empty());
        assert_eq!(
            out.text(),
            "::notice title=marketplace-publish publish%3A succeeded::the operation completed\n"
        );
        let outputs = parse_github_output(&output.read()).unwrap();
        assert_eq!(outputs["earlier"], "1");
        assert_eq!(outputs["outcome"], "succeeded");
        assert_eq!(outputs["http-status"], "");
    }

    #[test]
    fn each_file_that_cannot_be_written_is_named_with_its_variable_and_path() {
        let dir = TempPath::dir("github-unwritable");
        let output = dir.path().join("missing").join("output");
        let summary = dir.path().join("missing").join("summary.md");
        let mut w = GitHubWriter::new(
            SharedBuf::default().boxed(),
            Some(output.clone()),
            Some(summary.clone()),
        );
        let unwritten = w.finish(&failed_result("x"));
        let named: Vec<(String, PathBuf)> = unwritten
            .iter()
            .map(|u| (u.title(), u.path.clone()))
            .collect();
        assert_eq!(
            named,
            [
                ("could not write GITHUB_OUTPUT".to_string(), output),
                (
                    "could not write GITHUB_STEP_SUMMARY".to_string(),
                    summary.clone()
                ),
            ]
        );
        assert!(unwritten[1]
            .detail()
            .starts_with(&format!("{}: No such file or directory", summary.display())));
    }

    #[test]
    fn multi_line_values_use_a_random_heredoc() {
        let entry = output_entry("error-message", "a\n::b\nghadelimiter_").unwrap();
        let first = entry.lines().next().unwrap();
        let delimiter = first.strip_prefix("error-message<<ghadelimiter_").unwrap();
        assert_eq!(delimiter.len(), 36);
        assert!(entry.ends_with(&format!("\nghadelimiter_{delimiter}\n")));
        assert_eq!(output_entry("x", "one % line").unwrap(), "x=one % line\n");
    }

    proptest! {
        #[test]
        fn outputs_always_parse_back(
            message in tricky_text(),
            id in tricky_text(),
            location in tricky_text(),
        ) {
            let (mut w, out, output, _summary) = writer(true);
            let mut result = failed_result(&message);
            result.operation_id = Some(id);
            result.operation_location = Some(location);
            result.failed_step = Some(message.clone());
            assert!(w.finish(&result).is_empty());
            let text = output.read();
            prop_assert_eq!(parse_github_output(&text), Ok(expected_outputs(&result)));
            for line in out.text().lines() {
                prop_assert!(line.starts_with("::error title="));
            }
            prop_assert_eq!(out.text().lines().count(), 1);
        }
    }
}
