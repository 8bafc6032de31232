//! oneview: a single-customer-view engine on Apache DataFusion.
//!
//! The pipeline, in module order: a `project` declares tables whose data
//! `storage` reaches; the `catalog` exposes them to a DataFusion `session`;
//! `exec` runs SQL and writes results; `datagen` makes synthetic customer data;
//! `identity` links the records of many sources into customers;
//! `segments` are views with a membership history kept in the project's
//! `state`; `reports` write query results on demand or on a schedule;
//! `server` serves it over Arrow Flight SQL; `cli` is the command line over all of it.

pub mod catalog;
pub mod cli;
pub mod datagen;
pub mod error;
pub mod exec;
pub mod identity;
pub mod progress;
pub mod project;
pub mod reports;
pub mod segments;
pub mod server;
pub mod session;
pub mod state;
pub mod storage;

pub use error::{Error, Result};
