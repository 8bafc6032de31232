//! `oneview serve` with real clients: the Python ADBC driver (pyarrow,
//! pandas), arrow-flight's Rust Flight SQL client, and a load test.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_flight::sql::CommandGetTables;
use arrow_flight::sql::client::FlightSqlServiceClient;
use datafusion::arrow::array::{AsArray, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use futures::{StreamExt, TryStreamExt};
use tonic::transport::{Channel, Endpoint};

use crate::support::{command, sample_dir};

const TOKEN: &str = "test-token-8f2c";
const USER: &str = "analyst";
const PASSWORD: &str = "pa55:word";

/// The digest as `oneview serve --hash` prints it for oneview.toml.
fn sha256(text: &str) -> String {
    let run = command(Path::new("."))
        .args(["serve", "--hash", text])
        .output()
        .expect("oneview runs");
    assert!(run.status.success());
    String::from_utf8(run.stdout).unwrap().trim().to_string()
}

/// A project over the bundled sample, with a token, a user and `extra` config.
fn project(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let sample = sample_dir();
    let mut config = String::new();
    for table in ["orders", "crm_contacts", "email_subscribers", "consents"] {
        config += &format!("[tables.{table}]\nlocation = \"{}\"\n\n", sample.join(table).display());
    }
    config += &format!(
        "[server]\ntokens_sha256 = [\"{}\"]\n{extra}\n[server.users.{USER}]\npassword_sha256 = \"{}\"\n",
        sha256(TOKEN),
        sha256(PASSWORD)
    );
    std::fs::write(dir.path().join("oneview.toml"), config).unwrap();
    dir
}

struct Server {
    child: Child,
    address: String,
    _project: tempfile::TempDir,
}

impl Server {
    fn start(extra: &str) -> Server {
        let project = project(extra);
        Server::start_in(project)
    }

    fn start_in(project: tempfile::TempDir) -> Server {
        let mut child = command(project.path())
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("oneview serve starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let banner = lines.next().expect("a banner").unwrap();
        let address = banner
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {banner:?}"))
            .to_string();
        // Keep draining standard error so the server never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            address,
            _project: project,
        }
    }

    fn uri(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.address)
    }

    async fn client(&self) -> FlightSqlServiceClient<Channel> {
        let channel = Endpoint::from_shared(self.uri("http"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        FlightSqlServiceClient::new(channel)
    }

    fn terminate(&mut self) -> i32 {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "the server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pytest(server: &Server, scheme: &str, root_cert: Option<&Path>) {
    let test = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/flight/test_adbc.py");
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&test)
        .env("ONEVIEW_TEST_URI", server.uri(scheme))
        .env("ONEVIEW_TEST_TOKEN", TOKEN)
        .env("ONEVIEW_TEST_USER", USER)
        .env("ONEVIEW_TEST_PASSWORD", PASSWORD)
        .env("ONEVIEW_TEST_SAMPLE", sample_dir());
    if let Some(cert) = root_cert {
        cmd.env("ONEVIEW_TEST_ROOT_CERT", cert);
    }
    let out = cmd.output().expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the ADBC client tests failed (install the client with `python3 -m pip install -r tests/flight/requirements.txt`):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("passed"), "{stdout}");
}

#[test]
fn python_adbc_client() {
    let server = Server::start("");
    pytest(&server, "grpc", None);
}

#[test]
fn python_adbc_client_over_tls() {
    let dir = project("tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ])
        .current_dir(dir.path())
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let cert = dir.path().join("cert.pem");
    let server = Server::start_in(dir);
    assert!(server.address.starts_with("127.0.0.1:"));
    pytest(&server, "grpc+tls", Some(&cert));
}

async fn collect(client: &mut FlightSqlServiceClient<Channel>, info: arrow_flight::FlightInfo) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let stream = client.do_get(endpoint.ticket.unwrap()).await.unwrap();
        batches.extend(stream.try_collect::<Vec<_>>().await.unwrap());
    }
    batches
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_flight_sql_client() {
    let mut server = Server::start("");
    let mut client = server.client().await;

    // No credentials: refused.
    let refused = client.execute("SELECT 1".into(), None).await.unwrap_err();
    assert!(refused.to_string().contains("credentials required"), "{refused}");

    // Basic handshake issues a token the client then sends.
    client.handshake(USER, PASSWORD).await.unwrap();
    assert!(client.token().is_some());
    let info = client
        .execute("SELECT count(*) AS n FROM consents".into(), None)
        .await
        .unwrap();
    let announced = Schema::try_from(info.clone()).unwrap();
    let batches = collect(&mut client, info).await;
    assert_eq!(
        batches[0].schema().as_ref(),
        &announced,
        "the schema announced is the schema streamed"
    );
    let n = batches[0].column(0).as_primitive::<Int64Type>().value(0);
    let on_disk = crate::support::run_in(
        &sample_dir(),
        &["sql", "--format", "csv", "SELECT count(*) FROM 'consents/'"],
    );
    assert_eq!(on_disk.ok().lines().nth(1).unwrap().trim(), n.to_string());

    // A prepared statement with a parameter, bound by DoPut.
    let mut prepared = client.prepare("SELECT $1 * 2 AS doubled".into(), None).await.unwrap();
    let params = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("$1", DataType::Int64, false)])),
        vec![Arc::new(Int64Array::from(vec![21]))],
    )
    .unwrap();
    prepared.set_parameters(params).unwrap();
    let info = prepared.execute().await.unwrap();
    let batches = collect(&mut client, info).await;
    assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().value(0), 42);
    prepared.close().await.unwrap();

    // Catalog metadata.
    let info = client
        .get_tables(CommandGetTables {
            catalog: None,
            db_schema_filter_pattern: Some("public".into()),
            table_name_filter_pattern: Some("c%".into()),
            table_types: vec![],
            include_schema: false,
        })
        .await
        .unwrap();
    let tables = collect(&mut client, info).await;
    let names: Vec<String> = tables[0]
        .column_by_name("table_name")
        .unwrap()
        .as_string::<i32>()
        .iter()
        .map(|s| s.unwrap().to_string())
        .collect();
    assert_eq!(names, ["consents", "crm_contacts"]);

    // SIGTERM: a graceful stop with exit code 0.
    assert_eq!(server.terminate(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_clients_times_one_hundred_queries() {
    let server = Server::start("max_concurrent_queries = 4\n");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client_no in 0..64i64 {
        let uri = server.uri("http");
        tasks.push(tokio::spawn(async move {
            let channel = Endpoint::from_shared(uri).unwrap().connect().await.unwrap();
            let mut client = FlightSqlServiceClient::new(channel);
            client.set_token(TOKEN.into());
            for query_no in 0..100i64 {
                let expected = client_no * 1000 + query_no;
                let info = client
                    .execute(format!("SELECT {expected} AS v, count(*) AS n FROM consents"), None)
                    .await
                    .map_err(|e| e.to_string())?;
                let ticket = info.endpoint[0].ticket.clone().unwrap();
                let batches: Vec<RecordBatch> = client
                    .do_get(ticket)
                    .await
                    .map_err(|e| e.to_string())?
                    .try_collect()
                    .await
                    .map_err(|e| e.to_string())?;
                let got = batches[0].column(0).as_primitive::<Int64Type>().value(0);
                if got != expected {
                    return Err(format!("client {client_no} got {got}, expected {expected}"));
                }
            }
            Ok::<(), String>(())
        }));
    }
    let mut errors = Vec::new();
    for task in tasks {
        if let Err(e) = task.await.unwrap() {
            errors.push(e);
        }
    }
    let elapsed = started.elapsed();
    assert!(
        errors.is_empty(),
        "{} clients failed, first: {}",
        errors.len(),
        errors[0]
    );
    assert!(elapsed < Duration::from_secs(240), "6,400 queries took {elapsed:?}");
}

#[test]
fn a_server_without_credentials_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("oneview.toml"), "[tables.t]\nlocation = \"t.csv\"\n").unwrap();
    let run = crate::support::run_in(dir.path(), &["serve", "--bind", "127.0.0.1:0"]);
    run.fails(2, "no credentials");
}

