//! kinga — early warning and risk mapping for community-security work.
//!
//! Reports of incidents and tensions are validated at the edge ([`domain`]), indexed in an R-tree
//! and an H3 grid ([`index`]), and scored per cell by a rolling, explainable risk model
//! ([`scoring`]). See `ARCHITECTURE.md` for the code map and `docs/scoring.md` for the model.

pub mod backtest;
pub mod cli;
pub mod config;
pub mod domain;
pub mod early_warning;
pub mod http;
pub mod index;
pub mod scenario;
pub mod scoring;
pub mod service;
pub mod store;
pub mod webhooks;
