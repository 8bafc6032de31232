//! Parquet over S3, against a real S3-compatible server (Garage) started on
//! loopback for these tests and stopped afterwards.
//!
//! Garage must be on PATH (`cargo install garage@2.5.0 --locked`; `.ci/run`
//! installs it). Without it these tests fail, unless ONEVIEW_SKIP_S3=1 says
//! the developer knowingly runs without S3.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::support::{command, project, run_cmd, sample_dir};

const ACCESS_KEY: &str = "GK31c2f218a2e44f485b94239e";
const SECRET_KEY: &str = "b892c0665f0ada8a4755dae98baa3b133590e11dae3bcc1f9d769d67f16c3835";
const BUCKET: &str = "oneview-test";
const REGION: &str = "garage";

/// The server runs under a small shell watchdog: the one `Garage` lives in a
/// static that is never dropped, so when the test process exits the watchdog
/// sees its parent gone, stops Garage and removes its data directory.
struct Garage {
    _watchdog: Child,
    endpoint: String,
    dir: PathBuf,
}

const WATCHDOG: &str = r#"
dir="$1"
"$0" -c "$dir/garage.toml" server --single-node --default-bucket > "$dir/garage.log" 2>&1 &
garage=$!
stop() { kill "$garage" 2>/dev/null; wait "$garage" 2>/dev/null; rm -rf "$dir"; exit 0; }
trap stop TERM INT
while kill -0 "$PPID" 2>/dev/null && kill -0 "$garage" 2>/dev/null; do sleep 0.5; done
stop
"#;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn garage_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("GARAGE_BIN") {
        return Some(PathBuf::from(bin));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("garage"))
            .find(|p| p.is_file())
    })
}

impl Garage {
    fn start() -> Option<Garage> {
        let Some(bin) = garage_binary() else {
            if std::env::var("ONEVIEW_SKIP_S3").as_deref() == Ok("1") {
                eprintln!("SKIPPED: S3 tests (ONEVIEW_SKIP_S3=1 and no garage on PATH)");
                return None;
            }
            panic!(
                "garage is not on PATH: run `cargo install garage@2.5.0 --locked` (or .ci/run), or set ONEVIEW_SKIP_S3=1"
            );
        };
        let dir = std::env::temp_dir().join(format!("oneview-garage-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (s3_port, rpc_port) = (free_port(), free_port());
        let config = dir.join("garage.toml");
        std::fs::write(
            &config,
            format!(
                "metadata_dir = \"{meta}\"\ndata_dir = \"{data}\"\ndb_engine = \"sqlite\"\nreplication_factor = 1\n\
                 rpc_bind_addr = \"127.0.0.1:{rpc_port}\"\nrpc_public_addr = \"127.0.0.1:{rpc_port}\"\n\
                 rpc_secret = \"{secret}\"\n\n[s3_api]\ns3_region = \"{REGION}\"\n\
                 api_bind_addr = \"127.0.0.1:{s3_port}\"\nroot_domain = \".s3.garage.localhost\"\n",
                meta = dir.join("meta").display(),
                data = dir.join("data").display(),
                secret = "4b0e3b2bb0ad7d2a5b7f9e3c2a1d0f6e8c7b6a5d4e3f2a1b0c9d8e7f6a5b4c3d",
            ),
        )
        .unwrap();
        let watchdog = Command::new("sh")
            .args(["-c", WATCHDOG])
            .arg(&bin)
            .arg(&dir)
            .env("GARAGE_DEFAULT_ACCESS_KEY", ACCESS_KEY)
            .env("GARAGE_DEFAULT_SECRET_KEY", SECRET_KEY)
            .env("GARAGE_DEFAULT_BUCKET", BUCKET)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .expect("garage starts");
        let garage = Garage {
            _watchdog: watchdog,
            endpoint: format!("http://127.0.0.1:{s3_port}"),
            dir,
        };
        garage.wait_ready(s3_port);
        Some(garage)
    }

    fn wait_ready(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let store = self.store();
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() && rt.block_on(store.list_with_delimiter(None)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let log = std::fs::read_to_string(self.dir.join("garage.log")).unwrap_or_default();
        panic!("garage did not become ready:\n{log}");
    }

    fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(&self.endpoint)
                .with_bucket_name(BUCKET)
                .with_region(REGION)
                .with_access_key_id(ACCESS_KEY)
                .with_secret_access_key(SECRET_KEY)
                .with_allow_http(true)
                .build()
                .unwrap(),
        )
    }

    fn command(&self, dir: &Path) -> Command {
        let mut cmd = command(dir);
        cmd.env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", REGION)
            .env("AWS_ALLOW_HTTP", "true");
        cmd
    }
}

/// One server for the whole test binary, with the sample uploaded once.
fn garage() -> Option<&'static Garage> {
    static GARAGE: OnceLock<Option<Garage>> = OnceLock::new();
    GARAGE
        .get_or_init(|| {
            let garage = Garage::start()?;
            upload_sample(&garage);
            Some(garage)
        })
        .as_ref()
}