#[test]
fn a_bad_digest_in_the_config_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("oneview.toml"), "[server]\ntokens_sha256 = [\"abc\"]\n").unwrap();
    let run = crate::support::run_in(dir.path(), &["serve"]);
    run.fails(2, "server.tokens_sha256[0]");
}

async fn first_error(client: &mut FlightSqlServiceClient<Channel>, sql: &str) -> String {
    let result = async {
        let info = client.execute(sql.to_string(), None).await?;
        let ticket = info.endpoint[0].ticket.clone().unwrap();
        let batches: Vec<RecordBatch> = client.do_get(ticket).await?.try_collect().await?;
        Ok::<usize, arrow_flight::error::FlightError>(batches.len())
    }
    .await;
    match result {
        Ok(n) => panic!("`{sql}` should fail, returned {n} batches"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_are_cut_at_the_timeout_and_the_memory_limit() {
    let server = Server::start("query_timeout_secs = 1\nquery_memory_limit = \"4M\"\n");
    let mut client = server.client().await;
    client.set_token(TOKEN.into());

    // array_agg cannot spill: beyond the query's pool it must stop, not grow.
    let error = first_error(&mut client, "SELECT array_agg(value) FROM generate_series(1, 5000000)").await;
    assert!(error.to_lowercase().contains("resources exhausted"), "{error}");

    let started = Instant::now();
    // 10^12 joined rows: hours of work, cut after one second (the deadline is
    // kept on the runtime that answers calls, not the one computing).
    let slow = "SELECT count(*) FROM generate_series(1, 1000000) a, generate_series(1, 1000000) b";
    let error = first_error(&mut client, slow).await;
    assert!(error.contains("longer than its limit of 1 s"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_frees_its_slot() {
    let server = Server::start("max_concurrent_queries = 1\nqueue_timeout_secs = 3\n");
    let mut client = server.client().await;
    client.set_token(TOKEN.into());

    // The only slot: a result far too long to read, of which one batch is read.
    let info = client
        .execute("SELECT value FROM generate_series(1, 10000000000)".into(), None)
        .await
        .unwrap();
    let mut endless = client.do_get(info.endpoint[0].ticket.clone().unwrap()).await.unwrap();
    assert!(endless.try_next().await.unwrap().is_some());

    // While it streams, a second query waits and is turned away.
    let mut other = server.client().await;
    other.set_token(TOKEN.into());
    let error = first_error(&mut other, "SELECT 1").await;
    assert!(error.contains("maximum of 1 queries"), "{error}");

    // Dropping the stream cancels the query and frees the slot.
    drop(endless);
    let info = other.execute("SELECT 2 AS two".into(), None).await.unwrap();
    let batches = collect(&mut other, info).await;
    assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().value(0), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_loses_its_slot_at_the_deadline() {
    let server = Server::start("max_concurrent_queries = 1\nquery_timeout_secs = 2\nqueue_timeout_secs = 8\n");
    let mut client = server.client().await;
    client.set_token(TOKEN.into());
    let info = client
        .execute("SELECT value FROM generate_series(1, 10000000000)".into(), None)
        .await
        .unwrap();
    let mut stalled = client.do_get(info.endpoint[0].ticket.clone().unwrap()).await.unwrap();
    assert!(stalled.try_next().await.unwrap().is_some());

    // The stalled stream stays open, unread; the slot still comes free.
    let started = Instant::now();
    let mut other = server.client().await;
    other.set_token(TOKEN.into());
    let info = other.execute("SELECT 3 AS three".into(), None).await.unwrap();
    let batches = collect(&mut other, info).await;
    assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().value(0), 3);
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());

    // And the stalled reader learns that its result was cut, not complete.
    let mut ended_with_error = false;
    while let Some(next) = stalled.next().await {
        if let Err(e) = next {
            assert!(e.to_string().contains("longer than its limit"), "{e}");
            ended_with_error = true;
            break;
        }
    }
    assert!(ended_with_error);
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_schemas_match_streamed_ones_for_partitions_and_strings() {
    // A hive-partitioned copy of a sample table: the partition column is a dictionary.
    let dir = project("");
    let partition = dir.path().join("parts/year=2025");
    std::fs::create_dir_all(&partition).unwrap();
    let source = std::fs::read_dir(sample_dir().join("consents"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::copy(&source, partition.join("part-0.parquet")).unwrap();
    let mut config = std::fs::read_to_string(dir.path().join("oneview.toml")).unwrap();
    config = config.replacen("[server]", "[tables.parts]\nlocation = \"parts/\"\n\n[server]", 1);
    std::fs::write(dir.path().join("oneview.toml"), config).unwrap();
    let server = Server::start_in(dir);
    let mut client = server.client().await;
    client.set_token(TOKEN.into());
    for sql in [
        "SELECT * FROM parts LIMIT 5",
        "SELECT year, channel, count(*) AS n FROM parts GROUP BY year, channel",
        "SELECT * FROM email_subscribers WHERE email IS NULL AND false",
    ] {
        let info = client.execute(sql.into(), None).await.unwrap();
        let announced = Schema::try_from(info.clone()).unwrap();
        for batch in collect(&mut client, info).await {
            assert_eq!(batch.schema().as_ref(), &announced, "{sql}");
        }
    }
}

#[test]
fn the_server_runs_scheduled_reports() {
    let server = Server::start(
        "[reports.tick]\nsql = \"SELECT count(*) AS orders FROM orders\"\noutput = \"out/tick.csv\"\nschedule = \"* * * * * *\"\n",
    );
    let dir = server._project.path().to_path_buf();
    let deadline = Instant::now() + Duration::from_secs(20);
    let ok_runs = || {
        let run = crate::support::run_in(
            &dir,
            &[
                "sql",
                "--format",
                "csv",
                "SELECT count(*) FROM report_runs WHERE name = 'tick' AND status = 'ok'",
            ],
        );
        run.ok().lines().nth(1).unwrap_or("0").parse::<u32>().unwrap()
    };
    while ok_runs() < 2 {
        assert!(
            Instant::now() < deadline,
            "the scheduler inside serve did not run the report twice"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = std::fs::read_to_string(dir.join("out/tick.csv")).unwrap();
    let orders = crate::support::demo_csv("SELECT count(*) FROM orders");
    assert_eq!(text.lines().collect::<Vec<_>>(), ["orders", orders[0].as_str()]);
}
