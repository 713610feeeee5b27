//! Where things are in the Product Ingestion API: its input rules, the URLs under the base, job
//! locations, and how its refusals read.

use std::time::Duration;

use url::Url;

use super::super::{check_version, origin_scope, ApiRules, ServiceError};
use crate::input::validate_id;
use crate::outcome::Outcome;
use crate::text::excerpt;
use crate::transport::{rejection, Answer};

/// Product Ingestion's input rules (contract sections 1 and 6).
pub static RULES: ApiRules = ApiRules {
    names: &["product-ingestion"],
    default_base: "https://graph.microsoft.com/rp/product-ingestion",
    default_version: "2022-03-01-preview2",
    publisher_required: false,
    check_offer,
    offer_forms:
        "the offer id in Partner Center (e.g. contoso-offer), product/<guid> or the product's guid",
    cancel_needs_operation: true,
    notification_mail: false,
    draft_changes: true,
    // The service asks for at most one status read a minute; preview and live jobs run for days.
    polite_poll: Duration::from_secs(60),
    default_poll: (Duration::from_secs(60), Duration::from_secs(300)),
    check_base: any_path,
    check_version,
    // The default base's origin is Microsoft Graph's, whose scope is exactly its origin + `/.default`.
    scope: origin_scope,
    resolve_operation,
    operation_forms: "the operation-location output of an earlier run, or configure/{jobId}",
};

/// The submission resource's schema; the configure envelope's follows `MARKETPLACE_API_VERSION`.
pub(super) const SUBMISSION_SCHEMA: &str =
    "https://schema.mp.microsoft.com/schema/submission/2022-03-01-preview2";
pub(super) const SCHEMA_ROOT: &str = "https://schema.mp.microsoft.com/schema";

/// Pages of a listing followed at most: a service handing out endless `@nextLink`s must not hold the run.
pub(super) const MAX_PAGES: usize = 100;

/// The base is origin plus path (`/rp/product-ingestion`); the shared URL rule already refused a
/// query, a fragment and credentials.
pub(super) fn any_path(_: &Url) -> Result<(), String> {
    Ok(())
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex.
pub(super) fn is_guid(value: &str) -> bool {
    value.len() == 36
        && value.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The product's key as the durable id `product/<key>` writes it; it goes into paths, so only safe characters.
pub(super) fn is_product_key(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && value.chars().any(|c| c.is_ascii_alphanumeric())
}

/// The product key when the offer is given as `product/<guid>` or a bare guid; `None` for an external id.
pub(super) fn given_product(offer: &str) -> Option<&str> {
    match offer.strip_prefix("product/") {
        Some(key) => Some(key).filter(|k| is_product_key(k)),
        None => Some(offer).filter(|o| is_guid(o)),
    }
}

pub(super) fn check_offer(offer: &str) -> Result<(), String> {
    if offer.starts_with("product/") && given_product(offer).is_none() {
        return Err("product/ must be followed by the product's guid".to_string());
    }
    if given_product(offer).is_some() {
        return Ok(());
    }
    validate_id(offer)
        .map_err(|why| format!("{why} (e.g. contoso-offer, product/<guid> or the product's guid)"))
}

/// A job id goes into a path: letters, digits, `-` and `_` only.
pub(super) fn check_job_id(job: &str) -> Result<(), String> {
    let fine = (1..=64).contains(&job.len())
        && job
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && job.chars().any(|c| c.is_ascii_alphanumeric());
    match fine {
        true => Ok(()),
        false => Err(format!("'{}' is not a usable job id", excerpt(job))),
    }
}

/// `{B}/{tail}` with B's path kept, and `query` as given (callers build it from checked values).
pub(super) fn under_base(base: &Url, tail: &str, query: Option<&str>) -> Url {
    let mut url = base.clone();
    url.set_path(&format!("{}/{tail}", base.path().trim_end_matches('/')));
    url.set_query(query);
    url
}

/// Where a job is read: `{B}/configure/{jobId}/status`, without a query.
pub(super) fn job_location(base: &Url, job: &str) -> Url {
    under_base(base, &format!("configure/{job}/status"), None)
}

/// Resolve `MARKETPLACE_OPERATION`: `configure/{jobId}` relative to B, or the absolute
/// `{B}/configure/{jobId}/status` of an earlier run. Either way the result is the job's canonical
/// location on B; anything off B's origin or outside B's path is refused.
pub fn resolve_operation(base: &Url, value: &str) -> Result<Url, String> {
    let value = value.trim();
    let tail = match value.strip_prefix("configure/") {
        Some(rest) => rest.to_string(),
        None => {
            let url = Url::parse(value).map_err(|_| {
                format!(
                    "'{}' is neither an absolute URL nor configure/{{jobId}}",
                    excerpt(value)
                )
            })?;
            if url.origin() != base.origin() {
                return Err(format!(
                    "'{}' is not on the API origin {}; nothing is sent to another origin",
                    excerpt(value),
                    base.origin().ascii_serialization()
                ));
            }
            if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
                return Err(format!("'{}' is not a job location", excerpt(value)));
            }
            let prefix = format!("{}/configure/", base.path().trim_end_matches('/'));
            url.path()
                .strip_prefix(&prefix)
                .ok_or_else(|| format!("'{}' is not a job under {base}", excerpt(value)))?
                .to_string()
        }
    };
    let job = tail.strip_suffix("/status").unwrap_or(&tail);
    check_job_id(job)?;
    Ok(job_location(base, job))
}

/// The job id of a location [`resolve_operation`] made.
pub(super) fn job_of(location: &Url) -> Option<String> {
    let mut segments = location.path_segments()?.rev();
    match (segments.next(), segments.next()) {
        (Some("status"), Some(job)) if check_job_id(job).is_ok() => Some(job.to_string()),
        _ => None,
    }
}

/// What to do next after the service refused a request with `status`.
pub(super) fn hint_for(status: u16) -> &'static str {
    match status {
        400 => "fix what the message names before running again; the same request will be refused again",
        403 => "add the application in Partner Center (Account settings, User management, Microsoft Entra \
                applications) with the Manager role",
        404 => "check MARKETPLACE_OFFER_ID: the product must be in the Partner Center account that the \
                application was added to",
        409 => "another submission is in progress for this offer; follow it with MARKETPLACE_COMMAND=status",
        300..=399 => "the service answered with a redirect, which is not followed so that the token stays on the API origin",
        _ => "check the service's message; if it persists, report it to Microsoft support",
    }
}

/// A refused request; a conflict is a bad request here (contract section 6).
pub(super) fn refused(what: &str, answer: &Answer) -> ServiceError {
    let mut error = rejection(what, answer, hint_for);
    if answer.status == 409 {
        error.outcome = Outcome::BadRequest;
    }
    error
}

/// A failure found before anything is sent, or in what was read.
pub(super) fn refuse(outcome: Outcome, context: &str, message: String, hint: &str) -> ServiceError {
    ServiceError {
        outcome,
        http_status: None,
        context: context.to_string(),
        code: None,
        message,
        hint: Some(hint.to_string()),
        transient: false,
    }
}