const TABLES: [&str; 3] = ["orders", "crm_contacts", "web_events"];

fn upload_sample(garage: &Garage) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = garage.store();
    for table in TABLES {
        let folder = sample_dir().join(table);
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let key = ObjectPath::from(format!(
                "sample/{table}/{}",
                path.file_name().unwrap().to_string_lossy()
            ));
            rt.block_on(store.put(&key, bytes.into())).unwrap();
        }
    }
    // A second file in one table, so a prefix of several files is read.
    let orders = std::fs::read(sample_dir().join("orders/part-00000.parquet")).unwrap();
    rt.block_on(store.put(
        &ObjectPath::from("twice/orders/part-00000.parquet"),
        orders.clone().into(),
    ))
    .unwrap();
    rt.block_on(store.put(&ObjectPath::from("twice/orders/part-00001.parquet"), orders.into()))
        .unwrap();
}

fn s3_and_local_project() -> tempfile::TempDir {
    let mut toml = String::new();
    for table in TABLES {
        toml.push_str(&format!(
            "[tables.s3_{table}]\nlocation = \"s3://{BUCKET}/sample/{table}\"\n"
        ));
        toml.push_str(&format!(
            "[tables.local_{table}]\nlocation = \"{}/{table}/\"\n",
            sample_dir().display()
        ));
    }
    toml.push_str(&format!(
        "[tables.s3_twice]\nlocation = \"s3://{BUCKET}/twice/orders/\"\n"
    ));
    project(&toml)
}

fn csv(garage: &Garage, dir: &Path, query: &str) -> String {
    let mut cmd = garage.command(dir);
    cmd.args(["sql", "--format", "csv", query]);
    run_cmd(&mut cmd).ok().to_string()
}

#[test]
fn queries_over_s3_match_the_same_files_on_local_disk() {
    let Some(garage) = garage() else { return };
    let dir = s3_and_local_project();
    let queries = [
        "SELECT count(*), round(sum(amount), 2), min(ordered_at), max(ordered_at) FROM {}orders",
        "SELECT * FROM {}orders ORDER BY order_id LIMIT 25",
        "SELECT channel, count(*), round(avg(amount), 4) FROM {}orders GROUP BY channel ORDER BY channel",
        "SELECT contact_id, first_name, last_name, email, phone, date_of_birth FROM {}crm_contacts ORDER BY contact_id",
        "SELECT event_type, count(DISTINCT anonymous_id) FROM {}web_events GROUP BY 1 ORDER BY 1",
    ];
    for query in queries {
        let s3 = csv(garage, dir.path(), &query.replace("{}", "s3_"));
        let local = csv(garage, dir.path(), &query.replace("{}", "local_"));
        assert!(s3.lines().count() > 1, "{query}: no rows");
        // Column headers name the table; compare the data rows.
        assert_eq!(
            s3.lines().skip(1).collect::<Vec<_>>(),
            local.lines().skip(1).collect::<Vec<_>>(),
            "{query}"
        );
    }
    let twice = csv(garage, dir.path(), "SELECT count(*) FROM s3_twice");
    let once = csv(garage, dir.path(), "SELECT count(*) * 2 FROM local_orders");
    assert_eq!(
        twice.lines().nth(1),
        once.lines().nth(1),
        "both files of the prefix are read"
    );
}

