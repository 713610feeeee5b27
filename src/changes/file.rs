//! `MARKETPLACE_CONFIGURE_FILE`: the resources to change, checked as a whole before anything is sent.
//!
//! Accepted: at most 1 MiB of JSON (a leading byte-order mark is allowed, as Windows editors write one),
//! either a configure request `{"$schema": ".../configure/<version>", "resources": [...]}` or a bare
//! array of resources; a non-empty list of objects, each with a `$schema` under [`SCHEMA_BASE`]; no
//! submission resource, because publishing is the command's job. `${NAME}` references are filled in
//! first, so that the checks see what will be sent.

use std::io::Read;

use serde_json::Value;

use super::substitute::{substitute, Problem};
use super::{
    kind, path_text, redact, signatures, unique, ConfigError, Lookup, Step, CONFIGURE_FILE,
};
use crate::secret::Secret;

/// The largest file accepted: 1 MiB.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Where every resource's `$schema` must be.
pub const SCHEMA_BASE: &str = "https://schema.mp.microsoft.com/schema/";

/// The retired schema host: the service answers 400 "could not be accessed" for it.
const RETIRED_SCHEMA_BASE: &str = "https://product-ingestion.azureedge.net/schema/";

const EXAMPLE_RESOURCE_SCHEMA: &str =
    "https://schema.mp.microsoft.com/schema/listing/2022-03-01-preview2";
const EXAMPLE_CONFIGURE_SCHEMA: &str =
    "https://schema.mp.microsoft.com/schema/configure/2022-03-01-preview2";

/// The file's resources, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigureFile {
    pub resources: Vec<Value>,
    /// Secret-named variables' values and every `sig=` in the document.
    pub secrets: Vec<Secret>,
}

/// Reads and checks the file at `path`; `${NAME}` references are looked up with `lookup`.
pub fn read_file(path: &str, lookup: Lookup) -> Result<ConfigureFile, Vec<ConfigError>> {
    let error = |message: String| vec![file_error(path, message)];
    let file = std::fs::File::open(path).map_err(|e| {
        error(format!(
            "cannot be read ({e}): give the path of a readable JSON file"
        ))
    })?;
    let metadata = file.metadata().map_err(|e| {
        error(format!(
            "cannot be read ({e}): give the path of a readable JSON file"
        ))
    })?;
    if metadata.is_dir() {
        return Err(error("is a directory; give the path of a JSON file".into()));
    }
    let too_big = || {
        error(format!(
            "is larger than 1 MiB ({MAX_FILE_BYTES} bytes), the most accepted"
        ))
    };
    if metadata.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    // Read one byte past the limit, so that a file that grows (or a device) is caught too.
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            error(format!(
                "cannot be read ({e}): give the path of a readable JSON file"
            ))
        })?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    check_document(path, &bytes, lookup)
}

/// Checks a file's content; `label` names it in messages. Errors never carry a secret.
pub fn check_document(
    label: &str,
    bytes: &[u8],
    lookup: Lookup,
) -> Result<ConfigureFile, Vec<ConfigError>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // serde_json's messages name what was expected and where (line, column), never the text itself.
    let document: Value = serde_json::from_slice(bytes)
        .map_err(|e| vec![file_error(label, format!("is not valid JSON: {e}"))])?;
    let filled = substitute(&document, lookup);
    let mut secrets = filled.secrets;
    secrets.extend(signatures(&filled.document));
    let secrets = unique(secrets);
    let mut problems = filled.problems;
    let resources = resources(filled.document, &mut problems);
    if problems.is_empty() {
        return Ok(ConfigureFile { resources, secrets });
    }
    Err(problems
        .into_iter()
        .map(|p| {
            file_error(
                label,
                redact(&format!("{}: {}", p.path, p.message), &secrets),
            )
        })
        .collect())
}

fn file_error(label: &str, message: String) -> ConfigError {
    ConfigError {
        variable: CONFIGURE_FILE.to_string(),
        message: format!("{label}: {message}"),
    }
}

fn problem(steps: &[Step], message: impl Into<String>) -> Problem {
    Problem {
        path: path_text(steps),
        message: message.into(),
    }
}

