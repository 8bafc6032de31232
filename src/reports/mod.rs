//! Reports: `[reports.NAME]` — a query or a segment written to a file or
//! object on demand (`oneview report run`) or on a cron schedule (`schedule`).
//! Every run is recorded in `report_runs`; outputs appear whole or not at all.

mod run;
pub mod runs;
mod schedule;

pub use run::{Outcome, find, render_output, run, summary};
pub use runs::RunRecord;
pub use schedule::{Scheduler, next_run};
