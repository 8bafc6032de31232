//! `oneview sql` and `oneview tables` over real Parquet, CSV and NDJSON files.

use std::io::Write;
use std::process::Stdio;

use crate::support::{command, demo_csv, demo_dir, entries, project, run_cmd, run_in};

#[test]
fn one_shot_query_reads_the_project_tables() {
    // Two independent paths to the same number: the orders table itself and
    // the generator's ground truth, which lists every order once.
    let orders = demo_csv("SELECT count(*) FROM orders");
    let truth = demo_csv("SELECT count(*) FROM ground_truth WHERE source = 'orders'");
    assert_eq!(orders, truth);
    assert!(orders[0].parse::<u64>().unwrap() > 1000, "{orders:?}");
}

#[test]
fn a_file_of_statements_runs_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("report.sql");
    std::fs::write(
        &script,
        "-- a view, then a query on it\n\
         CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100;\n\
         SELECT count(*) AS n FROM big_orders;\n",
    )
    .unwrap();
    let demo = demo_dir();
    let run = run_in(&demo, &["sql", "--format", "csv", "-f", script.to_str().unwrap()]);
    let direct = demo_csv("SELECT count(*) AS n FROM orders WHERE amount > 100");
    assert_eq!(run.ok().lines().skip(1).collect::<Vec<_>>(), direct);
}

#[test]
fn statements_can_come_from_standard_input() {
    let demo = demo_dir();
    let mut child = command(&demo)
        .args(["sql", "--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT 40 + 2 AS answer;")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "answer\n42\n");
}

#[test]
fn output_formats_carry_the_same_rows() {
    let demo = demo_dir();
    let query = "SELECT contact_id, first_name FROM crm_contacts ORDER BY contact_id LIMIT 5";
    let csv = run_in(&demo, &["sql", "--format", "csv", query]);
    let csv_ids: Vec<String> = csv
        .ok()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(csv_ids.len(), 5);

    let json = run_in(&demo, &["sql", "--format", "json", query]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(json.ok()).expect("a JSON array");
    let json_ids: Vec<String> = rows
        .iter()
        .map(|r| r["contact_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(json_ids, csv_ids);

    let ndjson = run_in(&demo, &["sql", "--format", "ndjson", query]);
    let nd_ids: Vec<String> = ndjson
        .ok()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["contact_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(nd_ids, csv_ids);

    let table = run_in(&demo, &["sql", query]);
    let text = table.ok();
    assert!(text.contains("| contact_id"), "{text}");
    for id in &csv_ids {
        assert!(text.contains(id.as_str()), "{id} missing from\n{text}");
    }
}

#[test]
fn parquet_output_round_trips() {
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("big.parquet");
    let demo = demo_dir();
    let query = "SELECT order_id, amount FROM orders WHERE amount > 60";
    run_in(&demo, &["sql", "-o", file.to_str().unwrap(), query]).ok();
    let sum_direct = demo_csv("SELECT count(*), round(sum(amount), 2) FROM orders WHERE amount > 60");
    let read_back = run_in(
        &demo,
        &[
            "sql",
            "--format",
            "csv",
            &format!("SELECT count(*), round(sum(amount), 2) FROM '{}'", file.display()),
        ],
    );
    assert_eq!(read_back.ok().lines().skip(1).collect::<Vec<_>>(), sum_direct);
    // Only the committed file is left: no staging files.
    assert_eq!(entries(out.path()), vec!["big.parquet"]);
}

#[test]
fn a_failing_query_leaves_the_previous_output_untouched() {
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("result.csv");
    std::fs::write(&file, "old contents\n").unwrap();
    // Fails at row 200000, after tens of MB have been produced and a
    // multipart upload to the staging file has begun.
    let query = "SELECT value, repeat('x', 200) AS pad, 10 / (value - 200000) AS boom FROM range(300000)";
    let run = run_in(out.path(), &["sql", "-o", file.to_str().unwrap(), query]);
    run.fails(1, "Divide by zero");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "old contents\n");
    assert_eq!(entries(out.path()), vec!["result.csv"], "no staging files left behind");

    // And a fresh target is never created.
    let fresh = out.path().join("fresh.parquet");
    run_in(out.path(), &["sql", "-o", fresh.to_str().unwrap(), query]).fails(1, "Divide by zero");
    assert!(!fresh.exists());
}

#[test]
fn tables_lists_name_location_format_and_columns() {
    let demo = demo_dir();
    let run = run_in(&demo, &["tables", "--format", "csv"]);
    let text = run.ok();
    let orders = text.lines().find(|l| l.starts_with("orders,")).expect("orders listed");
    assert!(orders.contains("../sample/orders/"), "{orders}");
    assert!(orders.contains(",parquet,"), "{orders}");
    assert!(
        orders.contains("amount double") && orders.contains("ordered_at timestamp"),
        "{orders}"
    );
    assert_eq!(text.lines().count(), 1 + 9, "header and nine tables:\n{text}");
}

#[test]
fn csv_ndjson_and_hive_partitioned_tables() {
    let dir = project(
        r#"
        [tables.people_csv]
        location = "data/people.csv"

        [tables.people_json]
        location = "data/people.ndjson"

        [tables.events]
        location = "data/events"
        "#,
    );
    let data = dir.path().join("data");
    let demo = demo_dir();
    let source = "SELECT person_id, first_name, country FROM people ORDER BY person_id LIMIT 50";
    run_in(&demo, &["sql", "-o", data.join("people.csv").to_str().unwrap(), source]).ok();
    run_in(
        &demo,
        &["sql", "-o", data.join("people.ndjson").to_str().unwrap(), source],
    )
    .ok();
    for year in [2024, 2025] {
        let target = data.join(format!("events/year={year}/part-0.parquet"));
        let query = format!(
            "SELECT event_id, event_type FROM web_events WHERE date_part('year', occurred_at) = {year} ORDER BY event_id LIMIT 100"
        );
        run_in(&demo, &["sql", "-o", target.to_str().unwrap(), &query]).ok();
    }

    let csv = run_in(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "SELECT count(*), min(person_id) FROM people_csv",
        ],
    );
    let json = run_in(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "SELECT count(*), min(person_id) FROM people_json",
        ],
    );
    assert_eq!(csv.ok().lines().nth(1), json.ok().lines().nth(1));
    assert!(csv.stdout.lines().nth(1).unwrap().starts_with("50,P"), "{}", csv.stdout);

    let by_year = run_in(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "SELECT year, count(*) FROM events GROUP BY year ORDER BY year",
        ],
    );
    assert_eq!(by_year.ok(), "year,count(*)\n2024,100\n2025,100\n");
}

