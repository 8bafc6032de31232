//! `oneview resolve`: deterministic links and their guards, stable ids
//! across runs (same data, added records, a merge, a split), golden records,
//! `--explain`, `--evaluate`, and configuration errors, on small CSV sources.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::{csv_rows, project, run_in};

const TOML: &str = r#"
[tables.crm]
location = "crm.csv"
[tables.orders]
location = "orders.csv"
[tables.web]
location = "web.csv"
[tables.truth]
location = "truth.csv"

[identity]
survivorship = { first_name = "most_recent" }

[identity.identifiers.anonymous_id]
max_distinct = { user_id = 1 }

[identity.identifiers.email]
blocked = ["office@shop.com"]

[identity.sources.crm]
record_id = "contact_id"
updated_at = "updated_at"
identifiers = { user_id = "contact_id", email = "email", phone = "phone" }
attributes = { first_name = "first_name", last_name = "last_name" }

[identity.sources.orders]
record_id = "order_id"
identifiers = { user_id = "contact_id", email = "email", phone = "phone" }
attributes = { full_name = "ship_name" }

[identity.sources.web]
record_id = "event_id"
identifiers = { anonymous_id = "anonymous_id", user_id = "user_id" }
"#;

const CRM: &str = "contact_id,first_name,last_name,email,phone,updated_at
c1,Kelly,Neal,k.neal@mail.com,(415) 382-0199,2024-01-01T00:00:00
c2,Sam,Hill,sam@hill.org,,2024-01-01T00:00:00
c3,Kel,Neal,,,2025-06-01T00:00:00
";

// o1: c1 by id. o2: a guest with c1's email, spelt differently. o3: a guest
// with a junk email (blocked by default). o4 and o5: guests sharing an
// address the project blocks; o5 has a phone no one else has (its own
// customer until a later run).
const ORDERS: &str = "order_id,contact_id,email,phone,ship_name
o1,c1,,,Kelly Neal
o2,, K.Neal@Mail.COM ,,K Neal
o3,,test@test.com,,Sam Hill
o4,,office@shop.com,0000000000,Sam Hill
o5,,office@shop.com,+1 206 874 3526,Kelly Neal
";

// d1: c1's phone, logged in once. k1: a kiosk where c1 and c2 logged in
// (more than one user_id: the device must not link anyone). d3: never logged in.
const WEB: &str = "event_id,anonymous_id,user_id
e1,d1,c1
e2,d1,
e3,k1,c1
e4,k1,c2
e5,k1,
e6,d3,
";

const TRUTH: &str = "source,record_id,person_id
crm,c1,A
crm,c2,B
crm,c3,A
orders,o1,A
orders,o2,A
orders,o3,B
orders,o4,B
orders,o5,A
web,e1,A
web,e2,A
web,e3,A
web,e4,B
web,e5,B
web,e6,A
";

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).unwrap();
}

/// Writes a file as a day's batch is written: well before the run lists
/// it (an hour ago), so that the listing trusts its stamp.
fn write_aged(dir: &Path, file: &str, text: &str) {
    write(dir, file, text);
    let earlier = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let handle = std::fs::File::options().write(true).open(dir.join(file)).unwrap();
    handle.set_modified(earlier).unwrap();
}

fn sample_project() -> tempfile::TempDir {
    let dir = project(TOML);
    write(dir.path(), "crm.csv", CRM);
    write(dir.path(), "orders.csv", ORDERS);
    write(dir.path(), "web.csv", WEB);
    write(dir.path(), "truth.csv", TRUTH);
    dir
}

/// `source:record_id` → customer_id of the last run.
fn links(dir: &Path) -> BTreeMap<String, String> {
    let out = run_in(
        dir,
        &[
            "sql",
            "--format",
            "csv",
            "SELECT source || ':' || record_id, customer_id FROM identity_links ORDER BY 1",
        ],
    );
    csv_rows(out.ok())
        .into_iter()
        .map(|row| {
            let (record, customer) = row.split_once(',').unwrap();
            (record.to_string(), customer.to_string())
        })
        .collect()
}

fn summary(dir: &Path) -> BTreeMap<String, Vec<String>> {
    summary_with(dir, &[])
}

/// `resolve` with `extra` arguments: its summary, item by item.
fn summary_with(dir: &Path, extra: &[&str]) -> BTreeMap<String, Vec<String>> {
    let mut args = vec!["resolve", "--format", "csv"];
    args.extend(extra);
    let out = run_in(dir, &args);
    let mut rows: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in csv_rows(out.ok()) {
        let (item, value) = row.split_once(',').unwrap();
        rows.entry(item.trim().to_string())
            .or_default()
            .push(value.trim_matches('"').to_string());
    }
    rows
}

fn sql_rows(dir: &Path, query: &str) -> Vec<String> {
    csv_rows(run_in(dir, &["sql", "--format", "csv", query]).ok())
}

#[test]
fn links_on_shared_identifiers_and_counts_every_guard() {
    let dir = sample_project();
    let s = summary(dir.path());
    assert_eq!(s["records"], ["14"], "{s:?}");
    assert_eq!(s["blocked value"], ["email: 3 records, 2 distinct values"], "{s:?}");
    assert_eq!(
        s["max_distinct"],
        ["anonymous_id values with too many user_ids: 1"],
        "{s:?}"
    );

    let l = links(dir.path());
    let a = &l["crm:c1"];
    // c1, its order, the guest order with its email, its device's events and
    // its kiosk login are one customer.
    for record in ["orders:o1", "orders:o2", "web:e1", "web:e2", "web:e3"] {
        assert_eq!(&l[record], a, "{record} should be with crm:c1: {l:?}");
    }
    assert_eq!(l["web:e4"], l["crm:c2"], "{l:?}");
    // Guards: the junk email and phone and the kiosk link no one.
    for record in ["orders:o3", "orders:o4", "web:e5", "orders:o5", "web:e6", "crm:c3"] {
        let shared = l.values().filter(|c| *c == &l[record]).count();
        assert_eq!(shared, 1, "{record} should be alone: {l:?}");
    }
    let customers: BTreeSet<&String> = l.values().collect();
    assert_eq!(customers.len(), 8, "{l:?}");
    assert_eq!(s["customers"], ["8"], "{s:?}");

    // The golden record: the most frequent email (normalized), the CRM's
    // name, the records and sources behind it.
    let golden = sql_rows(
        dir.path(),
        &format!(
            "SELECT records, sources, email, phone, first_name, last_name FROM customers WHERE customer_id = '{a}'"
        ),
    );
    assert_eq!(golden, ["6,\"crm,orders,web\",k.neal@mail.com,+14153820199,Kelly,Neal"]);
    // The evidence: the guest order joined on the normalized email.
    let edge = sql_rows(
        dir.path(),
        "SELECT source_a, record_id_a, rule, value FROM identity_edges WHERE record_id_b = 'o2'",
    );
    assert_eq!(edge, ["crm,c1,email,k.neal@mail.com"]);
}

#[test]
fn the_same_data_gives_the_same_ids_and_new_records_keep_them() {
    let dir = sample_project();
    summary(dir.path());
    let first = links(dir.path());
    let again = summary_with(dir.path(), &["--full"]);
    assert_eq!(links(dir.path()), first, "a second run on the same data changed ids");
    assert_eq!(again["new ids"], ["0"], "{again:?}");
    assert_eq!(again["merged ids"], ["0"], "{again:?}");
    let customers = &again["customers"][0];
    assert_eq!(
        again["touched"],
        [format!(
            "0 new or changed since the last run ({customers} as they were); 0 of the last run's gone"
        )],
        "{again:?}"
    );

    // New records: one joins c2, one is a new person. Every existing record
    // keeps its id; the new person gets an id never used before.
    write(
        dir.path(),
        "orders.csv",
        &format!("{ORDERS}o6,c2,,,Sam Hill\no7,,new@person.net,,New Person\n"),
    );
    let grown = summary(dir.path());
    assert_eq!(grown["new ids"], ["1"], "{grown:?}");
    // c2's customer grew and o7 is a new one: two touched, the rest as they were.
    let as_they_were = grown["customers"][0].parse::<u64>().unwrap() - 2;
    assert_eq!(
        grown["touched"],
        [format!(
            "2 new or changed since the last run ({as_they_were} as they were); 0 of the last run's gone"
        )],
        "{grown:?}"
    );
    let after = links(dir.path());
    for (record, id) in &first {
        assert_eq!(&after[record], id, "{record} changed its id");
    }
    assert_eq!(after["orders:o6"], first["crm:c2"]);
    assert!(!first.values().any(|id| id == &after["orders:o7"]), "o7 reused an id");
}

