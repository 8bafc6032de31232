//! `oneview report`: runs, the run log, the scheduler, and atomic outputs.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{command, csv_rows, project, run_in};

fn runs(dir: &Path, filter: &str) -> Vec<String> {
    let run = run_in(
        dir,
        &[
            "sql",
            "--format",
            "csv",
            &format!(
                "SELECT name, status, rows, error IS NULL AS clean FROM report_runs WHERE {filter} ORDER BY started"
            ),
        ],
    );
    csv_rows(run.ok())
}

#[test]
fn run_writes_the_output_and_records_the_run() {
    let dir = project(
        r#"
[reports.numbers]
sql = "SELECT value AS n FROM range(5)"
output = "out/{name}/{date}.csv"

[reports.broken]
sql = "SELECT nope FROM range(3)"
output = "out/broken.parquet"
"#,
    );
    let run = run_in(dir.path(), &["report", "run", "numbers"]);
    let line = run.ok();
    assert!(
        line.starts_with("report numbers: ok, 5 rows written to file://"),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1, "one line: {line}");
    let date = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let file = dir.path().join(format!("out/numbers/{date}.csv"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().collect::<Vec<_>>(), ["n", "0", "1", "2", "3", "4"]);

    let failed = run_in(dir.path(), &["report", "run", "broken"]);
    failed.fails(1, "nope");
    assert!(!dir.path().join("out/broken.parquet").exists());

    assert_eq!(runs(dir.path(), "true"), ["numbers,ok,5,true", "broken,failed,,false"]);
    let list = run_in(dir.path(), &["report", "list", "--format", "csv"]);
    let rows = csv_rows(list.ok());
    assert!(rows[0].starts_with("broken,sql,out/broken.parquet,,,"), "{rows:?}");
    assert!(rows[0].ends_with(",failed"), "{rows:?}");
    assert!(rows[1].ends_with(",ok"), "{rows:?}");

    run_in(dir.path(), &["report", "run", "nothing"]).fails(2, "no report named `nothing`");
}

#[test]
fn bad_report_configuration_is_named() {
    let cases = [
        ("[reports.r]\noutput = \"x.csv\"\n", "neither `sql` nor `segment`"),
        (
            "[reports.r]\nsql = \"SELECT 1\"\noutput = \"x.{week}.csv\"\n",
            "placeholder `{week}`",
        ),
        (
            "[reports.r]\nsql = \"SELECT 1\"\noutput = \"x.csv\"\nschedule = \"every monday\"\n",
            "reports.r.schedule",
        ),
        (
            "[reports.r]\nsql = \"SELECT 1\"\noutput = \"x.bin\"\n",
            "no known extension",
        ),
        (
            "[reports.r]\nsegment = \"ghost\"\noutput = \"x.csv\"\n",
            "`ghost`, which is not a segment",
        ),
    ];
    for (toml, needle) in cases {
        let dir = project(toml);
        run_in(dir.path(), &["report", "list"]).fails(2, needle);
    }
}

#[test]
fn the_scheduler_runs_due_reports_and_survives_a_failing_one() {
    let dir = project(
        r#"
[reports.tick]
sql = "SELECT 1 AS one"
output = "out/tick-{timestamp}.csv"
schedule = "* * * * * *"

[reports.fails]
sql = "SELECT missing_column FROM range(1)"
output = "out/fails.csv"
schedule = "* * * * * *"

[reports.slow]
sql = "SELECT value, value * 2 AS twice, CAST(value AS VARCHAR) AS s FROM range(10000000)"
output = "out/slow.parquet"
schedule = "* * * * * *"
"#,
    );
    let mut child = command(dir.path())
        .args(["report", "schedule"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let enough = || {
        runs(dir.path(), "name = 'tick' AND status = 'ok'").len() >= 3
            && runs(dir.path(), "name = 'fails' AND status = 'failed'").len() >= 3
            && !runs(dir.path(), "name = 'slow'").is_empty()
    };
    while !enough() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let ok = runs(dir.path(), "name = 'tick' AND status = 'ok'").len();
    let failed = runs(dir.path(), "name = 'fails' AND status = 'failed'").len();
    assert!(ok >= 3, "tick ran every second: {ok}\n{log}");
    assert!(failed >= 3, "the failing report kept being scheduled: {failed}\n{log}");
    assert!(log.contains("report fails: failed"), "{log}");
    // The slow report outlasts its one-second schedule: runs are skipped, never overlapped.
    assert!(log.contains("report slow: skipped"), "{log}");
    let overlaps = run_in(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "SELECT count(*) FROM report_runs a JOIN report_runs b
               ON a.name = b.name AND a.started < b.started AND b.started < a.finished",
        ],
    );
    assert_eq!(csv_rows(overlaps.ok()), ["0"]);
}

#[test]
fn a_missed_run_is_caught_up_once_at_start() {
    let dir = project(
        r#"
[reports.every_two_seconds]
sql = "SELECT 1 AS one"
output = "out/a.csv"
schedule = "*/2 * * * * *"

[reports.never_ran]
sql = "SELECT 1 AS one"
output = "out/b.csv"
schedule = "0 0 1 1 *"
"#,
    );
    run_in(dir.path(), &["report", "run", "every_two_seconds"]).ok();
    // The process is "down" while a scheduled time passes.
    std::thread::sleep(Duration::from_millis(2500));
    let mut child = command(dir.path())
        .args(["report", "schedule"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while runs(dir.path(), "name = 'every_two_seconds'").len() < 2 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        log.matches("report every_two_seconds: the run due at").count(),
        1,
        "one catch-up, however many runs were missed: {log}"
    );
    assert!(!log.contains("report never_ran: the run due"), "{log}");
    assert!(runs(dir.path(), "name = 'never_ran'").is_empty());
}

#[test]
fn kill_during_a_report_write_leaves_the_previous_output() {
    let dir = project(
        r#"
[reports.small]
sql = "SELECT value FROM range(10)"
output = "out/latest.parquet"

[reports.big]
sql = "SELECT value, value * 3 AS x, CAST(value AS VARCHAR) AS s FROM range(30000000)"
output = "out/latest.parquet"
"#,
    );
    run_in(dir.path(), &["report", "run", "small"]).ok();
    let file = dir.path().join("out/latest.parquet");
    let count = |dir: &Path| {
        let run = run_in(
            dir,
            &[
                "sql",
                "--format",
                "csv",
                &format!("SELECT count(*) FROM '{}'", file.display()),
            ],
        );
        csv_rows(run.ok())[0].clone()
    };
    // Kill the run while it writes: once the staged upload next to the
    // final name exists, and again a moment later.
    let out = dir.path().join("out");
    for extra_ms in [0, 700] {
        let mut child = command(dir.path()).args(["report", "run", "big"]).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        let staged = || {
            crate::support::entries(&out)
                .iter()
                .any(|name| name.starts_with("latest.parquet#"))
        };
        while !staged() && child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(extra_ms));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!finished, "the run ended before it could be killed mid-write");
        assert_eq!(count(dir.path()), "10", "killed {extra_ms} ms into the write");
    }
}
