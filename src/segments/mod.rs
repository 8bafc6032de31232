//! Segments: `segments/*.sql`, one SELECT per file (read and checked by the
//! project), each a view named after its file; `membership` keeps who
//! entered and left each segment, and is the table `segment_membership`.

pub mod membership;

use crate::catalog::{ViewDef, ViewOrigin};
use crate::project::SegmentDef;

/// The column every segment returns to identify its members.
pub const KEY_COLUMN: &str = "customer_id";

/// The segments as views; a planning error names the segment's file.
pub fn views(segments: &[SegmentDef]) -> Vec<ViewDef> {
    segments
        .iter()
        .map(|segment| ViewDef {
            name: segment.name.clone(),
            sql: segment.sql.clone(),
            origin: ViewOrigin::File(segment.file.clone()),
        })
        .collect()
}
