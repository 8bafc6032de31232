//! `oneview segments`: definitions, counts, snapshots, diffs and exports on
//! small CSV projects whose data the tests change between runs.

use std::path::Path;
use std::time::Duration;

use crate::support::{csv_rows, project, run_in};

const TOML: &str = "[tables.customers]\nlocation = \"customers.csv\"\n";

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn customers(dir: &Path, rows: &[(&str, u32)]) {
    let mut csv = String::from("customer_id,spend\n");
    for (id, spend) in rows {
        csv.push_str(&format!("{id},{spend}\n"));
    }
    write(dir, "customers.csv", &csv);
}

fn big_spenders_project() -> tempfile::TempDir {
    let dir = project(TOML);
    customers(dir.path(), &[("a", 500), ("b", 300), ("c", 50), ("d", 20)]);
    write(
        dir.path(),
        "segments/big_spenders.sql",
        "-- description: spend over 100\n-- owner: crm\nSELECT customer_id, spend FROM customers WHERE spend > 100\n",
    );
    write(
        dir.path(),
        "segments/top_spender.sql",
        "-- The very best\nSELECT customer_id FROM big_spenders ORDER BY spend DESC LIMIT 1\n",
    );
    dir
}

#[test]
fn list_show_and_count() {
    let dir = big_spenders_project();
    let list = run_in(dir.path(), &["segments", "list", "--format", "csv"]);
    let rows = csv_rows(list.ok());
    assert_eq!(rows.len(), 2, "{rows:?}");
    // Dependency order: big_spenders before top_spender, which reads it.
    assert!(
        rows[0].starts_with("big_spenders,spend over 100,crm,,segments/big_spenders.sql,"),
        "{rows:?}"
    );
    assert!(
        rows[1].starts_with("top_spender,The very best,,big_spenders,"),
        "{rows:?}"
    );

    let show = run_in(dir.path(), &["segments", "show", "top_spender"]);
    let out = show.ok();
    assert!(out.contains("reads:       big_spenders"), "{out}");
    assert!(out.contains("ORDER BY spend DESC"), "{out}");
    assert!(out.contains("| a "), "{out}");

    let count = run_in(dir.path(), &["segments", "count", "--format", "csv"]);
    assert_eq!(csv_rows(count.ok()), ["big_spenders,2", "top_spender,1"]);
    let one = run_in(dir.path(), &["segments", "count", "big_spenders", "--format", "csv"]);
    assert_eq!(csv_rows(one.ok()), ["big_spenders,2"]);

    // Segments are views for SQL too.
    let sql = run_in(
        dir.path(),
        &["sql", "--format", "csv", "SELECT customer_id FROM top_spender"],
    );
    assert_eq!(csv_rows(sql.ok()), ["a"]);
}

#[test]
fn a_data_change_shows_in_diff_and_in_the_membership_history() {
    let dir = big_spenders_project();
    let first = run_in(dir.path(), &["segments", "materialize", "big_spenders"]);
    assert!(
        first.ok().contains("big_spenders: 2 members, 2 entered, 0 exited"),
        "{}",
        first.stdout
    );

    // b drops out, d and e come in.
    customers(dir.path(), &[("a", 500), ("b", 30), ("c", 50), ("d", 200), ("e", 900)]);
    let diff = run_in(dir.path(), &["segments", "diff", "big_spenders", "--format", "csv"]);
    assert_eq!(
        csv_rows(diff.ok()),
        [
            "big_spenders,d,entered",
            "big_spenders,e,entered",
            "big_spenders,b,exited"
        ]
    );
    assert!(
        diff.stderr
            .contains("3 members, 2 entered, 1 exited since the last snapshot"),
        "{}",
        diff.stderr
    );

    // A diff records nothing; a materialize does.
    run_in(dir.path(), &["segments", "materialize"]).ok();
    let again = run_in(dir.path(), &["segments", "diff", "big_spenders", "--format", "csv"]);
    assert!(csv_rows(again.ok()).is_empty(), "{}", again.stdout);

    let history = run_in(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "SELECT customer_id, exited_at IS NULL AS member, entered_at < coalesce(exited_at, now()) AS ordered
             FROM segment_membership WHERE segment = 'big_spenders' ORDER BY customer_id",
        ],
    );
    assert_eq!(
        csv_rows(history.ok()),
        ["a,true,true", "b,false,true", "d,true,true", "e,true,true"]
    );
    let list = run_in(dir.path(), &["segments", "list", "--format", "csv"]);
    assert!(
        list.ok().contains(" UTC"),
        "the last snapshot time is listed: {}",
        list.stdout
    );
}