/// A run lists the files of its sources first: when none was added,
/// rewritten or deleted, and the settings are the same, the committed run
/// stands and nothing is written; any change, or `--full`, runs, and the
/// summary says per source what changed. A folder source (one file per
/// day) is told apart file by file.
#[test]
fn a_run_with_nothing_changed_leaves_the_committed_run_standing() {
    let dir = project(&TOML.replace(r#"location = "orders.csv""#, "location = \"orders/\"\nformat = \"csv\""));
    // Files written as a day's batch is: changed well before the run lists
    // them (a file changed within two seconds of a listing counts as
    // changed on the next run, as a rewrite within a clock's tick can hide).
    let put = |file: &str, text: &str| {
        write(dir.path(), file, text);
        let earlier = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(dir.path().join(file))
            .unwrap()
            .set_modified(earlier)
            .unwrap();
    };
    put("crm.csv", CRM);
    put("web.csv", WEB);
    put("truth.csv", TRUTH);
    std::fs::create_dir(dir.path().join("orders")).unwrap();
    put("orders/day1.csv", ORDERS);
    let current = || std::fs::read_to_string(dir.path().join("output/identity/current")).unwrap();

    let first = summary(dir.path());
    assert_eq!(first["records"], ["14"], "{first:?}");
    assert!(
        first["read"].contains(&"orders: 1 file, no earlier run with these settings to compare".to_string()),
        "{first:?}"
    );
    let run = current();
    let ids = links(dir.path());
    let again = summary(dir.path());
    assert!(again["up to date"][0].contains(&run), "{again:?}");
    assert!(
        again["read"].contains(&"orders: 1 file, unchanged".to_string()),
        "{again:?}"
    );
    assert!(!again.contains_key("records"), "{again:?}");
    assert_eq!(current(), run, "an unchanged run wrote nothing");

    // A new day's file: the run runs and says so; o6 joins c2.
    put(
        "orders/day2.csv",
        "order_id,contact_id,email,phone,ship_name\no6,c2,,,Sam Hill\n",
    );
    let grown = summary(dir.path());
    assert_eq!(grown["records"], ["15"], "{grown:?}");
    assert!(
        grown["read"].contains(&"orders: 2 files; since the last run 1 new, 0 rewritten, 0 deleted".to_string()),
        "{grown:?}"
    );
    assert!(
        grown["read"].contains(&"crm: 1 file, unchanged".to_string()),
        "{grown:?}"
    );
    assert!(
        grown["from source"].contains(&"orders: 6 (+1 since the last run)".to_string()),
        "{grown:?}"
    );
    assert!(grown["from source"].contains(&"crm: 3".to_string()), "{grown:?}");
    assert_ne!(current(), run);
    assert_eq!(links(dir.path())["orders:o6"], ids["crm:c2"]);
    assert!(summary(dir.path()).contains_key("up to date"));

    // A file rewritten in place at the same size (one letter), then one
    // deleted: each is seen and runs.
    let ann = "c4,Ann,Lee,ann@lee.org,,2025-01-01T00:00:00\n";
    put("crm.csv", &format!("{CRM}{ann}"));
    assert!(summary(dir.path()).contains_key("records"));
    put("crm.csv", &format!("{CRM}{}", ann.replace("Ann", "Anm")));
    let rewritten = summary(dir.path());
    assert!(
        rewritten["read"].contains(&"crm: 1 file; since the last run 0 new, 1 rewritten, 0 deleted".to_string()),
        "{rewritten:?}"
    );
    assert_eq!(rewritten["records"], ["16"], "{rewritten:?}");
    let golden = sql_rows(
        dir.path(),
        "SELECT first_name FROM customers WHERE email = 'ann@lee.org'",
    );
    assert_eq!(golden, ["Anm"]);
    std::fs::remove_file(dir.path().join("orders/day2.csv")).unwrap();
    let shrunk = summary(dir.path());
    assert!(
        shrunk["read"].contains(&"orders: 1 file; since the last run 0 new, 0 rewritten, 1 deleted".to_string()),
        "{shrunk:?}"
    );
    assert_eq!(shrunk["records"], ["15"], "{shrunk:?}");
    assert!(!links(dir.path()).contains_key("orders:o6"));

    // Settings changed: a run, with nothing to compare the files with.
    let toml = std::fs::read_to_string(dir.path().join("oneview.toml")).unwrap();
    write(
        dir.path(),
        "oneview.toml",
        &toml.replace("survivorship = { first_name = \"most_recent\" }", "survivorship = {}"),
    );
    let settings = summary(dir.path());
    assert!(settings.contains_key("records"), "{settings:?}");
    assert!(summary(dir.path()).contains_key("up to date"));
    // A source whose SQL asks the clock is read on every run.
    let toml = std::fs::read_to_string(dir.path().join("oneview.toml")).unwrap();
    write(
        dir.path(),
        "oneview.toml",
        &toml.replace(
            r#"record_id = "event_id""#,
            r#"record_id = "CASE WHEN now() > TIMESTAMP '2000-01-01' THEN event_id END""#,
        ),
    );
    assert!(summary(dir.path()).contains_key("records"));
    let clock = summary(dir.path());
    assert!(clock.contains_key("records"), "{clock:?}");
    assert!(
        clock["read"].iter().any(|r| r.starts_with("web: read on every run")),
        "{clock:?}"
    );
    write(dir.path(), "oneview.toml", &toml);
    assert!(summary(dir.path()).contains_key("records"));
    assert!(summary(dir.path()).contains_key("up to date"));
    // --full runs anyway, and a run killed before its commit (here: the
    // kept inputs naming another run) is not taken for the committed one.
    let full = summary_with(dir.path(), &["--full"]);
    assert!(full.contains_key("records"), "{full:?}");
    let kept = dir.path().join("state/identity/inputs.json");
    let text = std::fs::read_to_string(&kept).unwrap();
    write(
        dir.path(),
        "state/identity/inputs.json",
        &text.replace(&current(), "20200101T000000.000000Z"),
    );
    assert!(summary(dir.path()).contains_key("records"));
}

/// The files of one identity table's folder.
fn files(dir: &Path, table: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("output/identity").join(table))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_identity_tables_are_read_as_one_committed_set() {
    let dir = sample_project();
    summary(dir.path());
    let run = std::fs::read_to_string(dir.path().join("output/identity/current")).unwrap();
    let tables = ["identity_links", "identity_edges", "identity_merges", "customers"];
    for table in tables {
        assert_eq!(files(dir.path(), table), [format!("run-{run}.parquet")], "{table}");
    }
    let count = |table: &str| sql_rows(dir.path(), &format!("SELECT count(*) FROM {table}"));
    let before: Vec<Vec<String>> = tables.iter().map(|t| count(t)).collect();
    assert_eq!(before[0], ["14"]);

    // A run that wrote its files but died before its commit: sessions go on
    // reading the committed run, and the next run removes the leftovers.
    for table in tables {
        let folder = dir.path().join("output/identity").join(table);
        std::fs::copy(
            folder.join(format!("run-{run}.parquet")),
            folder.join("run-29991231T000000.000000Z.parquet"),
        )
        .unwrap();
    }
    let during: Vec<Vec<String>> = tables.iter().map(|t| count(t)).collect();
    assert_eq!(during, before, "an uncommitted run's files were read");
    summary_with(dir.path(), &["--full"]);
    let next = std::fs::read_to_string(dir.path().join("output/identity/current")).unwrap();
    assert_ne!(next, run);
    // The replaced run's files stay one run longer, for queries reading them.
    for table in tables {
        let mut expected = vec![format!("run-{run}.parquet"), format!("run-{next}.parquet")];
        expected.sort();
        assert_eq!(files(dir.path(), table), expected, "{table}");
    }
    assert_eq!(count("identity_links"), ["14"]);
    summary_with(dir.path(), &["--full"]);
    let last = std::fs::read_to_string(dir.path().join("output/identity/current")).unwrap();
    assert!(!files(dir.path(), "customers").contains(&format!("run-{run}.parquet")));
    assert!(files(dir.path(), "customers").contains(&format!("run-{last}.parquet")));
}

#[test]
fn the_id_of_a_deleted_customer_is_not_handed_out_again() {
    let dir = sample_project();
    summary(dir.path());
    let first = links(dir.path());
    // e6 (a device alone) is the last record, so its customer has the highest id.
    let gone = first["web:e6"].clone();
    assert_eq!(first.values().max().unwrap(), &gone);
    write(dir.path(), "web.csv", &WEB.replace("e6,d3,\n", ""));
    let deleted = summary(dir.path());
    assert!(
        deleted["touched"][0].starts_with("0 new or changed")
            && deleted["touched"][0].ends_with("; 1 of the last run's gone"),
        "{deleted:?}"
    );
    write(dir.path(), "web.csv", &WEB.replace("e6,d3,\n", "e7,d7,\n"));
    summary(dir.path());
    let after = links(dir.path());
    assert!(
        after["web:e7"] > gone,
        "{} reuses or precedes the deleted {gone}",
        after["web:e7"]
    );
}

#[test]
fn a_merge_keeps_the_older_id_and_is_logged_and_a_split_is_logged_too() {
    let dir = sample_project();
    summary(dir.path());
    let first = links(dir.path());
    let (kelly, guest) = (first["crm:c1"].clone(), first["orders:o5"].clone());
    assert_ne!(kelly, guest);
    assert!(kelly < guest, "ids are numbered in record order: {kelly} {guest}");

    // c1's record now carries the guest's phone: the two customers merge.
    let crm = CRM.replace("(415) 382-0199", "+1 206 874 3526");
    write(dir.path(), "crm.csv", &crm);
    let s = summary(dir.path());
    assert_eq!(s["merged ids"], ["1"], "{s:?}");
    let merged = links(dir.path());
    assert_eq!(merged["orders:o5"], kelly, "the older id survives");
    assert_eq!(merged["crm:c1"], kelly);
    let log = sql_rows(dir.path(), "SELECT old_id, new_id, change, reason FROM identity_merges");
    assert_eq!(log, [format!("{guest},{kelly},merged,clusters joined by phone links")]);

    // The link goes away again: the guest's order splits off with a new id,
    // and the log says so.
    write(dir.path(), "crm.csv", CRM);
    let s = summary(dir.path());
    assert_eq!(s["split ids"], ["1"], "{s:?}");
    let split = links(dir.path());
    assert_eq!(split["crm:c1"], kelly, "the larger part keeps the id");
    assert_ne!(split["orders:o5"], kelly);
    assert_ne!(split["orders:o5"], guest, "a merged id is not handed out again");
    let log = sql_rows(
        dir.path(),
        "SELECT old_id, new_id, change FROM identity_merges WHERE change = 'split'",
    );
    assert_eq!(log, [format!("{kelly},{},split", split["orders:o5"])]);
}

#[test]
fn the_cluster_size_cap_refuses_links_and_says_so() {
    let dir = sample_project();
    let toml = TOML.replace("[identity]\n", "[identity]\nmax_cluster_size = 3\n");
    write(dir.path(), "oneview.toml", &toml);
    let s = summary(dir.path());
    assert!(s.contains_key("max_cluster_size"), "{s:?}");
    let largest: u64 = s["largest (records)"][0].parse().unwrap();
    assert!(largest <= 3, "{s:?}");
    let sizes = sql_rows(dir.path(), "SELECT max(records) FROM customers");
    assert_eq!(sizes, ["3"]);
}

#[test]
fn a_value_on_too_many_records_does_not_link() {
    let dir = sample_project();
    let toml = TOML.replace(
        "[identity.identifiers.email]\n",
        "[identity.identifiers.user_id]\nmax_records = 3\n\n[identity.identifiers.email]\n",
    );
    write(dir.path(), "oneview.toml", &toml);
    let s = summary(dir.path());
    // c1's id is on four records (c1, o1, e1, e3): it links none of them.
    assert_eq!(s["max_records"], ["user_id values on too many records: 1"], "{s:?}");
    let l = links(dir.path());
    assert_ne!(l["orders:o1"], l["crm:c1"]);
    assert_eq!(l["orders:o2"], l["crm:c1"], "the email still links");
}

/// Kelly and John Neal share a family email on guest orders and a
/// newsletter sign-up; each also has a CRM contact with their own phone.
const FAMILY_TOML: &str = r#"
[tables.crm]
location = "crm.csv"
[tables.orders]
location = "orders.csv"
[tables.subscribers]
location = "subscribers.csv"

[identity.identifiers.email]
split_by_first_name = true

[identity.sources.crm]
record_id = "contact_id"
identifiers = { email = "email", phone = "phone" }
attributes = { first_name = "first_name", last_name = "last_name" }

[identity.sources.orders]
record_id = "order_id"
identifiers = { email = "email", phone = "phone" }
attributes = { full_name = "ship_name" }

[identity.sources.subscribers]
record_id = "subscriber_id"
identifiers = { email = "email" }
attributes = { first_name = "first_name" }
"#;

// o2 is Kelly's by name only (the family email, no phone), o4 John's in
// capitals, o5 signed with Kelly's initial; s1 gave no name, so it cannot
// be told apart; s2 is Kelly's name with a typo.
const FAMILY_CRM: &str = "contact_id,first_name,last_name,email,phone
c1,Kelly,Neal,kelly@mail.com,(415) 382-0199
c2,John,Neal,john@mail.com,(415) 382-0222
";
const FAMILY_ORDERS: &str = "order_id,email,phone,ship_name
o1,neal.family@mail.com,415-382-0199,Kelly Neal
o2,Neal.Family@mail.com,,Kelly  Neal
o3,neal.family@mail.com,4153820222,John Neal
o4,neal.family@mail.com,,JOHN NEAL
o5,neal.family@mail.com,,K. Neal
";
const FAMILY_SUBSCRIBERS: &str = "subscriber_id,email,first_name
s1,neal.family@mail.com,
s2,neal.family@mail.com,Kellly
";

#[test]
fn a_shared_email_links_only_records_whose_first_names_agree() {
    let dir = project(FAMILY_TOML);
    write(dir.path(), "crm.csv", FAMILY_CRM);
    write(dir.path(), "orders.csv", FAMILY_ORDERS);
    write(dir.path(), "subscribers.csv", FAMILY_SUBSCRIBERS);
    let s = summary(dir.path());
    assert_eq!(
        s["split_by_first_name"],
        ["email values shared by people of different first names: 1"],
        "{s:?}"
    );
    let l = links(dir.path());
    for record in ["orders:o1", "orders:o2", "orders:o5", "subscribers:s2"] {
        assert_eq!(l[record], l["crm:c1"], "{record} is Kelly's: {l:?}");
    }
    for record in ["orders:o3", "orders:o4"] {
        assert_eq!(l[record], l["crm:c2"], "{record} is John's: {l:?}");
    }
    assert_ne!(l["crm:c1"], l["crm:c2"], "{l:?}");
    assert_eq!(
        l.values().filter(|c| **c == l["subscribers:s1"]).count(),
        1,
        "a record without a name stays alone: {l:?}"
    );

    // Without the guard, the family email joins the two people.
    write(
        dir.path(),
        "oneview.toml",
        &FAMILY_TOML.replace("split_by_first_name = true", "split_by_first_name = false"),
    );
    summary(dir.path());
    let l = links(dir.path());
    assert_eq!(l["crm:c1"], l["crm:c2"], "{l:?}");
}

#[test]
fn explain_prints_the_path_of_links_and_the_customer() {
    let dir = sample_project();
    summary(dir.path());
    let l = links(dir.path());
    let record = run_in(dir.path(), &["resolve", "--explain", "orders:o2"]);
    let out = record.ok();
    assert!(
        out.contains(&format!("customer {}: 6 records from crm, orders, web", l["crm:c1"])),
        "{out}"
    );
    assert!(out.contains("record orders:o2: path of links to crm:c1"), "{out}");
    assert!(out.contains("└─ email = k.neal@mail.com (p = 1.000) → crm:c1"), "{out}");

    // A bare record id, and a customer id.
    let bare = run_in(dir.path(), &["resolve", "--explain", "e2"]);
    let out = bare.ok();
    assert!(out.contains("anonymous_id = d1"), "{out}");
    let customer = run_in(dir.path(), &["resolve", "--explain", &l["crm:c1"]]);
    let out = customer.ok();
    assert!(
        out.contains("golden record: user_id = c1; email = k.neal@mail.com"),
        "{out}"
    );
    assert!(
        out.contains("links by rule: user_id 3, anonymous_id 1, email 1"),
        "{out}"
    );
    assert!(out.contains("web:e2 ← anonymous_id = d1 (p = 1.000) ← web:e1"), "{out}");

    run_in(dir.path(), &["resolve", "--explain", "zz"]).fails(2, "no customer or record `zz` in identity_links");
}

/// Pairwise precision and recall the slow way: every pair of records.
fn pairwise(links: &BTreeMap<String, String>, truth: &BTreeMap<String, String>) -> (f64, f64) {
    let records: Vec<&String> = links.keys().collect();
    let (mut predicted, mut actual, mut both) = (0u32, 0u32, 0u32);
    for i in 0..records.len() {
        for j in i + 1..records.len() {
            let p = links[records[i]] == links[records[j]];
            let t = truth[records[i]] == truth[records[j]];
            predicted += u32::from(p);
            actual += u32::from(t);
            both += u32::from(p && t);
        }
    }
    (both as f64 / predicted as f64, both as f64 / actual as f64)
}

#[test]
fn evaluate_scores_the_run_against_the_truth() {
    let dir = sample_project();
    summary(dir.path());
    let truth: BTreeMap<String, String> = TRUTH
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (format!("{}:{}", f[0], f[1]), f[2].to_string())
        })
        .collect();
    let (precision, recall) = pairwise(&links(dir.path()), &truth);
    assert!(
        recall < 1.0 && precision == 1.0,
        "the sample has unlinkable records and no false link"
    );

    let out = run_in(dir.path(), &["resolve", "--evaluate", "truth", "--format", "csv"]);
    let rows: BTreeMap<String, String> = csv_rows(out.ok())
        .into_iter()
        .map(|r| {
            let (k, v) = r.split_once(',').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    assert_eq!(rows["records evaluated"], "14");
    assert_eq!(rows["pairwise precision"], format!("{precision:.4}"));
    assert_eq!(rows["pairwise recall"], format!("{recall:.4}"));
    let f1 = 2.0 * precision * recall / (precision + recall);
    assert_eq!(rows["pairwise F1"], format!("{f1:.4}"));
    assert_eq!(rows["B-cubed precision"], "1.0000");

    run_in(dir.path(), &["resolve", "--evaluate", "nope"]).fails(2, "--evaluate nope: no such table");
    run_in(dir.path(), &["resolve", "--evaluate", "crm"]).fails(2, "the table has no `source` column");
}

#[test]
fn bad_identity_configuration_is_named() {
    let dir = sample_project();
    let cases = [
        (
            TOML.replace("[identity.sources.web]\n", "[identity.sources.web]\ntable = \"webb\"\n"),
            "key `identity.sources.web.table` names `webb`, which is not a table of the project",
        ),
        (
            TOML.replace("anonymous_id = \"anonymous_id\"", "anonymous_id = \"device\""),
            "key `identity.sources.web.identifiers.anonymous_id` = \"device\" does not work on table `web`",
        ),
        (
            TOML.replace(
                "first_name = \"first_name\", last_name",
                "nickname = \"first_name\", last_name",
            ),
            "key `identity.sources.crm.attributes.nickname` is not an attribute oneview knows",
        ),
        (
            TOML.replace("max_distinct = { user_id = 1 }", "max_distinct = { user = 1 }"),
            "key `identity.identifiers.anonymous_id.max_distinct.user` names `user`, which no source maps",
        ),
        (
            format!("{TOML}\n[identity.sources.nothing]\ntable = \"crm\"\nrecord_id = \"contact_id\"\n"),
            "[identity.sources.nothing] maps no columns",
        ),
        (
            TOML.replace(
                "identifiers = { user_id = \"contact_id\",",
                "identifiers = { customer_id = \"contact_id\",",
            ),
            "identifier kind `customer_id` in [identity.sources.crm.identifiers] is taken by a column of the golden record",
        ),
        (
            TOML.replace(
                "[identity.identifiers.anonymous_id]\n",
                "[identity.identifiers.anonymous_id]\nsplit_by_first_name = true\n",
            )
            .replace(
                "attributes = { first_name = \"first_name\", last_name = \"last_name\" }",
                "",
            )
            .replace("attributes = { full_name = \"ship_name\" }", ""),
            "key `identity.identifiers.anonymous_id.split_by_first_name` is true, but no source maps a first_name or full_name attribute",
        ),
        (
            TOML.replace("[identity]\n", "[identity]\nlink_type = \"link\"\n"),
            "unknown variant `link`, expected one of `link_and_dedupe`, `link_only`, `dedupe_only`",
        ),
        (
            TOML.replace("[identity]\n", "[identity]\ndefault_region = \"ZZ\"\n"),
            "key `identity.default_region` is `ZZ`; expected a two-letter region code",
        ),
    ];
    for (toml, message) in cases {
        write(dir.path(), "oneview.toml", &toml);
        run_in(dir.path(), &["resolve"]).fails(2, message);
    }
    let no_sources = "[tables.crm]\nlocation = \"crm.csv\"\n[identity]\nmax_cluster_size = 10\n";
    write(dir.path(), "oneview.toml", no_sources);
    run_in(dir.path(), &["resolve"]).fails(2, "missing key `identity.sources`");
    write(dir.path(), "oneview.toml", "[tables.crm]\nlocation = \"crm.csv\"\n");
    run_in(dir.path(), &["resolve"]).fails(2, "the project has no [identity] section");

    // A segment may not hide an identity table.
    write(dir.path(), "oneview.toml", TOML);
    std::fs::create_dir_all(dir.path().join("segments")).unwrap();
    write(
        dir.path(),
        "segments/customers.sql",
        "SELECT contact_id AS customer_id FROM crm\n",
    );
    run_in(dir.path(), &["resolve"]).fails(2, "the segment name `customers` is already taken");
    std::fs::remove_file(dir.path().join("segments/customers.sql")).unwrap();

    // Duplicate record ids are a data error naming the source and the id.
    write(dir.path(), "oneview.toml", TOML);
    write(
        dir.path(),
        "crm.csv",
        &format!("{CRM}c2,Sam,Hill,,,2024-01-01T00:00:00\n"),
    );
    run_in(dir.path(), &["resolve"]).fails(1, "the identity source's record_id `c2` appears more than once");
    assert!(
        !dir.path().join("output/identity/identity_links").exists(),
        "nothing is written on error"
    );
}

/// The records, links and golden records count against --memory-limit: a
/// limit below what the run holds stops it with nothing written and the
/// previous run still current; a limit above gives the same links as none.
#[test]
fn resolve_stays_within_the_memory_limit_or_stops_cleanly() {
    let dir = sample_project();
    // Sources are read concurrently, so which one trips the limit varies.
    let refused = "out of memory: resolving needs more memory than --memory-limit (2 KB) allows: reading `";
    run_in(dir.path(), &["--memory-limit", "2K", "resolve"]).fails(1, refused);
    assert!(
        !dir.path().join("output/identity/identity_links").exists(),
        "nothing is written on error"
    );
    let within = summary_with(dir.path(), &["--full"]);
    // The high-water mark of what the run counted, under the limit.
    let held = &within["memory"][0];
    assert!(
        held.contains(" KB held at most (what --memory-limit bounds)"),
        "{within:?}"
    );
    let kilobytes: u64 = held.split(' ').next().unwrap().parse().unwrap();
    assert!(kilobytes > 0 && kilobytes < 64 << 10, "{held}");
    run_in(dir.path(), &["--memory-limit", "64M", "resolve", "--full"]).ok();
    let limited = links(dir.path());
    assert_eq!(limited.len(), 14);
    let current = std::fs::read_to_string(dir.path().join("output/identity/current")).unwrap();
    run_in(dir.path(), &["--memory-limit", "2K", "resolve", "--full"]).fails(1, refused);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("output/identity/current")).unwrap(),
        current,
        "a refused run leaves the previous one current"
    );
    assert_eq!(links(dir.path()), limited);
    run_in(dir.path(), &["resolve", "--full"]).ok();
    assert_eq!(links(dir.path()), limited);
}

