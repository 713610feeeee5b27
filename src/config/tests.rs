use std::time::Duration;

use super::*;
use crate::auth::AssertionSource;
use crate::secret::Secret;

fn env(pairs: &[(&str, &str)]) -> Env {
    let mut all = vec![
        ("MARKETPLACE_PUBLISHER_ID", "contoso"),
        ("MARKETPLACE_OFFER_ID", "contoso-offer"),
        ("MARKETPLACE_TOKEN", "tok"),
    ];
    all.extend_from_slice(pairs);
    Env::from_pairs(all.iter().copied())
}

/// The variables named by the errors for `pairs`, in order.
fn refused(pairs: &[(&str, &str)]) -> Vec<String> {
    Settings::from_env(&env(pairs))
        .expect_err("should be rejected")
        .into_iter()
        .map(|e| e.variable)
        .collect()
}

#[test]
fn defaults_follow_the_contract() {
    let s = Settings::from_env(&env(&[])).unwrap();
    assert_eq!(s.backend.api(), Api::CloudPartnerPortal);
    assert_eq!(s.command, Command::Publish);
    assert!(s.wait);
    assert!(!s.cancel_on_interrupt);
    assert_eq!(s.timeout, Duration::from_secs(3600));
    assert_eq!(s.poll_interval, Duration::from_secs(15));
    assert_eq!(s.poll_max_interval, Duration::from_secs(60));
    assert_eq!(s.api_base.as_str(), "https://cloudpartner.azure.com/");
    assert_eq!(s.api_version, "2017-10-31");
    assert_eq!(s.auth, AuthSettings::Token(Secret::new("tok")));
    assert!(s.notification_emails.is_empty());
}

#[test]
fn blank_is_unset_and_values_are_trimmed() {
    let s = Settings::from_env(&env(&[
        ("MARKETPLACE_COMMAND", "  "),
        ("MARKETPLACE_TIMEOUT", " 2h "),
    ]))
    .unwrap();
    assert_eq!(s.command, Command::Publish);
    assert_eq!(s.timeout, Duration::from_secs(7200));
    assert_eq!(
        refused(&[("MARKETPLACE_OFFER_ID", "   ")]),
        ["MARKETPLACE_OFFER_ID"]
    );
}

#[test]
fn every_bad_input_is_named_at_once() {
    let errors = Settings::from_env(&Env::from_pairs([
        ("MARKETPLACE_WAIT", "maybe"),
        ("MARKETPLACE_TIMEOUT", "soon"),
        ("MARKETPLACE_COMMAND", "deploy"),
    ]))
    .unwrap_err();
    let named: Vec<&str> = errors.iter().map(|e| e.variable.as_str()).collect();
    for variable in [
        "MARKETPLACE_PUBLISHER_ID",
        "MARKETPLACE_OFFER_ID",
        "MARKETPLACE_WAIT",
        "MARKETPLACE_TIMEOUT",
        "MARKETPLACE_COMMAND",
        "MARKETPLACE_TOKEN",
    ] {
        assert!(named.contains(&variable), "{variable} in {named:?}");
    }
    let missing = errors
        .iter()
        .find(|e| e.variable == "MARKETPLACE_TOKEN")
        .unwrap();
    for way in ["MARKETPLACE_TOKEN", "MARKETPLACE_CLIENT_SECRET", "OIDC"] {
        assert!(missing.message.contains(way), "{}", missing.message);
    }
}

#[test]
fn durations_must_be_positive_and_ordered() {
    assert_eq!(
        refused(&[("MARKETPLACE_POLL_INTERVAL", "0s")]),
        ["MARKETPLACE_POLL_INTERVAL"]
    );
    assert_eq!(
        refused(&[
            ("MARKETPLACE_POLL_INTERVAL", "2m"),
            ("MARKETPLACE_POLL_MAX_INTERVAL", "1m")
        ]),
        ["MARKETPLACE_POLL_MAX_INTERVAL"]
    );
    let s = Settings::from_env(&env(&[("MARKETPLACE_POLL_INTERVAL", "2m")])).unwrap();
    assert_eq!(s.poll_max_interval, Duration::from_secs(120));
}

#[test]
fn booleans() {
    for (text, value) in [
        ("TRUE", true),
        ("yes", true),
        ("1", true),
        ("No", false),
        ("0", false),
    ] {
        let s = Settings::from_env(&env(&[("MARKETPLACE_WAIT", text)])).unwrap();
        assert_eq!(s.wait, value);
    }
    assert_eq!(
        refused(&[("MARKETPLACE_WAIT", "maybe")]),
        ["MARKETPLACE_WAIT"]
    );
}

#[test]
fn origins_need_https_except_on_loopback() {
    for good in [
        "http://127.0.0.1:8080",
        "http://localhost:1",
        "http://[::1]:9",
        "https://example.com",
    ] {
        assert!(
            Settings::from_env(&env(&[("MARKETPLACE_API_BASE", good)])).is_ok(),
            "{good}"
        );
    }
    for bad in [
        "http://example.com",
        "ftp://x",
        "https://x/path",
        "https://u:p@x",
        "not a url",
        "http://10.0.0.1",
    ] {
        assert_eq!(
            refused(&[("MARKETPLACE_API_BASE", bad)]),
            ["MARKETPLACE_API_BASE"],
            "{bad}"
        );
    }
    assert_eq!(
        refused(&[("MARKETPLACE_AUTHORITY_HOST", "http://login.example")]),
        ["MARKETPLACE_AUTHORITY_HOST"]
    );
}

