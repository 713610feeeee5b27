//! A new VM image version from the inputs `MARKETPLACE_PLAN_ID`, `MARKETPLACE_IMAGE_VERSION`,
//! `MARKETPLACE_OS_DISK_URL`, `MARKETPLACE_DATA_DISK_URLS` and `MARKETPLACE_IMAGE_TYPE`.
//!
//! They go together: any one of them asks for a new version, and then the plan, the version and the OS
//! disk are required. A disk URL is a SAS URI whose signature is a secret: [`DiskUri`] keeps it out of
//! `Debug`, and no message quotes a URL's query.

use url::Url;

use super::{get, text_signatures, ConfigError, Lookup};
use crate::input::validate_id;
use crate::secret::Secret;

pub const PLAN_ID: &str = "MARKETPLACE_PLAN_ID";
pub const IMAGE_VERSION: &str = "MARKETPLACE_IMAGE_VERSION";
pub const OS_DISK_URL: &str = "MARKETPLACE_OS_DISK_URL";
pub const DATA_DISK_URLS: &str = "MARKETPLACE_DATA_DISK_URLS";
pub const IMAGE_TYPE: &str = "MARKETPLACE_IMAGE_TYPE";

/// The inputs that a new version cannot do without.
const REQUIRED: [&str; 3] = [PLAN_ID, IMAGE_VERSION, OS_DISK_URL];
/// The schema's limit: LUNs 0 to 15.
const MAX_DATA_DISKS: usize = 16;
/// The schema's limit on `versionNumber`.
const MAX_VERSION_CHARS: usize = 32;

/// A VM image's architecture and generation, as the technical configuration names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    X64Gen1,
    X64Gen2,
    /// Not in the 2022-03-01-preview2 schema, but sent by production clients of the API for Arm plans.
    Arm64Gen2,
}

impl ImageType {
    pub const ALL: [ImageType; 3] = [ImageType::X64Gen1, ImageType::X64Gen2, ImageType::Arm64Gen2];

    pub fn as_str(self) -> &'static str {
        match self {
            ImageType::X64Gen1 => "x64Gen1",
            ImageType::X64Gen2 => "x64Gen2",
            ImageType::Arm64Gen2 => "arm64Gen2",
        }
    }

    /// A name in any case (`x64gen2` is `x64Gen2`).
    pub fn parse(text: &str) -> Option<ImageType> {
        ImageType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(text))
    }
}

/// An https disk URL, usually a SAS URI. The full text (signature included) is only had through
/// [`DiskUri::expose`], for the request body; messages use [`DiskUri::without_query`].
#[derive(Clone, PartialEq, Eq)]
pub struct DiskUri {
    full: String,
    shown: String,
}

impl DiskUri {
    /// An absolute https URL with a host; kept as written, since re-encoding could alter a signature.
    pub fn parse(text: &str) -> Result<DiskUri, &'static str> {
        let url = Url::parse(text).map_err(|_| "is not an absolute URL")?;
        if url.scheme() != "https" {
            return Err("must be an https URL");
        }
        // The parser forgives `https:host`, `https:///host` and backslashes; the service may not.
        let after_scheme = text.get(6..).unwrap_or_default();
        let written_host = after_scheme
            .strip_prefix("//")
            .filter(|rest| !rest.starts_with(['/', '\\']));
        if url.host_str().is_none_or(str::is_empty) || written_host.is_none() {
            return Err("must name a host, as https://host/path");
        }
        Ok(DiskUri {
            full: text.to_string(),
            shown: shown(url),
        })
    }

    /// The URL as given, signature included: for the request body only.
    pub fn expose(&self) -> &str {
        &self.full
    }

    /// The URL without user name, query or fragment: what identifies the disk, safe to print.
    pub fn without_query(&self) -> &str {
        &self.shown
    }
}

impl std::fmt::Debug for DiskUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DiskUri({}?***)", self.shown)
    }
}

