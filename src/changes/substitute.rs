//! `${NAME}` references in a document's string values, filled in from the environment.
//!
//! The rules: NAME is `[A-Za-z_][A-Za-z0-9_]*`; `$${` stands for a literal `${` and is the only escape; a
//! filled-in value is not scanned again, so a value holding `${X}` stays as it is. The text is read left
//! to right, so in `$$${A}` the first `$` is plain and `$${` is the escape. Keys are never touched.

use serde_json::{Map, Value};

use super::{get, is_secret_name, path_text, Lookup, Step};
use crate::secret::Secret;

/// A problem at one place in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: `$` for the root, else like `resources[0].title` or `$[0].title`.
    pub path: String,
    pub message: String,
}

/// A document with its references filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Substituted {
    /// The document; a string with a problem is kept as written.
    pub document: Value,
    /// The values of the secret-named variables that were used.
    pub secrets: Vec<Secret>,
    pub problems: Vec<Problem>,
}

/// Fills in every `${NAME}` of every string value of `document`, collecting every problem.
pub fn substitute(document: &Value, lookup: Lookup) -> Substituted {
    let mut state = State {
        lookup,
        secrets: Vec::new(),
        problems: Vec::new(),
    };
    let mut path = Vec::new();
    let document = state.value(document, &mut path);
    Substituted {
        document,
        secrets: super::unique(state.secrets),
        problems: state.problems,
    }
}

struct State<'l> {
    lookup: Lookup<'l>,
    secrets: Vec<Secret>,
    problems: Vec<Problem>,
}

