//! Azure DevOps writer: `##vso[...]` logging commands on stdout (secrets, issues, output variables,
//! summary upload, task result) and `##[group]`/`##[debug]` formatting lines.

use std::io::{self, Write};
use std::path::PathBuf;

use super::escape::{azure_data, azure_property, neutralize, one_line, random_uuid};
use super::{closing_line, emit, summary, titled, write_lines, CiWriter, Level, Unwritten};
use crate::outcome::RunResult;

/// The summary file, as a warning names it: in `AGENT_TEMPDIRECTORY`, or the system's temp directory.
const SUMMARY: &str = "the run summary";

/// Writes for an Azure DevOps pipeline step.
pub struct AzureWriter {
    out: Box<dyn Write + Send>,
    temp_dir: Option<PathBuf>,
}

impl AzureWriter {
    /// A writer printing to `out`; the summary file goes to `temp_dir` (the agent's temp directory).
    pub fn new(out: Box<dyn Write + Send>, temp_dir: Option<PathBuf>) -> AzureWriter {
        AzureWriter { out, temp_dir }
    }

    /// One logging command, `##vso[COMMAND]DATA`; `data` is escaped here, the command is ours.
    fn vso(&mut self, command: &str, data: &str) -> io::Result<()> {
        emit(
            &mut self.out,
            &format!("##vso[{command}]{}", azure_data(data)),
        )
    }

    fn issue(&mut self, kind: &str, text: &str) -> io::Result<()> {
        self.vso(&format!("task.logissue type={kind}"), &neutralize(text))
    }

    /// Values are neutralized like any service text on stdout: the agent reads only the first `##vso[`
    /// of a line, but a later step that prints the variable would run a marker left whole in it.
    fn write_outputs(&mut self, result: &RunResult) -> io::Result<()> {
        for (name, value) in result.outputs() {
            let variable = azure_property(name.snake());
            self.vso(
                &format!("task.setvariable variable={variable};isoutput=true"),
                &neutralize(&value),
            )?;
        }
        Ok(())
    }

    /// Write the summary to a file of its own (the agent reads it after the step), then upload it.
    fn upload_summary(&mut self, result: &RunResult) -> Result<(), Unwritten> {
        let dir = self.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
        let path = random_uuid()
            .map(|id| dir.join(format!("marketplace-publish-summary-{id}.md")))
            .map_err(Unwritten::of(SUMMARY, &dir))?;
        std::fs::write(&path, summary::markdown(result)).map_err(Unwritten::of(SUMMARY, &path))?;
        let _ = self.vso("task.uploadsummary", &path.display().to_string());
        Ok(())
    }

    fn close(&mut self, result: &RunResult) -> io::Result<()> {
        if result.exit_code() == 0 {
            return write_lines(&mut self.out, "", &closing_line(result));
        }
        self.issue("error", &closing_line(result))?;
        self.vso("task.complete result=Failed;", "DONE")
    }
}

impl CiWriter for AzureWriter {
    fn mask(&mut self, secret: &str) -> io::Result<()> {
        self.vso("task.setsecret", secret)
    }

    fn log(&mut self, level: Level, title: &str, text: &str) -> io::Result<()> {
        let text = titled(title, text);
        match level {
            Level::Debug => write_lines(&mut self.out, "##[debug]", &text),
            Level::Info => write_lines(&mut self.out, "", &text),
            Level::Warning => self.issue("warning", &text),
            Level::Error => self.issue("error", &text),
        }
    }

    fn group_start(&mut self, title: &str) -> io::Result<()> {
        emit(&mut self.out, &format!("##[group]{}", one_line(title)))
    }

    fn group_end(&mut self) -> io::Result<()> {
        emit(&mut self.out, "##[endgroup]")
    }

