//! marketplace-publish: publish an Azure Marketplace offer from CI.
//!
//! Data flows one way: [`config`] (environment -> settings) -> [`auth`] (token source) -> [`portal`] (one
//! method per API call) -> [`follow`] (the operation follower) -> [`report`] (one writer per CI) -> the
//! [`outcome`] and its exit code. [`run`] wires them together; [`sim`] is the simulated portal.

pub mod config;
pub mod outcome;
pub mod report;
pub mod secret;
pub mod sim;
