//! Test helpers shared by the writers' tests: a readable stdout/stderr, unique temp files, a
//! `$GITHUB_OUTPUT` parser that reads the file the way the runner does, and hostile sample text.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;

use crate::outcome::{Outcome, RunResult, Severity, StepView};

/// A `Write` whose bytes the test reads back after handing a clone to a writer.
#[derive(Clone, Default)]
pub struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// A clone to hand to a writer.
    pub fn boxed(&self) -> Box<dyn Write + Send> {
        Box::new(self.clone())
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A path under the system temp dir that no other test (or test run) uses, removed when dropped.
pub struct TempPath(PathBuf);

impl TempPath {
    /// A unique path; nothing is created.
    pub fn new(name: &str) -> TempPath {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        TempPath(std::env::temp_dir().join(format!(
            "marketplace-publish-test-{}-{n}-{name}",
            std::process::id()
        )))
    }

    /// A fresh directory at a unique path.
    pub fn dir(name: &str) -> TempPath {
        let dir = TempPath::new(name);
        std::fs::create_dir_all(&dir.0).unwrap();
        dir
    }

    /// The path, for a writer to own.
    pub fn path(&self) -> PathBuf {
        self.0.clone()
    }

    /// The file's text, or empty when it was never written.
    pub fn read(&self) -> String {
        std::fs::read_to_string(&self.0).unwrap_or_default()
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Parse `$GITHUB_OUTPUT` like the Linux runner: `name=value`, or `name<<DELIM`, lines, `DELIM`.
pub fn parse_github_output(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut lines = text.split('\n');
    let mut map = BTreeMap::new();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        match (line.find('='), line.find("<<")) {
            (Some(e), h) if e < h.unwrap_or(usize::MAX) => {
                map.insert(line[..e].to_string(), line[e + 1..].to_string());
            }
            (_, Some(h)) => {
                let delimiter = &line[h + 2..];
                let mut body = Vec::new();
                loop {
                    match lines.next() {
                        Some(l) if l == delimiter => break,
                        Some(l) => body.push(l),
                        None => return Err(format!("no closing {delimiter}")),
                    }
                }
                map.insert(line[..h].to_string(), body.join("\n"));
            }
            _ => return Err(format!("bad line {line:?}")),
        }
    }
    Ok(map)
}

/// A failed run with a step table, service text in every field.
pub fn failed_result(service_text: &str) -> RunResult {
    let mut result = RunResult::new(Outcome::InvalidOffer);
    result.http_status = Some(422);
    result.command = Some("publish".into());
    result.publisher_id = Some("contoso".into());
    result.offer_id = Some("contoso-offer".into());
    result.operation_location = Some("https://cloudpartner.azure.com/api/operations/x$1".into());
    result.operation_id = Some("op-1".into());
    result.operation_status = Some("failed".into());
    result.failed_step = Some("displaycertify".into());
    result.error_code = Some("ValidationFailed".into());
    result.error_message = Some(format!("validation failed: {service_text}"));
    result.hint = Some("fix the offer in the portal".into());
    result.elapsed = Duration::from_secs(75);
    result.notes = vec![format!("note: {service_text}")];
    result.steps = vec![StepView {
        name: "displaycertify".into(),
        description: Some(format!("Certification {service_text}")),
        status: "failed".into(),
        progress: Some(40),
        estimate: Some("< 5 day".into()),
        duration: Some(Duration::from_secs(3700)),
        messages: vec![(Severity::Error, service_text.to_string())],
    }];
    result
}

/// Strings rich in the characters the rules care about.
pub fn tricky_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        any::<char>().prop_map(String::from),
        prop::sample::select(vec![
            "%",
            "%25",
            "%0A",
            "%AZP25",
            "\r",
            "\n",
            "\r\n",
            ":",
            "::",
            ",",
            ";",
            "]",
            "[",
            "#",
            "##[",
            "##vso[",
            "##VSO[",
            "##vſo[",
            " ",
            "\t",
            "\u{0}",
            "\u{1b}",
            "ghadelimiter_",
            "=",
            "<<",
        ])
        .prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}
