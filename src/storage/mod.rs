//! Where data lives: turning a configured location into a URL, and the object
//! stores (local disk, S3, GCS, Azure, HTTP) that serve those URLs.
//!
//! Stores are built on first use from each cloud's standard environment
//! variables, so a project that never touches S3 never builds an S3 client.

mod location;
mod registry;

pub use location::{is_remote, resolve_location, resolve_output};
pub use registry::{StoreRegistry, build_store};