/// Rows come in any order and are put in record-id order after reading,
/// column by column: each record keeps its own identifiers and attributes.
#[test]
fn records_read_out_of_order_keep_their_own_values() {
    let toml = r#"
[tables.crm]
location = "crm.csv"
[tables.orders]
location = "orders.csv"

[identity.sources.crm]
record_id = "contact_id"
identifiers = { email = "email" }
attributes = { first_name = "first_name" }

[identity.sources.orders]
record_id = "order_id"
identifiers = { email = "email" }
"#;
    let dir = project(toml);
    write(
        dir.path(),
        "crm.csv",
        "contact_id,first_name,email\nc3,Cara,cara@x.com\nc1,Abe,abe@x.com\nc2,Bea,bea@x.com\n",
    );
    write(dir.path(), "orders.csv", "order_id,email\no2,bea@x.com\no1,abe@x.com\n");
    summary(dir.path());
    let l = links(dir.path());
    assert_eq!(l["orders:o1"], l["crm:c1"]);
    assert_eq!(l["orders:o2"], l["crm:c2"]);
    assert_ne!(l["crm:c3"], l["crm:c1"]);
    for (record, name, email) in [
        ("c1", "Abe", "abe@x.com"),
        ("c2", "Bea", "bea@x.com"),
        ("c3", "Cara", "cara@x.com"),
    ] {
        let customer = &l[&format!("crm:{record}")];
        assert_eq!(
            sql_rows(
                dir.path(),
                &format!("SELECT first_name, email FROM customers WHERE customer_id = '{customer}'")
            ),
            [format!("{name},{email}")]
        );
    }
    assert_eq!(
        sql_rows(
            dir.path(),
            "SELECT record_id_a || record_id_b, value FROM identity_edges ORDER BY 1"
        ),
        ["c1o1,abe@x.com", "c2o2,bea@x.com"]
    );
}