#[test]
fn results_are_written_to_s3_atomically() {
    let Some(garage) = garage() else { return };
    let dir = s3_and_local_project();
    let target = format!("s3://{BUCKET}/results/big_orders.parquet");
    let mut cmd = garage.command(dir.path());
    cmd.args(["sql", "-o", &target, "SELECT * FROM local_orders WHERE amount > 50"]);
    run_cmd(&mut cmd).ok();
    let back = csv(garage, dir.path(), &format!("SELECT count(*) FROM '{target}'"));
    let direct = csv(
        garage,
        dir.path(),
        "SELECT count(*) FROM local_orders WHERE amount > 50",
    );
    assert_eq!(back.lines().nth(1), direct.lines().nth(1));

    // A query failing part-way leaves no object behind.
    let failed = format!("s3://{BUCKET}/results/failed.csv");
    let mut cmd = garage.command(dir.path());
    cmd.args([
        "sql",
        "-o",
        &failed,
        "SELECT value, repeat('x', 200) AS pad, 10 / (value - 200000) AS boom FROM range(300000)",
    ]);
    run_cmd(&mut cmd).fails(1, "Divide by zero");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listed = rt
        .block_on(garage.store().list_with_delimiter(Some(&ObjectPath::from("results"))))
        .unwrap();
    let names: Vec<String> = listed.objects.iter().map(|o| o.location.to_string()).collect();
    assert_eq!(names, vec!["results/big_orders.parquet"]);
}

#[test]
fn per_table_options_configure_the_bucket() {
    let Some(garage) = garage() else { return };
    let dir = project(&format!(
        "[tables.orders]\nlocation = \"s3://{BUCKET}/sample/orders/\"\n\
         options = {{ endpoint = \"{}\", region = \"{REGION}\", access_key_id = \"{ACCESS_KEY}\", \
         secret_access_key = \"{SECRET_KEY}\", allow_http = \"true\" }}\n",
        garage.endpoint
    ));
    // No AWS_* variables at all: the options alone must suffice.
    let run = run_cmd(command(dir.path()).args(["sql", "--format", "csv", "SELECT count(*) FROM orders"]));
    let local = crate::support::demo_csv("SELECT count(*) FROM orders");
    assert_eq!(run.ok().lines().nth(1).unwrap(), local[0]);
}

#[test]
fn wrong_credentials_are_named() {
    let Some(garage) = garage() else { return };
    let dir = s3_and_local_project();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("o.csv");
    let mut cmd = garage.command(dir.path());
    cmd.env(
        "AWS_SECRET_ACCESS_KEY",
        "0000000000000000000000000000000000000000000000000000000000000000",
    )
    .args(["sql", "-o", target.to_str().unwrap(), "SELECT count(*) FROM s3_orders"]);
    run_cmd(&mut cmd).fails(1, "access to s3://oneview-test was denied");
    assert!(!target.exists());
}

