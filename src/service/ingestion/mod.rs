//! The Product Ingestion API (contract sections 6 and 7).

pub mod image;
