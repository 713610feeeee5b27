//! The user's changes to the offer's draft, read and checked before anything is sent (contract section 7):
//! the resources of `MARKETPLACE_CONFIGURE_FILE` with their `${NAME}` references filled in, and a new VM
//! image version from the `MARKETPLACE_PLAN_ID` group of inputs.
//!
//! Every problem is collected, so that one failed run lists all of them. The secrets met on the way (the
//! values of secret-named variables, the `sig=` of every SAS URL) are returned for masking, and no error
//! text carries one: messages name variables and JSON paths, never values, and are redacted all the same.

mod file;
mod substitute;
#[cfg(test)]
mod tests;
mod vm;

use serde_json::Value;

use crate::input::ConfigError;
use crate::secret::Secret;

pub use file::{check_document, read_file, ConfigureFile, MAX_FILE_BYTES, SCHEMA_BASE};
pub use substitute::{substitute, Problem, Substituted};
pub use vm::{
    uri_without_query, version_parts, DiskUri, ImageType, ImageVersion, DATA_DISK_URLS, IMAGE_TYPE,
    IMAGE_VERSION, OS_DISK_URL, PLAN_ID,
};

/// Where the run reads the environment: a variable's value, or `None` when it is not set.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The input that names the file of resources.
pub const CONFIGURE_FILE: &str = "MARKETPLACE_CONFIGURE_FILE";

/// Parts of a variable's name that make its value a secret (compared without regard to case).
const SECRET_NAME_PARTS: &[&str] = &["SAS", "SECRET", "TOKEN", "KEY", "PASSWORD", "CONNECTION"];

/// What the run is asked to change before it publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    /// The file's resources, in its order, references filled in; empty without a file.
    pub resources: Vec<Value>,
    /// A new VM image version to add to a plan.
    pub image: Option<ImageVersion>,
    /// Everything to mask before first use, without repeats.
    pub secrets: Vec<Secret>,
}

impl Changes {
    /// The changes the environment asks for: `None` when neither a file nor VM inputs are given.
    pub fn from_lookup(lookup: Lookup) -> Result<Option<Changes>, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut secrets = Vec::new();
        let mut resources = Vec::new();
        if let Some(path) = get(lookup, CONFIGURE_FILE) {
            match read_file(&path, lookup) {
                Ok(file) => {
                    resources = file.resources;
                    secrets.extend(file.secrets);
                }
                Err(e) => errors.extend(e),
            }
        }
        let image = match ImageVersion::from_lookup(lookup) {
            Ok(image) => image,
            Err(e) => {
                errors.extend(e);
                None
            }
        };
        if let Some(image) = &image {
            secrets.extend(image.secrets());
        }
        let secrets = unique(secrets);
        if !errors.is_empty() {
            // The file's own errors are redacted already; this pass covers a disk URL's signature too.
            return Err(errors
                .into_iter()
                .map(|e| ConfigError {
                    message: redact(&e.message, &secrets),
                    ..e
                })
                .collect());
        }
        if resources.is_empty() && image.is_none() {
            return Ok(None);
        }
        Ok(Some(Changes {
            resources,
            image,
            secrets,
        }))
    }
}

/// A variable through the lookup, trimmed; blank counts as unset (contract section 1).
fn get(lookup: Lookup, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Whether a variable's value is a secret by its name: it holds `SAS`, `SECRET`, `TOKEN`, `KEY`,
/// `PASSWORD` or `CONNECTION`, in any case.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_NAME_PARTS.iter().any(|part| upper.contains(part))
}

/// The `sig=` query values of every URL in the string values of a document (keys are not looked at).
/// Use it on anything sent that the run did not build itself, such as the service's own answers.
pub fn signatures(document: &Value) -> Vec<Secret> {
    let mut found = Vec::new();
    visit_strings(document, &mut |text| found.extend(text_signatures(text)));
    unique(found)
}

fn visit_strings(value: &Value, f: &mut dyn FnMut(&str)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|v| visit_strings(v, f)),
        Value::Object(map) => map.values().for_each(|v| visit_strings(v, f)),
        _ => {}
    }
}

/// The value of every `sig=` parameter in a text: after `?` or `&`, up to the next `&`, `#`, quote or
/// white space. Both as written and percent-decoded, since either form may come back in a message.
fn text_signatures(text: &str) -> Vec<Secret> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(offset) = find_ascii_case_insensitive(&bytes[at..], b"sig=") {
        let start = at + offset;
        at = start + 4;
        if start == 0 || !matches!(bytes[start - 1], b'?' | b'&') {
            continue;
        }
        let end = bytes[at..]
            .iter()
            .position(|b| {
                matches!(b, b'&' | b'#' | b'"' | b'\'' | b'<' | b'>') || b.is_ascii_whitespace()
            })
            .map_or(bytes.len(), |n| at + n);
        // Every delimiter is ASCII, so both ends are character boundaries.
        let raw = &text[at..end];
        if raw.is_empty() {
            continue;
        }
        found.push(Secret::new(raw));
        if let Some(decoded) = percent_decode(raw).filter(|d| d != raw && !d.is_empty()) {
            found.push(Secret::new(decoded));
        }
    }
    found
}

fn find_ascii_case_insensitive(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// `%XX` escapes decoded; `None` when the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `text` with every secret replaced by `***`, the longest first so that no part of one survives.
pub fn redact(text: &str, secrets: &[Secret]) -> String {
    let mut values: Vec<&str> = secrets
        .iter()
        .map(Secret::expose)
        .filter(|s| !s.is_empty())
        .collect();
    values.sort_by_key(|s| std::cmp::Reverse(s.len()));
    values
        .into_iter()
        .fold(text.to_string(), |text, secret| text.replace(secret, "***"))
}

/// The secrets in first-seen order, each once.
fn unique(secrets: Vec<Secret>) -> Vec<Secret> {
    let mut out: Vec<Secret> = Vec::with_capacity(secrets.len());
    for secret in secrets {
        if !out.contains(&secret) {
            out.push(secret);
        }
    }
    out
}

/// One step into a JSON document.
#[derive(Debug, Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// A JSON path as a user reads it: `$` for the root, `resources[2].$schema` below a root object,
/// `$[2].$schema` below a root array; keys that are not plain words are quoted, `["a.b"]`.
fn path_text(steps: &[Step]) -> String {
    let mut out = String::new();
    for (n, step) in steps.iter().enumerate() {
        match step {
            Step::Index(i) if n == 0 => out.push_str(&format!("$[{i}]")),
            Step::Index(i) => out.push_str(&format!("[{i}]")),
            Step::Key(key) if is_plain_key(key) => {
                if n > 0 {
                    out.push('.');
                }
                out.push_str(key);
            }
            Step::Key(key) => {
                if n == 0 {
                    out.push('$');
                }
                out.push_str(&format!("[{}]", Value::String(key.to_string())));
            }
        }
    }
    if out.is_empty() {
        out.push('$');
    }
    out
}

fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '-'))
}

/// A JSON value's kind, for "found a number" in messages (never the value itself).
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