#[test]
fn operations_are_resolved_by_the_apis_rule() {
    let s = Settings::from_env(&env(&[("MARKETPLACE_OPERATION", "/api/operations/1")])).unwrap();
    assert_eq!(
        s.operation.unwrap().as_str(),
        "https://cloudpartner.azure.com/api/operations/1"
    );
    assert_eq!(
        refused(&[("MARKETPLACE_OPERATION", "https://evil.example/api/x")]),
        ["MARKETPLACE_OPERATION"]
    );
}

#[test]
fn auth_auto_picks_token_then_secret_then_federation() {
    let base = [
        ("MARKETPLACE_PUBLISHER_ID", "p"),
        ("MARKETPLACE_OFFER_ID", "o"),
        ("AZURE_TENANT_ID", "t"),
        ("AZURE_CLIENT_ID", "c"),
    ];
    let with = |extra: &[(&str, &str)]| {
        let mut all = base.to_vec();
        all.extend_from_slice(extra);
        Settings::from_env(&Env::from_pairs(all)).map(|s| s.auth)
    };
    assert!(matches!(
        with(&[("AZURE_CLIENT_SECRET", "s")]),
        Ok(AuthSettings::ClientSecret { .. })
    ));
    assert!(matches!(
        with(&[("AZURE_FEDERATED_TOKEN_FILE", "/f")]),
        Ok(AuthSettings::Federated {
            assertion: AssertionSource::File(_),
            ..
        })
    ));
    assert!(matches!(
        with(&[
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://x"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "r")
        ]),
        Ok(AuthSettings::Federated {
            assertion: AssertionSource::GitHub { .. },
            ..
        })
    ));
    assert!(matches!(
        with(&[("MARKETPLACE_AUTH", "oidc")]),
        Ok(AuthSettings::FederationUnavailable { .. })
    ));
    let errors = with(&[]).unwrap_err();
    assert_eq!(errors[0].variable, "MARKETPLACE_TOKEN");
}

#[test]
fn a_client_secret_needs_both_ids_and_says_so_at_once() {
    let errors = Settings::from_env(&Env::from_pairs([
        ("MARKETPLACE_PUBLISHER_ID", "p"),
        ("MARKETPLACE_OFFER_ID", "o"),
        ("MARKETPLACE_AUTH", "client-secret"),
    ]))
    .unwrap_err();
    let named: Vec<&str> = errors.iter().map(|e| e.variable.as_str()).collect();
    assert_eq!(
        named,
        [
            "MARKETPLACE_TENANT_ID",
            "MARKETPLACE_CLIENT_ID",
            "MARKETPLACE_CLIENT_SECRET"
        ]
    );
}

#[test]
fn errors_never_echo_secrets() {
    let errors = Settings::from_env(&env(&[
        ("MARKETPLACE_AUTH", "client-secret"),
        ("MARKETPLACE_CLIENT_SECRET", "s3cr3t"),
    ]))
    .unwrap_err();
    assert!(errors.iter().all(|e| !e.to_string().contains("s3cr3t")));
}

#[test]
fn draft_changes_need_the_product_ingestion_api_and_configure_needs_changes() {
    let errors = Settings::from_env(&env(&[
        ("MARKETPLACE_PLAN_ID", "plan-1"),
        ("MARKETPLACE_IMAGE_VERSION", "1.2.3"),
        (
            "MARKETPLACE_OS_DISK_URL",
            "https://disks.example/os.vhd?sig=abc",
        ),
    ]))
    .unwrap_err();
    assert_eq!(errors[0].variable, "MARKETPLACE_CONFIGURE_FILE");
    assert!(errors.iter().all(|e| !e.to_string().contains("sig=abc")));
    assert_eq!(
        refused(&[("MARKETPLACE_COMMAND", "configure")]),
        ["MARKETPLACE_CONFIGURE_FILE"]
    );
}

fn ingestion_settings(pairs: &[(&str, &str)]) -> Settings {
    let mut all = vec![
        ("MARKETPLACE_API", "product-ingestion"),
        ("MARKETPLACE_OFFER_ID", "contoso-offer"),
        ("MARKETPLACE_TOKEN", "a-token-long-enough"),
    ];
    all.extend_from_slice(pairs);
    Settings::from_env(&Env::from_pairs(all)).unwrap()
}

#[test]
fn a_poll_shorter_than_the_service_asks_is_warned_about_except_on_loopback() {
    let titles = |pairs: &[(&str, &str)]| -> Vec<&'static str> {
        ingestion_settings(pairs)
            .warnings()
            .into_iter()
            .map(|(title, _)| title)
            .collect()
    };
    let warnings = ingestion_settings(&[("MARKETPLACE_POLL_INTERVAL", "10s")]).warnings();
    assert!(warnings[0].1.contains("every 1m"), "{warnings:?}");
    assert!(titles(&[]).is_empty());
    let local = [
        ("MARKETPLACE_POLL_INTERVAL", "10ms"),
        (
            "MARKETPLACE_API_BASE",
            "http://127.0.0.1:9/rp/product-ingestion",
        ),
    ];
    assert!(titles(&local).is_empty());
    let cpp = [
        ("MARKETPLACE_API", "cpp"),
        ("MARKETPLACE_PUBLISHER_ID", "contoso"),
        ("MARKETPLACE_POLL_INTERVAL", "1s"),
        ("MARKETPLACE_NOTIFICATION_EMAILS", "a@contoso.com"),
    ];
    assert!(titles(&cpp).is_empty());
    assert_eq!(
        titles(&[("MARKETPLACE_NOTIFICATION_EMAILS", "a@contoso.com")]),
        ["notification e-mails"]
    );
}
