//! A new VM image version merged into its plan's technical configuration (contract section 7): the
//! resource the configure request carries, or why nothing is to be sent.
//!
//! The plan's current configuration is the answer to
//! `GET {B}/virtual-machine-plan-technical-configuration/<productGuid>/<planGuid>`. It is read leniently
//! (a missing list is empty, `dataDisks` absent is none, entries that cannot be read are kept as they
//! are), and sent back whole, since the service replaces the resource with what it is sent. Disks are
//! compared by URL without the query: a new SAS signature for the same blob is not a new disk.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::changes::{uri_without_query, version_parts, ImageVersion};
use crate::text::one_line;

/// The schema the resource is sent with.
pub const TECHNICAL_CONFIGURATION_SCHEMA: &str =
    "https://schema.mp.microsoft.com/schema/virtual-machine-plan-technical-configuration/2022-03-01-preview3";

/// What a new image version means for the plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Merge {
    /// The version is in the plan with the same disks: nothing to send for it.
    NoChange,
    /// The version is in the plan with other disks (bad-request, exit 3): what differs, without any
    /// URL's query.
    Conflict(String),
    /// The resource to put in the configure request.
    Add(Value),
}

/// Merges `image` into the plan's `current` technical configuration.
///
/// `product` and `plan` are the durable ids (`product/<guid>`, `plan/<productGuid>/<planGuid>`) the run
/// resolved: the resource must name both, so they are set where the answer leaves them out (or null);
/// a reference the answer has is kept as the service wrote it. An `Err` is an answer the program cannot
/// use: not an object, or `vmImageVersions` that is not a list.
pub fn merge(
    current: &Value,
    image: &ImageVersion,
    product: &str,
    plan: &str,
) -> Result<Merge, String> {
    let Value::Object(current) = current else {
        return Err("the plan's technical configuration is not a JSON object".into());
    };
    let versions = match current.get("vmImageVersions") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(versions)) => versions,
        Some(_) => {
            return Err(
                "the plan's technical configuration has a vmImageVersions that is not a list"
                    .into(),
            )
        }
    };
    let same = versions.iter().find_map(|entry| {
        let written = entry.get("versionNumber")?.as_str()?;
        same_version(written, &image.version).then_some((written, entry))
    });
    if let Some((written, entry)) = same {
        let differences = differences(entry, image);
        if differences.is_empty() {
            return Ok(Merge::NoChange);
        }
        let spelling = match written == image.version {
            true => String::new(),
            false => format!(" (written {} there)", one_line(written, 40)),
        };
        return Ok(Merge::Conflict(format!(
            "image version {} is already in plan {}{spelling} with other disks: {}; a version keeps its \
             disks, so give a new MARKETPLACE_IMAGE_VERSION",
            image.version,
            image.plan_id,
            differences.join("; ")
        )));
    }
    Ok(Merge::Add(Value::Object(with_version(
        current.clone(),
        image,
        product,
        plan,
    ))))
}

/// Numerically equal when both are `a.b.c` (`1.02.3` is `1.2.3`), else equal as written.
fn same_version(written: &str, wanted: &str) -> bool {
    match (version_parts(written.trim()), version_parts(wanted)) {
        (Some(a), Some(b)) => a == b,
        _ => written == wanted,
    }
}

fn with_version(
    mut resource: Map<String, Value>,
    image: &ImageVersion,
    product: &str,
    plan: &str,
) -> Map<String, Value> {
    resource.insert("$schema".into(), TECHNICAL_CONFIGURATION_SCHEMA.into());
    for (key, id) in [("product", product), ("plan", plan)] {
        if resource.get(key).is_none_or(Value::is_null) {
            resource.insert(key.into(), id.into());
        }
    }
    let data_disks: Vec<Value> = image
        .data_disks
        .iter()
        .enumerate()
        .map(|(lun, disk)| json!({"lunNumber": lun, "uri": disk.expose()}))
        .collect();
    let entry = json!({
        "versionNumber": image.version,
        "vmImages": [{
            "imageType": image.image_type.as_str(),
            "source": {
                "sourceType": "sasUri",
                "osDisk": {"uri": image.os_disk.expose()},
                "dataDisks": data_disks,
            },
        }],
    });
    match resource.get_mut("vmImageVersions") {
        Some(Value::Array(versions)) => versions.push(entry),
        _ => {
            resource.insert("vmImageVersions".into(), Value::Array(vec![entry]));
        }
    }
    resource
}