/// A URL without user name, password, query or fragment, normalised (host case, default port, path
/// escapes) so that two spellings of one blob compare equal; `None` when it is not an absolute URL.
pub fn uri_without_query(text: &str) -> Option<String> {
    Url::parse(text.trim()).ok().map(shown)
}

fn shown(mut url: Url) -> String {
    // Only URLs that cannot be a base refuse a user name; those have none to remove.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// A version `1.2.3`: three whole numbers, each fitting a 32-bit signed integer, as Azure's image
/// versions require; `None` otherwise. At most 32 characters, as the schema says.
pub fn version_parts(text: &str) -> Option<[u32; 3]> {
    if text.len() > MAX_VERSION_CHARS {
        return None;
    }
    let mut parts = text.split('.').map(|part| {
        (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<u32>().ok())
            .flatten()
            .filter(|n| *n <= i32::MAX as u32)
    });
    let version = [parts.next()??, parts.next()??, parts.next()??];
    parts.next().is_none().then_some(version)
}

/// A new image version for one plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageVersion {
    /// The plan's external id (`MARKETPLACE_PLAN_ID`).
    pub plan_id: String,
    /// `1.2.3`, as given.
    pub version: String,
    pub image_type: ImageType,
    pub os_disk: DiskUri,
    /// Data disks in LUN order: the first is LUN 0.
    pub data_disks: Vec<DiskUri>,
}

