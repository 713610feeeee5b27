//! The Markdown run summary shared by GitHub (`$GITHUB_STEP_SUMMARY`) and Azure DevOps
//! (`task.uploadsummary`): outcome, offer, operation, failure and a table of the operation's steps.
//!
//! Service text is neutralized and Markdown-escaped so it can neither break the tables nor inject
//! HTML or links, and the whole stays under GitHub's 1 MiB summary limit.

use std::time::Duration;

use super::{closing_text, closing_title, escape, truncate_to};
use crate::outcome::{Outcome, RunResult, Severity, StepView};

/// Below GitHub's 1 MiB per-step limit, with room for the runner's own bookkeeping.
const MAX_BYTES: usize = 1_000_000;
/// Caps on each step message (in bytes) tried in turn until the summary fits; 0 leaves messages out.
const MESSAGE_CAPS: [Option<usize>; 4] = [None, Some(1000), Some(200), Some(0)];
const CUT_NOTICE: &str = "\n_The summary was cut short to stay under the 1 MiB limit._\n";

/// The run's Markdown summary, under 1,000,000 bytes: step messages are shortened first, then dropped,
/// and only then is the text cut.
pub fn markdown(result: &RunResult) -> String {
    let mut text = String::new();
    for cap in MESSAGE_CAPS {
        text = render(result, cap);
        if text.len() <= MAX_BYTES {
            return text;
        }
    }
    cut(&text)
}

/// Cut at a line end, so that no table row is left half-written.
fn cut(text: &str) -> String {
    let head = truncate_to(text, MAX_BYTES - CUT_NOTICE.len());
    let end = head.rfind('\n').map_or(0, |i| i + 1);
    format!("{}{CUT_NOTICE}", &head[..end])
}

fn render(result: &RunResult, message_cap: Option<usize>) -> String {
    [
        heading(result),
        overview(result),
        failure(result),
        notes(result),
        steps(&result.steps, message_cap),
    ]
    .concat()
}

fn heading(result: &RunResult) -> String {
    let icon = match (result.exit_code(), result.outcome) {
        (0, Outcome::Accepted | Outcome::Running) => "⏳",
        (0, _) => "✅",
        _ => "❌",
    };
    format!(
        "## {icon} {}\n\n{}\n\n",
        cell(&closing_title(result)),
        cell(&closing_text(result))
    )
}

fn overview(result: &RunResult) -> String {
    table(&[
        ("Command", result.command.clone()),
        ("Publisher", result.publisher_id.clone()),
        ("Offer", result.offer_id.clone()),
        ("Product", result.product_id.clone()),
        ("Submission", result.submission_id.clone()),
        ("Operation", result.operation_location.clone()),
        ("Operation id", result.operation_id.clone()),
        ("Operation status", result.operation_status.clone()),
        ("Elapsed", Some(human_duration(result.elapsed))),
    ])
}

fn failure(result: &RunResult) -> String {
    if result.exit_code() == 0 {
        return String::new();
    }
    let status = result.http_status.map(|s| s.to_string());
    format!(
        "### Failure\n\n{}",
        table(&[
            ("HTTP status", status),
            ("Error code", result.error_code.clone()),
            ("What failed", result.error_context.clone()),
            ("Message", result.error_message.clone()),
            ("Failed step", result.failed_step.clone()),
            ("Hint", result.hint.clone()),
        ])
    )
}

fn notes(result: &RunResult) -> String {
    if result.notes.is_empty() {
        return String::new();
    }
    let items: String = result
        .notes
        .iter()
        .map(|note| format!("- {}\n", cell(note)))
        .collect();
    format!("### Notes\n\n{items}\n")
}

fn steps(steps: &[StepView], message_cap: Option<usize>) -> String {
    if steps.is_empty() {
        return String::new();
    }
    let rows: String = steps.iter().map(|s| step_row(s, message_cap)).collect();
    format!(
        "### Steps\n\n| Step | Description | Status | Progress | Estimate | Duration | Messages |\n\
         |---|---|---|---|---|---|---|\n{rows}\n"
    )
}

fn step_row(step: &StepView, message_cap: Option<usize>) -> String {
    let cells = [
        cell(&step.name),
        step.description.as_deref().map(cell).unwrap_or_default(),
        cell(&step.status),
        step.progress.map(|p| format!("{p}%")).unwrap_or_default(),
        step.estimate.as_deref().map(cell).unwrap_or_default(),
        step.duration.map(human_duration).unwrap_or_default(),
        messages(&step.messages, message_cap),
    ];
    format!("| {} |\n", cells.join(" | "))
}

