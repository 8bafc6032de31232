//! `oneview gen`: deterministic, complete ground truth, noisy like real data,
//! and purchases that follow the model the manifest states.

use std::path::Path;

use crate::support::{entries, project, run_in};

const SOURCES: [&str; 7] = [
    "crm_contacts",
    "web_events",
    "orders",
    "support_tickets",
    "email_subscribers",
    "social_profiles",
    "consents",
];

fn generate(dir: &Path, people: u32, seed: u32) {
    run_in(
        dir,
        &[
            "gen",
            "--customers",
            &people.to_string(),
            "--seed",
            &seed.to_string(),
            "--out",
            "data",
        ],
    )
    .ok();
}

/// A project over a generated dataset, to query it with `oneview sql`.
fn project_over(data: &Path) -> tempfile::TempDir {
    let mut toml = String::new();
    for table in SOURCES.iter().chain(&["ground_truth", "people"]) {
        toml.push_str(&format!(
            "[tables.{table}]\nlocation = \"{}/{table}/\"\n",
            data.display()
        ));
    }
    project(&toml)
}

fn csv(dir: &Path, query: &str) -> Vec<Vec<String>> {
    run_in(dir, &["sql", "--format", "csv", query])
        .ok()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn file_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for table in entries(dir) {
        let path = dir.join(&table);
        if path.is_dir() {
            for part in entries(&path) {
                files.push((format!("{table}/{part}"), std::fs::read(path.join(&part)).unwrap()));
            }
        } else {
            files.push((table.clone(), std::fs::read(&path).unwrap()));
        }
    }
    files
}

#[test]
fn the_same_seed_gives_identical_files_and_another_seed_does_not() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    generate(a.path(), 400, 9);
    generate(b.path(), 400, 9);
    generate(c.path(), 400, 10);
    let fa = file_bytes(&a.path().join("data"));
    assert_eq!(fa.len(), 10, "nine tables and the manifest");
    assert!(fa == file_bytes(&b.path().join("data")), "same seed, different bytes");
    assert!(fa != file_bytes(&c.path().join("data")), "different seeds, same bytes");
}

#[test]
fn ground_truth_covers_every_record_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), 1500, 3);
    let data = dir.path().join("data");
    let p = project_over(&data);
    for source in SOURCES {
        let id = match source {
            "crm_contacts" => "contact_id",
            "web_events" => "event_id",
            "orders" => "order_id",
            "support_tickets" => "ticket_id",
            "email_subscribers" => "subscriber_id",
            "social_profiles" => "profile_id",
            _ => "consent_id",
        };
        let rows = csv(
            p.path(),
            &format!(
                "SELECT count(*), count(DISTINCT s.{id}), count(g.person_id) FROM {source} s \
                 LEFT JOIN ground_truth g ON g.source = '{source}' AND g.record_id = s.{id}"
            ),
        );
        let (all, distinct, matched) = (&rows[0][0], &rows[0][1], &rows[0][2]);
        assert_eq!(all, distinct, "{source}: record ids are not unique");
        assert_eq!(all, matched, "{source}: records without ground truth");
        assert_ne!(all, "0", "{source} is empty");
    }
    let totals = csv(
        p.path(),
        "SELECT (SELECT count(*) FROM ground_truth), (SELECT count(DISTINCT person_id) FROM people)",
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("generator.json")).unwrap()).unwrap();
    let source_rows: u64 = manifest["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| SOURCES.contains(&t["name"].as_str().unwrap()))
        .map(|t| t["rows"].as_u64().unwrap())
        .sum();
    assert_eq!(totals[0][0], source_rows.to_string());
    assert_eq!(totals[0][1], "1500");
}