#[test]
fn tables_are_opened_only_when_queried() {
    // A hundred tables in a bucket behind an unreachable endpoint: opening
    // any of them would fail, so a query that uses none must not open them.
    let mut toml = String::new();
    for i in 0..100 {
        toml.push_str(&format!("[tables.t{i}]\nlocation = \"s3://nowhere/t{i}/\"\n"));
    }
    let dir = project(&toml);
    let mut cmd = command(dir.path());
    cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "y")
        .env("AWS_ALLOW_HTTP", "true")
        .args(["sql", "--format", "csv", "SELECT 1 AS one"]);
    assert_eq!(run_cmd(&mut cmd).ok(), "one\n1\n");
    // Using one of them does reach for the endpoint.
    let mut cmd = command(dir.path());
    cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "y")
        .env("AWS_ALLOW_HTTP", "true")
        .args(["sql", "SELECT * FROM t7"]);
    run_cmd(&mut cmd).fails(1, "table `t7`: cannot connect to the storage endpoint");
}

#[test]
fn memory_limit_spills_instead_of_failing() {
    // Three million groups need far more than 64 MiB of hash table; two
    // partitions keep each one's share of the pool the same on any machine.
    let dir = tempfile::tempdir().unwrap();
    let query = "SELECT count(*) AS groups, sum(c) AS total FROM \
                 (SELECT value % 3000000 AS k, count(*) AS c FROM range(6000000) GROUP BY value % 3000000)";
    let setup = "SET datafusion.execution.target_partitions = 2;";
    let run = run_in(
        dir.path(),
        &[
            "--memory-limit",
            "64M",
            "sql",
            "--format",
            "csv",
            &format!("{setup} {query}"),
        ],
    );
    assert_eq!(run.ok(), "groups,total\n3000000,6000000\n");
    // And it did spill.
    let explain = run_in(
        dir.path(),
        &[
            "--memory-limit",
            "64M",
            "sql",
            "--format",
            "csv",
            "--max-rows",
            "0",
            &format!("{setup} EXPLAIN ANALYZE {query}"),
        ],
    );
    let spills: u64 = explain
        .ok()
        .split("spill_count=")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse::<u64>()
                .unwrap_or(0)
        })
        .sum();
    assert!(spills > 0, "no spill reported:\n{}", explain.stdout);
}

