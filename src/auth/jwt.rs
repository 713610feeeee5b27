//! Reading the claims of a JWT without verifying it: only to explain things to the user (when a given
//! token expires, which subject a federated credential must match). Nothing here decides whether a token
//! is trusted, and the token itself is never printed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

/// The claims worth showing. Missing claims stay `None`.
#[derive(Debug, Deserialize)]
pub(super) struct Claims {
    /// Seconds since the Unix epoch; some issuers write it as a fraction.
    pub exp: Option<f64>,
    pub iss: Option<String>,
    pub sub: Option<String>,
    aud: Option<Audience>,
}

/// `aud` is a string or a list of strings (RFC 7519, 4.1.3).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Claims {
    /// The audience as one line, the way a federated credential's form asks for it.
    pub fn audience(&self) -> Option<String> {
        match &self.aud {
            Some(Audience::One(aud)) => Some(aud.clone()),
            Some(Audience::Many(list)) => Some(list.join(", ")),
            None => None,
        }
    }
}

/// The claims of `token` if it is a JWT: three base64url parts, the middle one a JSON object.
pub(super) fn claims(token: &str) -> Option<Claims> {
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let json = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&json).ok()
}

/// A Unix time as `YYYY-MM-DD hh:mm:ss UTC`, so that a CI log shows the same time to every reader.
pub(super) fn format_utc(unix_seconds: i64) -> String {
    let (days, seconds) = (
        unix_seconds.div_euclid(86_400),
        unix_seconds.rem_euclid(86_400),
    );
    let (year, month, day) = crate::calendar::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// An unsigned JWT with `payload` as its claims, as CI platforms hand them out (signature unchecked here).
    pub fn jwt(payload: &serde_json::Value) -> String {
        let part = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.c2lnbmF0dXJl",
            part(&serde_json::json!({"alg": "RS256", "typ": "JWT"})),
            part(payload)
        )
    }

    #[test]
    fn reads_the_claims_of_a_jwt() {
        let token = jwt(&serde_json::json!({
            "iss": "https://token.actions.githubusercontent.com",
            "sub": "repo:contoso/offer:ref:refs/heads/main",
            "aud": "api://AzureADTokenExchange",
            "exp": 1_700_000_000
        }));
        let claims = claims(&token).unwrap();
        assert_eq!(
            claims.sub.as_deref(),
            Some("repo:contoso/offer:ref:refs/heads/main")
        );
        assert_eq!(
            claims.iss.as_deref(),
            Some("https://token.actions.githubusercontent.com")
        );
        assert_eq!(
            claims.audience().as_deref(),
            Some("api://AzureADTokenExchange")
        );
        assert_eq!(claims.exp, Some(1_700_000_000.0));
    }

    #[test]
    fn a_list_audience_is_joined() {
        let token = jwt(&serde_json::json!({"aud": ["a", "b"]}));
        assert_eq!(claims(&token).unwrap().audience().as_deref(), Some("a, b"));
    }

    #[test]
    fn anything_else_is_not_a_jwt() {
        for token in [
            "opaque-token",
            "a.b",
            "a.b.c.d",
            "a.!!!.c",
            "a.bm90IGpzb24.c",
        ] {
            assert!(claims(token).is_none(), "{token}");
        }
    }

    #[test]
    fn formats_times_in_utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59 UTC");
    }
}