/// The messages of one step, one per line within the cell (`<br>` is the only break a cell allows).
fn messages(messages: &[(Severity, String)], cap: Option<usize>) -> String {
    if cap == Some(0) && !messages.is_empty() {
        return format!("({} messages left out)", messages.len());
    }
    messages
        .iter()
        .map(|(level, text)| {
            let text = match cap {
                Some(cap) if text.len() > cap => format!("{}…", truncate_to(text, cap)),
                _ => text.clone(),
            };
            cell(&format!("{}: {text}", level.as_str()))
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

/// A two-column table of the rows that have a value.
fn table(rows: &[(&str, Option<String>)]) -> String {
    let body: String = rows
        .iter()
        .filter_map(|(name, value)| Some((name, value.as_deref()?)))
        .map(|(name, value)| format!("| {name} | {} |\n", cell(value)))
        .collect();
    format!("| Item | Value |\n|---|---|\n{body}\n")
}

/// Untrusted text made into inert Markdown on one line: no table break, HTML, link, code span or
/// entity, and still neutralized for CI agents.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in escape::one_line(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '|' | '`' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// `1h 2m 5s`, leaving out zero parts (`0s` for nothing).
fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let parts = [(secs / 3600, "h"), (secs / 60 % 60, "m"), (secs % 60, "s")];
    let text: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if text.is_empty() {
        "0s".to_string()
    } else {
        text.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::{failed_result, tricky_text};
    use proptest::prelude::*;

    /// The cells of a GFM table row, splitting on pipes not escaped by a backslash.
    fn row_cells(row: &str) -> usize {
        let mut count = 0;
        let mut escaped = false;
        for c in row.chars() {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '|') => count += 1,
                _ => escaped = false,
            }
        }
        count - 1
    }

    #[test]
    fn a_failure_shows_everything() {
        let md = markdown(&failed_result("boom"));
        for expected in [
            "## ❌ marketplace-publish publish: invalid-offer",
            "| Offer | contoso-offer |",
            "| HTTP status | 422 |",
            "| Error code | ValidationFailed |",
            "| Message | validation failed: boom |",
            "| Hint | fix the offer in the portal |",
            "| Elapsed | 1m 15s |",
            "- note: boom",
            "| displaycertify | Certification boom | failed | 40% | &lt; 5 day | 1h 1m 40s | error: boom |",
        ] {
            assert!(md.contains(expected), "{expected:?} missing from\n{md}");
        }
    }

    #[test]
    fn success_has_no_failure_section() {
        let mut result = RunResult::new(Outcome::Succeeded);
        result.command = Some("publish".into());
        let md = markdown(&result);
        assert!(md.starts_with(
            "## ✅ marketplace-publish publish: succeeded\n\nthe operation completed"
        ));
        assert!(!md.contains("Failure"));
        assert!(!md.contains("### Steps"));
    }

    #[test]
    fn cells_are_inert() {
        assert_eq!(
            cell("a|b <img src=x> `c` [l](u) &amp; \\| x\ny ##[e] ::z"),
            "a\\|b &lt;img src=x&gt; \\`c\\` \\[l\\](u) &amp;amp; \\\\\\| x y #\u{200B}#\\[e\\] ::z"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::ZERO), "0s");
        assert_eq!(human_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(human_duration(Duration::from_secs(3725)), "1h 2m 5s");
    }

    #[test]
    fn huge_messages_are_shortened_before_anything_else() {
        let mut result = failed_result("x");
        let step = result.steps[0].clone();
        result.steps = vec![step; 600];
        for step in &mut result.steps {
            step.messages = vec![(Severity::Error, "y".repeat(5000))];
        }
        let md = markdown(&result);
        assert!(md.len() <= MAX_BYTES);
        assert!(md.contains(&format!("error: {}…", "y".repeat(1000))));
        assert!(md.contains("### Steps"));
    }

    #[test]
    fn a_summary_too_big_even_without_messages_is_cut_at_a_line() {
        let mut result = failed_result("x");
        result.steps[0].description = Some("d".repeat(2000));
        let step = result.steps[0].clone();
        result.steps = vec![step; 1000];
        let md = markdown(&result);
        assert!(md.len() <= MAX_BYTES);
        assert!(md.ends_with(CUT_NOTICE));
        assert!(md.contains("(1 messages left out)"));
        let before = &md[..md.len() - CUT_NOTICE.len()];
        assert!(before.ends_with(" |\n"));
    }

    proptest! {
        #[test]
        fn service_text_never_breaks_a_row(text in tricky_text()) {
            let md = markdown(&failed_result(&text));
            let row = md.lines().find(|l| l.starts_with("| displaycertify")).unwrap();
            prop_assert_eq!(row_cells(row), 7);
            prop_assert!(!md.contains('<'));
            for line in md.lines() {
                prop_assert!(!line.trim_start().starts_with("::"));
                prop_assert!(!line.to_uppercase().contains("##VSO["));
                prop_assert!(!line.contains("##["));
            }
        }
    }
}
