//! The rules for single input values: booleans, durations, ids, e-mail addresses and URLs. Each says
//! why a value is refused, in words a user can act on.

use std::time::Duration;

use url::Url;

use crate::http::is_loopback;
#[cfg(test)]
use crate::input::validate_id;

/// The longest duration accepted: 30 days, longer than any publish has been seen to take.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Parse a boolean the contract's way: `true`/`false`, `1`/`0`, `yes`/`no`, any case.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// Parse a duration: a whole number with `ms`, `s`, `m` or `h`; a bare number is seconds.
pub fn parse_duration(value: &str) -> Option<Duration> {
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    if number.is_empty() || number.len() > 12 {
        return None;
    }
    let n: u64 = number.parse().ok()?;
    let millis = match unit {
        "ms" => n,
        "" | "s" => n.checked_mul(1000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(millis))
}

/// A duration input must be longer than zero and at most [`MAX_DURATION`].
pub fn check_span(duration: Duration) -> Result<Duration, String> {
    if duration.is_zero() {
        return Err("must be longer than zero".to_string());
    }
    if duration > MAX_DURATION {
        return Err("must be at most 720h (30 days)".to_string());
    }
    Ok(duration)
}

/// Comma-separated e-mail addresses.
pub fn emails(value: &str) -> Result<Vec<String>, String> {
    let mut list = Vec::new();
    for address in value.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let ok = address.len() <= 254
            && address.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            })
            && address.matches('@').count() == 1
            && !address
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ';'));
        if !ok {
            return Err(format!(
                "'{address}' is not an e-mail address; give addresses separated by commas"
            ));
        }
        list.push(address.to_string());
    }
    Ok(list)
}

/// A service URL: https, or http on loopback; a host; no credentials, query or fragment.
pub fn check_service_url(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(url) => {}
        "http" => {
            return Err(
                "must use https (plain http is allowed only on 127.0.0.1, ::1 and localhost)"
                    .to_string(),
            )
        }
        _ => return Err("must be an https URL".to_string()),
    }
    if url.host().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err("must be a plain https URL, with no user, query or fragment".to_string());
    }
    Ok(())
}

/// An origin only (`https://host[:port]`), as the Entra authority must be.
pub fn check_origin(url: &Url) -> Result<(), String> {
    check_service_url(url)?;
    if url.path() != "/" {
        return Err(
            "must be an origin only, such as https://host or https://host:8443 (no path, query or user)"
                .to_string(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::format_duration;
    use proptest::prelude::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("45m"), Some(Duration::from_secs(2700)));
        for bad in [
            "",
            "1.5s",
            "-1s",
            "5x",
            "s",
            "1 s",
            "1S",
            "99999999999999999h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn ids() {
        for good in ["contoso", "a", "A.b_c-1", &"x".repeat(50)] {
            assert!(validate_id(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "-_.",
            "a/b",
            "a b",
            "a%2F",
            &"x".repeat(51),
            "é",
        ] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    /// The contract's id rule, written independently of `validate_id`.
    fn contract_id(value: &str) -> bool {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        (1..=50).contains(&value.chars().count())
            && value.chars().all(allowed)
            && value.chars().any(|c| c.is_ascii_alphanumeric())
    }

    proptest! {
        #[test]
        fn parse_duration_never_panics(text in r"\PC*|[0-9]{0,25}[a-zµ ]{0,3}") {
            let _ = parse_duration(&text);
        }

        #[test]
        fn valid_durations_round_trip(n in 0u64..1_000_000_000_000, unit in "|ms|s|m|h") {
            let duration = parse_duration(&format!("{n}{unit}")).expect("a valid duration");
            prop_assert_eq!(parse_duration(&format_duration(duration)), Some(duration));
        }

        #[test]
        fn ids_are_exactly_the_contracts(text in r"[A-Za-z0-9._/ %é-]{0,55}|\PC{0,55}") {
            prop_assert_eq!(validate_id(&text).is_ok(), contract_id(&text), "{:?}", text);
        }
    }
}