/// Records alike but for their ids are held as one class: the most recent
/// of a class stands for it when values are chosen by time (a name used on
/// an old and a new order beats one used in between), while the record id
/// itself, different on each, is still chosen by each record's own time.
#[test]
fn records_alike_but_for_their_ids_keep_their_own_times() {
    let toml = r#"
[tables.orders]
location = "orders.csv"

[identity]
survivorship = { full_name = "most_recent" }

[identity.sources.orders]
record_id = "order_id"
updated_at = "ordered_at"
identifiers = { order_id = "order_id", email = "email" }
attributes = { full_name = "ship_name" }
"#;
    let dir = project(toml);
    write(
        dir.path(),
        "orders.csv",
        "order_id,email,ship_name,ordered_at
o1,a@x.com,Kelly Neal,2024-01-01T00:00:00
o2,a@x.com,Kelly Neal,2024-03-01T00:00:00
o3,a@x.com,Kelly Neal,2024-02-01T00:00:00
o4,a@x.com,K Neal,2024-02-15T00:00:00
",
    );
    summary(dir.path());
    assert_eq!(
        sql_rows(dir.path(), "SELECT records, full_name, order_id FROM customers"),
        ["4,Kelly Neal,o2"]
    );
}

/// Records alike may end up in different customers (here the size cap
/// stops the second of two page views alike from joining the contact):
/// each record's own time, not the latest of its class, decides the value a
/// golden record takes.
#[test]
fn records_alike_split_by_the_size_cap_keep_their_own_times() {
    let toml = r#"
[tables.crm]
location = "crm.csv"
[tables.web]
location = "web.csv"

[identity]
max_cluster_size = 2

[identity.sources.crm]
record_id = "contact_id"
updated_at = "updated_at"
identifiers = { email = "email" }
attributes = { first_name = "first_name" }

[identity.sources.web]
record_id = "event_id"
updated_at = "seen_at"
identifiers = { email = "email" }
attributes = { first_name = "first_name" }
"#;
    let dir = project(toml);
    write(
        dir.path(),
        "crm.csv",
        "contact_id,email,first_name,updated_at\nx,e@x.com,Ann,2024-03-01T00:00:00\n",
    );
    write(
        dir.path(),
        "web.csv",
        "event_id,email,first_name,seen_at\nw1,e@x.com,Bob,2024-01-01T00:00:00\nw2,e@x.com,Bob,2024-06-01T00:00:00\n",
    );
    summary(dir.path());
    let l = links(dir.path());
    assert_eq!(l["crm:x"], l["web:w1"]);
    assert_ne!(l["crm:x"], l["web:w2"]);
    // Ann and Bob once each: the later record wins, Ann's March over w1's
    // January (w2's June is another customer's).
    assert_eq!(
        sql_rows(
            dir.path(),
            "SELECT records, first_name FROM customers ORDER BY records DESC"
        ),
        ["2,Ann", "1,Bob"]
    );
}

/// An identifier read by the record id's own column (an order's order_id)
/// links like any other: a support ticket quoting the order joins its
/// customer, with the order id as the evidence.
#[test]
fn an_identifier_that_is_the_record_id_links() {
    let toml = r#"
[tables.orders]
location = "orders.csv"
[tables.tickets]
location = "tickets.csv"

[identity.sources.orders]
record_id = "order_id"
identifiers = { order_id = "order_id", email = "email" }

[identity.sources.tickets]
record_id = "ticket_id"
identifiers = { order_id = "order_id" }
"#;
    let dir = project(toml);
    write(dir.path(), "orders.csv", "order_id,email\no1,a@x.com\n o2 ,b@y.com\n");
    write(dir.path(), "tickets.csv", "ticket_id,order_id\nt1, o2 \nt2,o9\n");
    summary(dir.path());
    let l = links(dir.path());
    assert_eq!(l["tickets:t1"], l["orders:o2"]);
    assert_ne!(l["tickets:t1"], l["orders:o1"]);
    assert_ne!(l["tickets:t2"], l["orders:o1"]);
    assert_eq!(
        sql_rows(dir.path(), "SELECT source_a, source_b, rule, value FROM identity_edges"),
        ["orders,tickets,order_id,o2"]
    );
}

/// With an identity source over the orders table, the built-in views key
/// each order by its resolved customer once `oneview resolve` has run (an
/// order added since, by the one customer its key's earlier orders went to),
/// by the configured key before, and by the key alone with `use_identity = false`.
#[test]
fn rfm_and_clv_are_keyed_by_resolved_customers() {
    let toml = r#"
[tables.crm]
location = "crm.csv"
[tables.orders]
location = "orders/"
format = "csv"

[orders]
table = "orders"
customer = "coalesce(contact_id, normalize_email(email))"
amount = "amount"
as_of = "2026-01-01"

[identity.identifiers.email]
blocked = ["family@home.com"]

[identity.sources.crm]
record_id = "contact_id"
identifiers = { user_id = "contact_id", email = "email", phone = "phone" }

[identity.sources.orders]
record_id = "order_id"
identifiers = { user_id = "contact_id", email = "email", phone = "phone" }
"#;
    let dir = project(toml);
    write(
        dir.path(),
        "crm.csv",
        "contact_id,email,phone\nc1,k.neal@mail.com,(415) 382-0199\nc2,sam@hill.org,(206) 874-3526\n",
    );
    std::fs::create_dir(dir.path().join("orders")).unwrap();
    // c1: a CRM order, a guest order by email, a guest order with only a
    // phone (no key; its id padded, as resolution trims ids). A junk guest
    // order no one can key or link. Two guest orders on a family email the
    // project blocks, each linked to its buyer by phone: one key, two people.
    write(
        dir.path(),
        "orders/1.csv",
        "order_id,contact_id,email,phone,ordered_at,amount
o1,c1,,,2025-06-01T10:00:00,40
o2,, K.Neal@Mail.com ,,2025-09-01T10:00:00,60
 o3 ,,,415-382-0199,2025-10-01T10:00:00,10
o4,,n/a,,2025-10-02T10:00:00,5
o7,,family@home.com,(206) 874-3526,2025-10-03T10:00:00,20
o8,,family@home.com,4153820199,2025-10-04T10:00:00,30
",
    );
    let rfm = "SELECT customer_id, frequency, monetary FROM rfm ORDER BY customer_id";
    assert_eq!(
        sql_rows(dir.path(), rfm),
        ["c1,1,40.0", "family@home.com,2,50.0", "k.neal@mail.com,1,60.0"]
    );
    summary(dir.path());
    let l = links(dir.path());
    let (c1, c2) = (&l["crm:c1"], &l["crm:c2"]);
    let sorted = |mut rows: Vec<String>| {
        rows.sort();
        rows
    };
    assert_eq!(
        sql_rows(dir.path(), rfm),
        sorted(vec![format!("{c1},4,140.0"), format!("{c2},1,20.0")])
    );
    // clv's summary counts repeat purchase days: three after the first.
    assert_eq!(
        sql_rows(
            dir.path(),
            &format!("SELECT frequency FROM clv WHERE customer_id = '{c1}'")
        ),
        ["3.0"]
    );
    // Orders since the resolution go to the one customer their key's orders
    // went to; a key shared by two customers stays a key; a keyless order
    // no resolution has seen is left out.
    write(
        dir.path(),
        "orders/2.csv",
        "order_id,contact_id,email,phone,ordered_at,amount
o5,c1,,,2025-11-01T10:00:00,25
o6,,k.neal@mail.com,,2025-11-02T10:00:00,15
o9,,family@home.com,,2025-11-03T10:00:00,12
o10,,n/a,,2025-11-04T10:00:00,7
",
    );
    assert_eq!(
        sql_rows(dir.path(), rfm),
        sorted(vec![
            format!("{c1},6,180.0"),
            format!("{c2},1,20.0"),
            "family@home.com,1,12.0".to_string()
        ])
    );
    let toml = toml.replace("as_of = \"2026-01-01\"", "as_of = \"2026-01-01\"\nuse_identity = false");
    write(dir.path(), "oneview.toml", &toml);
    assert_eq!(
        sql_rows(dir.path(), rfm),
        ["c1,2,65.0", "family@home.com,3,62.0", "k.neal@mail.com,2,75.0"]
    );
}

