//! Segments: `segments/*.sql`, one SELECT per file, each a view named after
//! its file. `definition` reads and checks the files, `builtin` writes the
//! `rfm` and `clv` views from `[orders]`, and `membership` keeps who entered
//! and left each segment.

mod builtin;
mod definition;
pub mod membership;

pub use builtin::builtin_views;
pub use definition::{SEGMENTS_DIR, SegmentDef, load_segments};

/// Names oneview registers itself; segments and reports cannot take them.
pub const RESERVED_NAMES: &[&str] = &["rfm", "clv", "segment_membership", "report_runs"];

/// The column every segment returns to identify its members.
pub const KEY_COLUMN: &str = "customer_id";
