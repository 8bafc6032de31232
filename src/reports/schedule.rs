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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use datafusion::prelude::SessionContext;

use crate::error::Result;
use crate::project::{Project, parse_schedule};
use crate::state::StateStore;

/// The first scheduled time strictly after `after`.
pub fn next_run(cron: &Cron, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&after, false).ok()
}

pub struct Scheduler {
    ctx: SessionContext,
    project: Arc<Project>,
    state: Arc<StateStore>,
    crons: BTreeMap<String, Cron>,
    running: Arc<Mutex<HashSet<String>>>,
}

impl Scheduler {
    /// None when no report has a schedule.
    pub fn new(ctx: SessionContext, project: Project) -> Result<Option<Scheduler>> {
        let crons: BTreeMap<String, Cron> = project
            .config
            .reports
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
        let state = Arc::new(StateStore::open(&project, &ctx)?);
        Ok(Some(Scheduler {
            ctx,
            project: Arc::new(project),
            state,
            crons,
            running: Arc::new(Mutex::new(HashSet::new())),
        }))
    }

    pub fn reports(&self) -> impl Iterator<Item = &str> {
        self.crons.keys().map(String::as_str)
    }

    /// Runs reports as they fall due until `shutdown` resolves, then waits
    /// (up to a minute) for the runs in progress, so that they finish and are
    /// recorded rather than die with the process.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
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
        let latest = crate::reports::runs::latest(&self.state).await.unwrap_or_else(|e| {
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
        let project = Arc::clone(&self.project);
        let state = Arc::clone(&self.state);
        let guard = Running {
            set: Arc::clone(&self.running),
            name: name.to_string(),
        };
        tokio::spawn(async move {
            let result = super::run(&ctx, &project, &state, &guard.name).await;
            eprintln!("{}", super::summary(&guard.name, &result));
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