    /// Output variables and summary first; each part is tried even when an earlier one failed.
    fn finish(&mut self, result: &RunResult) -> Vec<Unwritten> {
        let _ = self.write_outputs(result);
        let summary = self.upload_summary(result);
        let _ = self.close(result);
        summary.err().into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;
    use crate::report::test_support::{failed_result, tricky_text, SharedBuf, TempPath};
    use proptest::prelude::*;

    fn writer() -> (AzureWriter, SharedBuf, TempPath) {
        let out = SharedBuf::default();
        let dir = TempPath::dir("azure");
        (AzureWriter::new(out.boxed(), Some(dir.path())), out, dir)
    }

    /// The agent's reading of a data part.
    fn unescape_data(data: &str) -> String {
        data.replace("%0D", "\r")
            .replace("%0A", "\n")
            .replace("%AZP25", "%")
    }

    #[test]
    fn logging_commands_are_escaped() {
        let (mut w, out, _dir) = writer();
        w.mask("p%w\nd").unwrap();
        w.log(Level::Warning, "T", "50%\n##vso[task.complete]")
            .unwrap();
        w.log(Level::Error, "", "e").unwrap();
        w.log(Level::Debug, "", "a\nb").unwrap();
        w.log(Level::Info, "", "##[error]x ::y").unwrap();
        w.group_start("G\n##[endgroup]").unwrap();
        w.group_end().unwrap();
        assert_eq!(
            out.text(),
            "##vso[task.setsecret]p%AZP25w%0Ad\n\
             ##vso[task.logissue type=warning]T: 50%AZP25%0A#\u{200B}#vso[task.complete]\n\
             ##vso[task.logissue type=error]e\n\
             ##[debug]a\n\
             ##[debug]b\n\
             #\u{200B}#[error]x ::y\n\
             ##[group]G #\u{200B}#[endgroup]\n\
             ##[endgroup]\n"
        );
    }

    #[test]
    fn a_failure_sets_outputs_logs_an_error_and_fails_the_task() {
        let (mut w, out, dir) = writer();
        assert!(w.finish(&failed_result("bad")).is_empty());
        let text = out.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "##vso[task.setvariable variable=outcome;isoutput=true]invalid-offer"
        );
        assert!(lines.contains(
            &"##vso[task.setvariable variable=operation_location;isoutput=true]\
              https://cloudpartner.azure.com/api/operations/x$1"
        ));
        assert!(lines.contains(&"##vso[task.setvariable variable=http_status;isoutput=true]422"));
        let upload = lines[12].strip_prefix("##vso[task.uploadsummary]").unwrap();
        assert!(upload.starts_with(&dir.path().display().to_string()));
        let md = std::fs::read_to_string(upload).unwrap();
        assert!(md.contains("| Error code | ValidationFailed |"));
        assert_eq!(
            lines[13],
            "##vso[task.logissue type=error]marketplace-publish publish: invalid-offer: \
             HTTP 422: validation failed: bad (ValidationFailed). fix the offer in the portal"
        );
        assert_eq!(lines[14], "##vso[task.complete result=Failed;]DONE");
        assert_eq!(lines.len(), 15);
    }

    #[test]
    fn success_ends_with_a_plain_headline() {
        let (mut w, out, _dir) = writer();
        assert!(w.finish(&RunResult::new(Outcome::PreviewReady)).is_empty());
        let text = out.text();
        assert!(text.ends_with("marketplace-publish: preview-ready: the preview is ready\n"));
        assert!(!text.contains("logissue"));
        assert!(!text.contains("task.complete"));
    }

    proptest! {
        #[test]
        fn output_variables_carry_the_neutralized_value(message in tricky_text()) {
            let (mut w, out, _dir) = writer();
            assert!(w.finish(&failed_result(&message)).is_empty());
            let text = out.text();
            let prefix = "##vso[task.setvariable variable=error_message;isoutput=true]";
            let line = text.lines().find(|l| l.starts_with(prefix)).unwrap();
            let value = unescape_data(&line[prefix.len()..]);
            prop_assert_eq!(value, neutralize(&format!("validation failed: {message}")));
            for line in text.lines() {
                prop_assert!(line.starts_with("##vso[task."));
                prop_assert_eq!(line.to_uppercase().matches("##VSO[").count(), 1);
            }
        }
    }
}