#[test]
fn the_data_is_messy_the_way_real_data_is() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), 3000, 5);
    let p = project_over(&dir.path().join("data"));
    let checks = [
        // Emails arriving with capitals or spaces.
        "SELECT count(*) FROM crm_contacts WHERE email <> lower(trim(email))",
        // Junk identifiers.
        "SELECT count(*) FROM crm_contacts WHERE email IN ('test@test.com', 'null', 'N/A') OR phone IN ('0000000000', '000-000-0000')",
        // Phones in more than one format: `+1 (415) ...`, `415.555....`, `0044 ...`.
        "SELECT count(*) FROM crm_contacts WHERE phone LIKE '+1 (%'",
        "SELECT count(*) FROM crm_contacts WHERE phone LIKE '%.%.%'",
        "SELECT count(*) FROM crm_contacts WHERE phone LIKE '0044 %'",
        // m/d/yy next to yyyy-mm-dd.
        "SELECT count(*) FROM crm_contacts WHERE date_of_birth LIKE '%/%/__' AND length(date_of_birth) <= 8",
        "SELECT count(*) FROM crm_contacts WHERE date_of_birth LIKE '____-__-__'",
        // People recorded twice in the CRM.
        "SELECT count(*) FROM (SELECT person_id FROM ground_truth WHERE source = 'crm_contacts' GROUP BY person_id HAVING count(*) > 1)",
        // Guest checkouts, and anonymous devices that later log in.
        "SELECT count(*) FROM orders WHERE contact_id IS NULL AND (email IS NOT NULL OR phone IS NOT NULL)",
        "SELECT count(*) FROM (SELECT anonymous_id FROM web_events GROUP BY anonymous_id HAVING count(user_id) > 0 AND count(*) > count(user_id))",
        // Devices shared by several people, household emails.
        "SELECT count(*) FROM (SELECT w.anonymous_id FROM web_events w JOIN ground_truth g ON g.record_id = w.event_id GROUP BY 1 HAVING count(DISTINCT g.person_id) > 1)",
        "SELECT count(*) FROM email_subscribers WHERE lower(trim(email)) LIKE '%.family%'",
        // Nicknames: a subscriber's first name that differs from the true one.
        "SELECT count(*) FROM email_subscribers s JOIN ground_truth g ON g.record_id = s.subscriber_id JOIN people p ON p.person_id = g.person_id \
         WHERE s.first_name IS NOT NULL AND lower(trim(s.first_name)) <> lower(p.first_name) AND length(s.first_name) < length(p.first_name) - 1",
        // Handles like @kneal1985; revoked consents; returns.
        "SELECT count(*) FROM social_profiles WHERE handle LIKE '@%'",
        "SELECT count(*) FROM consents WHERE status = 'revoked'",
        "SELECT count(*) FROM orders WHERE is_returned",
    ];
    for check in checks {
        let n: u64 = csv(p.path(), check)[0][0].parse().unwrap();
        assert!(n > 0, "no rows for: {check}");
    }
}

#[test]
fn every_device_a_visitor_uses_later_signs_in_and_the_crm_has_their_handles() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), 2000, 9);
    let p = project_over(&dir.path().join("data"));
    // Each device a person uses (their own, a shared tablet, a kiosk) has a
    // signed-in event of theirs, and none of their anonymous events on it
    // comes after the first signed-in one.
    let rows = csv(
        p.path(),
        "SELECT count(*), count(*) FILTER (WHERE signed = 0), count(*) FILTER (WHERE last_anonymous > first_signed) \
         FROM (SELECT w.anonymous_id, g.person_id, count(w.user_id) AS signed, \
                      max(CASE WHEN w.user_id IS NULL THEN w.occurred_at END) AS last_anonymous, \
                      min(CASE WHEN w.user_id IS NOT NULL THEN w.occurred_at END) AS first_signed \
               FROM web_events w JOIN ground_truth g ON g.source = 'web_events' AND g.record_id = w.event_id GROUP BY 1, 2)",
    );
    let [devices, never, anonymous_after] = [0, 1, 2].map(|i| rows[0][i].parse::<u64>().unwrap());
    assert!(devices > 1000, "{rows:?}");
    assert_eq!((never, anonymous_after), (0, 0), "{rows:?}");
    let foreign = csv(
        p.path(),
        "SELECT count(*) FROM web_events w JOIN ground_truth g ON g.record_id = w.event_id \
         JOIN ground_truth c ON c.source = 'crm_contacts' AND c.record_id = w.user_id WHERE c.person_id <> g.person_id",
    );
    assert_eq!(foreign[0][0], "0");
    // Handles given to the CRM, as typed, are the person's social handle.
    let handles = csv(
        p.path(),
        "SELECT count(*), count(*) FILTER (WHERE lower(ltrim(c.social_handle, '@')) <> lower(ltrim(s.handle, '@'))), \
                count(*) FILTER (WHERE c.social_handle NOT LIKE '@%') \
         FROM crm_contacts c JOIN ground_truth gc ON gc.record_id = c.contact_id \
         JOIN ground_truth gs ON gs.source = 'social_profiles' AND gs.person_id = gc.person_id \
         JOIN social_profiles s ON s.profile_id = gs.record_id WHERE c.social_handle IS NOT NULL",
    );
    let [given, different, without_at] = [0, 1, 2].map(|i| handles[0][i].parse::<u64>().unwrap());
    assert!(given > 100 && without_at > 0, "{handles:?}");
    assert_eq!(different, 0, "{handles:?}");
}