#[test]
fn export_writes_the_set_or_the_changes() {
    let dir = big_spenders_project();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let full = out.join("big.csv");
    run_in(
        dir.path(),
        &["segments", "export", "big_spenders", "--to", full.to_str().unwrap()],
    )
    .ok();
    let text = std::fs::read_to_string(&full).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["customer_id,spend", "a,500", "b,300"]
    );

    // Changes: the first export has everyone entering and records the snapshot.
    let changes = out.join("changes-1.ndjson");
    run_in(
        dir.path(),
        &[
            "segments",
            "export",
            "big_spenders",
            "--to",
            changes.to_str().unwrap(),
            "--changes",
        ],
    )
    .ok();
    let text = std::fs::read_to_string(&changes).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains(r#""customer_id":"a","change":"entered""#), "{text}");

    customers(dir.path(), &[("a", 10), ("b", 300), ("z", 101)]);
    let next = out.join("changes-2.parquet");
    run_in(
        dir.path(),
        &[
            "segments",
            "export",
            "big_spenders",
            "--to",
            next.to_str().unwrap(),
            "--changes",
        ],
    )
    .ok();
    let read = run_in(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            &format!(
                "SELECT customer_id, change FROM '{}' ORDER BY change, customer_id",
                next.display()
            ),
        ],
    );
    assert_eq!(csv_rows(read.ok()), ["z,entered", "a,exited"]);

    let bad = run_in(dir.path(), &["segments", "export", "big_spenders", "--to", "x.unknown"]);
    bad.fails(2, "cannot tell the format");
}

#[test]
fn errors_name_the_segment_file_and_line() {
    let dir = project(TOML);
    customers(dir.path(), &[("a", 1)]);
    write(
        dir.path(),
        "segments/broken.sql",
        "-- uses a column that does not exist\nSELECT customer_id\nFROM customers\nWHERE nope > 1\n",
    );
    let run = run_in(dir.path(), &["segments", "count", "broken"]);
    run.fails(2, "broken.sql:4: ");
    assert!(run.stderr.contains("nope"), "{}", run.stderr);

    // The same error when another segment reads it, and from `oneview sql`.
    write(dir.path(), "segments/reader.sql", "SELECT customer_id FROM broken\n");
    let run = run_in(dir.path(), &["sql", "SELECT * FROM reader"]);
    run.fails(2, "broken.sql:4: ");

    let unknown = run_in(dir.path(), &["segments", "show", "missing"]);
    unknown.fails(2, "no segment named `missing`");

    std::fs::remove_file(dir.path().join("segments/broken.sql")).unwrap();
    write(dir.path(), "segments/nokey.sql", "SELECT spend FROM customers\n");
    let run = run_in(dir.path(), &["segments", "materialize", "nokey"]);
    run.fails(2, "no `customer_id` column");

    write(dir.path(), "segments/loop_a.sql", "SELECT customer_id FROM loop_b\n");
    write(dir.path(), "segments/loop_b.sql", "SELECT customer_id FROM loop_a\n");
    let run = run_in(dir.path(), &["segments", "list"]);
    run.fails(2, "loop_a → loop_b → loop_a");
}

