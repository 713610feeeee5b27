//! Tests of the file's checks, the whole set of changes, signatures and redaction.

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::json;

use super::*;

const LISTING: &str = "https://schema.mp.microsoft.com/schema/listing/2022-03-01-preview2";
const CONFIGURE: &str = "https://schema.mp.microsoft.com/schema/configure/2022-03-01-preview2";
const SAS: &str =
    "https://acct.blob.core.windows.net/c/os.vhd?sv=2022-11-02&sr=b&sig=FileSig%2F123";

fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

fn check(document: &Value, vars: &[(&str, &str)]) -> Result<ConfigureFile, Vec<ConfigError>> {
    check_document(
        "changes.json",
        document.to_string().as_bytes(),
        &lookup(vars),
    )
}

/// The messages of a refused document, after checking that each names the input and the file.
fn refused(document: &Value, vars: &[(&str, &str)]) -> Vec<String> {
    let errors = check(document, vars).expect_err("should be refused");
    for e in &errors {
        assert_eq!(e.variable, CONFIGURE_FILE);
        assert!(e.message.starts_with("changes.json: "), "{e}");
    }
    errors
        .into_iter()
        .map(|e| e.message["changes.json: ".len()..].to_string())
        .collect()
}

fn listing(extra: Value) -> Value {
    let mut resource = json!({"$schema": LISTING, "product": "product/1", "title": "T"});
    resource
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    resource
}

#[test]
fn both_forms_are_accepted() {
    let resources = vec![listing(json!({})), listing(json!({"title": "U"}))];
    let wrapped = json!({"$schema": CONFIGURE, "resources": resources});
    assert_eq!(check(&wrapped, &[]).unwrap().resources, resources);
    assert_eq!(check(&json!(resources), &[]).unwrap().resources, resources);
    let with_bom = [
        b"\xEF\xBB\xBF".as_slice(),
        json!(resources).to_string().as_bytes(),
    ]
    .concat();
    assert!(check_document("x.json", &with_bom, &lookup(&[])).is_ok());
}

#[test]
fn references_are_filled_in_before_the_checks() {
    let doc = json!([{"$schema": "${SCHEMA}", "title": "${TITLE}", "uri": "${DISK_SAS}"}]);
    let file = check(
        &doc,
        &[("SCHEMA", LISTING), ("TITLE", "Contoso"), ("DISK_SAS", SAS)],
    )
    .unwrap();
    assert_eq!(
        file.resources,
        [json!({"$schema": LISTING, "title": "Contoso", "uri": SAS})]
    );
    let secrets: Vec<&str> = file.secrets.iter().map(Secret::expose).collect();
    assert_eq!(secrets, [SAS, "FileSig%2F123", "FileSig/123"]);
}

#[test]
fn invalid_json_is_refused_with_its_position_only() {
    let errors = check_document(
        "c.json",
        br#"[{"uri": "https://h/x?sig=JsonSig", }]"#,
        &lookup(&[]),
    )
    .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .message
            .starts_with("c.json: is not valid JSON: trailing comma at line 1"),
        "{}",
        errors[0]
    );
    assert!(!errors[0].message.contains("JsonSig"));
    for bad in [&b""[..], b"{", b"\xFF", b"[] []"] {
        assert!(check_document("c.json", bad, &lookup(&[])).is_err());
    }
}

#[test]
fn the_root_must_be_a_configure_request_or_a_list() {
    assert_eq!(refused(&json!("text"), &[])[0], "$: must be an object {\"$schema\": \"https://schema.mp.microsoft.com/schema/configure/2022-03-01-preview2\", \"resources\": [...]} or a list of resources; found a string");
    let single = refused(&listing(json!({})), &[]);
    assert_eq!(single.len(), 1);
    assert!(
        single[0].starts_with("$: is a single resource, not a configure request"),
        "{single:?}"
    );
    let found = refused(&json!({"resources": {}, "extra": 1}), &[]);
    assert_eq!(found, [
        "$schema: is missing: it must be a URL under https://schema.mp.microsoft.com/schema/, as <type>/<version> (e.g. https://schema.mp.microsoft.com/schema/configure/2022-03-01-preview2)",
        "extra: is not part of a configure request, which holds only `$schema` and `resources`",
        "resources: must be a list of resources; found an object",
    ]);
    let found = refused(
        &json!({"$schema": LISTING, "resources": [listing(json!({}))]}),
        &[],
    );
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with("$schema: must name a configure request"),
        "{found:?}"
    );
    let found = refused(&json!({"$schema": CONFIGURE}), &[]);
    assert!(found[0].starts_with("$: has no `resources`"), "{found:?}");
}

