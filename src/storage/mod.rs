//! Where data lives and how oneview writes it: turning a configured location
//! into a URL, the object stores (local disk, S3, GCS, Azure, HTTP) that
//! serve those URLs, file formats, the folder of oneview's own small files
//! (state, locks), and writing results atomically in any format.
//!
//! Stores are built on first use from each cloud's standard environment
//! variables, so a project that never touches S3 never builds an S3 client.
//! Storage knows URLs and bytes, never the project or its features.

mod format;
mod location;
mod output;
mod parallel_parquet;
mod parquet;
mod registry;
mod render;
mod state;

pub use format::{Extension, FileFormatKind, OutputFormat};
pub use location::{is_remote, resolve_location, resolve_output};
pub use output::{Destination, OutputSpec, ResultWriter};
pub use parquet::{parquet_bytes, parquet_properties, read_parquet_bytes};
pub use registry::{StoreRegistry, build_store};
pub use state::{StateLock, StateStore};