/// `resolve` over sources, state and output on S3: a second run with no
/// object changed lets the committed run stand; a new object in a source's
/// prefix is listed as new and read; an object rewritten in place (same
/// key, another entity tag) as rewritten.
#[test]
fn a_run_over_s3_lists_its_objects_and_reads_only_when_they_changed() {
    let Some(garage) = garage() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = garage.store();
    // A prefix of this test's own, so that its uploads touch no other test.
    let prefix = format!("nightly-{}", std::process::id());
    let orders = std::fs::read(sample_dir().join("orders/part-00000.parquet")).unwrap();
    let crm = std::fs::read(sample_dir().join("crm_contacts/part-00000.parquet")).unwrap();
    rt.block_on(store.put(
        &ObjectPath::from(format!("{prefix}/orders/day1.parquet")),
        orders.into(),
    ))
    .unwrap();
    rt.block_on(store.put(
        &ObjectPath::from(format!("{prefix}/crm/part-0.parquet")),
        crm.clone().into(),
    ))
    .unwrap();
    let dir = project(&format!(
        "[project]\nstate = \"s3://{BUCKET}/{prefix}/state/\"\noutput = \"s3://{BUCKET}/{prefix}/output/\"\n\
         [tables.orders]\nlocation = \"s3://{BUCKET}/{prefix}/orders/\"\n\
         [tables.crm]\nlocation = \"s3://{BUCKET}/{prefix}/crm/\"\n\
         [identity.sources.crm]\nrecord_id = \"contact_id\"\n\
         identifiers = {{ user_id = \"contact_id\", email = \"email\" }}\n\
         [identity.sources.orders]\nrecord_id = \"order_id\"\n\
         identifiers = {{ user_id = \"contact_id\", email = \"email\" }}\n"
    ));
    let resolve = || {
        let mut cmd = garage.command(dir.path());
        cmd.args(["resolve", "--format", "csv"]);
        run_cmd(&mut cmd).ok().to_string()
    };
    let row = |out: &str, item: &str| -> Vec<String> {
        out.lines()
            .filter_map(|l| l.split_once(','))
            .filter(|(k, _)| k.trim() == item)
            .map(|(_, v)| v.trim_matches('"').to_string())
            .collect()
    };
    let first = resolve();
    let records: u64 = row(&first, "records")[0].parse().unwrap();
    assert!(records > 0, "{first}");
    assert_eq!(
        row(&first, "sources"),
        ["2 read in full: no earlier run recorded what it read"]
    );
    // Uploaded just before that run listed them: an equal stamp proves
    // nothing yet (a rewrite within the clock's tick keeps it), so the
    // next run reads again, and says why.
    let racy = resolve();
    assert!(
        row(&racy, "read").contains(
            &"orders: 1 file, unchanged, but changed just before the last run listed it, so read again".to_string()
        ),
        "{racy}"
    );
    assert_eq!(
        row(&racy, "sources"),
        ["2 read in full: files changed just before the last run listed them"]
    );
    assert_eq!(row(&racy, "records"), [records.to_string()]);
    std::thread::sleep(Duration::from_secs(3));
    run_cmd(garage.command(dir.path()).args(["resolve", "--full"])).ok();
    let again = resolve();
    assert_eq!(row(&again, "up to date").len(), 1, "{again}");
    assert!(
        row(&again, "read").contains(&"orders: 1 file, unchanged".to_string()),
        "{again}"
    );

    // A day's new orders (the same rows under new ids), written by oneview
    // itself into the prefix.
    let mut day2 = garage.command(dir.path());
    day2.args([
        "sql",
        "-o",
        &format!("s3://{BUCKET}/{prefix}/orders/day2.parquet"),
        "SELECT * REPLACE (order_id || '-2' AS order_id) FROM orders",
    ]);
    run_cmd(&mut day2).ok();
    let grown = resolve();
    assert_eq!(
        row(&grown, "records"),
        [(records + records_of_orders(&first)).to_string()],
        "{grown}"
    );
    assert!(
        row(&grown, "read").contains(&"orders: 2 files; since the last run 1 new, 0 rewritten, 0 deleted".to_string()),
        "{grown}"
    );
    // The same key uploaded again: a new version of the object.
    rt.block_on(store.put(&ObjectPath::from(format!("{prefix}/crm/part-0.parquet")), crm.into()))
        .unwrap();
    // Listed well after the upload, so that the next run can trust it.
    std::thread::sleep(Duration::from_secs(3));
    let rewritten = resolve();
    assert!(
        row(&rewritten, "read").contains(&"crm: 1 file; since the last run 0 new, 1 rewritten, 0 deleted".to_string()),
        "{rewritten}"
    );
    assert_eq!(row(&resolve(), "up to date").len(), 1);
}

/// The records the summary counts from the source `orders`.
fn records_of_orders(summary: &str) -> u64 {
    summary
        .lines()
        .filter_map(|l| l.split_once(','))
        .filter(|(k, _)| k.trim() == "from source")
        .map(|(_, v)| v.trim_matches('"').to_string())
        .find_map(|v| v.strip_prefix("orders: ").map(|n| n.parse().unwrap()))
        .unwrap()
}