/// How the plan's entry for the version differs from `image`, one phrase each; empty when it is the same.
fn differences(entry: &Value, image: &ImageVersion) -> Vec<String> {
    let ours = image.image_type.as_str();
    let images: &[Value] = entry
        .get("vmImages")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let types: Vec<String> = images
        .iter()
        .map(|i| {
            i.get("imageType")
                .and_then(Value::as_str)
                .map_or("an image without a type".into(), |t| one_line(t, 40))
        })
        .collect();
    let mut found = Vec::new();
    if !(types.len() == 1 && types[0].eq_ignore_ascii_case(ours)) {
        let theirs = match types.is_empty() {
            true => "no image".to_string(),
            false => types.join(", "),
        };
        found.push(format!(
            "image types: the plan has {theirs}, this run gives {ours}"
        ));
    }
    let Some(source) = images
        .iter()
        .find(|i| {
            i.get("imageType")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case(ours))
        })
        .map(|i| i.get("source").unwrap_or(&Value::Null))
    else {
        return found;
    };
    if let Some(kind) = source.get("sourceType").and_then(Value::as_str) {
        if !kind.eq_ignore_ascii_case("sasUri") {
            found.push(format!(
                "the plan's {ours} image comes from {}, not from SAS URIs",
                one_line(kind, 40)
            ));
            return found;
        }
    }
    let os = source
        .get("osDisk")
        .and_then(|d| d.get("uri"))
        .and_then(Value::as_str);
    if os.map(comparable).as_deref() != Some(image.os_disk.without_query()) {
        found.push(format!(
            "OS disk: the plan has {}, this run gives {}",
            os.map_or("none".into(), shown),
            image.os_disk.without_query()
        ));
    }
    let (theirs, unreadable) = data_disks(source);
    if unreadable > 0 {
        found.push(format!(
            "the plan has {unreadable} data disk(s) without a readable LUN and URI"
        ));
    }
    let ours: BTreeMap<u64, &str> = (0..)
        .zip(image.data_disks.iter().map(|d| d.without_query()))
        .collect();
    let luns: std::collections::BTreeSet<u64> = theirs.keys().chain(ours.keys()).copied().collect();
    for lun in luns {
        match (theirs.get(&lun), ours.get(&lun)) {
            (Some(t), Some(o)) if comparable(t) == *o => {}
            (Some(t), Some(o)) => found.push(format!(
                "data disk LUN {lun}: the plan has {}, this run gives {o}",
                shown(t)
            )),
            (Some(t), None) => found.push(format!(
                "data disk LUN {lun}: only the plan has one ({})",
                shown(t)
            )),
            (None, Some(o)) => found.push(format!(
                "data disk LUN {lun}: only this run gives one ({o})"
            )),
            (None, None) => {}
        }
    }
    found
}

/// The plan's data disks by LUN, and how many entries could not be read.
fn data_disks(source: &Value) -> (BTreeMap<u64, String>, usize) {
    let mut disks = BTreeMap::new();
    let mut unreadable = 0;
    for disk in source
        .get("dataDisks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let lun = disk.get("lunNumber").and_then(|n| {
            n.as_u64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                        .map(|f| f as u64)
                })
                .or_else(|| n.as_str().and_then(|s| s.trim().parse().ok()))
        });
        match (lun, disk.get("uri").and_then(Value::as_str)) {
            (Some(lun), Some(uri)) => {
                disks.insert(lun, uri.to_string());
            }
            _ => unreadable += 1,
        }
    }
    (disks, unreadable)
}

/// A URL from the service in the form disks are compared in: normalised and without its query when
/// it parses, else cut at `?` or `#`.
fn comparable(uri: &str) -> String {
    uri_without_query(uri)
        .unwrap_or_else(|| uri.split(['?', '#']).next().unwrap_or_default().to_string())
}

