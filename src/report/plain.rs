//! Plain writer, for a terminal or an unknown CI: a human log on stderr and one line of JSON (the
//! result) on stdout at the end, for scripts.

use std::io::{self, Write};

use serde_json::Value;

use super::escape::one_line;
use super::{closing_line, emit, level_prefix, titled, write_lines, CiWriter, Level, Unwritten};
use crate::outcome::RunResult;

/// Writes for a terminal or a CI without workflow commands.
pub struct PlainWriter {
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
}

impl PlainWriter {
    /// A writer with the JSON result on `out` and the log on `err`.
    pub fn new(out: Box<dyn Write + Send>, err: Box<dyn Write + Send>) -> PlainWriter {
        PlainWriter { out, err }
    }
}

/// The result as one JSON line that no CI agent can take for a command, should this writer run in
/// one: `#` and the control characters JSON allows raw are written as `\u` escapes, which a JSON
/// reader turns back into the same text.
fn json_line(value: &Value) -> String {
    value
        .to_string()
        .chars()
        .map(|c| {
            if c == '#' || c.is_control() {
                format!("\\u{:04x}", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect()
}

impl CiWriter for PlainWriter {
    /// Nothing to tell: without a CI there is no log masking, and the Reporter already redacts.
    fn mask(&mut self, _secret: &str) -> io::Result<()> {
        Ok(())
    }

    fn log(&mut self, level: Level, title: &str, text: &str) -> io::Result<()> {
        write_lines(&mut self.err, level_prefix(level), &titled(title, text))
    }

    fn group_start(&mut self, title: &str) -> io::Result<()> {
        write_lines(&mut self.err, "==> ", &one_line(title))
    }

    /// A terminal has no groups to close.
    fn group_end(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Only the log and stdout: no file is written.
    fn finish(&mut self, result: &RunResult) -> Vec<Unwritten> {
        let _ = emit(&mut self.out, &json_line(&result.to_json()));
        let prefix = if result.exit_code() == 0 {
            ""
        } else {
            "error: "
        };
        let _ = write_lines(&mut self.err, prefix, &closing_line(result));
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::{failed_result, tricky_text, SharedBuf};
    use proptest::prelude::*;

    fn writer() -> (PlainWriter, SharedBuf, SharedBuf) {
        let (out, err) = (SharedBuf::default(), SharedBuf::default());
        (PlainWriter::new(out.boxed(), err.boxed()), out, err)
    }

    #[test]
    fn the_log_goes_to_stderr() {
        let (mut w, out, err) = writer();
        w.mask("s").unwrap();
        w.group_start("Publish").unwrap();
        w.log(Level::Info, "", "hello\n::x").unwrap();
        w.log(Level::Debug, "", "d").unwrap();
        w.log(Level::Warning, "T", "w").unwrap();
        w.log(Level::Error, "", "e").unwrap();
        w.group_end().unwrap();
        assert_eq!(out.text(), "");
        assert_eq!(
            err.text(),
            "==> Publish\nhello\n:\u{200B}:x\ndebug: d\nwarning: T: w\nerror: e\n"
        );
    }

    #[test]
    fn finish_prints_one_json_line_and_the_headline() {
        let (mut w, out, err) = writer();
        let result = failed_result("x");
        assert!(w.finish(&result).is_empty());
        let stdout = out.text();
        assert_eq!(stdout.lines().count(), 1);
        let json: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(json, result.to_json());
        assert_eq!(json["http_status"], 422);
        assert!(err
            .text()
            .starts_with("error: marketplace-publish publish: invalid-offer: HTTP 422"));
    }

    proptest! {
        #[test]
        fn the_json_line_is_inert_and_exact(message in tricky_text()) {
            let (mut w, out, _) = writer();
            let result = failed_result(&message);
            assert!(w.finish(&result).is_empty());
            let stdout = out.text();
            prop_assert!(!stdout.contains('#'));
            prop_assert_eq!(stdout.lines().count(), 1);
            prop_assert!(!stdout.trim_end().chars().any(char::is_control));
            let json: Value = serde_json::from_str(&stdout).unwrap();
            prop_assert_eq!(json, result.to_json());
        }
    }
}
