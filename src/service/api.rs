//! Which API the run talks to (`MARKETPLACE_API`), and each API's rules for the inputs that address
//! it. Adding a backend adds its variant and its rules here.

use super::{cpp, ingestion, ApiRules};

/// Which API the run talks to (`MARKETPLACE_API`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    CloudPartnerPortal,
    ProductIngestion,
}

impl Api {
    pub const ALL: [Api; 2] = [Api::CloudPartnerPortal, Api::ProductIngestion];

    /// What each API's inputs must look like, and their defaults.
    pub fn rules(self) -> &'static ApiRules {
        match self {
            Api::CloudPartnerPortal => &cpp::RULES,
            Api::ProductIngestion => &ingestion::RULES,
        }
    }
}