impl ImageVersion {
    /// The version the inputs ask for: `None` when none of them is set; every problem otherwise.
    pub fn from_lookup(lookup: Lookup) -> Result<Option<ImageVersion>, Vec<ConfigError>> {
        let plan = get(lookup, PLAN_ID);
        let version = get(lookup, IMAGE_VERSION);
        let os_disk = get(lookup, OS_DISK_URL);
        let data_disks = get(lookup, DATA_DISK_URLS);
        let image_type = get(lookup, IMAGE_TYPE);
        let given: Vec<&str> = [
            (PLAN_ID, plan.is_some()),
            (IMAGE_VERSION, version.is_some()),
            (OS_DISK_URL, os_disk.is_some()),
            (DATA_DISK_URLS, data_disks.is_some()),
            (IMAGE_TYPE, image_type.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        if given.is_empty() {
            return Ok(None);
        }
        let mut errors = Vec::new();
        let error = |variable: &str, message: String| ConfigError {
            variable: variable.to_string(),
            message,
        };
        for (variable, value) in REQUIRED.into_iter().zip([&plan, &version, &os_disk]) {
            if value.is_none() {
                errors.push(error(
                    variable,
                    format!(
                        "required with {}: a new VM image version needs {}, {} and {}",
                        given.join(", "),
                        REQUIRED[0],
                        REQUIRED[1],
                        REQUIRED[2]
                    ),
                ));
            }
        }
        if let Some(Err(why)) = plan.as_deref().map(validate_id) {
            errors.push(error(
                PLAN_ID,
                format!("{why} (the plan's id, e.g. gen2-plan)"),
            ));
        }
        if version
            .as_deref()
            .is_some_and(|v| version_parts(v).is_none())
        {
            errors.push(error(
                IMAGE_VERSION,
                format!(
                    "must be three whole numbers separated by dots, each at most {}, in at most \
                     {MAX_VERSION_CHARS} characters (e.g. 1.2.3)",
                    i32::MAX
                ),
            ));
        }
        let parsed_type = match image_type.as_deref() {
            None => Some(ImageType::X64Gen2),
            Some(text) => ImageType::parse(text),
        };
        if parsed_type.is_none() {
            let names: Vec<&str> = ImageType::ALL.iter().map(|t| t.as_str()).collect();
            errors.push(error(
                IMAGE_TYPE,
                format!("must be one of {} (default x64Gen2)", names.join(", ")),
            ));
        }
        let os = os_disk.as_deref().map(DiskUri::parse);
        if let Some(Err(why)) = &os {
            errors.push(error(
                OS_DISK_URL,
                format!("{why} (the OS disk's SAS URI, https://...)"),
            ));
        }
        let data = data_disks
            .as_deref()
            .map_or(Ok(Vec::new()), |text| disk_list(text, &error));
        if let Err(e) = &data {
            errors.extend(e.iter().cloned());
        }
        match (plan, version, parsed_type, os, data) {
            (Some(plan_id), Some(version), Some(image_type), Some(Ok(os_disk)), Ok(data_disks))
                if errors.is_empty() =>
            {
                Ok(Some(ImageVersion {
                    plan_id,
                    version,
                    image_type,
                    os_disk,
                    data_disks,
                }))
            }
            _ => Err(errors),
        }
    }

    /// The signatures of its disk URLs, to mask.
    pub fn secrets(&self) -> Vec<Secret> {
        std::iter::once(&self.os_disk)
            .chain(&self.data_disks)
            .flat_map(|disk| text_signatures(disk.expose()))
            .collect()
    }
}

/// `MARKETPLACE_DATA_DISK_URLS`: comma-separated, LUN 0 first; every bad item is reported by position.
fn disk_list(
    text: &str,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Vec<DiskUri>, Vec<ConfigError>> {
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    let mut errors = Vec::new();
    if items.len() > MAX_DATA_DISKS {
        errors.push(error(
            DATA_DISK_URLS,
            format!(
                "holds {} URLs; at most {MAX_DATA_DISKS} data disks (LUN 0 to 15) are accepted",
                items.len()
            ),
        ));
    }
    let mut disks = Vec::new();
    for (lun, item) in items.into_iter().enumerate() {
        let parsed = match item.is_empty() {
            true => Err("is empty"),
            false => DiskUri::parse(item),
        };
        match parsed {
            Ok(disk) => disks.push(disk),
            Err(why) => errors.push(error(
                DATA_DISK_URLS,
                format!(
                    "item {} (LUN {lun}) {why}: give comma-separated https SAS URIs, LUN 0 first",
                    lun + 1
                ),
            )),
        }
    }
    match errors.is_empty() {
        true => Ok(disks),
        false => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OS: &str =
        "https://acct.blob.core.windows.net/vhds/os.vhd?sv=2022-11-02&sr=b&sp=r&sig=OsSig%2Babc%3D";
    const DATA0: &str = "https://acct.blob.core.windows.net/vhds/d0.vhd?sv=1&sig=DataSigZero";
    const DATA1: &str = "https://acct.blob.core.windows.net/vhds/d1.vhd?sig=DataSigOne&sv=1";

    fn parse(pairs: &[(&str, &str)]) -> Result<Option<ImageVersion>, Vec<ConfigError>> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ImageVersion::from_lookup(&move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    fn full<'a>(extra: &[(&'static str, &'a str)]) -> Vec<(&'static str, &'a str)> {
        let mut pairs = vec![
            (PLAN_ID, "gen2"),
            (IMAGE_VERSION, "1.2.3"),
            (OS_DISK_URL, OS),
        ];
        pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        pairs.extend_from_slice(extra);
        pairs
    }

    fn errors(pairs: &[(&str, &str)]) -> Vec<ConfigError> {
        let errors = parse(pairs).expect_err("should be refused");
        for e in &errors {
            for secret in ["OsSig", "DataSig", "sv=", "?"] {
                assert!(!e.message.contains(secret), "{e}");
            }
        }
        errors
    }

    fn variables(errors: &[ConfigError]) -> Vec<&str> {
        errors.iter().map(|e| e.variable.as_str()).collect()
    }

    #[test]
    fn nothing_given_is_no_image() {
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(parse(&[(PLAN_ID, "  "), (IMAGE_TYPE, "")]).unwrap(), None);
    }

    #[test]
    fn a_full_set_of_inputs() {
        let disks = format!(" {DATA0} , {DATA1} ");
        let image = parse(&full(&[(DATA_DISK_URLS, &disks)])).unwrap().unwrap();
        assert_eq!(image.plan_id, "gen2");
        assert_eq!(image.version, "1.2.3");
        assert_eq!(image.image_type, ImageType::X64Gen2);
        assert_eq!(image.os_disk.expose(), OS);
        assert_eq!(
            image.os_disk.without_query(),
            "https://acct.blob.core.windows.net/vhds/os.vhd"
        );
        let data: Vec<&str> = image.data_disks.iter().map(DiskUri::expose).collect();
        assert_eq!(data, [DATA0, DATA1]);
        let secrets = image.secrets();
        let secrets: Vec<&str> = secrets.iter().map(Secret::expose).collect();
        assert_eq!(
            secrets,
            ["OsSig%2Babc%3D", "OsSig+abc=", "DataSigZero", "DataSigOne"]
        );
        let shown = format!("{image:?}");
        assert!(
            !shown.contains("Sig") && shown.contains("os.vhd?***"),
            "{shown}"
        );
    }

    #[test]
    fn image_types() {
        for (text, expected) in [
            ("x64Gen1", ImageType::X64Gen1),
            ("X64GEN2", ImageType::X64Gen2),
            ("arm64Gen2", ImageType::Arm64Gen2),
        ] {
            let image = parse(&full(&[(IMAGE_TYPE, text)])).unwrap().unwrap();
            assert_eq!(image.image_type, expected);
        }
        let refused = errors(&full(&[(IMAGE_TYPE, "arm64Gen1")]));
        assert_eq!(variables(&refused), [IMAGE_TYPE]);
        assert!(
            refused[0].message.contains("x64Gen1, x64Gen2, arm64Gen2"),
            "{}",
            refused[0]
        );
    }

    #[test]
    fn partial_inputs_name_every_missing_variable() {
        let refused = errors(&[(IMAGE_VERSION, "1.0.0")]);
        assert_eq!(variables(&refused), [PLAN_ID, OS_DISK_URL]);
        assert!(
            refused[0]
                .message
                .contains("required with MARKETPLACE_IMAGE_VERSION"),
            "{}",
            refused[0]
        );
        let refused = errors(&[(DATA_DISK_URLS, DATA0)]);
        assert_eq!(variables(&refused), REQUIRED);
        let refused = errors(&[(IMAGE_TYPE, "x64Gen1")]);
        assert_eq!(variables(&refused), REQUIRED);
        let refused = errors(&[(PLAN_ID, "gen2"), (OS_DISK_URL, OS)]);
        assert_eq!(variables(&refused), [IMAGE_VERSION]);
        // Missing and invalid together: every problem at once.
        let refused = errors(&[
            (PLAN_ID, "bad plan"),
            (OS_DISK_URL, "http://x/os.vhd?sig=OsSig"),
        ]);
        assert_eq!(variables(&refused), [IMAGE_VERSION, PLAN_ID, OS_DISK_URL]);
    }

    #[test]
    fn versions() {
        for good in ["0.0.0", "1.2.3", "2147483647.0.10", "01.002.3"] {
            assert!(version_parts(good).is_some(), "{good}");
            assert!(parse(&full(&[(IMAGE_VERSION, good)])).is_ok(), "{good}");
        }
        assert_eq!(version_parts("01.002.3"), Some([1, 2, 3]));
        for bad in [
            "1.2",
            "1.2.3.4",
            "1..3",
            "1.2.3.",
            "v1.2.3",
            "1.2.-3",
            "1.2.+3",
            "2147483648.0.0",
            "1.2.3 ",
            "١.٢.٣",
            &format!("{}1.2.3", "0".repeat(30)),
        ] {
            assert_eq!(version_parts(bad), None, "{bad}");
        }
        let refused = errors(&full(&[(IMAGE_VERSION, "1.2")]));
        assert_eq!(variables(&refused), [IMAGE_VERSION]);
        assert!(refused[0].message.contains("e.g. 1.2.3"));
    }

    #[test]
    fn plan_ids_follow_the_id_rule() {
        for bad in ["..", "a b", &"p".repeat(51), "plan/1"] {
            assert_eq!(
                variables(&errors(&full(&[(PLAN_ID, bad)]))),
                [PLAN_ID],
                "{bad}"
            );
        }
        assert!(parse(&full(&[(PLAN_ID, "Gen2_plan.v-1")])).is_ok());
        assert!(parse(&full(&[(
            OS_DISK_URL,
            "HTTPS://Acct.blob.core.windows.net/c/os.vhd"
        )]))
        .is_ok());
    }

    #[test]
    fn disk_urls_are_absolute_https_with_a_host() {
        for bad in [
            "acct/os.vhd?sig=OsSig",
            "http://acct/os.vhd?sig=OsSig",
            "https:///os.vhd?sig=OsSig",
            "https:acct/os.vhd?sig=OsSig",
            r"https:\\acct\os.vhd?sig=OsSig",
            "https:/\\acct/os.vhd?sig=OsSig",
            "file:///os.vhd",
            "https://",
            "not a url",
        ] {
            let refused = errors(&full(&[(OS_DISK_URL, bad)]));
            assert_eq!(variables(&refused), [OS_DISK_URL], "{bad}");
        }
        let disks = format!("{DATA0},,http://h/x?sig=DataSigTwo,{DATA1},");
        let refused = errors(&full(&[(DATA_DISK_URLS, &disks)]));
        let messages: Vec<&str> = refused.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].starts_with("item 2 (LUN 1) is empty"));
        assert!(messages[1].starts_with("item 3 (LUN 2) must be an https URL"));
        assert!(messages[2].starts_with("item 5 (LUN 4) is empty"));
    }

    #[test]
    fn at_most_sixteen_data_disks() {
        let sixteen = vec![DATA0; 16].join(",");
        let image = parse(&full(&[(DATA_DISK_URLS, &sixteen)]))
            .unwrap()
            .unwrap();
        assert_eq!(image.data_disks.len(), 16);
        let seventeen = vec![DATA0; 17].join(",");
        let refused = errors(&full(&[(DATA_DISK_URLS, &seventeen)]));
        assert!(refused[0].message.contains("at most 16"), "{}", refused[0]);
    }

    #[test]
    fn without_query_drops_credentials_and_normalises() {
        assert_eq!(
            uri_without_query(
                "https://user:pw@ACCT.blob.core.windows.net:443/c/./os.vhd?sig=x#frag"
            )
            .as_deref(),
            Some("https://acct.blob.core.windows.net/c/os.vhd")
        );
        assert_eq!(uri_without_query("no url"), None);
    }

    proptest! {
        #[test]
        fn versions_are_exactly_the_rule(a in 0u64..4_000_000_000, b in 0u64..100, c in 0u64..100, sep in "[.]|[.,]") {
            let text = format!("{a}{sep}{b}.{c}");
            let expected = sep == "." && a <= i32::MAX as u64;
            prop_assert_eq!(version_parts(&text).is_some(), expected, "{}", text);
        }

        #[test]
        fn no_message_quotes_a_signature(sig in "[A-Za-z0-9%+/=]{10,30}", url in r"(https?|ftp)://[a-z.]{0,8}/[a-z/]{0,6}", junk in r"\PC{0,6}") {
            let os = format!("{url}?sv=1&sig={sig}{junk}");
            let data = format!("{junk},{url}?sig={sig},{os}");
            for pairs in [full(&[]), vec![(IMAGE_TYPE, "x")], vec![]] {
                let mut pairs: Vec<(&str, &str)> = pairs.into_iter().filter(|(k, _)| *k != OS_DISK_URL).collect();
                pairs.push((OS_DISK_URL, &os));
                pairs.push((DATA_DISK_URLS, &data));
                if let Err(errors) = parse(&pairs) {
                    for e in errors {
                        prop_assert!(!e.message.contains(&sig), "{}", e);
                    }
                }
            }
        }
    }
}
