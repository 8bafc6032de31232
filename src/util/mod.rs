//! Small helpers every layer may use: reading names, sizes and line numbers
//! out of text, the process's memory, progress on a terminal, and pure work split over the cores. Nothing here knows oneview's
//! project, tables or features, and nothing here imports another module of
//! the crate.

pub mod memory;
pub mod parallel;
pub mod progress;
mod size;
mod text;

pub use size::{Round, human, parse_size};
pub use text::{is_plain_identifier, line_of};
