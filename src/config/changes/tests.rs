//! Tests of signatures, redaction and JSON paths.

use serde_json::json;

use super::*;

#[test]
fn secret_names() {
    for name in [
        "STORAGE_SAS",
        "client_secret",
        "GITHUB_TOKEN",
        "ApiKey",
        "DB_PASSWORD",
        "SQL_CONNECTION_STRING",
    ] {
        assert!(is_secret_name(name), "{name}");
    }
    for name in ["TITLE", "PLAN", "VERSION", "S_A_S"] {
        assert!(!is_secret_name(name), "{name}");
    }
}

#[test]
fn signatures_of_every_url() {
    let doc = json!({
        "a": "https://h/x?sv=1&sig=One&se=2",
        "list": ["text before https://h/y?SIG=Two#frag and after", "https://h/z?xsig=no&mysig=no", "?sig=&"],
        "nested": {"b": "see https://h/w?sig=Three%3D\"quoted\" https://h/v?sig=Four"},
        "sig=Key": "not a url",
    });
    let found: Vec<String> = signatures(&doc)
        .iter()
        .map(|s| s.expose().to_string())
        .collect();
    assert_eq!(found, ["One", "Two", "Three%3D", "Three=", "Four"]);
}

#[test]
fn redaction_covers_longer_secrets_first() {
    let secrets = [Secret::new("abc"), Secret::new("abcdef"), Secret::new("")];
    assert_eq!(redact("x abcdef y abc z", &secrets), "x *** y *** z");
    assert_eq!(redact("nothing here", &[]), "nothing here");
}

#[test]
fn paths_read_like_json_paths() {
    assert_eq!(path_text(&[]), "$");
    assert_eq!(
        path_text(&[Step::Key("resources"), Step::Index(2), Step::Key("$schema")]),
        "resources[2].$schema"
    );
    assert_eq!(path_text(&[Step::Index(0), Step::Key("a-b")]), "$[0].a-b");
    assert_eq!(
        path_text(&[Step::Key("a.b"), Step::Key("")]),
        r#"$["a.b"][""]"#
    );
}