impl State<'_> {
    fn value<'v>(&mut self, value: &'v Value, path: &mut Vec<Step<'v>>) -> Value {
        match value {
            Value::String(text) => Value::String(self.text(text, path)),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        path.push(Step::Index(i));
                        let item = self.value(item, path);
                        path.pop();
                        item
                    })
                    .collect(),
            ),
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, item) in map {
                    path.push(Step::Key(key));
                    out.insert(key.clone(), self.value(item, path));
                    path.pop();
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    /// One string filled in; as written when any reference in it is at fault.
    fn text(&mut self, text: &str, path: &[Step]) -> String {
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut faults = Vec::new();
        // Slices start and end only at `$` or just after `}`, both ASCII, so always on a char boundary.
        let mut plain_from = 0;
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i..].starts_with(b"$${") {
                out.push_str(&text[plain_from..i]);
                out.push_str("${");
                i += 3;
                plain_from = i;
            } else if bytes[i..].starts_with(b"${") {
                out.push_str(&text[plain_from..i]);
                let at = text[..i].chars().count() + 1;
                let Some(len) = text[i + 2..].find('}') else {
                    faults.push(format!(
                        "the `${{` at character {at} has no closing `}}` (write `$${{` for a literal `${{`)"
                    ));
                    break;
                };
                let name = &text[i + 2..i + 2 + len];
                match self.reference(name, at) {
                    Ok(value) => out.push_str(&value),
                    Err(fault) => faults.push(fault),
                }
                i += 2 + len + 1;
                plain_from = i;
            } else {
                i += 1;
            }
        }
        if faults.is_empty() {
            out.push_str(&text[plain_from..]);
            return out;
        }
        let path = path_text(path);
        self.problems
            .extend(faults.into_iter().map(|message| Problem {
                path: path.clone(),
                message,
            }));
        text.to_string()
    }

    /// The value of one reference (its `$` at character `at`), or what is wrong with it. The name is
    /// quoted only once it is known to be a plain name: anything else may be part of a secret.
    fn reference(&mut self, name: &str, at: usize) -> Result<String, String> {
        if name.is_empty() {
            return Err(format!("the `${{}}` at character {at} names no variable"));
        }
        if !is_name(name) {
            return Err(format!(
                "the `${{` at character {at} is not followed by a variable name and `}}` \
                 (a name is letters, digits and `_`, not starting with a digit; \
                 write `$${{` for a literal `${{`)"
            ));
        }
        let Some(value) = get(self.lookup, name) else {
            return Err(format!(
                "`${{{name}}}` names the environment variable {name}, which is not set (blank counts as \
                 unset): set it, or write `$${{{name}}}` for the text itself"
            ));
        };
        if is_secret_name(name) {
            self.secrets.push(Secret::new(value.clone()));
        }
        Ok(value)
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn lookup_in(
        pairs: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    const VARS: &[(&str, &str)] = &[
        ("A", "alpha"),
        ("B", "beta"),
        ("_x9", "under"),
        ("BLANK", "  "),
        ("PADDED", "  padded \n"),
        ("NESTED", "${A}"),
        ("STORAGE_SAS", "sv=1&sig=s3cr3t"),
        ("db_password", "hunter2"),
    ];

    fn one(text: &str) -> Result<String, Vec<Problem>> {
        let result = substitute(&json!(text), &lookup_in(VARS));
        match result.problems.is_empty() {
            true => Ok(result.document.as_str().unwrap().to_string()),
            false => Err(result.problems),
        }
    }

    fn messages(text: &str) -> Vec<String> {
        one(text)
            .expect_err("should be refused")
            .into_iter()
            .map(|p| p.message)
            .collect()
    }

    #[test]
    fn references_are_filled_in() {
        assert_eq!(one("${A}").unwrap(), "alpha");
        assert_eq!(one("x${A}y").unwrap(), "xalphay");
        assert_eq!(one("${A}${B}").unwrap(), "alphabeta");
        assert_eq!(one("${A}-${_x9}.${B}").unwrap(), "alpha-under.beta");
        assert_eq!(one("{${A}}").unwrap(), "{alpha}");
        assert_eq!(one("é${A}ü").unwrap(), "éalphaü");
        // Values are trimmed, like every input.
        assert_eq!(one("[${PADDED}]").unwrap(), "[padded]");
    }

    #[test]
    fn plain_dollars_and_braces_stay() {
        for text in [
            "", "$", "$$", "$A", "}", "$}", "a $ b", "{}", "$ {A}", "price $5",
        ] {
            assert_eq!(one(text).unwrap(), text);
        }
    }

    #[test]
    fn double_dollar_brace_is_a_literal_reference() {
        assert_eq!(one("$${A}").unwrap(), "${A}");
        assert_eq!(one("$${").unwrap(), "${");
        assert_eq!(one("$${A}${B}").unwrap(), "${A}beta");
        assert_eq!(one("$${$${").unwrap(), "${${");
        // Left to right: the first `$` is plain, then `$${` is the escape.
        assert_eq!(one("$$${A}").unwrap(), "$${A}");
        assert_eq!(one("$$$${A}").unwrap(), "$$${A}");
        // `$$` alone is no escape.
        assert_eq!(one("$$A").unwrap(), "$$A");
    }

    #[test]
    fn values_are_not_scanned_again() {
        assert_eq!(one("${NESTED}").unwrap(), "${A}");
        assert_eq!(one("${NESTED}${A}").unwrap(), "${A}alpha");
    }

    #[test]
    fn bad_references_are_refused_without_quoting_them() {
        let unterminated = messages("abc${A");
        assert!(
            unterminated[0].contains("at character 4 has no closing `}`"),
            "{unterminated:?}"
        );
        assert!(messages("${}")[0].contains("names no variable"));
        for text in [
            "${1A}", "${A-B}", "${ A}", "${A B}", "${é}", "${A${B}}", "${$}",
        ] {
            let found = messages(text);
            assert_eq!(found.len(), 1, "{text}: {found:?}");
            assert!(
                found[0].contains("not followed by a variable name"),
                "{text}: {found:?}"
            );
            assert!(
                !found[0].contains("A-B") && !found[0].contains("1A"),
                "{found:?}"
            );
        }
        // Every fault in a string is reported, each with its position.
        let both = messages("${} and ${MISSING} and ${");
        assert_eq!(both.len(), 3, "{both:?}");
        assert!(both[0].contains("character 1"));
        assert!(both[1].contains("MISSING"));
        assert!(both[2].contains("character 24"));
    }

    #[test]
    fn unset_and_blank_variables_are_named_with_the_path() {
        let doc =
            json!({"resources": [{"a": "ok ${A}"}, {"list": ["${BLANK}", {"k.y": "${NOPE}"}]}]});
        let result = substitute(&doc, &lookup_in(VARS));
        let found: Vec<(String, String)> = result
            .problems
            .into_iter()
            .map(|p| (p.path, p.message))
            .collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].0, "resources[1].list[0]");
        assert!(found[0].1.contains("`${BLANK}`") && found[0].1.contains("not set"));
        assert_eq!(found[1].0, r#"resources[1].list[1]["k.y"]"#);
        assert!(found[1].1.contains("NOPE"));
        // The strings at fault are kept as written; the others are filled in.
        assert_eq!(result.document["resources"][0]["a"], "ok alpha");
        assert_eq!(result.document["resources"][1]["list"][0], "${BLANK}");
    }

    #[test]
    fn keys_and_other_values_are_untouched() {
        let doc = json!({"${A}": [1, true, null, 2.5, {"${B}": "${B}"}]});
        let result = substitute(&doc, &lookup_in(VARS));
        assert!(result.problems.is_empty());
        assert_eq!(
            result.document,
            json!({"${A}": [1, true, null, 2.5, {"${B}": "beta"}]})
        );
    }

    #[test]
    fn secret_named_values_are_collected_once() {
        let doc = json!(["${STORAGE_SAS}", "${db_password}", "${A}", "${db_password}"]);
        let result = substitute(&doc, &lookup_in(VARS));
        let secrets: Vec<&str> = result.secrets.iter().map(Secret::expose).collect();
        assert_eq!(secrets, ["sv=1&sig=s3cr3t", "hunter2"]);
    }

    #[test]
    fn root_paths() {
        let result = substitute(&json!("${NOPE}"), &lookup_in(VARS));
        assert_eq!(result.problems[0].path, "$");
        let result = substitute(&json!([{"t": "${NOPE}"}]), &lookup_in(VARS));
        assert_eq!(result.problems[0].path, "$[0].t");
    }

    /// Text that the escape makes literal: `${` becomes `$${`.
    fn escape(text: &str) -> String {
        text.replace("${", "$${")
    }

    proptest! {
        #[test]
        fn a_document_without_dollars_is_unchanged(text in r"[^$]{0,40}", key in r"\PC{0,8}") {
            let doc = json!({key: [text.clone(), {"x": text}]});
            let result = substitute(&doc, &|_| panic!("nothing to look up"));
            prop_assert!(result.problems.is_empty());
            prop_assert_eq!(result.document, doc);
        }

        #[test]
        fn escaped_text_comes_back_as_written(text in r"(\$|\{|\}|[a-z]|é){0,30}") {
            prop_assert_eq!(one(&escape(&text)).unwrap(), text);
        }

        #[test]
        fn pieces_and_references_join_up(
            parts in prop::collection::vec((r"(\$|\{|\}|[a-z ]){0,6}", prop::sample::select(vec!["A", "B", "NESTED"])), 0..6),
        ) {
            let mut text = String::new();
            let mut expected = String::new();
            for (plain, name) in &parts {
                text.push_str(&escape(plain));
                // A `$` right before a reference would make it an escape: keep them apart.
                if plain.ends_with('$') {
                    text.push(' ');
                    expected.push_str(plain);
                    expected.push(' ');
                } else {
                    expected.push_str(plain);
                }
                text.push_str(&format!("${{{name}}}"));
                expected.push_str(&lookup_in(VARS)(name).unwrap());
            }
            prop_assert_eq!(one(&text).unwrap(), expected);
        }

        #[test]
        fn values_with_references_stay_literal(value in r"x(\$\{[A-Z]{1,3}\}|\$|\{|x){0,10}") {
            let lookup = |name: &str| (name == "V").then(|| value.clone());
            let result = substitute(&json!("<${V}>"), &lookup);
            prop_assert!(result.problems.is_empty());
            prop_assert_eq!(result.document, json!(format!("<{value}>")));
        }

        #[test]
        fn never_panics(text in r"(\$|\{|\}|\$\{|[A-Z_]|é|\\){0,30}") {
            let _ = one(&text);
        }

        #[test]
        fn a_secret_never_reaches_a_message(
            secret in "[A-Z0-9]{12,20}",
            template in r"(\$\{TOKEN\}|\$\{UNSET\}|\$\{|\$\{\}|\$\{TOK\$\{EN\}\}|[a-z]){1,8}",
        ) {
            let lookup = |name: &str| (name == "TOKEN").then(|| secret.clone());
            let result = substitute(&json!({"a": [template]}), &lookup);
            for problem in &result.problems {
                prop_assert!(!problem.message.contains(&secret) && !problem.path.contains(&secret));
            }
            if result.problems.is_empty() && template.contains("${TOKEN}") {
                prop_assert_eq!(result.secrets, vec![Secret::new(secret.clone())]);
            }
        }
    }
}