#[test]
fn purchases_follow_the_stated_bgnbd_and_gamma_gamma_process() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), 6000, 11);
    let data = dir.path().join("data");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("generator.json")).unwrap()).unwrap();
    let lt = &manifest["lifetime"];
    let f = |k: &str| lt[k].as_f64().unwrap();
    let (r, alpha, a, b, p, q, v) = (f("r"), f("alpha"), f("a"), f("b"), f("p"), f("q"), f("v"));
    let proj = project_over(&data);
    let row = &csv(
        proj.path(),
        "SELECT avg(lambda), avg(dropout_p), avg(nu), count(*) FROM people WHERE is_customer",
    )[0];
    let mean = |i: usize| row[i].parse::<f64>().unwrap();
    let n = mean(3);
    assert!(n > 4000.0, "about 80% of people buy: {n}");
    // Closed forms of the mixing distributions, within four standard errors.
    let check = |name: &str, got: f64, want: f64, sd: f64| {
        let tolerance = 4.0 * sd / n.sqrt();
        assert!(
            (got - want).abs() < tolerance,
            "{name}: mean {got}, expected {want} ± {tolerance}"
        );
    };
    check("lambda ~ Gamma(r, alpha)", mean(0), r / alpha, r.sqrt() / alpha);
    let beta_sd = (a * b / ((a + b).powi(2) * (a + b + 1.0))).sqrt();
    check("p ~ Beta(a, b)", mean(1), a / (a + b), beta_sd);
    check("nu ~ Gamma(q, v)", mean(2), q / v, q.sqrt() / v);

    // Spend: E[z | nu] = p / nu, so mean(amount * nu / p) over orders is 1.
    let spend = &csv(
        proj.path(),
        &format!(
            "SELECT avg(o.amount * pe.nu / {p}), count(*) FROM orders o \
             JOIN ground_truth g ON g.record_id = o.order_id JOIN people pe ON pe.person_id = g.person_id"
        ),
    )[0];
    let ratio: f64 = spend[0].parse().unwrap();
    let orders: f64 = spend[1].parse().unwrap();
    let sd = 1.0 / p.sqrt(); // z·nu/p ~ Gamma(p, p): sd 1/sqrt(p)
    assert!(
        (ratio - 1.0).abs() < 4.0 * sd / orders.sqrt(),
        "spend ratio {ratio} over {orders} orders"
    );

    // Every customer's order count matches the truth table.
    let mismatched = &csv(
        proj.path(),
        "SELECT count(*) FROM people pe LEFT JOIN \
         (SELECT g.person_id, count(*) AS n FROM orders o JOIN ground_truth g ON g.record_id = o.order_id GROUP BY 1) c \
         ON c.person_id = pe.person_id WHERE coalesce(c.n, 0) <> pe.orders",
    )[0][0];
    assert_eq!(mismatched, "0");
}

#[test]
fn refuses_to_overwrite_a_directory_it_did_not_make() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/precious.txt"), "keep me").unwrap();
    let run = run_in(dir.path(), &["gen", "--customers", "10", "--out", "data"]);
    run.fails(2, "non-empty directory that oneview gen did not make");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("data/precious.txt")).unwrap(),
        "keep me"
    );
    // Its own earlier output is replaced.
    let again = tempfile::tempdir().unwrap();
    generate(again.path(), 10, 1);
    generate(again.path(), 10, 1);
    assert_eq!(entries(&again.path().join("data")).len(), 10);
    assert_eq!(entries(again.path()), vec!["data"], "no staging directory left");
}

#[test]
fn output_does_not_depend_on_the_number_of_threads() {
    let one = tempfile::tempdir().unwrap();
    let three = tempfile::tempdir().unwrap();
    for (dir, threads) in [(&one, "1"), (&three, "3")] {
        run_in(
            dir.path(),
            &[
                "gen",
                "--customers",
                "700",
                "--seed",
                "4",
                "--out",
                "data",
                "--chunk-people",
                "200",
                "--threads",
                threads,
            ],
        )
        .ok();
    }
    let files = file_bytes(&one.path().join("data"));
    assert_eq!(
        files.iter().filter(|(name, _)| name.starts_with("orders/")).count(),
        4,
        "four chunks"
    );
    assert!(
        files == file_bytes(&three.path().join("data")),
        "1 and 3 threads gave different bytes"
    );
}