/// The resources of either accepted form, each checked; problems are added to `problems`.
fn resources(document: Value, problems: &mut Vec<Problem>) -> Vec<Value> {
    let (list, below): (Value, &[Step]) = match document {
        Value::Array(_) => (document, &[]),
        Value::Object(mut root) => {
            let list = root.remove("resources");
            let names_configure = root
                .get("$schema")
                .and_then(Value::as_str)
                .is_some_and(|s| s.contains("/schema/configure/"));
            if list.is_none() && root.contains_key("$schema") && !names_configure {
                problems.push(problem(
                    &[],
                    "is a single resource, not a configure request: put it in a list, [ {...} ], \
                     or in {\"$schema\": \".../configure/<version>\", \"resources\": [ {...} ]}",
                ));
                return Vec::new();
            }
            problems.extend(schema_problems(
                root.get("$schema"),
                &[Step::Key("$schema")],
                true,
            ));
            for key in root.keys().filter(|k| *k != "$schema") {
                problems.push(problem(
                    &[Step::Key(key)],
                    "is not part of a configure request, which holds only `$schema` and `resources`",
                ));
            }
            match list {
                Some(list) => (list, &[Step::Key("resources")]),
                None => {
                    problems.push(problem(&[], "has no `resources`: a configure request holds its resources in a list there"));
                    return Vec::new();
                }
            }
        }
        other => {
            problems.push(problem(
                &[],
                format!(
                    "must be an object {{\"$schema\": \"{EXAMPLE_CONFIGURE_SCHEMA}\", \"resources\": [...]}} \
                     or a list of resources; found {}",
                    kind(&other)
                ),
            ));
            return Vec::new();
        }
    };
    let Value::Array(items) = list else {
        problems.push(problem(
            below,
            format!("must be a list of resources; found {}", kind(&list)),
        ));
        return Vec::new();
    };
    if items.is_empty() {
        problems.push(problem(
            below,
            "is an empty list: give at least one resource to change",
        ));
    }
    for (i, item) in items.iter().enumerate() {
        let mut at = below.to_vec();
        at.push(Step::Index(i));
        let Value::Object(resource) = item else {
            problems.push(problem(
                &at,
                format!(
                    "must be a resource, an object with `$schema`; found {}",
                    kind(item)
                ),
            ));
            continue;
        };
        at.push(Step::Key("$schema"));
        problems.extend(schema_problems(resource.get("$schema"), &at, false));
    }
    items
}

/// What is wrong with a `$schema`: the root's must name `configure`, a resource's anything but
/// `submission`. A retired host is reported with its replacement, and what else is wrong besides.
fn schema_problems(value: Option<&Value>, at: &[Step], root: bool) -> Vec<Problem> {
    let example = match root {
        true => EXAMPLE_CONFIGURE_SCHEMA,
        false => EXAMPLE_RESOURCE_SCHEMA,
    };
    let accepted = format!("a URL under {SCHEMA_BASE}, as <type>/<version> (e.g. {example})");
    let text = match value {
        None => return vec![problem(at, format!("is missing: it must be {accepted}"))],
        Some(Value::String(text)) => text,
        Some(other) => {
            return vec![problem(
                at,
                format!("must be {accepted}; found {}", kind(other)),
            )]
        }
    };
    let mut found = Vec::new();
    let rest = match text.strip_prefix(RETIRED_SCHEMA_BASE) {
        Some(rest) => {
            found.push(problem(
                at,
                format!(
                    "uses the retired host {RETIRED_SCHEMA_BASE}, which the service no longer reads: \
                     write {SCHEMA_BASE}{rest}"
                ),
            ));
            rest
        }
        None => match text.strip_prefix(SCHEMA_BASE) {
            Some(rest) => rest,
            None => return vec![problem(at, format!("must be {accepted}"))],
        },
    };
    let schema_type = match rest.split_once('/') {
        Some((schema_type, version)) if !schema_type.is_empty() && !version.is_empty() => {
            schema_type
        }
        _ => {
            found.push(problem(at, format!("must be {accepted}")));
            return found;
        }
    };
    if root && schema_type != "configure" {
        found.push(problem(
            at,
            format!(
                "must name a configure request (e.g. {EXAMPLE_CONFIGURE_SCHEMA}), \
                 or give the file as a bare list of resources"
            ),
        ));
    }
    if !root && schema_type == "submission" {
        found.push(problem(
            at,
            "is a submission resource: publishing is the command's job (MARKETPLACE_COMMAND publish \
             applies the changes and then publishes to preview; go-live publishes live), so the file \
             holds only the changes to the draft; remove it",
        ));
    }
    found
}
