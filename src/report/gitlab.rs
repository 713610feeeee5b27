//! GitLab CI writer: collapsible log sections, coloured `WARNING:`/`ERROR:` lines, and the outputs as
//! an `artifacts:reports:dotenv` file for later jobs.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::escape::one_line;
use super::{
    closing_line, emit, level_prefix, titled, truncate_to, write_lines, CiWriter, Level, Unwritten,
};
use crate::outcome::RunResult;

/// GitLab rejects a dotenv report of more than 5 KB; stay under it with room to spare.
const DOTENV_MAX_BYTES: usize = 5000;
/// A section name's slug is cut here so that the marker stays readable.
const SECTION_SLUG_MAX: usize = 40;
const RED: &str = "\x1b[0;31m";
const YELLOW: &str = "\x1b[0;33m";
const GREEN: &str = "\x1b[0;32m";
const RESET: &str = "\x1b[0m";

/// Writes for a GitLab CI job.
pub struct GitLabWriter {
    out: Box<dyn Write + Send>,
    dotenv: Option<PathBuf>,
    /// Names of the sections still open, innermost last.
    open_sections: Vec<String>,
    /// Sections started so far: numbers each name, so that no two sections share one.
    started: usize,
}

impl GitLabWriter {
    /// A writer printing to `out`, with the dotenv file named by `MARKETPLACE_DOTENV_FILE`.
    pub fn new(out: Box<dyn Write + Send>, dotenv: Option<PathBuf>) -> GitLabWriter {
        GitLabWriter {
            out,
            dotenv,
            open_sections: Vec::new(),
            started: 0,
        }
    }

    fn write_dotenv(&self, result: &RunResult) -> Result<(), Unwritten> {
        match &self.dotenv {
            Some(path) => std::fs::write(path, dotenv(result))
                .map_err(Unwritten::of("MARKETPLACE_DOTENV_FILE", path)),
            None => Ok(()),
        }
    }
}

/// A section name GitLab accepts (`[a-z0-9_]`), unique within the run.
fn section_name(number: usize, title: &str) -> String {
    let slug: String = title
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(SECTION_SLUG_MAX)
        .collect();
    format!("section_{number}_{slug}")
}

fn unix_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The dotenv report: `MARKETPLACE_<OUTPUT>=value`, one line each, the whole under
/// [`DOTENV_MAX_BYTES`].
fn dotenv(result: &RunResult) -> String {
    let entries: Vec<(String, String)> = result
        .outputs()
        .into_iter()
        .map(|(name, value)| (name.variable().to_string(), single_line(&value)))
        .collect();
    let fixed: usize = entries.iter().map(|(key, _)| key.len() + "=\n".len()).sum();
    let lengths: Vec<usize> = entries.iter().map(|(_, value)| value.len()).collect();
    let caps = fair_caps(&lengths, DOTENV_MAX_BYTES.saturating_sub(fixed));
    entries
        .iter()
        .zip(caps)
        .map(|((key, value), cap)| format!("{key}={}\n", truncate_to(value, cap)))
        .collect()
}

/// Dotenv values cannot span lines: every control character (newlines included) becomes a space.
fn single_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Byte caps that keep the values' total within `budget`: short values stay whole, and long ones share
/// what is left equally.
fn fair_caps(lengths: &[usize], budget: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    let mut caps = vec![0; lengths.len()];
    let mut left = budget;
    for (placed, &i) in order.iter().enumerate() {
        let share = left / (lengths.len() - placed);
        caps[i] = lengths[i].min(share);
        left -= caps[i];
    }
    caps
}

impl CiWriter for GitLabWriter {
    /// GitLab masks only variables declared in its settings; the Reporter already redacts the rest.
    fn mask(&mut self, _secret: &str) -> io::Result<()> {
        Ok(())
    }

    fn log(&mut self, level: Level, title: &str, text: &str) -> io::Result<()> {
        let prefix = match level {
            Level::Warning => format!("{YELLOW}WARNING:{RESET} "),
            Level::Error => format!("{RED}ERROR:{RESET} "),
            Level::Debug | Level::Info => level_prefix(level).to_string(),
        };
        write_lines(&mut self.out, &prefix, &titled(title, text))
    }

    fn group_start(&mut self, title: &str) -> io::Result<()> {
        self.started += 1;
        let name = section_name(self.started, title);
        let line = format!(
            "\x1b[0Ksection_start:{}:{name}[collapsed=true]\r\x1b[0K{}",
            unix_time(),
            one_line(title)
        );
        self.open_sections.push(name);
        emit(&mut self.out, &line)
    }

    fn group_end(&mut self) -> io::Result<()> {
        let Some(name) = self.open_sections.pop() else {
            return Ok(());
        };
        let line = format!("\x1b[0Ksection_end:{}:{name}\r\x1b[0K", unix_time());
        emit(&mut self.out, &line)
    }