#[test]
fn rfm_and_clv_views_come_from_orders() {
    let sample = crate::support::sample_dir();
    let dir = project(&format!(
        "[tables.orders]\nlocation = \"{}/orders/\"\n\n[orders]\ntable = \"orders\"\ncustomer = \"contact_id\"\namount = \"amount\"\nas_of = \"2026-01-01\"\nunit = \"week\"\n",
        sample.display()
    ));
    // rfm agrees with a GROUP BY written independently, and its scores are quintiles.
    let check = run_in(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "WITH direct AS (
               SELECT contact_id, count(*) AS n, sum(amount) AS revenue, max(ordered_at) AS last_order
               FROM orders WHERE contact_id IS NOT NULL GROUP BY contact_id)
             SELECT count(*) AS customers,
                    sum(CASE WHEN r.frequency = d.n AND abs(r.monetary - d.revenue) < 1e-6
                             AND r.last_order_at = d.last_order THEN 1 ELSE 0 END) AS agreeing,
                    count(DISTINCT r.r) AS r_levels, min(r.f) AS f_min, max(r.m) AS m_max,
                    sum(CASE WHEN r.segment IS NULL THEN 1 ELSE 0 END) AS unnamed
             FROM rfm r JOIN direct d ON d.contact_id = r.customer_id",
        ],
    );
    let rows = csv_rows(check.ok());
    let fields: Vec<&str> = rows[0].split(',').collect();
    assert!(fields[0].parse::<u32>().unwrap() > 100, "{rows:?}");
    assert_eq!(fields[0], fields[1], "every customer agrees: {rows:?}");
    assert_eq!(&fields[2..], ["5", "1", "5", "0"], "{rows:?}");

    // BG/NBD: a customer without repeat purchases is alive with probability 1;
    // P(alive) is a probability; CLV is positive where spend is known.
    let clv = run_in(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "SELECT count(*) AS customers,
                    sum(CASE WHEN frequency = 0 AND abs(p_alive - 1) > 1e-9 THEN 1 ELSE 0 END) AS bad_one_timers,
                    sum(CASE WHEN p_alive < 0 OR p_alive > 1 THEN 1 ELSE 0 END) AS bad_p,
                    sum(CASE WHEN frequency > 0 AND NOT clv > 0 THEN 1 ELSE 0 END) AS bad_clv,
                    sum(CASE WHEN expected_purchases < 0 THEN 1 ELSE 0 END) AS bad_expected
             FROM clv",
        ],
    );
    let rows = csv_rows(clv.ok());
    let fields: Vec<&str> = rows[0].split(',').collect();
    assert!(fields[0].parse::<u32>().unwrap() > 100, "{rows:?}");
    assert_eq!(&fields[1..], ["0", "0", "0", "0"], "{rows:?}");
}

#[test]
fn kill_during_materialize_leaves_the_previous_snapshot() {
    let dir = project(TOML);
    customers(dir.path(), &[("a", 500)]);
    write(
        dir.path(),
        "segments/big.sql",
        "SELECT customer_id FROM customers WHERE spend > 100\n",
    );
    run_in(dir.path(), &["segments", "materialize", "big"]).ok();
    // Now a segment of millions of members, killed at several points.
    write(
        dir.path(),
        "segments/big.sql",
        "SELECT CAST(value AS VARCHAR) AS customer_id FROM range(3000000)\n",
    );
    for delay_ms in [300, 900, 1800] {
        let mut child = crate::support::command(dir.path())
            .args(["segments", "materialize", "big"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap();
        child.wait().unwrap();
        let members = run_in(
            dir.path(),
            &[
                "sql",
                "--format",
                "csv",
                "SELECT count(*) FROM segment_membership WHERE exited_at IS NULL",
            ],
        );
        let n: u64 = csv_rows(members.ok())[0].parse().unwrap();
        if finished {
            assert_eq!(n, 3_000_000);
            return;
        }
        assert_eq!(n, 1, "the old snapshot is intact after a kill at {delay_ms} ms");
        // The killed run's lock does not block the next run.
    }
}