#[test]
fn the_list_holds_at_least_one_object() {
    assert_eq!(
        refused(&json!([]), &[]),
        ["$: is an empty list: give at least one resource to change"]
    );
    assert_eq!(
        refused(&json!({"$schema": CONFIGURE, "resources": []}), &[]),
        ["resources: is an empty list: give at least one resource to change"]
    );
    assert_eq!(
        refused(&json!([listing(json!({})), 3, null]), &[]),
        [
            "$[1]: must be a resource, an object with `$schema`; found a number",
            "$[2]: must be a resource, an object with `$schema`; found null",
        ]
    );
}

#[test]
fn every_resource_needs_a_schema_under_the_current_host() {
    let doc = json!({"$schema": CONFIGURE, "resources": [
        {"title": "no schema"},
        {"$schema": 7},
        {"$schema": "https://example.com/schema/listing/2022-03-01-preview2"},
        {"$schema": "https://schema.mp.microsoft.com/schema/listing"},
        {"$schema": "https://schema.mp.microsoft.com/schema//2022"},
        {"$schema": "http://schema.mp.microsoft.com/schema/listing/2022-03-01-preview2"},
        listing(json!({})),
    ]});
    let found = refused(&doc, &[]);
    let accepted = "a URL under https://schema.mp.microsoft.com/schema/, as <type>/<version> (e.g. https://schema.mp.microsoft.com/schema/listing/2022-03-01-preview2)";
    assert_eq!(
        found,
        [
            format!("resources[0].$schema: is missing: it must be {accepted}"),
            format!("resources[1].$schema: must be {accepted}; found a number"),
            format!("resources[2].$schema: must be {accepted}"),
            format!("resources[3].$schema: must be {accepted}"),
            format!("resources[4].$schema: must be {accepted}"),
            format!("resources[5].$schema: must be {accepted}"),
        ]
    );
}

#[test]
fn the_retired_host_is_refused_with_its_replacement() {
    let doc = json!({
        "$schema": "https://product-ingestion.azureedge.net/schema/configure/2022-03-01-preview2",
        "resources": [{"$schema": "https://product-ingestion.azureedge.net/schema/${KIND}/2022-03-01-preview2"}],
    });
    let found = refused(&doc, &[("KIND", "plan-listing")]);
    assert_eq!(found, [
        "$schema: uses the retired host https://product-ingestion.azureedge.net/schema/, which the service no longer reads: write https://schema.mp.microsoft.com/schema/configure/2022-03-01-preview2",
        "resources[0].$schema: uses the retired host https://product-ingestion.azureedge.net/schema/, which the service no longer reads: write https://schema.mp.microsoft.com/schema/plan-listing/2022-03-01-preview2",
    ]);
}

#[test]
fn submissions_are_the_commands_job() {
    let submission = json!({"$schema": "https://schema.mp.microsoft.com/schema/submission/2022-03-01-preview2",
        "product": "product/1", "target": {"targetType": "preview"}});
    let found = refused(&json!([listing(json!({})), submission]), &[]);
    assert_eq!(found.len(), 1);
    assert!(
        found[0]
            .starts_with("$[1].$schema: is a submission resource: publishing is the command's job"),
        "{found:?}"
    );
    // On the retired host, both problems at once.
    let retired = json!([{"$schema": "https://product-ingestion.azureedge.net/schema/submission/2022-03-01-preview2"}]);
    let found = refused(&retired, &[]);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0]
        .contains("write https://schema.mp.microsoft.com/schema/submission/2022-03-01-preview2"));
    assert!(found[1].contains("is a submission resource"));
}