    /// The dotenv file first, then the closing line; both are tried even when the first fails.
    fn finish(&mut self, result: &RunResult) -> Vec<Unwritten> {
        let outputs = self.write_dotenv(result);
        let prefix = if result.exit_code() == 0 {
            format!("{GREEN}OK:{RESET} ")
        } else {
            format!("{RED}ERROR:{RESET} ")
        };
        let _ = write_lines(&mut self.out, &prefix, &closing_line(result));
        outputs.err().into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;
    use crate::report::test_support::{failed_result, SharedBuf, TempPath};

    fn writer() -> (GitLabWriter, SharedBuf, TempPath) {
        let out = SharedBuf::default();
        let dotenv = TempPath::new("gitlab.env");
        (
            GitLabWriter::new(out.boxed(), Some(dotenv.path())),
            out,
            dotenv,
        )
    }

    /// Replace the UNIX times in section markers, which change from run to run.
    fn without_times(text: &str) -> String {
        let mut out = String::new();
        for piece in text.split_inclusive(':') {
            if piece.starts_with(|c: char| c.is_ascii_digit()) && piece.ends_with(':') {
                out.push_str("T:");
            } else {
                out.push_str(piece);
            }
        }
        out
    }

    #[test]
    fn sections_nest_and_close_by_name() {
        let (mut w, out, _dotenv) = writer();
        w.group_start("Publish contoso/offer\n::x").unwrap();
        w.group_start("Poll").unwrap();
        w.group_end().unwrap();
        w.group_end().unwrap();
        w.group_end().unwrap();
        assert_eq!(
            without_times(&out.text()),
            "\x1b[0Ksection_start:T:section_1_publish_contoso_offer___x[collapsed=true]\r\x1b[0K\
             Publish contoso/offer :\u{200B}:x\n\
             \x1b[0Ksection_start:T:section_2_poll[collapsed=true]\r\x1b[0KPoll\n\
             \x1b[0Ksection_end:T:section_2_poll\r\x1b[0K\n\
             \x1b[0Ksection_end:T:section_1_publish_contoso_offer___x\r\x1b[0K\n"
        );
    }

    #[test]
    fn levels_are_coloured_prefixes_and_mask_prints_nothing() {
        let (mut w, out, _dotenv) = writer();
        w.mask("secret").unwrap();
        w.log(Level::Warning, "T", "a\n##vso[x]").unwrap();
        w.log(Level::Error, "", "\u{1b}[2Jboom").unwrap();
        w.log(Level::Info, "", "::i").unwrap();
        assert_eq!(
            out.text(),
            "\x1b[0;33mWARNING:\x1b[0m T: a\n\
             \x1b[0;33mWARNING:\x1b[0m #\u{200B}#vso[x]\n\
             \x1b[0;31mERROR:\x1b[0m [2Jboom\n\
             :\u{200B}:i\n"
        );
    }

    #[test]
    fn finish_writes_the_dotenv_and_the_headline() {
        let (mut w, out, dotenv) = writer();
        assert!(w.finish(&failed_result("two\nlines")).is_empty());
        let env = dotenv.read();
        assert!(env.starts_with("MARKETPLACE_OUTCOME=invalid-offer\nMARKETPLACE_EXIT_CODE=5\n"));
        assert!(env.contains("MARKETPLACE_ERROR_MESSAGE=validation failed: two lines\n"));
        assert!(env.contains(
            "MARKETPLACE_OPERATION_LOCATION=https://cloudpartner.azure.com/api/operations/x$1\n"
        ));
        assert_eq!(env.lines().count(), 12);
        assert!(out
            .text()
            .starts_with("\x1b[0;31mERROR:\x1b[0m marketplace-publish publish"));
    }

    #[test]
    fn the_dotenv_stays_under_5_kb_and_keeps_short_values_whole() {
        let mut result = failed_result("x");
        result.error_message = Some("é".repeat(10_000));
        result.operation_id = Some("i".repeat(3000));
        let env = dotenv(&result);
        assert!(env.len() <= DOTENV_MAX_BYTES, "{}", env.len());
        assert!(env.contains("MARKETPLACE_FAILED_STEP=displaycertify\n"));
        assert!(env.contains(
            "MARKETPLACE_OPERATION_LOCATION=https://cloudpartner.azure.com/api/operations/x$1\n"
        ));
        assert_eq!(env.lines().count(), 12);
    }

    #[test]
    fn fair_caps_share_what_is_left() {
        assert_eq!(fair_caps(&[10, 1000, 5, 1000], 100), vec![10, 42, 5, 43]);
        assert_eq!(fair_caps(&[3, 4], 100), vec![3, 4]);
    }

    #[test]
    fn success_is_green() {
        let (mut w, out, _dotenv) = writer();
        assert!(w.finish(&RunResult::new(Outcome::Accepted)).is_empty());
        assert_eq!(
            out.text(),
            "\x1b[0;32mOK:\x1b[0m marketplace-publish: accepted: the request was accepted\n"
        );
    }
}