#[test]
fn the_memory_limit_is_enforced() {
    // A hash join's build side cannot spill: under a small limit the query
    // stops with a clear error instead of taking the machine's memory.
    let dir = tempfile::tempdir().unwrap();
    let query = "SELECT count(*) FROM range(2000000) a JOIN range(2000000) b ON a.value = b.value";
    run_in(dir.path(), &["--memory-limit", "8M", "sql", query]).fails(1, "out of memory");
    assert_eq!(
        run_in(dir.path(), &["sql", "--format", "csv", query]).ok(),
        "count(*)\n2000000\n"
    );
}

#[test]
fn the_demo_prints_a_summary_of_the_sample() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_in(dir.path(), &["demo"]);
    let text = run.ok();
    for heading in [
        "== Sources",
        "== One person",
        "== Why matching needs cleaning",
        "== Cleaning with oneview's functions",
        "== Orders",
        "== RFM segments",
        "== Lifetime value",
        "== Segments",
        "== High value but slipping away",
        "== The weekly report",
    ] {
        assert!(text.contains(heading), "missing {heading} in\n{text}");
    }
    assert!(text.contains("report weekly_segments: ok, 7 rows written to"), "{text}");
    let orders = demo_csv("SELECT count(*) FROM orders");
    assert!(text.contains(&format!("| orders            | {}", orders[0])), "{text}");
}

#[test]
fn the_demo_runs_from_the_copy_built_into_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let from_tree = run_in(dir.path(), &["demo"]);
    let embedded = run_in(dir.path(), &["demo", "--embedded"]);
    // Same tables, same numbers; only the project path and timing differ,
    // and the customer ids: the tree's demo keeps its ids from earlier runs.
    let ids = regex::Regex::new(r"cus_[0-9]+").unwrap();
    let body = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with('|') || l.starts_with("=="))
            .map(|l| ids.replace_all(l, "cus_…").into_owned())
            .collect()
    };
    assert_eq!(body(embedded.ok()), body(from_tree.ok()));
}

#[test]
fn a_closed_pipe_stops_the_query() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    // Billions of rows: only cancellation lets this end.
    let mut child = command(dir.path())
        .args(["sql", "--format", "csv", "SELECT value FROM range(10000000000)"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "value\n");
    // The reader is dropped here: the pipe closes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the query went on after its output was closed");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn an_empty_result_keeps_its_csv_header() {
    let demo = demo_dir();
    let run = run_in(
        &demo,
        &[
            "sql",
            "--format",
            "csv",
            "SELECT order_id, amount FROM orders WHERE amount < 0",
        ],
    );
    assert_eq!(run.ok(), "order_id,amount\n");
}

#[test]
fn output_to_a_directory_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    run_in(dir.path(), &["sql", "-o", dir.path().to_str().unwrap(), "SELECT 1"]).fails(2, "is a directory");
}

#[test]
fn tsv_files_are_tab_separated() {
    let dir = project("[tables.people]\nlocation = \"people.tsv\"\n");
    std::fs::write(
        dir.path().join("people.tsv"),
        "name\tcity\nKelly Neal\tBoston\nBill Smith\tAustin\n",
    )
    .unwrap();
    let run = run_in(
        dir.path(),
        &["sql", "--format", "csv", "SELECT city FROM people ORDER BY name"],
    );
    assert_eq!(run.ok(), "city\nAustin\nBoston\n");
}

/// A query's result written as Parquet into a folder another tool wrote
/// (plain `Utf8` strings) joins it: the file stores classic types, not
/// DataFusion's string views, so the folder's schemas still merge — the
/// way a day's file is added to a table.
#[test]
fn a_result_written_into_a_folder_of_parquet_files_joins_them() {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::parquet::arrow::ArrowWriter;

    let dir = project("[tables.events]\nlocation = \"events/\"\n");
    std::fs::create_dir(dir.path().join("events")).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("n", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from(vec!["a", "b"])),
            Arc::new(Int64Array::from(vec![1, 2])),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(dir.path().join("events/day1.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();

    let day2 = dir.path().join("day2.parquet");
    run_in(
        dir.path(),
        &[
            "sql",
            "-o",
            day2.to_str().unwrap(),
            "SELECT id || '2' AS id, n + 10 AS n FROM events",
        ],
    )
    .ok();
    std::fs::rename(&day2, dir.path().join("events/day2.parquet")).unwrap();
    let out = run_in(
        dir.path(),
        &["sql", "--format", "csv", "SELECT id, n FROM events ORDER BY id"],
    );
    assert_eq!(out.ok(), "id,n\na,1\na2,11\nb,2\nb2,12\n");
}
