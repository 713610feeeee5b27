//! The exact escaping rules that keep untrusted text (above all, the service's) from becoming a
//! workflow command: GitHub and Azure DevOps command escaping, [`neutralize`] for every plain log
//! line, and the unguessable heredoc delimiter for multi-line values in `$GITHUB_OUTPUT`.

use std::io;

/// Inserted to break a command marker apart: invisible to a reader, but no agent matches across it.
const BREAK: char = '\u{200B}';

/// GitHub message data (actions/toolkit `command.ts` `escapeData`).
const GITHUB_DATA: &[(char, &str)] = &[('%', "%25"), ('\r', "%0D"), ('\n', "%0A")];
/// GitHub property values (`escapeProperty`): data plus the property separators.
const GITHUB_PROPERTY: &[(char, &str)] = &[
    ('%', "%25"),
    ('\r', "%0D"),
    ('\n', "%0A"),
    (':', "%3A"),
    (',', "%2C"),
];
/// Azure DevOps message data: the agent unescapes `%AZP25`, so a literal `%0A` survives.
const AZURE_DATA: &[(char, &str)] = &[('%', "%AZP25"), ('\r', "%0D"), ('\n', "%0A")];
/// Azure DevOps property values: data plus the property separator and the end of the properties.
const AZURE_PROPERTY: &[(char, &str)] = &[
    ('%', "%AZP25"),
    ('\r', "%0D"),
    ('\n', "%0A"),
    (';', "%3B"),
    (']', "%5D"),
];

/// Escape text for the message part of a GitHub workflow command (`::kind::DATA`).
pub fn github_data(text: &str) -> String {
    escape(text, GITHUB_DATA)
}

/// Escape text for a property value of a GitHub workflow command (`title=VALUE`).
pub fn github_property(text: &str) -> String {
    escape(text, GITHUB_PROPERTY)
}

/// Escape text for the message part of an Azure DevOps logging command (`##vso[...]DATA`).
pub fn azure_data(text: &str) -> String {
    escape(text, AZURE_DATA)
}

/// Escape text for a property value of an Azure DevOps logging command (`name=VALUE;`).
pub fn azure_property(text: &str) -> String {
    escape(text, AZURE_PROPERTY)
}

