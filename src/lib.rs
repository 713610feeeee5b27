//! marketplace-publish: publish an Azure Marketplace offer from CI.
//!
//! Data flows one way: [`config`] (environment -> settings, with the draft [`changes`]) -> [`auth`]
//! (token source) -> a [`service`] backend, one per API (one method per call, over [`transport`]) ->
//! [`follow`] (the operation follower) -> [`report`] (one writer per CI) -> the [`outcome`] and its
//! exit code. [`run`] wires them together and picks the backend; [`cli`] is the binary; [`sim`] is the
//! simulated service the demo and tests use. `docs/ARCHITECTURE.md` says more.

pub mod auth;
mod calendar;
pub mod changes;
pub mod cli;
pub mod config;
mod demo;
pub mod follow;
pub mod http;
pub mod input;
pub mod outcome;
pub mod report;
pub mod run;
pub mod secret;
pub mod service;
mod signals;
pub mod sim;
mod terminal;
mod text;
pub mod transport;