/// Copies a folder, recursively.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A resolution killed (SIGKILL) at any moment — reading, linking, writing,
/// committing — leaves a committed run whose four tables are whole and
/// agree (every record linked, every customer of the links in the golden
/// records), and the next run completes. On the bundled sample (53,226
/// records), killed at several points of a run.
#[test]
fn a_run_killed_mid_way_leaves_a_whole_run_current_and_the_next_completes() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&crate::support::demo_dir(), &dir.path().join("demo"));
    copy_tree(&crate::support::sample_dir(), &dir.path().join("sample"));
    let demo = dir.path().join("demo");
    for leftover in ["output", "state"] {
        let _ = std::fs::remove_dir_all(demo.join(leftover));
    }
    let whole = |when: &str| {
        let current = std::fs::read_to_string(demo.join("output/identity/current")).unwrap();
        for table in ["identity_links", "identity_edges", "identity_merges", "customers"] {
            assert!(
                files(&demo, table).contains(&format!("run-{current}.parquet")),
                "{when}: {table} of run {current} is missing"
            );
        }
        let counts = sql_rows(
            &demo,
            "SELECT (SELECT count(*) FROM identity_links) AS links, \
                    (SELECT count(DISTINCT customer_id) FROM identity_links) AS linked, \
                    (SELECT count(*) FROM customers) AS golden, \
                    (SELECT count(*) FROM identity_links l LEFT JOIN customers c USING (customer_id) \
                     WHERE c.customer_id IS NULL) AS orphans",
        );
        let n: Vec<u64> = counts[0].split(',').map(|v| v.parse().unwrap()).collect();
        assert_eq!(n[0], 53_226, "{when}: records linked");
        assert_eq!(n[1], n[2], "{when}: customers of the links against golden records");
        assert_eq!(n[3], 0, "{when}: links to no golden record");
        n[2]
    };
    run_in(&demo, &["resolve"]).ok();
    let customers = whole("the first run");
    let started = std::time::Instant::now();
    run_in(&demo, &["resolve", "--full"]).ok();
    let full = started.elapsed();
    for fraction in [0.1, 0.4, 0.7, 0.9, 0.97] {
        let mut child = crate::support::command(&demo)
            .args(["resolve", "--full"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(fraction));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(whole(&format!("killed at {fraction} of a run")), customers);
    }
    // The dead run's lock does not stop the next: the committed run stands
    // if the last kill came before its commit, or it runs; either way it
    // succeeds, and so does a full run after it.
    let next = summary(&demo);
    assert!(
        next.contains_key("records") || next.contains_key("up to date"),
        "{next:?}"
    );
    let full = summary_with(&demo, &["--full"]);
    assert!(full.contains_key("records"), "{full:?}");
    assert_eq!(whole("the run after"), customers);
}

/// The bytes a run's summary (`--format csv`) says it held at most, as
/// printed: binary units, rounded up.
fn counted_memory(run: &crate::support::Run) -> u64 {
    let row = run.ok().lines().find(|l| l.starts_with("memory,")).unwrap().to_string();
    let held = row.trim_start_matches("memory,").trim_matches('"').to_string();
    let (number, unit) = (held.split(' ').next().unwrap(), held.split(' ').nth(1).unwrap());
    let scale = match unit {
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        other => panic!("unexpected unit {other} in {held}"),
    };
    (number.parse::<f64>().unwrap() * scale) as u64
}

/// Past --memory-limit the words a record (classes, union-find, clusters,
/// previous ids, the records in cluster order, the strongest links) spill
/// to temporary files, record ids are sorted in runs and merged, a kind's
/// values are linked in passes, and golden records come in smaller waves:
/// a run under a limit well below what it counts unlimited completes
/// within it, with the same tables, first and again with the previous
/// run's ids; below what a source's reading needs it still stops, with
/// nothing written.
#[test]
fn past_the_memory_limit_resolve_spills_and_gives_the_same_tables() {
    let dir = project(
        r#"
[tables.web]
location = "web.csv"

[identity.sources.web]
record_id = "event_id"
identifiers = { anonymous_id = "anonymous_id", user_id = "user_id" }
"#,
    );
    // 300,000 page views of 3,000 devices; every seventh signed in, two
    // devices a user, so that users join devices.
    let mut web = String::from("event_id,anonymous_id,user_id\n");
    for i in 0..300_000 {
        let user = if i % 7 == 0 {
            format!("u{}", (i % 3000) / 2)
        } else {
            String::new()
        };
        web.push_str(&format!("e{i:06},d{},{user}\n", i % 3000));
    }
    write(dir.path(), "web.csv", &web);
    let tables = |dir: &Path| {
        (
            sql_rows(dir, "SELECT * FROM identity_links ORDER BY record_id"),
            sql_rows(dir, "SELECT * FROM identity_edges ORDER BY record_id_a, record_id_b"),
            sql_rows(dir, "SELECT * FROM customers ORDER BY customer_id"),
        )
    };
    let fresh = |dir: &Path| {
        for stale in ["output", "state"] {
            std::fs::remove_dir_all(dir.join(stale)).unwrap();
        }
    };
    let unlimited = counted_memory(&run_in(dir.path(), &["resolve", "--format", "csv"]));
    let expected = tables(dir.path());
    assert_eq!(expected.2.len(), 1500, "two devices a user");
    run_in(dir.path(), &["resolve", "--full"]).ok();
    let expected_again = tables(dir.path());

    // Well below what the run counts unlimited (7 MB when written), in
    // whole MB as the summary rounds it (up): its figure under the limit
    // is then at most the limit.
    let (limit, limit_arg) = (3 << 20, "3M".to_string());
    assert!(unlimited > limit + (2 << 20), "counted {unlimited} bytes unlimited");
    fresh(dir.path());
    let spilled = run_in(
        dir.path(),
        &["--memory-limit", &limit_arg, "resolve", "-v", "--format", "csv"],
    );
    let within = counted_memory(&spilled);
    assert!(within <= limit, "counted {within} bytes under a limit of {limit}");
    // Six words a record at least (binary MB, rounded up): the classes,
    // the ids' order, the union-find, the clusters, the records in
    // cluster order, the strongest links' two.
    let memory = spilled.stdout.lines().find(|l| l.starts_with("memory,")).unwrap();
    let (before, _) = memory
        .split_once(" MB of words a record spilled to temporary files past it")
        .unwrap_or_else(|| panic!("{memory}"));
    let megabytes: f64 = before.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(megabytes * 1048576.0 >= 6.0 * 300_000.0 * 4.0, "{memory}");
    for step in [
        "the union-find (a word a record) spilled to a temporary file",
        "the values of `anonymous_id` to link on: 300000 postings in ",
        "the order of `web`'s record ids: 300000 records sorted in runs of ",
    ] {
        assert!(spilled.stderr.contains(step), "{step}: {}", spilled.stderr);
    }
    assert_eq!(tables(dir.path()), expected);
    let again = run_in(
        dir.path(),
        &["--memory-limit", &limit_arg, "resolve", "--full", "--format", "csv"],
    );
    assert!(counted_memory(&again) <= limit);
    assert_eq!(tables(dir.path()), expected_again);

    // The links' write buffers (2.3 MB) do not spill: below them, the run
    // stops and the last run stays current.
    let current = std::fs::read_to_string(dir.path().join("output/identity/current")).unwrap();
    let refused = run_in(dir.path(), &["--memory-limit", "1M", "resolve", "--full"]);
    refused.fails(
        1,
        "out of memory: resolving needs more memory than --memory-limit (1 MB) allows: the links",
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("output/identity/current")).unwrap(),
        current
    );
}

/// The links go to a temporary file as they are made, and the record ids
/// and identifier values to mapped ones: a run with 297,000 links and
/// 300,000 record ids counts megabytes fewer than when no temporary file
/// can be made (then they are held, with a warning each), and both give
/// the same tables.
#[test]
fn links_are_kept_on_disk_not_in_memory() {
    let dir = project(
        r#"
[tables.web]
location = "web.csv"

[identity.sources.web]
record_id = "event_id"
identifiers = { anonymous_id = "anonymous_id" }
"#,
    );
    let mut web = String::from("event_id,anonymous_id\n");
    for i in 0..300_000 {
        web.push_str(&format!("e{i:06},d{}\n", i % 3000));
    }
    write(dir.path(), "web.csv", &web);
    // Every column of the links and edges, as the run wrote them.
    let tables = |dir: &Path| {
        (
            sql_rows(dir, "SELECT * FROM identity_links ORDER BY record_id"),
            sql_rows(dir, "SELECT * FROM identity_edges ORDER BY record_id_a, record_id_b"),
        )
    };
    let on_disk = run_in(dir.path(), &["resolve", "--format", "csv"]);
    assert!(!on_disk.stderr.contains("held in memory"), "{}", on_disk.stderr);
    let with_file = counted_memory(&on_disk);
    let spilled = links(dir.path());
    assert_eq!(spilled.len(), 300_000);
    assert_eq!(spilled.values().collect::<BTreeSet<_>>().len(), 3000);
    let (links_read_back, edges_read_back) = tables(dir.path());
    assert_eq!(edges_read_back.len(), 297_000);
    assert!(edges_read_back[0].contains(",anonymous_id,d"), "{}", edges_read_back[0]);

    // The same run from the same (empty) state, with no temporary folder.
    for stale in ["output", "state"] {
        std::fs::remove_dir_all(dir.path().join(stale)).unwrap();
    }

    let no_temp = dir.path().join("no such folder");
    let held = crate::support::run_cmd(
        crate::support::command(dir.path())
            .env("TMPDIR", &no_temp)
            .args(["resolve", "--format", "csv"]),
    );
    assert!(
        held.stderr
            .contains("identity links are held in memory: no temporary file"),
        "{}",
        held.stderr
    );
    for column in ["the record ids of `web`", "the values of `anonymous_id`"] {
        assert!(
            held.stderr
                .contains(&format!("{column} are held in memory: no temporary file")),
            "{}",
            held.stderr
        );
    }
    let in_memory = counted_memory(&held);
    // 297,000 links of 20 bytes and 300,000 ids of 7 bytes (and an offset
    // of 4) held, against a buffer of 65,536 links and a writer's 1 MiB.
    assert!(
        in_memory > with_file + 6_000_000,
        "held {in_memory} bytes, with the file {with_file}"
    );
    assert_eq!(tables(dir.path()), (links_read_back.clone(), edges_read_back));

    // A limit a MiB above what the run counts with the file (itself
    // rounded up): the run keeps to it; holding the links, it cannot.
    let limit = format!("{}K", (with_file + 1024 * 1024) / 1024);
    for stale in ["output", "state"] {
        std::fs::remove_dir_all(dir.path().join(stale)).unwrap();
    }
    run_in(dir.path(), &["--memory-limit", &limit, "resolve"]).ok();
    assert_eq!(tables(dir.path()).0, links_read_back);
    let refused = crate::support::run_cmd(crate::support::command(dir.path()).env("TMPDIR", &no_temp).args([
        "--memory-limit",
        &limit,
        "resolve",
        "--full",
    ]));
    // The warning first, then the error.
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("error: out of memory: resolving needs more memory than --memory-limit"),
        "{}",
        refused.stderr
    );
}

/// The records of each customer of the last run, as a set of sets (ids aside).
fn partition(dir: &Path) -> BTreeSet<BTreeSet<String>> {
    let mut customers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (record, customer) in links(dir) {
        customers.entry(customer).or_default().insert(record);
    }
    customers.into_values().collect()
}