fn escape(text: &str, table: &[(char, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match table.iter().find(|(from, _)| *from == c) {
            Some((_, to)) => out.push_str(to),
            None => out.push(c),
        }
    }
    out
}

/// Make text safe to print as plain log lines in any CI: one output line per input line, none of
/// which a runner or agent can read as a command.
pub fn neutralize(text: &str) -> String {
    text.replace("\r\n", "\n")
        .split(['\n', '\r'])
        .map(neutralize_line)
        .collect::<Vec<_>>()
        .join("\n")
}

/// [`neutralize`], then joined into one line: for titles, table cells and other single-line places.
pub fn one_line(text: &str) -> String {
    neutralize(text).replace('\n', " ")
}

/// Controls go first, so that removing them cannot join the pieces of a marker back together.
fn neutralize_line(line: &str) -> String {
    let line: String = line
        .chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .collect();
    guard_line_start(&break_markers(&line))
}

/// Break `##[` and `##vso[` wherever they are: the Azure DevOps agent (and GitHub's legacy parser) finds
/// them anywhere in a line.
fn break_markers(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for (i, c) in line.char_indices() {
        out.push(c);
        if c == '#' && starts_marker_tail(&line[i + c.len_utf8()..]) {
            out.push(BREAK);
        }
    }
    out
}

/// Whether `rest` (the text after one `#`) completes `##[` or `##vso[`. Compares by upper case per
/// character, as .NET's ordinal-ignore-case does, so `ſ` counts as `s`.
fn starts_marker_tail(rest: &str) -> bool {
    let Some(after) = rest.strip_prefix('#') else {
        return false;
    };
    if after.starts_with('[') {
        return true;
    }
    let mut upper = after.chars().flat_map(char::to_uppercase);
    "VSO[".chars().all(|want| upper.next() == Some(want))
}

/// GitHub reads a line as a command when it starts with `::` after whitespace: split the two colons.
fn guard_line_start(line: &str) -> String {
    let body = line.trim_start();
    if !body.starts_with("::") {
        return line.to_string();
    }
    let indent = &line[..line.len() - body.len()];
    format!("{indent}:{BREAK}{}", &body[1..])
}

/// A random version-4 UUID from the operating system's random source: names nobody can predict.
pub fn random_uuid() -> io::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// A `$GITHUB_OUTPUT` heredoc delimiter (`ghadelimiter_<uuid>`, as toolkit's `file-command.ts`) that
/// occurs in neither the name nor the value, so the value cannot end its own block early.
pub fn heredoc_delimiter(name: &str, value: &str) -> io::Result<String> {
    delimiter_avoiding(name, value, || {
        Ok(format!("ghadelimiter_{}", random_uuid()?))
    })
}

/// Draw candidates until one is absent from both texts; a random one is absent at the first draw.
fn delimiter_avoiding(
    name: &str,
    value: &str,
    mut candidate: impl FnMut() -> io::Result<String>,
) -> io::Result<String> {
    loop {
        let delimiter = candidate()?;
        if !name.contains(&delimiter) && !value.contains(&delimiter) {
            return Ok(delimiter);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::tricky_text;
    use proptest::prelude::*;

    /// The runner's unescaping: every escape but `%` first, so `%25` followed by `0A` stays literal.
    fn unescape(text: &str, table: &[(char, &str)]) -> String {
        let (percent, rest) = table.split_first().expect("tables start with %");
        let mut out = text.to_string();
        for (from, to) in rest {
            out = out.replace(to, &from.to_string());
        }
        out.replace(percent.1, "%")
    }

    fn has_marker(text: &str) -> bool {
        let upper: String = text.chars().flat_map(char::to_uppercase).collect();
        upper.contains("##[") || upper.contains("##VSO[")
    }

    #[test]
    fn github_rules_match_the_toolkit() {
        assert_eq!(github_data("50%\r\nnext: a,b"), "50%25%0D%0Anext: a,b");
        assert_eq!(
            github_property("50%\r\nnext: a,b"),
            "50%25%0D%0Anext%3A a%2Cb"
        );
    }

    #[test]
    fn azure_rules_match_the_agent() {
        assert_eq!(azure_data("50%\r\n;]"), "50%AZP25%0D%0A;]");
        assert_eq!(azure_property("50%\r\n;]"), "50%AZP25%0D%0A%3B%5D");
    }

    #[test]
    fn neutralize_breaks_commands_but_keeps_ordinary_text() {
        assert_eq!(neutralize("plain text: ok # 1"), "plain text: ok # 1");
        assert_eq!(neutralize("::error::x"), ":\u{200B}:error::x");
        assert_eq!(neutralize("  ::set-env"), "  :\u{200B}:set-env");
        assert_eq!(
            neutralize("a ##vso[task.complete]"),
            "a #\u{200B}#vso[task.complete]"
        );
        assert_eq!(neutralize("###[x"), "##\u{200B}#[x");
        assert_eq!(
            neutralize("x\r\n::a\rb\u{1b}[31m\tc"),
            "x\n:\u{200B}:a\nb[31m\tc"
        );
        assert_eq!(neutralize(":\u{0}:x"), ":\u{200B}:x");
        assert_eq!(neutralize("#\u{7}#[x"), "#\u{200B}#[x");
    }

    #[test]
    fn one_line_joins_lines() {
        assert_eq!(one_line("a\n::b"), "a :\u{200B}:b");
    }

    #[test]
    fn uuids_are_version_4_and_differ() {
        let a = random_uuid().unwrap();
        let b = random_uuid().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(heredoc_delimiter("n", "v")
            .unwrap()
            .starts_with("ghadelimiter_"));
    }

    #[test]
    fn a_delimiter_found_in_the_value_or_name_is_redrawn() {
        let mut draws = vec!["third", "in-name", "in-value"];
        let chosen = delimiter_avoiding("x-in-name", "has in-value inside", || {
            Ok(draws.pop().unwrap().to_string())
        })
        .unwrap();
        assert_eq!(chosen, "third");
    }

    proptest! {
        #[test]
        fn escaping_round_trips(text in tricky_text()) {
            for table in [GITHUB_DATA, GITHUB_PROPERTY, AZURE_DATA, AZURE_PROPERTY] {
                let escaped = escape(&text, table);
                prop_assert!(!escaped.contains(['\r', '\n']));
                prop_assert_eq!(unescape(&escaped, table), text.clone());
            }
        }

        #[test]
        fn property_escaping_hides_separators(text in tricky_text()) {
            prop_assert!(!github_property(&text).contains([':', ',']));
            prop_assert!(!azure_property(&text).contains([';', ']']));
        }

        #[test]
        fn neutralized_lines_are_never_commands(text in tricky_text()) {
            let safe = neutralize(&text);
            prop_assert!(!has_marker(&safe));
            prop_assert!(!safe.contains('\r'));
            for line in safe.split('\n') {
                prop_assert!(!line.trim_start().starts_with("::"));
                prop_assert!(!line.chars().any(|c| c.is_control() && c != '\t'));
            }
            let single = one_line(&text);
            prop_assert!(!single.contains('\n'));
            prop_assert!(!has_marker(&single));
            prop_assert!(!single.trim_start().starts_with("::"));
        }
    }
}
