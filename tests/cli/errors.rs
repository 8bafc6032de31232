//! Bad input as a new user produces it: each gets one clear sentence first,
//! the right exit code (1 data/query, 2 usage/config) and no partial output.

use std::path::Path;

use crate::support::{command, demo_dir, entries, project, run_cmd, run_in};

/// Runs a query with `-o` into an empty folder and checks nothing appears.
fn fails_without_output(dir: &Path, query: &str, code: i32, needle: &str) {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("out.parquet");
    run_in(dir, &["sql", "-o", target.to_str().unwrap(), query]).fails(code, needle);
    assert!(
        entries(out.path()).is_empty(),
        "partial output left: {:?}",
        entries(out.path())
    );
}

#[test]
fn unknown_table() {
    fails_without_output(
        &demo_dir(),
        "SELECT * FROM order_lines",
        1,
        "table `order_lines` not found",
    );
}

#[test]
fn missing_file() {
    let dir = project("[tables.orders]\nlocation = \"data/orders.parquet\"\n");
    fails_without_output(dir.path(), "SELECT * FROM orders", 1, "table `orders`");
    run_in(dir.path(), &["sql", "SELECT * FROM orders"]).fails(1, "does not exist");
}

#[test]
fn corrupt_parquet() {
    let dir = project("[tables.orders]\nlocation = \"orders/\"\n");
    std::fs::create_dir(dir.path().join("orders")).unwrap();
    std::fs::write(
        dir.path().join("orders/part-0.parquet"),
        b"PAR1 this is not really parquet",
    )
    .unwrap();
    fails_without_output(
        dir.path(),
        "SELECT count(*) FROM orders",
        1,
        "table `orders`: a file is not valid Parquet",
    );
}

#[test]
fn files_with_clashing_schemas() {
    let dir = project("[tables.mixed]\nlocation = \"mixed/\"\n");
    let folder = dir.path().join("mixed");
    let one = folder.join("a.parquet");
    let two = folder.join("b.parquet");
    run_in(dir.path(), &["sql", "-o", one.to_str().unwrap(), "SELECT 1 AS amount"]).ok();
    run_in(
        dir.path(),
        &["sql", "-o", two.to_str().unwrap(), "SELECT 'one' AS amount"],
    )
    .ok();
    fails_without_output(
        dir.path(),
        "SELECT sum(amount) FROM mixed",
        1,
        "table `mixed`: its files have clashing schemas",
    );
}

#[test]
fn bad_sql() {
    fails_without_output(&demo_dir(), "SELEC count(*) FROM orders", 1, "SQL syntax error");
    fails_without_output(&demo_dir(), "SELECT no_such_column FROM orders", 1, "no_such_column");
}

#[test]
fn a_bad_statement_in_a_script_is_located() {
    let run = run_in(&demo_dir(), &["sql", "SELECT 1; SELECT nope FROM orders; SELECT 3"]);
    run.fails(1, "statement 2 of 3");
}

#[test]
fn bad_toml() {
    let dir = project("[tables.orders\nlocation = \"x.parquet\"\n");
    let run = run_in(dir.path(), &["sql", "SELECT 1"]);
    run.fails(2, "oneview.toml: line 1: invalid TOML");
}

#[test]
fn unknown_key() {
    let dir = project("[tables.orders]\nlocaton = \"x.parquet\"\n");
    let run = run_in(dir.path(), &["tables"]);
    run.fails(2, "unknown key `tables.orders.locaton`");
    assert!(
        run.stderr.contains("location"),
        "should say which keys are expected: {}",
        run.stderr
    );
}

#[test]
fn missing_project() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    run_in(dir.path(), &["-C", missing.to_str().unwrap(), "sql", "SELECT 1"]).fails(2, "does not exist");
    run_in(dir.path(), &["tables"]).fails(2, "no oneview.toml here");
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_in(dir.path(), &["sql", "--format", "xlsx", "SELECT 1"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = run_in(dir.path(), &["--memory-limit", "lots", "sql", "SELECT 1"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not a size"), "{}", run.stderr);
}

#[test]
fn unreachable_s3_endpoint() {
    let dir = project("[tables.orders]\nlocation = \"s3://bucket/orders/\"\n");
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("o.csv");
    let mut cmd = command(dir.path());
    cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "y")
        .env("AWS_REGION", "garage")
        .env("AWS_ALLOW_HTTP", "true")
        .args(["sql", "-o", target.to_str().unwrap(), "SELECT * FROM orders"]);
    run_cmd(&mut cmd).fails(1, "cannot connect to the storage endpoint for s3://bucket");
    assert!(!target.exists());
}

#[test]
fn unknown_storage_option() {
    let dir = project("[tables.orders]\nlocation = \"s3://bucket/orders/\"\noptions = { colour = \"blue\" }\n");
    run_in(dir.path(), &["sql", "SELECT * FROM orders"]).fails(2, "unknown storage option `colour`");
}

#[test]
fn unsupported_scheme() {
    let dir = project("[tables.orders]\nlocation = \"ftp://host/orders.parquet\"\n");
    run_in(dir.path(), &["sql", "SELECT 1"]).fails(2, "key `tables.orders.location`: unsupported URL scheme `ftp://`");
}
