//! oneview: a single-customer-view engine on Apache DataFusion.
//!
//! The modules in layers, bottom to top (ARCHITECTURE.md has the rules):
//! `error` and `util` (helpers) → `storage` (locations, object stores,
//! formats, the state folder, writing results) → `project` (`oneview.toml`
//! and the segment files) → `catalog` (the project's tables and views as a
//! DataFusion schema) → `exec` (running SQL text) → the features: `identity`
//! (records linked into customers), `scoring` (the `rfm` and `clv` views),
//! `segments` (membership history), `reports` (results written on demand or
//! on a schedule), `datagen` (synthetic customer data) → `session` (the one
//! place features are wired into a DataFusion session) → `server` (Arrow
//! Flight SQL) and `cli` (the command line). A module imports only from the
//! layers below it.

pub mod catalog;
pub mod cli;
pub mod datagen;
pub mod error;
pub mod exec;
pub mod identity;
pub mod project;
pub mod reports;
pub mod scoring;
pub mod segments;
pub mod server;
pub mod session;
pub mod storage;
pub mod util;

pub use error::{Error, Result};
