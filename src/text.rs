//! Text from the service, cut down for messages: an excerpt keeps its lines, a one-line form folds
//! white space and drops control characters; durations are written the way the inputs are. Escaping
//! for each CI is the reporters' job, not this.

use std::time::Duration;

/// How many characters of a value or message an error quotes.
const EXCERPT_CHARS: usize = 200;

/// At most 200 characters of `text`, with `…` where it was cut.
pub fn excerpt(text: &str) -> String {
    cut(text.to_string(), EXCERPT_CHARS)
}

/// `text` on one line: white space runs become one space, control characters go, and at most `max`
/// characters are kept.
pub fn one_line(text: &str, max: usize) -> String {
    let line = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    cut(line, max)
}

/// A body that is not the expected JSON, as one line of at most 200 characters.
pub fn body_excerpt(body: &[u8]) -> String {
    one_line(&String::from_utf8_lossy(body), EXCERPT_CHARS)
}

fn cut(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// Show a duration the way the inputs are written (`250ms`, `90s`, `45m`, `2h`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_on_characters_not_bytes() {
        assert_eq!(one_line(" a\r\n\tb \u{7}c ", 100), "a b c");
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(one_line("é".repeat(5).as_str(), 5), "ééééé");
        assert_eq!(excerpt("line one\nline two"), "line one\nline two");
        assert_eq!(excerpt(&"x".repeat(201)), format!("{}…", "x".repeat(200)));
        assert_eq!(
            body_excerpt(b"<b>Bad</b>\r\n\tgateway"),
            "<b>Bad</b> gateway"
        );
    }
}