/// The partition a full run gives on a fresh copy of the project's files
/// (no state, no output, no earlier run).
fn fresh_partition(dir: &Path) -> BTreeSet<BTreeSet<String>> {
    let fresh = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "output" || name == "state" {
            continue;
        }
        if entry.path().is_dir() {
            std::fs::create_dir(fresh.path().join(&name)).unwrap();
            for file in std::fs::read_dir(entry.path()).unwrap() {
                let file = file.unwrap();
                std::fs::copy(file.path(), fresh.path().join(&name).join(file.file_name())).unwrap();
            }
        } else {
            std::fs::copy(entry.path(), fresh.path().join(&name)).unwrap();
        }
    }
    run_in(fresh.path(), &["resolve"]).ok();
    partition(fresh.path())
}

/// The golden records of the last run, ids aside, sorted.
fn golden(dir: &Path) -> Vec<String> {
    let mut rows = sql_rows(dir, "SELECT * EXCLUDE (customer_id) FROM customers");
    rows.sort();
    rows
}

/// The golden records a full run gives on a fresh copy of the project's files.
fn fresh_golden(dir: &Path) -> Vec<String> {
    let fresh = tempfile::tempdir().unwrap();
    copy_tree(dir, fresh.path());
    for name in ["output", "state"] {
        let _ = std::fs::remove_dir_all(fresh.path().join(name));
    }
    run_in(fresh.path(), &["resolve"]).ok();
    golden(fresh.path())
}

