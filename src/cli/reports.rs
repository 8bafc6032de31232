//! `oneview report run | list | schedule`.

use chrono::Utc;

use super::args::ReportCommand;
use crate::error::{Error, Result};
use crate::exec::{print_batch, text_batch};
use crate::project::parse_schedule;
use crate::reports::{self, next_run};
use crate::session::Session;
use crate::storage::OutputFormat;

pub async fn run(session: Session, command: ReportCommand) -> Result<()> {
    match command {
        ReportCommand::Run { name } => {
            let state = session.state_store()?;
            let report = reports::find(&session.project.config.reports, &name)?;
            let result = reports::run(&session.ctx, &state, &name, report, &session.project.dir).await;
            // A failure is reported once, as the error (exit code 1).
            if result.is_ok() {
                println!("{}", reports::summary(&name, &result));
            }
            result.map(|_| ())
        }
        ReportCommand::List { format } => list(&session, format).await,
        ReportCommand::Schedule => {
            let Some(scheduler) = session.scheduler()? else {
                return Err(Error::Usage(
                    "no report has a `schedule`; add one (a cron expression) to a [reports.NAME] section".into(),
                ));
            };
            let names: Vec<&str> = scheduler.reports().collect();
            eprintln!("oneview report schedule: {} (Ctrl-C to stop)", names.join(", "));
            let stop = async {
                let _ = tokio::signal::ctrl_c().await;
                eprintln!("oneview report schedule: stopping; runs in progress are cancelled and recorded as failed");
            };
            let result = scheduler.run(stop).await;
            eprintln!("oneview report schedule: stopped");
            result
        }
    }
}

async fn list(session: &Session, format: OutputFormat) -> Result<()> {
    let state = session.state_store()?;
    let latest = reports::runs::latest(&state).await?;
    let reports = &session.project.config.reports;
    let now = Utc::now();
    let time = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    let mut columns: [Vec<Option<String>>; 7] = Default::default();
    for (name, report) in reports {
        let source = match (&report.sql, &report.segment) {
            (_, Some(segment)) => format!("segment {segment}"),
            _ => "sql".to_string(),
        };
        let next = report
            .schedule
            .as_deref()
            .and_then(|s| parse_schedule(s).ok())
            .and_then(|cron| next_run(&cron, now))
            .map(time);
        let last = latest.get(name);
        columns[0].push(Some(name.clone()));
        columns[1].push(Some(source));
        columns[2].push(Some(report.output.clone()));
        columns[3].push(report.schedule.clone());
        columns[4].push(next);
        columns[5].push(last.map(|run| time(run.started)));
        columns[6].push(last.map(|run| run.status.clone()));
    }
    let [name, source, output, schedule, next, last, status] = columns;
    let batch = text_batch(vec![
        ("name", name),
        ("source", source),
        ("output", output),
        ("schedule", schedule),
        ("next_run", next),
        ("last_run", last),
        ("last_status", status),
    ])?;
    print_batch(&session.ctx, batch, format).await.map(|_| ())
}
