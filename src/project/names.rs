//! The names oneview gives the tables and views it provides, in one list:
//! neither a project table nor a segment may take one. The features
//! that provide them use these constants, so the list cannot drift.

pub const RFM: &str = "rfm";
pub const CLV: &str = "clv";
pub const SEGMENT_MEMBERSHIP: &str = "segment_membership";
pub const REPORT_RUNS: &str = "report_runs";

pub const IDENTITY_LINKS: &str = "identity_links";
pub const IDENTITY_EDGES: &str = "identity_edges";
pub const IDENTITY_MERGES: &str = "identity_merges";
pub const CUSTOMERS: &str = "customers";

/// Names taken in every project, whatever it configures.
pub const RESERVED: &[&str] = &[RFM, CLV, SEGMENT_MEMBERSHIP, REPORT_RUNS];

/// The tables identity resolution writes, taken in projects with `[identity]`.
pub const IDENTITY_TABLES: &[&str] = &[IDENTITY_LINKS, IDENTITY_EDGES, IDENTITY_MERGES, CUSTOMERS];

/// Every name oneview may provide in a project, with `[identity]` or not.
pub fn provided(with_identity: bool) -> impl Iterator<Item = &'static str> {
    let identity = if with_identity { IDENTITY_TABLES } else { &[] };
    RESERVED.iter().chain(identity).copied()
}