#[test]
fn every_problem_is_reported_at_once() {
    let doc = json!({"$schema": CONFIGURE, "extra": true, "resources": [
        {"$schema": LISTING, "title": "${UNSET}"},
        "not an object",
        {"$schema": "https://product-ingestion.azureedge.net/schema/listing/2022"},
    ]});
    let found = refused(&doc, &[]);
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(
        found[0].starts_with("resources[0].title: `${UNSET}` names the environment variable UNSET")
    );
    assert!(found[1].starts_with("extra: "));
    assert!(found[2].starts_with("resources[1]: "));
    assert!(found[3].starts_with("resources[2].$schema: uses the retired host"));
}

#[test]
fn secrets_never_reach_a_message() {
    // A secret-named value and a signature, placed where messages quote (the retired host's replacement).
    let doc = json!([
        {"$schema": "https://product-ingestion.azureedge.net/schema/${API_KEY}/x?sig=DocSig"},
        {"$schema": LISTING, "uri": "${DISK_SAS}", "bad": "${UNSET} ${"},
    ]);
    let errors = check(&doc, &[("API_KEY", "KeyValue42"), ("DISK_SAS", SAS)]).unwrap_err();
    assert_eq!(errors.len(), 3, "{errors:?}");
    for e in &errors {
        for secret in ["KeyValue42", "DocSig", "FileSig", SAS] {
            assert!(!e.message.contains(secret), "{e}");
        }
    }
    // Reference problems come first, then the structure's.
    assert!(
        errors[2]
            .message
            .contains("write https://schema.mp.microsoft.com/schema/***/x?sig=***"),
        "{}",
        errors[2]
    );
}

/// A file of its own in the temp directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, content: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("changes-{name}-{}", std::process::id()));
        std::fs::write(&path, content).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn the_file_is_read_from_its_path() {
    let file = TempFile::new("ok", json!([listing(json!({}))]).to_string().as_bytes());
    assert_eq!(
        read_file(file.path(), &lookup(&[])).unwrap().resources,
        [listing(json!({}))]
    );
    let missing = read_file("/nonexistent/changes.json", &lookup(&[])).unwrap_err();
    assert!(
        missing[0]
            .message
            .starts_with("/nonexistent/changes.json: cannot be read ("),
        "{}",
        missing[0]
    );
    let dir = read_file(std::env::temp_dir().to_str().unwrap(), &lookup(&[])).unwrap_err();
    assert!(
        dir[0]
            .message
            .ends_with("is a directory; give the path of a JSON file"),
        "{}",
        dir[0]
    );
}

#[test]
fn the_file_holds_at_most_one_mebibyte() {
    let body = json!([listing(json!({}))]).to_string();
    let exact = format!("{body}{}", " ".repeat(MAX_FILE_BYTES as usize - body.len()));
    let file = TempFile::new("exact", exact.as_bytes());
    assert!(read_file(file.path(), &lookup(&[])).is_ok());
    let over = TempFile::new("over", format!("{exact} ").as_bytes());
    let errors = read_file(over.path(), &lookup(&[])).unwrap_err();
    assert!(
        errors[0]
            .message
            .ends_with("is larger than 1 MiB (1048576 bytes), the most accepted"),
        "{}",
        errors[0]
    );
}

#[test]
fn changes_from_the_environment() {
    let file = TempFile::new(
        "env",
        json!([{"$schema": LISTING, "k": "${MY_TOKEN}"}])
            .to_string()
            .as_bytes(),
    );
    assert_eq!(Changes::from_lookup(&lookup(&[])).unwrap(), None);
    assert_eq!(
        Changes::from_lookup(&lookup(&[(CONFIGURE_FILE, " ")])).unwrap(),
        None
    );
    let vars = [
        (CONFIGURE_FILE, file.path()),
        ("MY_TOKEN", "tok-123"),
        ("MARKETPLACE_PLAN_ID", "gen2"),
        ("MARKETPLACE_IMAGE_VERSION", "1.0.0"),
        ("MARKETPLACE_OS_DISK_URL", SAS),
    ];
    let changes = Changes::from_lookup(&lookup(&vars)).unwrap().unwrap();
    assert_eq!(
        changes.resources,
        [json!({"$schema": LISTING, "k": "tok-123"})]
    );
    assert_eq!(changes.image.unwrap().plan_id, "gen2");
    let secrets: Vec<&str> = changes.secrets.iter().map(Secret::expose).collect();
    assert_eq!(secrets, ["tok-123", "FileSig%2F123", "FileSig/123"]);
    let only_image = Changes::from_lookup(&lookup(&vars[2..])).unwrap().unwrap();
    assert!(only_image.resources.is_empty() && only_image.image.is_some());
}

