//! The scheduler: runs each report with a `schedule` when it falls due,
//! inside `oneview serve` or in the foreground (`oneview report schedule`).
//!
//! Rules: times are UTC; a report still running when it falls due again is
//! skipped for that time (runs never overlap); a failed run is logged and
//! recorded, and the schedule goes on. Missed runs: at start, a report whose
//! next time after its last recorded run has already passed (the process was
//! down) runs once at once — one catch-up, however many times were missed;
//! a report that never ran waits for its first scheduled time.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use datafusion::prelude::SessionContext;

use super::run::{run, summary};
use super::runs;
use crate::error::Result;
use crate::project::{ReportConfig, parse_schedule};
use crate::storage::StateStore;

/// The first scheduled time strictly after `after`.
pub fn next_run(cron: &Cron, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&after, false).ok()
}

pub struct Scheduler {
    ctx: SessionContext,
    state: Arc<StateStore>,
    /// The reports with a schedule.
    reports: Arc<BTreeMap<String, ReportConfig>>,
    crons: BTreeMap<String, Cron>,
    /// Relative outputs are below the project directory.
    project_dir: Arc<PathBuf>,
    running: Arc<Mutex<HashSet<String>>>,
}

impl Scheduler {
    /// None when no report has a schedule; `state` opens the state folder,
    /// only when one has.
    pub fn new(
        ctx: SessionContext,
        reports: &BTreeMap<String, ReportConfig>,
        project_dir: PathBuf,
        state: impl FnOnce() -> Result<StateStore>,
    ) -> Result<Option<Scheduler>> {
        let crons: BTreeMap<String, Cron> = reports
            .iter()
            .filter_map(|(name, report)| {
                let schedule = report.schedule.as_deref()?;
                // Validated with the configuration.
                parse_schedule(schedule).ok().map(|cron| (name.clone(), cron))
            })
            .collect();
        if crons.is_empty() {
            return Ok(None);
        }
        let scheduled = reports
            .iter()
            .filter(|(name, _)| crons.contains_key(*name))
            .map(|(name, report)| (name.clone(), report.clone()))
            .collect();
        Ok(Some(Scheduler {
            ctx,
            state: Arc::new(state()?),
            reports: Arc::new(scheduled),
            crons,
            project_dir: Arc::new(project_dir),
            running: Arc::new(Mutex::new(HashSet::new())),
        }))
    }

    pub fn reports(&self) -> impl Iterator<Item = &str> {
        self.crons.keys().map(String::as_str)
    }

    /// Runs reports as they fall due until `shutdown` resolves, then waits
    /// (up to a minute) for the runs in progress, so that they finish and are
    /// recorded rather than die with the process.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        tokio::select! {
            result = self.schedule() => result?,
            _ = shutdown => {}
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let running: Vec<String> = self.running.lock().expect("running set").iter().cloned().collect();
            if running.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                eprintln!("reports still running after a minute, stopped: {}", running.join(", "));
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn schedule(&self) -> Result<()> {
        let now = Utc::now();
        let latest = runs::latest(&self.state).await.unwrap_or_else(|e| {
            log::warn!("cannot read report_runs, so no missed run is caught up: {e}");
            BTreeMap::new()
        });
        let mut due: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
        for (name, cron) in &self.crons {
            let missed = latest
                .get(name)
                .and_then(|run| next_run(cron, run.started))
                .filter(|t| *t <= now);
            let first = match missed {
                Some(missed) => {
                    eprintln!("report {name}: the run due at {missed} was missed; running it now");
                    Some(now)
                }
                None => next_run(cron, now),
            };
            if let Some(first) = first {
                eprintln!("report {name}: next run at {first}");
                due.insert(name.clone(), first);
            }
        }
        loop {
            let Some(soonest) = due.values().min().copied() else {
                return Ok(());
            };
            let wait = (soonest - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            // Wake at least every minute: a suspended machine's clock jumps.
            tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
            let now = Utc::now();
            for (name, at) in due.iter_mut() {
                if *at > now {
                    continue;
                }
                self.start(name);
                match next_run(&self.crons[name], now) {
                    Some(next) => *at = next,
                    None => *at = DateTime::<Utc>::MAX_UTC,
                }
            }
        }
    }

    fn start(&self, name: &str) {
        if !self.running.lock().expect("running set").insert(name.to_string()) {
            eprintln!("report {name}: skipped; the previous run is still going");
            return;
        }
        let ctx = self.ctx.clone();
        let state = Arc::clone(&self.state);
        let reports = Arc::clone(&self.reports);
        let project_dir = Arc::clone(&self.project_dir);
        let guard = Running {
            set: Arc::clone(&self.running),
            name: name.to_string(),
        };
        tokio::spawn(async move {
            let report = &reports[&guard.name];
            let result = run(&ctx, &state, &guard.name, report, &project_dir).await;
            eprintln!("{}", summary(&guard.name, &result));
        });
    }
}

/// Takes a report off the running set when its run ends, even by a panic.
struct Running {
    set: Arc<Mutex<HashSet<String>>>,
    name: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(mut set) = self.set.lock() {
            set.remove(&self.name);
        }
    }
}
