//! The draft changes of a Product Ingestion run (contract section 7) turned into the resources of one
//! configure request: the user's file as it is, and a new VM image version merged into its plan's
//! technical configuration, read first so that the versions already there are kept.

use serde_json::Value;

use super::image::{merge, Merge};
use super::rules::refuse;
use super::ProductIngestion;
use crate::changes::{signatures, Changes, ImageVersion};
use crate::outcome::Outcome;
use crate::service::{text, ServiceError, ServiceResult};
use crate::text::excerpt;

impl ProductIngestion {
    /// The resources that carry `changes`; empty when every change is in place already.
    pub(super) async fn draft_resources(&self, changes: &Changes) -> ServiceResult<Vec<Value>> {
        let mut resources = changes.resources.clone();
        if let Some(image) = &changes.image {
            resources.extend(self.image_resource(image).await?);
        }
        Ok(resources)
    }

    /// The plan's technical configuration with `image` added, or `None` when the plan has that
    /// version with the same disks already. The same version with other disks is refused: a release
    /// pipeline re-run must not replace what was published under a version number.
    async fn image_resource(&self, image: &ImageVersion) -> ServiceResult<Option<Value>> {
        let product = format!("product/{}", self.product().await?);
        let plan = self.plan(&product, &image.plan_id).await?;
        let Some(keys) = plan.strip_prefix("plan/").filter(|k| {
            k.split('/').count() == 2
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '/'))
        }) else {
            return Err(ServiceError::unusable(
                "plan lookup",
                format!(
                    "the plan's id '{}' is not plan/<productGuid>/<planGuid>",
                    excerpt(&plan)
                ),
                "report the answer to Microsoft support",
            ));
        };
        let what = "technical configuration request";
        let url = self.endpoint(
            &format!("virtual-machine-plan-technical-configuration/{keys}"),
            None,
        );
        let current = self.get_json(what, &url).await?;
        // The plan's disks come back with their SAS signatures, and go out again with the new version.
        for secret in signatures(&current) {
            self.transport.mask(secret.expose());
        }
        match merge(&current, image, &product, &plan) {
            Ok(Merge::Add(resource)) => Ok(Some(resource)),
            Ok(Merge::NoChange) => {
                self.transport.info(&format!(
                    "version {} is in plan {} already with the same disks: nothing to send for it",
                    image.version, image.plan_id
                ));
                Ok(None)
            }
            Ok(Merge::Conflict(why)) => Err(refuse(
                Outcome::BadRequest,
                "image version",
                format!("{why}; nothing was sent"),
                "give the new image a new MARKETPLACE_IMAGE_VERSION, or the disks that version was published with",
            )),
            Err(why) => Err(ServiceError::unusable(
                what,
                why,
                "the service sent an answer that cannot be read; run again later",
            )),
        }
    }

    /// The plan's durable id (`plan/<productGuid>/<planGuid>`) from its external id.
    async fn plan(&self, product: &str, plan_id: &str) -> ServiceResult<String> {
        let what = "plan lookup";
        let url = self.endpoint(
            "plan",
            Some(&format!("product={product}&externalId={plan_id}")),
        );
        let entries = self.list(what, url).await?;
        let found = entries.iter().find(|entry| {
            let identity = &entry["identity"];
            [&identity["externalId"], &identity["externalID"]]
                .into_iter()
                .any(|id| id.as_str() == Some(plan_id))
        });
        match found.and_then(|entry| text(&entry["id"])) {
            Some(id) => Ok(id),
            None => Err(ServiceError {
                http_status: Some(200),
                ..refuse(
                    Outcome::NotFound,
                    what,
                    format!("the offer has no plan with the id '{plan_id}'"),
                    "check MARKETPLACE_PLAN_ID: the plan id shown in Partner Center under the offer's plans",
                )
            }),
        }
    }
}