/// The guarantee of a nightly run (`resolve` without `--full`): after each
/// change to the lake — a record that merges two customers, one that pushes
/// a device over its guard so that a customer splits, a file rewritten in
/// place, a file deleted — its partition equals a full run's on a fresh
/// copy of the same files, and the ids follow the stable-id rules: the
/// older id survives a merge, the merge (with the rules that joined) and
/// the split are logged.
#[test]
fn nightly_runs_give_what_a_full_run_gives_through_merges_splits_rewrites_and_deletes() {
    let toml = TOML
        .replace(r#"location = "orders.csv""#, "location = \"orders/\"\nformat = \"csv\"")
        .replace(r#"location = "web.csv""#, "location = \"web/\"\nformat = \"csv\"");
    let dir = project(&toml);
    let put = |file: &str, text: &str| write_aged(dir.path(), file, text);
    put("crm.csv", CRM);
    put("truth.csv", TRUTH);
    for folder in ["orders", "web"] {
        std::fs::create_dir(dir.path().join(folder)).unwrap();
    }
    put("orders/day1.csv", ORDERS);
    put("web/day1.csv", WEB);
    // Each run says how it read (`read`: a phrase of its `sources` row).
    let nightly = |what: &str, read: &str| {
        let s = summary(dir.path());
        assert!(s.contains_key("records"), "{what}: the nightly run ran: {s:?}");
        assert!(s["sources"][0].contains(read), "{what}: {:?}", s["sources"]);
        assert_eq!(partition(dir.path()), fresh_partition(dir.path()), "{what}");
        assert_eq!(
            golden(dir.path()),
            fresh_golden(dir.path()),
            "{what}: the golden records"
        );
        links(dir.path())
    };
    let changes = |change: &str| -> usize {
        sql_rows(
            dir.path(),
            &format!("SELECT count(*) FROM identity_merges WHERE change = '{change}'"),
        )[0]
        .parse()
        .unwrap()
    };

    let first = nightly("the first run", "no earlier run recorded what it read");
    assert_ne!(first["orders:o5"], first["crm:c1"]);
    assert_eq!(first["web:e2"], first["crm:c1"]);

    // New events on known devices and on a new one, a new order of c2's
    // and a guest's, and o10, which reaches c1's customer only through
    // o11's new phone and brings a ship name that customer's golden record
    // already weighs: only the new files are read and linked in.
    put(
        "web/day1b.csv",
        "event_id,anonymous_id,user_id\ne8,d3,\ne9,d9,\ne10,d9,c2\n",
    );
    put(
        "orders/day1b.csv",
        "order_id,contact_id,email,phone,ship_name\no8,c2,,,Samuel Hill\no9,,new@guest.org,,Ann Lee\n\
         o10,,,+1 312 555 0177,Kelly Neal\no11,c1,,+1 312 555 0177,\n",
    );
    let grown = nightly("new records on known and new identifiers", "read only new files");
    assert_eq!(grown["orders:o10"], grown["crm:c1"]);
    assert_eq!(grown["web:e8"], grown["web:e6"]);
    assert_eq!(grown["web:e9"], grown["crm:c2"]);
    assert_eq!(grown["orders:o8"], grown["crm:c2"]);
    assert_eq!(grown["crm:c1"], first["crm:c1"], "a growing customer keeps its id");

    // o7 is c1's and carries o5's phone: the two customers merge, c1's (the
    // older id) survives, and the merge is logged with the rules that joined.
    put(
        "orders/day2.csv",
        "order_id,contact_id,email,phone,ship_name\no7,c1,,+1 206 874 3526,Kelly Neal\n",
    );
    // The run grows: the two customers' golden records are made one.
    let merged = nightly("a record that merges two customers", "read only new files");
    assert_eq!(merged["orders:o5"], merged["crm:c1"]);
    assert_eq!(merged["crm:c1"], first["crm:c1"], "the older id survives");
    assert_eq!(changes("merged"), 1);
    let reason = sql_rows(dir.path(), "SELECT reason FROM identity_merges WHERE change = 'merged'");
    assert_eq!(reason, ["\"clusters joined by user_id, phone links\""]);
    // No table names the absorbed id any more, though o5's links and
    // edges are in files an earlier run wrote.
    let absorbed = &first["orders:o5"];
    for table in ["customers", "identity_links", "identity_edges"] {
        let named = sql_rows(
            dir.path(),
            &format!("SELECT count(*) FROM {table} WHERE customer_id = '{absorbed}'"),
        );
        assert_eq!(named, ["0"], "{table} names {absorbed}");
    }
    let edges = sql_rows(
        dir.path(),
        &format!(
            "SELECT count(*) FROM identity_edges WHERE customer_id = '{}' AND 'o5' IN (record_id_a, record_id_b)",
            merged["crm:c1"]
        ),
    );
    assert_ne!(edges, ["0"], "o5's edges belong to the survivor");

    // A guest order on the absorbed customer's phone grows the survivor.
    put(
        "orders/day2b.csv",
        "order_id,contact_id,email,phone,ship_name\no12,,,+1 206 874 3526,Kelly Neal\n",
    );
    let after = nightly("a record on an absorbed customer's value", "read only new files");
    assert_eq!(after["orders:o12"], merged["crm:c1"]);

    // c2 logs in on d1 too: the device now carries two user ids, its guard
    // stops it linking, and e2 (seen only on d1) leaves c1's customer. The
    // run grows: c1's customer is linked again from its records.
    put("web/day2.csv", "event_id,anonymous_id,user_id\ne7,d1,c2\n");
    let split = nightly("a record that trips a guard", "read only new files");
    assert_ne!(split["web:e2"], split["crm:c1"]);
    assert_eq!(split["crm:c1"], first["crm:c1"], "the larger part keeps the id");
    assert_eq!(changes("split"), 1);
    // Each record's row once: those linked again only from this run's file.
    let once = sql_rows(
        dir.path(),
        "SELECT count(*) = count(DISTINCT (source, record_id)) FROM identity_links",
    );
    assert_eq!(once, ["true"]);
    let e2_edges = sql_rows(
        dir.path(),
        "SELECT count(*) FROM identity_edges WHERE 'e2' IN (record_id_a, record_id_b) AND rule = 'anonymous_id'",
    );
    assert_eq!(e2_edges, ["0"], "d1 links nothing now");

    // day2's order rewritten in place without o5's phone: o5 leaves again.
    put(
        "orders/day2.csv",
        "order_id,contact_id,email,phone,ship_name\no7,c1,,+1 206 874 0000,Kelly Neal\n",
    );
    let rewritten = nightly(
        "a file rewritten in place",
        "source `orders`: 1 of its files rewritten in place",
    );
    assert_ne!(rewritten["orders:o5"], rewritten["crm:c1"]);

    // The web file that tripped the guard deleted: d1 links e2 to c1 again.
    std::fs::remove_file(dir.path().join("web/day2.csv")).unwrap();
    let deleted = nightly("a file deleted", "source `web`: 1 of its files deleted");
    assert_eq!(deleted["web:e2"], deleted["crm:c1"]);
    assert!(!deleted.contains_key("web:e7"));
    assert_eq!(deleted["crm:c1"], first["crm:c1"]);

    // A new file repeating an old record's id is refused as a full run
    // refuses it, and the committed run stands.
    put("web/day3.csv", "event_id,anonymous_id,user_id\ne1,d1,c1\n");
    let refused = run_in(dir.path(), &["resolve"]);
    assert!(
        refused.stderr.contains("record_id `e1` appears more than once"),
        "{}",
        refused.stderr
    );
    assert_eq!(links(dir.path()), deleted);
}

/// Days on which new records undo what old records did on a value: a
/// phone pushed past `max_records`, a household email given a second
/// person's first name, a new name that takes an initial's person from
/// it. Each run grows, linking the customers holding the value again; each
/// equals a full run on a fresh copy of the files (golden records too),
/// and the splits are logged.
#[test]
fn customers_that_may_split_are_linked_again_as_a_full_run_links_them() {
    let dir = project(
        r#"
[tables.crm]
location = "crm/"
format = "csv"

[identity.identifiers.phone]
max_records = 3

[identity.identifiers.email]
split_by_first_name = true

[identity.sources.crm]
record_id = "id"
identifiers = { user_id = "user_id", email = "email", phone = "phone" }
attributes = { first_name = "first_name" }
"#,
    );
    std::fs::create_dir(dir.path().join("crm")).unwrap();
    let splits = || -> usize {
        let n = sql_rows(
            dir.path(),
            "SELECT count(*) FROM identity_merges WHERE change = 'split'",
        );
        n[0].parse().unwrap()
    };
    // The log of merges and splits, times aside.
    let log = |at: &Path| {
        sql_rows(
            at,
            "SELECT old_id, new_id, change FROM identity_merges ORDER BY 1, 2, 3",
        )
    };
    let day = |n: u32, rows: &str| {
        write_aged(
            dir.path(),
            &format!("crm/day{n}.csv"),
            &format!("id,user_id,email,phone,first_name\n{rows}"),
        );
        // A full run on the same files and the same committed run, beside.
        let beside = tempfile::tempdir().unwrap();
        copy_tree(dir.path(), beside.path());
        let s = summary(dir.path());
        if n > 1 {
            assert!(
                s["sources"][0].contains("read only new files"),
                "day {n}: {:?}",
                s["sources"]
            );
        }
        run_in(beside.path(), &["resolve", "--full"]).ok();
        assert_eq!(
            links(dir.path()),
            links(beside.path()),
            "day {n}: the ids a full run gives"
        );
        assert_eq!(
            log(dir.path()),
            log(beside.path()),
            "day {n}: the merges and splits logged"
        );
        assert_eq!(partition(dir.path()), fresh_partition(dir.path()), "day {n}");
        assert_eq!(
            golden(dir.path()),
            fresh_golden(dir.path()),
            "day {n}: the golden records"
        );
        let once = sql_rows(
            dir.path(),
            "SELECT count(*) = count(DISTINCT (source, record_id)) FROM identity_links",
        );
        assert_eq!(once, ["true"], "day {n}: a record's row once");
        (links(dir.path()), s)
    };
    let phone = "+1 415 555 0101";
    let (first, _) = day(
        1,
        &format!(
            "c1,u1,fam@x.org,{phone},Kelly\nc2,u2,fam@x.org,,Kelly\nc3,u3,,{phone},Kelly\nc4,,,{phone},Ann\nz1,u9,,,Zoe\n"
        ),
    );
    assert!(
        ["crm:c2", "crm:c3", "crm:c4"]
            .iter()
            .all(|r| first[*r] == first["crm:c1"])
    );
    // James on the household email: it now links by first name alone.
    let (james, s) = day(2, "c5,,fam@x.org,,James\n");
    assert_ne!(james["crm:c5"], james["crm:c1"]);
    assert_eq!(james["crm:c2"], james["crm:c1"], "two Kellys still one person");
    assert_eq!(s["split ids"], ["0"], "{s:?}");
    // A fourth record on the phone (max_records = 3): it stops, and c3 and
    // c4, held to c1 by the phone alone, are split off.
    let (stopped, s) = day(3, &format!("c6,,,{phone},Bo\n"));
    assert_ne!(stopped["crm:c3"], stopped["crm:c1"]);
    assert_ne!(stopped["crm:c4"], stopped["crm:c1"]);
    assert_ne!(stopped["crm:c6"], stopped["crm:c1"]);
    assert_eq!(stopped["crm:c1"], first["crm:c1"], "the larger part keeps the id");
    assert_eq!(s["split ids"], ["2"], "{s:?}");
    assert_eq!(splits(), 2);
    assert_eq!(stopped["crm:z1"], first["crm:z1"], "an untouched customer keeps its id");
    // An initial stands for the one name it can: K is Kelly's.
    let (initial, _) = day(4, "c8,,fam@x.org,,K\n");
    assert_eq!(initial["crm:c8"], initial["crm:c1"]);
    // Karl takes the initial from Kelly: K links to no one now.
    let (karl, s) = day(5, "c9,,fam@x.org,,Karl\n");
    assert_ne!(karl["crm:c8"], karl["crm:c1"]);
    assert_ne!(karl["crm:c9"], karl["crm:c1"]);
    assert_eq!(s["split ids"], ["1"], "{s:?}");
    assert_eq!(splits(), 3);
}

/// A customer holding a value split by first name is linked again with
/// the others holding it, though its own row of the value still says
/// linked (written when its record was the value's only one): Kelly's
/// email, then Karl's record on it, then a `K` that fits both and so
/// links to no one on it (it joins Karl's by phone); when that phone
/// passes its guard and Karl's customer is linked again, Kelly's names
/// must be counted, or `K` would be taken for Karl's.
#[test]
fn a_value_split_by_first_name_is_judged_by_all_its_rows() {
    let dir = project(
        r#"
[tables.crm]
location = "crm/"
format = "csv"

[identity.identifiers.phone]
max_records = 4

[identity.identifiers.email]
split_by_first_name = true

[identity.sources.crm]
record_id = "id"
identifiers = { email = "email", phone = "phone" }
attributes = { first_name = "first_name" }
"#,
    );
    std::fs::create_dir(dir.path().join("crm")).unwrap();
    let phone = "+1 415 555 0199";
    let days = [
        "r1,k@x.org,,Kelly\n".to_string(),
        format!("r2,k@x.org,{phone},Karl\n"),
        format!("r3,k@x.org,{phone},K\n"),
        format!("r4,,{phone},Bo\nr5,,{phone},Cy\nr6,,{phone},Di\n"),
    ];
    for (n, rows) in days.iter().enumerate() {
        write_aged(
            dir.path(),
            &format!("crm/day{n}.csv"),
            &format!("id,email,phone,first_name\n{rows}"),
        );
        let s = summary(dir.path());
        if n > 0 {
            assert!(
                s["sources"][0].contains("read only new files"),
                "day {n}: {:?}",
                s["sources"]
            );
        }
        assert_eq!(partition(dir.path()), fresh_partition(dir.path()), "day {n}");
    }
    let l = links(dir.path());
    assert_ne!(l["crm:r3"], l["crm:r2"], "K is not Karl's alone");
}

/// Customers linked again that would pass `max_cluster_size` are left to
/// a full run, which says so: which links it refuses depends on the order
/// of all links.
#[test]
fn customers_linked_again_past_the_size_cap_are_left_to_a_full_run() {
    let dir = project(
        r#"
[tables.crm]
location = "crm/"
format = "csv"

[identity]
max_cluster_size = 3

[identity.identifiers.phone]
max_records = 2

[identity.sources.crm]
record_id = "id"
identifiers = { user_id = "user_id", phone = "phone" }
"#,
    );
    std::fs::create_dir(dir.path().join("crm")).unwrap();
    let phone = "+1 415 555 0142";
    let day = |n: u32, rows: &str| {
        write_aged(
            dir.path(),
            &format!("crm/day{n}.csv"),
            &format!("id,user_id,phone\n{rows}"),
        );
        summary(dir.path())
    };
    day(1, &format!("a1,u1,{phone}\na2,u1,\na3,,{phone}\n"));
    // a4 pushes the phone past its guard; a4 and a5 join a1's customer by
    // u1: linked again, it would hold four records.
    let s = day(2, &format!("a4,u1,{phone}\na5,u1,\n"));
    assert!(
        s["sources"][0].contains("would pass max_cluster_size"),
        "{:?}",
        s["sources"]
    );
    assert_eq!(partition(dir.path()), fresh_partition(dir.path()));
}

/// Growing runs on top of growing runs that joined customers: a device
/// seen with a second user id stops linking (its first record's customer
/// keeps a row of it that still says linked), a later record joins that
/// customer to the second user's, and a record on the device alone must
/// then stay apart, as in a full run; each run grows, and each equals a
/// full run on a fresh copy of the files, golden records too. Twenty
/// customers no day touches make each growing run's customers file hold
/// only the customers it changed (read through the chain, a joined one
/// dropped), until a day touches more than half of them and the file is
/// written whole again.
#[test]
fn growing_runs_after_a_join_keep_what_each_value_did() {
    let dir = project(
        r#"
[tables.web]
location = "web/"
format = "csv"

[identity.identifiers.anonymous_id]
max_distinct = { user_id = 1 }

[identity.sources.web]
record_id = "event_id"
identifiers = { anonymous_id = "anonymous_id", user_id = "user_id", phone = "phone" }
"#,
    );
    std::fs::create_dir(dir.path().join("web")).unwrap();
    let day = |n: u32, rows: &str| {
        write_aged(
            dir.path(),
            &format!("web/day{n}.csv"),
            &format!("event_id,anonymous_id,user_id,phone\n{rows}"),
        );
        let s = summary(dir.path());
        if n > 1 {
            assert!(
                s["sources"][0].contains("read only new files"),
                "day {n}: {:?}",
                s["sources"]
            );
        }
        assert_eq!(partition(dir.path()), fresh_partition(dir.path()), "day {n}");
        assert_eq!(
            golden(dir.path()),
            fresh_golden(dir.path()),
            "day {n}: the golden records"
        );
        // Only day 3's record joins two customers, and the summary says so.
        let merged = if n == 3 { "1" } else { "0" };
        assert_eq!(s["merged ids"], [merged], "day {n}: {s:?}");
        let customers: usize = sql_rows(dir.path(), "SELECT count(*) FROM customers")[0]
            .parse()
            .unwrap();
        assert_eq!(s["customers"], [customers.to_string()], "day {n}");
        (links(dir.path()), customers, newest_customers_file(dir.path()))
    };
    let untouched: String = (0..20).map(|i| format!("q{i},dq{i},uq{i},\n")).collect();
    let (_, everyone, written) = day(1, &format!("r1,d7,u1,+14155550101\n{untouched}"));
    assert_eq!(written, everyone, "a full run writes every customer");
    // d7 now carries two user ids: it stops, and r2 is a customer of its own.
    let (second, everyone, written) = day(2, "r2,d7,u2,\n");
    assert_ne!(second["web:r2"], second["web:r1"]);
    assert!(written < everyone / 2, "day 2 wrote {written} of {everyone} customers");
    // r3 holds r1's phone and r2's user id: the two customers join.
    let (joined, everyone, written) = day(3, "r3,,u2,+14155550101\n");
    assert_eq!(joined["web:r2"], joined["web:r1"]);
    assert!(written < everyone / 2, "day 3 wrote {written} of {everyone} customers");
    // d7 stopped: r4, on d7 alone, links to no one.
    let (after, _, _) = day(4, "r4,d7,,\n");
    assert_ne!(after["web:r4"], after["web:r1"]);
    // A day touching most customers: their file is written whole again.
    let most: String = (0..15).map(|i| format!("p{i},dq{i},,\n")).collect();
    let (_, everyone, written) = day(5, &most);
    assert_eq!(written, everyone, "day 5 writes the customers whole");
    let (_, everyone, written) = day(6, "r6,d8,u1,\n");
    assert!(written < everyone / 2, "day 6 wrote {written} of {everyone} customers");
}

/// The rows of the customers file of the committed run.
fn newest_customers_file(dir: &Path) -> usize {
    let run = std::fs::read_to_string(dir.join("output/identity/current")).unwrap();
    let file = dir.join(format!("output/identity/customers/run-{}.parquet", run.trim()));
    let query = format!("SELECT count(*) FROM '{}'", file.display());
    sql_rows(dir, &query)[0].parse().unwrap()
}

/// The test project with `setting` added to `[identity]` and its web
/// events a folder of daily files, holding `day1.csv`: every file aged as
/// a nightly job's are.
fn web_by_day(setting: &str) -> tempfile::TempDir {
    let toml = TOML
        .replace("[identity]\n", &format!("[identity]\n{setting}\n"))
        .replace(r#"location = "web.csv""#, "location = \"web/\"\nformat = \"csv\"");
    let dir = project(&toml);
    let put = |file: &str, text: &str| write_aged(dir.path(), file, text);
    put("crm.csv", CRM);
    put("orders.csv", ORDERS);
    put("truth.csv", TRUTH);
    std::fs::create_dir(dir.path().join("web")).unwrap();
    put("web/day1.csv", WEB);
    dir
}

/// A new day that would take a customer past `max_cluster_size` is found
/// as the growing run adds up its customers' records: the run declines,
/// saying which customer, nothing of it is left, and the full run that
/// follows gives what a full run on a fresh copy gives.
#[test]
fn a_nightly_run_that_would_pass_the_cluster_size_cap_resolves_everything() {
    // c1's customer holds c1, o1, o2, e1, e2 and e3 on the first run.
    let dir = web_by_day("max_cluster_size = 7");
    let put = |file: &str, text: &str| write_aged(dir.path(), file, text);
    let first = summary(dir.path());
    assert!(first["sources"][0].contains("no earlier run"), "{first:?}");
    let before = links(dir.path());

    // Two more events on c1's device: 8 records, past the cap of 7.
    put("web/day2.csv", "event_id,anonymous_id,user_id\ne8,d1,\ne9,d1,\n");
    let s = summary(dir.path());
    let why = format!(
        "customer {} would hold 8 records, past max_cluster_size (7)",
        before["crm:c1"]
    );
    assert!(s["sources"][0].contains(&why), "{:?}", s["sources"]);
    assert_eq!(partition(dir.path()), fresh_partition(dir.path()));
    assert_eq!(golden(dir.path()), fresh_golden(dir.path()));
}

/// With `incremental = false` a run keeps no identity state: a run with
/// only a new file resolves everything and says why, and gives what a
/// full run gives.
#[test]
fn a_project_that_is_not_incremental_keeps_no_state_and_resolves_everything() {
    let dir = web_by_day("incremental = false");
    let put = |file: &str, text: &str| write_aged(dir.path(), file, text);
    summary(dir.path());
    for hidden in ["_values", "_winners", "_ids"] {
        let folder = dir.path().join("output/identity").join(hidden);
        assert!(
            !folder.exists() || files(dir.path(), hidden).is_empty(),
            "{hidden} was written"
        );
    }
    put("web/day2.csv", "event_id,anonymous_id,user_id\ne8,d1,\n");
    let s = summary(dir.path());
    assert!(
        s["sources"][0].contains("incremental = false in [identity]"),
        "{:?}",
        s["sources"]
    );
    assert_eq!(partition(dir.path()), fresh_partition(dir.path()));
    assert_eq!(golden(dir.path()), fresh_golden(dir.path()));
}

/// Sets the time of the last change of every file below `dir` to one fixed
/// time long past, as a nightly job's files are: a listing then trusts
/// them, and files aged twice keep their stamp.
fn age(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            age(&entry.path());
        } else {
            let earlier = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600);
            let file = std::fs::File::options().write(true).open(entry.path()).unwrap();
            file.set_modified(earlier).unwrap();
        }
    }
}