/// A URL from the service for a message: without its query, or not at all.
fn shown(uri: &str) -> String {
    uri_without_query(uri).map_or_else(|| "a URI that cannot be read".into(), |u| one_line(&u, 200))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::{DiskUri, ImageType};
    use proptest::prelude::*;

    const PRODUCT: &str = "product/0f3a8c1e-1111-2222-3333-444455556666";
    const PLAN: &str =
        "plan/0f3a8c1e-1111-2222-3333-444455556666/9b1d2e3f-7777-8888-9999-000011112222";
    const OS_1: &str = "https://acct.blob.core.windows.net/vhds/os-1.0.0.vhd";
    const OS_2: &str = "https://acct.blob.core.windows.net/vhds/os-2.0.0.vhd";
    const DATA: &str = "https://acct.blob.core.windows.net/vhds/data-0.vhd";

    /// A plan's configuration as the service answers it, with version 1.0.0 from `OS_1` and one data disk.
    fn current() -> Value {
        json!({
            "$schema": "https://schema.mp.microsoft.com/schema/virtual-machine-plan-technical-configuration/2022-03-01-preview2",
            "id": "virtual-machine-plan-technical-configuration/0f3a8c1e-1111-2222-3333-444455556666/9b1d2e3f-7777-8888-9999-000011112222",
            "product": PRODUCT,
            "plan": PLAN,
            "operatingSystem": {"family": "linux", "type": "ubuntu", "friendlyName": "Ubuntu 22.04"},
            "recommendedVmSizes": ["standard_d2s_v3"],
            "openPorts": [],
            "vmProperties": {"supportsExtensions": true},
            "skus": [{"imageType": "x64Gen2", "skuId": "gen2"}],
            "vmImageVersions": [{
                "versionNumber": "1.0.0",
                "lifecycleState": "generallyAvailable",
                "vmImages": [{"imageType": "x64Gen2", "source": {
                    "sourceType": "sasUri",
                    "osDisk": {"uri": format!("{OS_1}?sv=2020&sig=OldSig")},
                    "dataDisks": [{"lunNumber": 0, "uri": format!("{DATA}?sig=OldDataSig")}],
                }}],
            }],
        })
    }

    fn image(version: &str, os: &str, data: &[&str]) -> ImageVersion {
        ImageVersion {
            plan_id: "gen2".into(),
            version: version.into(),
            image_type: ImageType::X64Gen2,
            os_disk: DiskUri::parse(os).unwrap(),
            data_disks: data.iter().map(|d| DiskUri::parse(d).unwrap()).collect(),
        }
    }

    fn added(current: &Value, image: &ImageVersion) -> Value {
        match merge(current, image, PRODUCT, PLAN).unwrap() {
            Merge::Add(resource) => resource,
            other => panic!("expected an addition, got {other:?}"),
        }
    }

    fn conflict(current: &Value, image: &ImageVersion) -> String {
        match merge(current, image, PRODUCT, PLAN).unwrap() {
            Merge::Conflict(message) => {
                assert!(
                    !message.contains('?') && !message.contains("Sig"),
                    "{message}"
                );
                message
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    #[test]
    fn a_new_version_is_appended_and_everything_else_kept() {
        let new = image(
            "2.0.0",
            &format!("{OS_2}?sv=2022&sig=NewSig"),
            &[&format!("{DATA}?sig=D0"), "https://h/d1.vhd"],
        );
        let resource = added(&current(), &new);
        let mut expected = current();
        expected["$schema"] = TECHNICAL_CONFIGURATION_SCHEMA.into();
        expected["vmImageVersions"].as_array_mut().unwrap().push(json!({
            "versionNumber": "2.0.0",
            "vmImages": [{"imageType": "x64Gen2", "source": {
                "sourceType": "sasUri",
                "osDisk": {"uri": format!("{OS_2}?sv=2022&sig=NewSig")},
                "dataDisks": [{"lunNumber": 0, "uri": format!("{DATA}?sig=D0")}, {"lunNumber": 1, "uri": "https://h/d1.vhd"}],
            }}],
        }));
        assert_eq!(resource, expected);
    }

    #[test]
    fn no_data_disks_is_an_empty_list() {
        let resource = added(&current(), &image("2.0.0", OS_2, &[]));
        assert_eq!(
            resource["vmImageVersions"][1]["vmImages"][0]["source"]["dataDisks"],
            json!([])
        );
        let arm = ImageVersion {
            image_type: ImageType::Arm64Gen2,
            ..image("2.0.0", OS_2, &[])
        };
        assert_eq!(
            added(&current(), &arm)["vmImageVersions"][1]["vmImages"][0]["imageType"],
            "arm64Gen2"
        );
    }

    #[test]
    fn a_missing_list_and_references_are_created() {
        for versions in [None, Some(Value::Null)] {
            let mut bare = json!({"id": "x", "skus": []});
            if let Some(v) = versions {
                bare["vmImageVersions"] = v;
            }
            bare["product"] = Value::Null;
            let resource = added(&bare, &image("1.0.0", OS_1, &[]));
            assert_eq!(resource["product"], PRODUCT);
            assert_eq!(resource["plan"], PLAN);
            assert_eq!(resource["id"], "x");
            assert_eq!(resource["$schema"], TECHNICAL_CONFIGURATION_SCHEMA);
            assert_eq!(resource["vmImageVersions"].as_array().unwrap().len(), 1);
        }
        // References the service wrote are kept as they are.
        let mut named = current();
        named["product"] = json!({"externalId": "contoso-vm"});
        let resource = added(&named, &image("2.0.0", OS_2, &[]));
        assert_eq!(resource["product"], json!({"externalId": "contoso-vm"}));
        assert_eq!(resource["plan"], PLAN);
    }

    #[test]
    fn the_same_disks_with_new_signatures_are_no_change() {
        let again = image(
            "1.0.0",
            &format!("{OS_1}?sv=2024&sig=FreshSig"),
            &[&format!("{DATA}?sig=FreshData")],
        );
        assert_eq!(
            merge(&current(), &again, PRODUCT, PLAN).unwrap(),
            Merge::NoChange
        );
        // Spelled differently: host case, default port, a numerically equal version.
        let mut spelled = current();
        spelled["vmImageVersions"][0]["versionNumber"] = "1.00.0".into();
        spelled["vmImageVersions"][0]["vmImages"][0]["imageType"] = "X64GEN2".into();
        spelled["vmImageVersions"][0]["vmImages"][0]["source"]["osDisk"]["uri"] =
            "https://ACCT.blob.core.windows.net:443/vhds/os-1.0.0.vhd".into();
        spelled["vmImageVersions"][0]["vmImages"][0]["source"]["dataDisks"][0]["lunNumber"] =
            json!(0.0);
        assert_eq!(
            merge(&spelled, &again, PRODUCT, PLAN).unwrap(),
            Merge::NoChange
        );
    }

    #[test]
    fn data_disks_are_matched_by_lun_not_order() {
        let mut two = current();
        two["vmImageVersions"][0]["vmImages"][0]["source"]["dataDisks"] = json!([
            {"lunNumber": "1", "uri": "https://h/d1.vhd?sig=x"},
            {"lunNumber": 0, "uri": format!("{DATA}?sig=y")},
        ]);
        let same = image("1.0.0", OS_1, &[DATA, "https://h/d1.vhd"]);
        assert_eq!(merge(&two, &same, PRODUCT, PLAN).unwrap(), Merge::NoChange);
        let swapped = image("1.0.0", OS_1, &["https://h/d1.vhd", DATA]);
        let message = conflict(&two, &swapped);
        assert!(
            message.contains(&format!(
                "data disk LUN 0: the plan has {DATA}, this run gives https://h/d1.vhd"
            )),
            "{message}"
        );
        assert!(
            message.contains(&format!(
                "data disk LUN 1: the plan has https://h/d1.vhd, this run gives {DATA}"
            )),
            "{message}"
        );
    }

    #[test]
    fn the_same_version_with_other_disks_is_a_conflict() {
        let message = conflict(
            &current(),
            &image("1.0.0", &format!("{OS_2}?sig=NewSig"), &[DATA]),
        );
        assert_eq!(
            message,
            format!(
                "image version 1.0.0 is already in plan gen2 with other disks: OS disk: the plan has {OS_1}, \
                 this run gives {OS_2}; a version keeps its disks, so give a new MARKETPLACE_IMAGE_VERSION"
            )
        );
        let message = conflict(&current(), &image("1.0.0", OS_1, &[]));
        assert!(
            message.contains(&format!("data disk LUN 0: only the plan has one ({DATA})")),
            "{message}"
        );
        let message = conflict(
            &current(),
            &image("1.0.0", OS_1, &[DATA, "https://h/d1.vhd?sig=NewSig"]),
        );
        assert!(
            message.contains("data disk LUN 1: only this run gives one (https://h/d1.vhd)"),
            "{message}"
        );
        let message = conflict(&current(), &image("1.0.00", OS_1, &[]));
        assert!(
            message
                .starts_with("image version 1.0.00 is already in plan gen2 (written 1.0.0 there)"),
            "{message}"
        );
    }

    #[test]
    fn other_image_types_and_sources_are_conflicts() {
        let gen1 = ImageVersion {
            image_type: ImageType::X64Gen1,
            ..image("1.0.0", OS_1, &[DATA])
        };
        let message = conflict(&current(), &gen1);
        assert!(
            message.contains("image types: the plan has x64Gen2, this run gives x64Gen1"),
            "{message}"
        );
        let mut both = current();
        let gen1_image = json!({"imageType": "x64Gen1", "source": {"sourceType": "sasUri", "osDisk": {"uri": OS_1}}});
        both["vmImageVersions"][0]["vmImages"]
            .as_array_mut()
            .unwrap()
            .push(gen1_image);
        let message = conflict(&both, &image("1.0.0", OS_1, &[DATA]));
        assert!(
            message.contains("the plan has x64Gen2, x64Gen1, this run gives x64Gen2"),
            "{message}"
        );
        assert!(!message.contains("OS disk"), "{message}");
        let mut gallery = current();
        gallery["vmImageVersions"][0]["vmImages"][0]["source"] = json!({"sourceType": "sharedImageGallery",
            "sharedImage": {"tenantId": "t", "resourceId": "/subscriptions/s/images/i/versions/1.0.0"}});
        let message = conflict(&gallery, &image("1.0.0", OS_1, &[DATA]));
        assert!(
            message.contains(
                "the plan's x64Gen2 image comes from sharedImageGallery, not from SAS URIs"
            ),
            "{message}"
        );
    }

    #[test]
    fn answers_are_read_leniently() {
        let mut odd = current();
        let versions = odd["vmImageVersions"].as_array_mut().unwrap();
        versions.insert(0, json!("not an entry"));
        versions.insert(0, json!({"versionNumber": 100}));
        // The matching entry without images, or with unreadable disks, differs; the others are kept.
        versions.push(json!({"versionNumber": "3.0.0"}));
        let message = conflict(&odd, &image("3.0.0", OS_1, &[]));
        assert!(
            message.contains("image types: the plan has no image, this run gives x64Gen2"),
            "{message}"
        );
        odd["vmImageVersions"][3] = json!({"versionNumber": "3.0.0", "vmImages": [{"imageType": "x64Gen2",
            "source": {"osDisk": {"uri": "not a url?sig=Odd"}, "dataDisks": [{"uri": "https://h/x"}, {"lunNumber": -1}]}}]});
        let message = conflict(&odd, &image("3.0.0", OS_1, &[]));
        assert!(
            message.contains("OS disk: the plan has a URI that cannot be read"),
            "{message}"
        );
        assert!(
            message.contains("the plan has 2 data disk(s) without a readable LUN and URI"),
            "{message}"
        );
        let resource = added(&odd, &image("4.0.0", OS_1, &[]));
        assert_eq!(resource["vmImageVersions"].as_array().unwrap().len(), 5);
        assert_eq!(resource["vmImageVersions"][1], "not an entry");
    }

    #[test]
    fn unusable_answers() {
        for answer in [
            json!([]),
            json!(null),
            json!("x"),
            json!({"vmImageVersions": {"versionNumber": "1.0.0"}}),
        ] {
            assert!(
                merge(&answer, &image("1.0.0", OS_1, &[]), PRODUCT, PLAN).is_err(),
                "{answer}"
            );
        }
    }

    proptest! {
        /// What was added once is no change the next time, whatever the new signatures.
        #[test]
        fn adding_twice_is_no_change(
            version in "[0-9]{1,4}\\.[0-9]{1,3}\\.[0-9]{1,3}",
            disks in prop::collection::vec("[a-z0-9]{1,8}", 0..4),
            first in "[A-Za-z0-9%]{8,16}",
            second in "[A-Za-z0-9%]{8,16}",
        ) {
            let urls = |sig: &str| -> Vec<String> {
                disks.iter().map(|d| format!("https://acct.blob.core.windows.net/c/{d}.vhd?sv=1&sig={sig}")).collect()
            };
            let make = |sig: &str| {
                let data = urls(sig);
                let data: Vec<&str> = data.iter().map(String::as_str).collect();
                image(&version, &format!("{OS_2}?sig={sig}"), &data)
            };
            let once = added(&current(), &make(&first));
            prop_assert_eq!(merge(&once, &make(&second), PRODUCT, PLAN).unwrap(), Merge::NoChange);
            // And another OS disk for that version is a conflict that quotes no signature.
            let other = ImageVersion { os_disk: DiskUri::parse(&format!("{OS_1}?sig={second}")).unwrap(), ..make(&second) };
            match merge(&once, &other, PRODUCT, PLAN).unwrap() {
                Merge::Conflict(message) => prop_assert!(!message.contains(&first) && !message.contains(&second) && !message.contains('?')),
                found => prop_assert!(false, "expected a conflict, got {:?}", found),
            }
        }
    }
}