#[test]
fn file_and_image_errors_come_together() {
    let file = TempFile::new("both", b"[]");
    let vars = [
        (CONFIGURE_FILE, file.path()),
        ("MARKETPLACE_OS_DISK_URL", "ftp://h/os.vhd?sig=FtpSig"),
    ];
    let errors = Changes::from_lookup(&lookup(&vars)).unwrap_err();
    let variables: Vec<&str> = errors.iter().map(|e| e.variable.as_str()).collect();
    assert_eq!(
        variables,
        [
            CONFIGURE_FILE,
            "MARKETPLACE_PLAN_ID",
            "MARKETPLACE_IMAGE_VERSION",
            "MARKETPLACE_OS_DISK_URL"
        ]
    );
    assert!(errors.iter().all(|e| !e.to_string().contains("FtpSig")));
}

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

proptest! {
    #[test]
    fn no_error_text_carries_a_secret_or_signature(
        secret in "[A-Z0-9]{12,20}",
        sig in "[A-Za-z0-9%]{12,20}",
        schema in prop::sample::select(vec![
            "https://product-ingestion.azureedge.net/schema/${DB_PASSWORD}/1",
            "https://product-ingestion.azureedge.net/schema/x/1?sig=SIG",
            "https://schema.mp.microsoft.com/schema/${DB_PASSWORD}",
            "${DB_PASSWORD}",
            "https://schema.mp.microsoft.com/schema/submission/${DB_PASSWORD}",
        ]),
        value in r"(\$\{DB_PASSWORD\}|\$\{UNSET\}|\$\{|https://h/p\?sig=SIG|[a-z ]){1,6}",
        wrapped in any::<bool>(),
    ) {
        let schema = schema.replace("SIG", &sig);
        let value = value.replace("SIG", &sig);
        let resources = json!([{"$schema": schema, "v": value}, 1]);
        let doc = match wrapped {
            true => json!({"$schema": schema, "resources": resources}),
            false => resources,
        };
        let errors = check(&doc, &[("DB_PASSWORD", &secret)]).expect_err("the second resource is refused");
        for e in errors {
            prop_assert!(!e.message.contains(&secret) && !e.message.contains(&sig), "{}", e);
        }
    }

    #[test]
    fn checking_never_panics(text in r#"(\[|\]|\{|\}|"\$schema"|"resources"|"https://schema.mp.microsoft.com/schema/a/b"|:|,|\$\{|[a-z0-9 ]){0,30}"#) {
        let _ = check_document("c.json", text.as_bytes(), &lookup(&[]));
    }
}

/// The README's example file is checked as a user's would be, so that it cannot rot.
#[test]
fn the_example_saas_file_passes_and_its_webhook_is_a_secret_by_name() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/saas-technical-configuration.json"
    );
    let vars = [
        (
            "SAAS_CONNECTION_WEBHOOK",
            "https://contoso.example/hook?code=abc",
        ),
        (
            "SAAS_ENTRA_TENANT_ID",
            "72f988bf-86f1-41af-91ab-2d7cd011db47",
        ),
        ("SAAS_ENTRA_APP_ID", "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"),
    ];
    let file = read_file(path, &lookup(&vars)).expect("the example passes the checks");
    assert_eq!(file.resources.len(), 1);
    assert_eq!(
        file.resources[0]["connectionWebhook"],
        "https://contoso.example/hook?code=abc"
    );
    assert!(file.secrets.iter().any(|s| s.expose().contains("code=abc")));
}