/// A run growing the last one, killed (SIGKILL) at any moment, leaves the
/// committed run current and whole; the next run completes and gives what
/// a full run gives. On the bundled sample with identifier links only, a
/// new file of web events (a copy of some events under new ids).
#[test]
fn a_growing_run_killed_mid_way_leaves_the_last_run_current_and_the_next_completes() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&crate::support::demo_dir(), &dir.path().join("demo"));
    copy_tree(&crate::support::sample_dir(), &dir.path().join("sample"));
    let demo = dir.path().join("demo");
    for leftover in ["output", "state"] {
        let _ = std::fs::remove_dir_all(demo.join(leftover));
    }
    // Identifier links only: a run with new files can grow the last one.
    let toml = std::fs::read_to_string(demo.join("oneview.toml")).unwrap();
    let start = toml.find("[identity.probabilistic]").unwrap();
    let end = start + 1 + toml[start + 1..].find("[identity.").unwrap();
    std::fs::write(demo.join("oneview.toml"), format!("{}{}", &toml[..start], &toml[end..])).unwrap();
    age(&dir.path().join("sample"));
    run_in(&demo, &["resolve"]).ok();
    // A day's web events: some of the events again, under new ids.
    let add_day = |day: &str, ending: char| {
        let staged = dir.path().join(format!("{day}.parquet"));
        let query = format!(
            "SELECT * REPLACE (event_id || '-{day}' AS event_id) FROM web_events \
             WHERE event_id LIKE '%{ending}' AND event_id NOT LIKE '%-day%'"
        );
        run_in(&demo, &["sql", &query, "-o", staged.to_str().unwrap()]).ok();
        std::fs::rename(&staged, dir.path().join(format!("sample/web_events/{day}.parquet"))).unwrap();
        age(&dir.path().join("sample"));
    };
    // How long growing takes: one day grown whole.
    add_day("day1", '3');
    let started = std::time::Instant::now();
    let grown = summary(&demo);
    let growing = started.elapsed();
    assert!(
        grown["sources"][0].contains("read only new files"),
        "{:?}",
        grown["sources"]
    );
    let before = links(&demo).len();
    add_day("day2", '7');
    let after = before
        + sql_rows(&demo, "SELECT count(*) FROM web_events WHERE event_id LIKE '%-day2'")[0]
            .parse::<usize>()
            .unwrap();
    let whole = |when: &str| {
        let counts = sql_rows(
            &demo,
            "SELECT (SELECT count(*) FROM identity_links) AS links, \
                    (SELECT count(DISTINCT customer_id) FROM identity_links) AS linked, \
                    (SELECT count(*) FROM customers) AS golden, \
                    (SELECT count(*) FROM identity_links l LEFT JOIN customers c USING (customer_id) \
                     WHERE c.customer_id IS NULL) AS orphans",
        );
        let n: Vec<usize> = counts[0].split(',').map(|v| v.parse().unwrap()).collect();
        assert!(n[0] == before || n[0] == after, "{when}: {} records linked", n[0]);
        assert_eq!(n[1], n[2], "{when}: customers of the links against golden records");
        assert_eq!(n[3], 0, "{when}: links to no golden record");
    };
    for fraction in [0.2, 0.5, 0.8, 0.95] {
        let mut child = crate::support::command(&demo)
            .args(["resolve"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(growing.mul_f64(fraction));
        child.kill().unwrap();
        child.wait().unwrap();
        whole(&format!("killed at {fraction} of a growing run"));
    }
    let next = summary(&demo);
    assert!(
        next.contains_key("records") || next.contains_key("up to date"),
        "{next:?}"
    );
    whole("the run after");
    assert_eq!(links(&demo).len(), after);
    let grown = partition(&demo);
    run_in(&demo, &["resolve", "--full"]).ok();
    assert_eq!(grown, partition(&demo), "the next run against a full run");
}

/// With attribute matching (the demo's `[identity]`, whose model the first
/// run trains): nightly runs that bring back the generator's contacts,
/// orders and tickets held out of the first run (a sixty-fourth of each a
/// day, for three days; `max_share_linked_again = 1`, as a day touches more
/// than the default 2% of these few customers) grow the committed run, linking again every customer the
/// new records reach on identifiers or through the model. Each day gives
/// what `resolve --full` gives on a copy of the same committed run and
/// files: the same record ids under the same customer ids, the same merge
/// log and the same golden records; the days merge customers through the
/// model.
#[test]
fn nightly_runs_with_the_model_give_what_a_full_run_gives() {
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("generated");
    run_in(
        dir.path(),
        &["gen", "--customers", "2000", "--out", generated.to_str().unwrap()],
    )
    .ok();
    // The generated tables (a folder each), read to split the held-out rows off.
    let mut generated_tables: Vec<String> = std::fs::read_dir(&generated)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    generated_tables.sort();
    assert!(generated_tables.len() >= 7, "{generated_tables:?}");
    let stage = dir.path().join("stage");
    std::fs::create_dir(&stage).unwrap();
    let declare = |folder: &Path| {
        generated_tables
            .iter()
            .map(|t| format!("[tables.{t}]\nlocation = \"{}/{t}/\"\n", folder.display()))
            .collect::<String>()
    };
    write(&stage, "oneview.toml", &declare(&generated));
    let project = dir.path().join("project");
    let data = project.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let demo = std::fs::read_to_string(crate::support::demo_dir().join("oneview.toml")).unwrap();
    let identity = &demo[demo.find("[identity]").unwrap()..];
    let identity = identity.replacen("[identity]\n", "[identity]\nmax_share_linked_again = 1.0\n", 1);
    write(&project, "oneview.toml", &format!("{}\n{identity}", declare(&data)));
    let held_out = [
        ("crm_contacts", "contact_id"),
        ("orders", "order_id"),
        ("support_tickets", "ticket_id"),
    ];
    for t in &generated_tables {
        std::fs::create_dir(data.join(t)).unwrap();
        if !held_out.iter().any(|(h, _)| h == t) {
            copy_tree(&generated.join(t), &data.join(t));
        }
    }
    let split = |file: &str, table: &str, filter: &str| {
        let to = data.join(table).join(file);
        let sql = format!("SELECT * FROM {table} WHERE {filter}");
        run_in(&stage, &["sql", &sql, "-o", to.to_str().unwrap()]).ok();
    };
    for (table, id) in held_out {
        split(
            "base.parquet",
            table,
            &format!("substr(md5({id}), 1, 1) <> '0' OR substr(md5({id}), 2, 1) > 'b'"),
        );
    }
    age(&data);
    summary(&project);
    assert!(project.join("identity_model.json").exists());
    let mut merged = 0;
    let days = [["0", "1", "2", "3"], ["4", "5", "6", "7"], ["8", "9", "a", "b"]];
    for (day, second) in days.iter().enumerate() {
        for (table, id) in held_out {
            let prefixes = second.map(|s| format!("'0{s}'")).join(", ");
            let filter = format!("substr(md5({id}), 1, 2) IN ({prefixes})");
            split(&format!("day{day}.parquet"), table, &filter);
        }
        age(&data);
        let beside = tempfile::tempdir().unwrap();
        copy_tree(&project, beside.path());
        let s = summary(&project);
        assert!(
            s["sources"][0].contains("read only new files"),
            "day {day}: {:?}",
            s["sources"]
        );
        merged += s["merged ids"][0].parse::<u32>().unwrap();
        run_in(beside.path(), &["resolve", "--full"]).ok();
        assert_eq!(
            links(&project),
            links(beside.path()),
            "day {day}: the ids a full run gives"
        );
        let log = "SELECT old_id, new_id, change FROM identity_merges ORDER BY 1, 2, 3";
        assert_eq!(
            sql_rows(&project, log),
            sql_rows(beside.path(), log),
            "day {day}: the log"
        );
        let customers = "SELECT * FROM customers ORDER BY customer_id";
        assert_eq!(
            sql_rows(&project, customers),
            sql_rows(beside.path(), customers),
            "day {day}: the golden records"
        );
    }
    assert!(merged > 0, "the held-out records merged no customers");
    // The held-out records' links through the model (a record's id is held
    // out when its md5 begins with 00-0b).
    let held = |end: &str| {
        format!(
            "(source_{end} IN ('crm_contacts', 'orders', 'support_tickets') AND substr(md5(record_id_{end}), 1, 2) <= '0b')"
        )
    };
    let by_model = sql_rows(
        &project,
        &format!(
            "SELECT count(*) FROM identity_edges WHERE rule = 'probabilistic' AND ({} OR {})",
            held("a"),
            held("b")
        ),
    );
    assert_ne!(by_model, ["0"], "the model linked no held-out record");
}
