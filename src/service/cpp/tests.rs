use super::*;

#[test]
fn operations_as_object_or_array() {
    let object = json!({
        "id": "op1", "status": "running",
        "steps": [{"stepName": "displaycertify", "description": "Certification", "status": "inProgress",
                   "estimatedTimeFrame": "< 5 day", "progressPercentage": 40,
                   "messages": [{"messageHtml": "<b>Checking</b> &amp; more", "level": "Information"}]}]
    });
    let view = parse_operation(&object).unwrap();
    assert_eq!(view.phase, Phase::Running);
    assert_eq!(view.steps[0].name, "displaycertify");
    assert_eq!(view.steps[0].progress, Some(40));
    assert_eq!(view.steps[0].messages[0].text, "Checking & more");
    assert_eq!(view.steps[0].messages[0].level, Severity::Information);
    assert_eq!(parse_operation(&json!([object])).unwrap(), view);
    assert!(parse_operation(&json!([])).is_err());
    assert!(parse_operation(&json!("x")).is_err());
    assert!(parse_operation(&json!({"id": "x"})).is_err());
}

#[test]
fn operation_errors_in_both_shapes() {
    let view =
        parse_operation(&json!({"status": "failed", "error": {"code": "C", "message": "m"}}))
            .unwrap();
    let failure = view.failure.unwrap();
    assert_eq!(
        (failure.code, failure.message),
        (Some("C".into()), Some("m".into()))
    );
    let view = parse_operation(&json!({"status": "failed", "error": "plain"})).unwrap();
    assert_eq!(view.failure.unwrap().message, Some("plain".into()));
    let view =
        parse_operation(&json!({"status": "Succeeded", "progressPercentage": "50%"})).unwrap();
    assert_eq!(view.phase, Phase::Succeeded);
}

#[test]
fn status_words_are_compared_loosely() {
    let table = [
        ("complete", Phase::Succeeded),
        ("Completed", Phase::Succeeded),
        ("SUCCEEDED", Phase::Succeeded),
        ("in_progress", Phase::Running),
        ("In Progress", Phase::Running),
        ("inProgress", Phase::Running),
        ("waiting-for-publisher-review", Phase::PreviewReady),
        ("WaitingForPublisherReview", Phase::PreviewReady),
        ("cancelled", Phase::Canceled),
        ("Canceled", Phase::Canceled),
        ("failed", Phase::Failed),
        ("rejected", Phase::Failed),
        ("NeverPublished", Phase::Running),
        ("not_started", Phase::Running),
        ("blocked", Phase::Running),
    ];
    for (word, phase) in table {
        assert_eq!(operation_phase(word), (phase, true), "{word}");
    }
    assert_eq!(operation_phase("something-new"), (Phase::Running, false));
}

#[test]
fn a_waiting_signoff_step_is_a_ready_preview() {
    let json = json!({"status": "running", "steps": [
        {"stepName": "publisher-signoff", "status": "waitingForPublisherReview"}]});
    assert_eq!(parse_operation(&json).unwrap().phase, Phase::PreviewReady);
}

#[test]
fn a_failure_carries_the_failed_steps_errors() {
    let json = json!({"status": "failed",
        "error": {"code": "CertificationFailed", "message": "The offer failed certification"},
        "steps": [
            {"stepName": "displaydummycertify", "status": "complete"},
            {"stepName": "displaycertify", "status": "failed", "messages": [
                {"message": "Certification failed: image not generalized", "level": "Error"},
                {"message": "noise", "level": "Information"}]}]});
    let failure = parse_operation(&json).unwrap().failure.unwrap();
    assert_eq!(failure.step.as_deref(), Some("displaycertify"));
    assert_eq!(failure.code.as_deref(), Some("CertificationFailed"));
    assert_eq!(
        failure.message.as_deref(),
        Some("The offer failed certification; Certification failed: image not generalized")
    );
}

#[test]
fn html_is_flattened() {
    assert_eq!(strip_html("a<br/>b\n\n<p>c</p>"), "a b c");
    assert_eq!(strip_html("&lt;script&gt;"), "<script>");
}

#[test]
fn operation_locations() {
    let base = Url::parse("https://cloudpartner.azure.com").unwrap();
    let rel = "/api/operations/contoso$56615b67$2$preview?api-version=2017-10-31";
    assert_eq!(
        resolve_operation(&base, rel).unwrap().as_str(),
        format!("https://cloudpartner.azure.com{rel}")
    );
    assert_eq!(
        resolve_operation(&base, "api/operations/x")
            .unwrap()
            .as_str(),
        "https://cloudpartner.azure.com/api/operations/x"
    );
    let abs = "https://cloudpartner.azure.com/api/publishers/p/offers/o/operations/1?api-version=x";
    assert_eq!(resolve_operation(&base, abs).unwrap().as_str(), abs);
    for bad in [
        "https://evil.example/api/x",
        "//evil.example/api/x",
        "http://cloudpartner.azure.com/api/x",
        "/other/path",
        "other/path",
        "",
    ] {
        assert!(resolve_operation(&base, bad).is_err(), "{bad}");
    }
}

/// Property tests of the location rule, which turns untrusted text (inputs, the service's headers)
/// into the URLs the token is sent to.
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn api_base() -> Url {
        Url::parse("https://cloudpartner.azure.com").unwrap()
    }

    proptest! {
        #[test]
        fn operations_stay_on_the_api_origin_under_api(
            prefix in prop::sample::select(vec![
                "", "/", "/api/", "/api", "//", r"/\", "https://cloudpartner.azure.com",
                "https://cloudpartner.azure.com:443", "https://cloudpartner.azure.com@evil.example",
                "http://cloudpartner.azure.com", "https://evil.example", "https:/", "HTTPS://CLOUDPARTNER.AZURE.COM",
            ]),
            tail in r"(/|\.\.|%2[eEfF]|\$|@|:|\?|#|\\|api|[a-z0-9]{1,4}|\PC){0,12}",
        ) {
            let text = format!("{prefix}{tail}");
            if let Ok(url) = resolve_operation(&api_base(), &text) {
                prop_assert_eq!(url.origin(), api_base().origin(), "{:?}", text);
                prop_assert!(url.path().starts_with("/api/"), "{:?} -> {}", text, url);
                prop_assert!(url.username().is_empty() && url.password().is_none());
            }
        }

        #[test]
        fn dollar_locations_are_kept_as_given(
            publisher in "[a-z0-9-]{1,20}",
            id in "[0-9a-f-]{1,36}",
            absolute in any::<bool>(),
        ) {
            let path = format!("/api/operations/{publisher}${id}$2$preview");
            let text = match absolute {
                true => format!("https://cloudpartner.azure.com{path}?api-version=2017-10-31"),
                false => format!("{path}?api-version=2017-10-31"),
            };
            let url = resolve_operation(&api_base(), &text).expect("a service location");
            prop_assert_eq!(url.path(), path);
        }
    }
}
