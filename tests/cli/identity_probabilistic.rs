//! `oneview resolve` with `[identity.probabilistic]` on a classic person-record
//! layout (given name, surname, street number, address, suburb, postcode,
//! state, date of birth, an id number): duplicates with typos, nicknames,
//! swapped day and month and a wrong id number are found by the
//! Fellegi–Sunter model; a household at one address is not merged. In
//! dedupe mode (one table) and link mode (two tables); the model is saved,
//! reused, edited and retrained; a blocking rule over its cap is refused.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{csv_rows, project, run_in};

struct Person {
    given: &'static str,
    surname: &'static str,
    dob: &'static str,
    number: u32,
    street: &'static str,
    suburb: &'static str,
    postcode: &'static str,
}

const PEOPLE: &[Person] = &[
    Person {
        given: "william",
        surname: "hartley",
        dob: "1961-04-12",
        number: 12,
        street: "acacia avenue",
        suburb: "kingston",
        postcode: "2604",
    },
    Person {
        given: "katherine",
        surname: "oduya",
        dob: "1979-11-03",
        number: 7,
        street: "banksia street",
        suburb: "braddon",
        postcode: "2612",
    },
    Person {
        given: "robert",
        surname: "lindqvist",
        dob: "1985-02-27",
        number: 44,
        street: "cook road",
        suburb: "curtin",
        postcode: "2605",
    },
    Person {
        given: "elizabeth",
        surname: "marchetti",
        dob: "1990-07-15",
        number: 3,
        street: "darwin place",
        suburb: "dickson",
        postcode: "2602",
    },
    Person {
        given: "michael",
        surname: "nakamura",
        dob: "1972-09-08",
        number: 101,
        street: "eyre street",
        suburb: "forrest",
        postcode: "2603",
    },
    Person {
        given: "jennifer",
        surname: "okonkwo",
        dob: "1983-01-21",
        number: 18,
        street: "flinders way",
        suburb: "griffith",
        postcode: "2603",
    },
    Person {
        given: "thomas",
        surname: "pemberton",
        dob: "1958-12-30",
        number: 9,
        street: "gould street",
        suburb: "hackett",
        postcode: "2602",
    },
    Person {
        given: "margaret",
        surname: "quintero",
        dob: "1966-05-05",
        number: 61,
        street: "hawdon place",
        suburb: "isaacs",
        postcode: "2607",
    },
    Person {
        given: "richard",
        surname: "rasmussen",
        dob: "1994-03-19",
        number: 27,
        street: "irvine street",
        suburb: "jerrabomberra",
        postcode: "2619",
    },
    Person {
        given: "patricia",
        surname: "szabo",
        dob: "1977-08-24",
        number: 5,
        street: "jansz crescent",
        suburb: "kambah",
        postcode: "2902",
    },
    Person {
        given: "charles",
        surname: "thorvaldsen",
        dob: "1969-10-11",
        number: 88,
        street: "kent street",
        suburb: "lyneham",
        postcode: "2602",
    },
    Person {
        given: "susan",
        surname: "underwood",
        dob: "1988-06-02",
        number: 14,
        street: "lonsdale street",
        suburb: "mawson",
        postcode: "2607",
    },
    Person {
        given: "joseph",
        surname: "vasquez",
        dob: "1975-04-29",
        number: 230,
        street: "mort street",
        suburb: "narrabundah",
        postcode: "2604",
    },
    Person {
        given: "deborah",
        surname: "whitcombe",
        dob: "1981-09-17",
        number: 2,
        street: "northbourne avenue",
        suburb: "o'connor",
        postcode: "2602",
    },
    Person {
        given: "daniel",
        surname: "xenakis",
        dob: "1992-12-06",
        number: 76,
        street: "ovens street",
        suburb: "page",
        postcode: "2614",
    },
    Person {
        given: "christopher",
        surname: "yamamoto",
        dob: "1964-02-13",
        number: 31,
        street: "parkes way",
        suburb: "queanbeyan",
        postcode: "2620",
    },
    Person {
        given: "rebecca",
        surname: "zielinski",
        dob: "1986-11-25",
        number: 19,
        street: "quiros street",
        suburb: "red hill",
        postcode: "2603",
    },
    Person {
        given: "anthony",
        surname: "abernethy",
        dob: "1973-07-07",
        number: 55,
        street: "rivett street",
        suburb: "scullin",
        postcode: "2614",
    },
    Person {
        given: "victoria",
        surname: "bergstrom",
        dob: "1995-01-31",
        number: 8,
        street: "stirling avenue",
        suburb: "turner",
        postcode: "2612",
    },
    Person {
        given: "samuel",
        surname: "castellano",
        dob: "1968-03-22",
        number: 140,
        street: "tasman place",
        suburb: "weston",
        postcode: "2611",
    },
];

// Two people of one household: the first person's surname and address,
// another given name and birth date. They must stay two customers.
const HOUSEHOLD: Person = Person {
    given: "gwendolyn",
    surname: "hartley",
    dob: "1963-10-01",
    number: 12,
    street: "acacia avenue",
    suburb: "kingston",
    postcode: "2604",
};

const HEADER: &str =
    "rec_id,given_name,surname,street_number,address_1,suburb,postcode,state,date_of_birth,soc_sec_id\n";

fn ssn(i: usize) -> String {
    format!("{}", 4_100_000 + i * 7919)
}

fn line(id: &str, p: &Person, given: &str, dob: &str, ssn: &str) -> String {
    format!(
        "{id},{given},{},{},{},{},{},act,{dob},{ssn}\n",
        p.surname, p.number, p.street, p.suburb, p.postcode
    )
}

/// The duplicate of person `i`: one kind of damage each, and for half of
/// them a wrong id number, so only the attributes can find them.
fn duplicate(i: usize, p: &Person) -> String {
    let given = match i % 4 {
        0 => match p.given {
            "william" => "bill".to_string(),
            "katherine" => "kate".to_string(),
            "robert" => "bob".to_string(),
            "elizabeth" => "liz".to_string(),
            "michael" => "mike".to_string(),
            other => other.to_string(),
        },
        1 => {
            // Two letters swapped.
            let mut c: Vec<char> = p.given.chars().collect();
            c.swap(2, 3);
            c.into_iter().collect()
        }
        _ => p.given.to_string(),
    };
    let dob = if i % 4 == 2 {
        // Day and month swapped, where the day can be a month.
        let (y, m, d) = (&p.dob[0..4], &p.dob[5..7], &p.dob[8..10]);
        if d.parse::<u32>().unwrap() <= 12 {
            format!("{y}-{d}-{m}")
        } else {
            format!("{y}-{m}-{d}")
        }
    } else if i % 4 == 3 {
        // Written the US way.
        let (y, m, d) = (&p.dob[2..4], &p.dob[5..7], &p.dob[8..10]);
        format!("{}/{}/{y}", m.trim_start_matches('0'), d.trim_start_matches('0'))
    } else {
        p.dob.to_string()
    };
    let id = if i.is_multiple_of(2) {
        format!("{}9", &ssn(i)[..6])
    } else {
        ssn(i)
    };
    line(&format!("dup-{i}"), p, &given, &dob, &id)
}

const MODEL_TOML: &str = r#"
[identity.probabilistic]
blocking = [["last_name"], ["date_of_birth"], ["postcode"]]
threshold = 0.95
"#;

fn source(name: &str, table: &str) -> String {
    format!(
        r#"
[identity.sources.{name}]
table = "{table}"
record_id = "rec_id"
identifiers = {{ national_id = "soc_sec_id" }}
attributes = {{ first_name = "given_name", last_name = "surname", date_of_birth = "date_of_birth", address = "concat_ws(' ', street_number, address_1)", city = "suburb", region = "state", postcode = "postcode" }}
"#
    )
}

/// Dedupe mode: originals, duplicates and the household in one table.
fn dedupe_project() -> tempfile::TempDir {
    dedupe_project_with(MODEL_TOML)
}

/// Dedupe mode with `model` as the `[identity.probabilistic]` section.
fn dedupe_project_with(model: &str) -> tempfile::TempDir {
    let toml = format!(
        "[tables.people]\nlocation = \"people.csv\"\n[tables.truth]\nlocation = \"truth.csv\"\n[identity]\n{}{model}",
        source("people", "people")
    );
    let dir = project(&toml);
    let mut people = String::from(HEADER);
    let mut truth = String::from("source,record_id,person_id\n");
    for (i, p) in PEOPLE.iter().enumerate() {
        people.push_str(&line(&format!("rec-{i}"), p, p.given, p.dob, &ssn(i)));
        people.push_str(&duplicate(i, p));
        truth.push_str(&format!("people,rec-{i},p{i}\npeople,dup-{i},p{i}\n"));
    }
    people.push_str(&line("house-0", &HOUSEHOLD, HOUSEHOLD.given, HOUSEHOLD.dob, "5550001"));
    truth.push_str("people,house-0,household\n");
    std::fs::write(dir.path().join("people.csv"), people).unwrap();
    std::fs::write(dir.path().join("truth.csv"), truth).unwrap();
    dir
}

fn resolve(dir: &Path, extra: &[&str]) -> BTreeMap<String, Vec<String>> {
    let mut args = vec!["resolve", "--format", "csv"];
    args.extend(extra);
    let mut rows: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in csv_rows(run_in(dir, &args).ok()) {
        let (item, value) = row.split_once(',').unwrap();
        rows.entry(item.trim().to_string())
            .or_default()
            .push(value.trim_matches('"').to_string());
    }
    rows
}

fn evaluate(dir: &Path) -> BTreeMap<String, f64> {
    csv_rows(run_in(dir, &["resolve", "--evaluate", "truth", "--format", "csv"]).ok())
        .into_iter()
        .filter_map(|r| {
            let (k, v) = r.split_once(',')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn customer_of(dir: &Path, record: &str) -> String {
    let rows = csv_rows(
        run_in(
            dir,
            &[
                "sql",
                "--format",
                "csv",
                &format!("SELECT customer_id FROM identity_links WHERE record_id = '{record}'"),
            ],
        )
        .ok(),
    );
    rows[0].clone()
}

#[test]
fn duplicates_are_found_on_attributes_and_households_are_kept_apart() {
    let dir = dedupe_project();
    let s = resolve(dir.path(), &[]);
    assert!(s["model"][0].starts_with("trained, saved to"), "{s:?}");
    let scores = evaluate(dir.path());
    assert_eq!(scores["pairwise precision"], 1.0, "a false link: {scores:?}");
    assert_eq!(scores["pairwise recall"], 1.0, "a duplicate was missed: {scores:?}");
    assert_ne!(customer_of(dir.path(), "house-0"), customer_of(dir.path(), "rec-0"));

    // rec-3 and dup-3 share an id number; the duplicate writes the date the
    // US way. The golden record has it once, as YYYY-MM-DD.
    let golden = csv_rows(
        run_in(
            dir.path(),
            &[
                "sql",
                "--format",
                "csv",
                &format!(
                    "SELECT records, date_of_birth FROM customers WHERE customer_id = '{}'",
                    customer_of(dir.path(), "dup-3")
                ),
            ],
        )
        .ok(),
    );
    assert_eq!(golden, ["2,1990-07-15"]);

    // The evidence names the levels that matched; nickname duplicates
    // (Bill for William) came through the model, not the id number.
    let edge = csv_rows(
        run_in(
            dir.path(),
            &["sql", "--format", "csv", "SELECT rule, value, match_probability >= 0.95 FROM identity_edges WHERE record_id_b = 'rec-0' OR record_id_a = 'rec-0'"],
        )
        .ok(),
    );
    assert_eq!(edge.len(), 1, "{edge:?}");
    assert!(
        edge[0]
            .starts_with("probabilistic,first_name:nickname last_name:exact date_of_birth:exact location:same_address"),
        "{edge:?}"
    );

    // The blocking report: pairs per rule and the largest block (the
    // household shares a surname and a postcode with person 0).
    assert!(
        s["blocking rule"]
            .iter()
            .any(|r| r.starts_with("last_name: ") && r.contains("hartley (3)")),
        "{s:?}"
    );
}

#[test]
fn without_blocking_rules_the_default_ones_are_used_and_a_broad_one_is_narrowed() {
    let dir = dedupe_project_with("\n[identity.probabilistic]\n");
    let s = resolve(dir.path(), &[]);
    let rules: Vec<&str> = s["blocking rule"]
        .iter()
        .map(|r| r.split(':').next().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "last_name",
            "date_of_birth",
            "postcode",
            "address",
            "first_name+city",
            "names",
            "name_sounds"
        ],
        "{s:?}"
    );
    let scores = evaluate(dir.path());
    assert_eq!(
        (scores["pairwise precision"], scores["pairwise recall"]),
        (1.0, 1.0),
        "{scores:?}"
    );

    // Postcodes are shared by several people here (the blocks of 2602
    // make 21 pairs): over a cap of 21 pairs the postcode alone gives way to
    // narrower rules, and the other rules stay as they are.
    let dir = dedupe_project_with("\n[identity.probabilistic]\nmax_pairs = 21\n");
    let s = resolve(dir.path(), &[]);
    let verdicts: Vec<&String> = s["blocking rule"]
        .iter()
        .filter(|r| r.contains("over max_pairs"))
        .collect();
    assert_eq!(verdicts.len(), 1, "{s:?}");
    assert!(
        verdicts[0].starts_with("postcode: over max_pairs, narrower default rules used instead"),
        "{s:?}"
    );
    for narrower in ["postcode+first_name: ", "postcode+address: "] {
        assert!(
            s["blocking rule"].iter().any(|r| r.starts_with(narrower)),
            "{narrower} {s:?}"
        );
    }
    assert_eq!(evaluate(dir.path())["pairwise recall"], 1.0);
}

#[test]
fn default_rules_over_keys_no_source_maps_are_left_out() {
    // Surname, date of birth and postcode only (no id number either, so the
    // postcode's blocks make 76 pairs): the address and the given name with
    // the city are left out, and the postcode, over a cap of 30, has
    // no narrower rule to give way to (both need a key no source maps), so
    // it is refused as a configured rule would be.
    let dir = dedupe_project_with("\n[identity.probabilistic]\nmax_pairs = 21\n");
    let toml = "[tables.people]\nlocation = \"people.csv\"\n[tables.truth]\nlocation = \"truth.csv\"\n\
        [identity.sources.people]\nrecord_id = \"rec_id\"\n\
        attributes = { last_name = \"surname\", date_of_birth = \"date_of_birth\", postcode = \"postcode\" }\n\
        [identity.probabilistic]\nmax_pairs = 30\n";
    std::fs::write(dir.path().join("oneview.toml"), toml).unwrap();
    let s = resolve(dir.path(), &[]);
    let rules: Vec<&str> = s["blocking rule"]
        .iter()
        .map(|r| r.split(':').next().unwrap())
        .collect();
    assert_eq!(rules, ["last_name", "date_of_birth", "postcode"], "{s:?}");
    let postcode = &s["blocking rule"][2];
    assert!(postcode.starts_with("postcode: REFUSED: over max_pairs; "), "{s:?}");
}

/// The F1 in an `--evaluate` row such as `0.9: F1 0.9950 (precision …)`.
fn f1_in(row: &str) -> f64 {
    row[row.find("F1 ").unwrap() + 3..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn evaluate_gives_the_best_threshold_blocking_recall_and_pairs_by_levels() {
    // Blocking on the date of birth alone cannot reach the duplicates whose
    // day and month were swapped: blocking recall says so, and lists them.
    let dir = dedupe_project_with("\n[identity.probabilistic]\nblocking = [[\"date_of_birth\"]]\n");
    resolve(dir.path(), &[]);
    let e = resolve(dir.path(), &["--evaluate", "truth"]);
    let scores = evaluate(dir.path());
    let recall: f64 = e["blocking recall"][0].split(' ').next().unwrap().parse().unwrap();
    assert!(recall < 1.0 && recall >= scores["pairwise recall"], "{e:?}");
    assert_ne!(e["never blocked"][0], "none", "{e:?}");
    assert!(
        e["by levels"]
            .iter()
            .any(|g| g.contains("date_of_birth:day_month_swapped")),
        "{e:?}"
    );

    // Names alone at a threshold of 0.9999 leave out the duplicates whose
    // given name changed: the missed pairs are listed with their levels and
    // probabilities, a lower threshold does better, and the sweep clusters
    // as the run did.
    let model = "\n[identity.probabilistic]\ncompare = [\"first_name\", \"last_name\"]\nthreshold = 0.9999\n";
    let dir = dedupe_project_with(model);
    resolve(dir.path(), &[]);
    let e = resolve(dir.path(), &["--evaluate", "truth"]);
    let scores = evaluate(dir.path());
    assert!(e["model at threshold"][0].starts_with("0.9999: "), "{e:?}");
    assert!(
        (f1_in(&e["model at threshold"][0]) - scores["pairwise F1"]).abs() < 1e-4,
        "{e:?}"
    );
    assert!(
        f1_in(&e["best threshold"][0]) > f1_in(&e["model at threshold"][0]),
        "{e:?}"
    );
    assert_eq!(e["blocking recall"][0].split(' ').next().unwrap(), "1.0000", "{e:?}");
    assert_ne!(e["missed (below threshold)"][0], "none", "{e:?}");
    assert_eq!(e["wrong (at or above)"][0], "none", "{e:?}");
    assert!(
        e["by levels"]
            .iter()
            .any(|g| g.contains("(p 0.") && g.contains("first_name:")),
        "{e:?}"
    );
}

#[test]
fn the_saved_model_is_reused_edited_and_retrained() {
    let dir = dedupe_project();
    resolve(dir.path(), &[]);
    let file = dir.path().join("identity_model.json");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains("\"name\": \"first_name\""), "{saved}");

    let again = resolve(dir.path(), &["--full"]);
    assert!(again["model"][0].starts_with("read from"), "{again:?}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        saved,
        "a reused model is not rewritten"
    );

    // An edited model is used as edited: a prior of almost no match links nothing.
    let lambda = saved
        .lines()
        .find(|l| l.trim_start().starts_with("\"lambda\""))
        .unwrap()
        .to_string();
    std::fs::write(&file, saved.replace(&lambda, "  \"lambda\": 1e-15,")).unwrap();
    let edited = resolve(dir.path(), &[]);
    assert_eq!(edited["links at threshold"], ["0 (p >= 0.95)"], "{edited:?}");

    let retrained = resolve(dir.path(), &["--train"]);
    assert!(retrained["model"][0].starts_with("trained"), "{retrained:?}");
    assert_ne!(retrained["links at threshold"], ["0 (p >= 0.95)"], "{retrained:?}");

    std::fs::write(&file, "{ \"comparisons\": 3 }").unwrap();
    run_in(dir.path(), &["resolve"]).fails(2, "identity_model.json: is not a oneview identity model");
}

#[test]
fn a_blocking_rule_over_its_cap_is_refused_and_reported() {
    let dir = dedupe_project();
    let toml = std::fs::read_to_string(dir.path().join("oneview.toml"))
        .unwrap()
        .replace("threshold = 0.95", "threshold = 0.95\nmax_pairs = 3");
    std::fs::write(dir.path().join("oneview.toml"), toml).unwrap();
    let s = resolve(dir.path(), &[]);
    let refused: Vec<&String> = s["blocking rule"].iter().filter(|r| r.contains("REFUSED")).collect();
    assert!(
        refused
            .iter()
            .any(|r| r.starts_with("last_name: REFUSED: over max_pairs; ")),
        "{s:?}"
    );
}

#[test]
fn weak_links_do_not_join_clusters_that_are_both_large() {
    let dir = dedupe_project();
    // Every link counts as weak and every cluster as large: nothing joins.
    let toml = std::fs::read_to_string(dir.path().join("oneview.toml"))
        .unwrap()
        .replace(
            "threshold = 0.95",
            "threshold = 0.95\nstrong_link = 0.999999999\nmax_weak_join = 0",
        );
    std::fs::write(dir.path().join("oneview.toml"), toml).unwrap();
    let s = resolve(dir.path(), &[]);
    let refused: u64 = s["weak links refused"][0].parse().unwrap();
    assert!(refused >= 10, "{s:?}");
    assert_ne!(customer_of(dir.path(), "dup-0"), customer_of(dir.path(), "rec-0"));
}

/// A project of two registries `a` and `b` (files `a.csv`, `b.csv`) with
/// the same mapping; `tables` and `identity` are added to those sections.
fn two_registries(tables: &str, identity: &str) -> tempfile::TempDir {
    project(&format!(
        "[tables.registry_a]\nlocation = \"a.csv\"\n[tables.registry_b]\nlocation = \"b.csv\"\n{tables}[identity]\n{identity}{}{}{MODEL_TOML}",
        source("a", "registry_a"),
        source("b", "registry_b")
    ))
}

#[test]
fn two_tables_are_linked() {
    let dir = two_registries("[tables.truth]\nlocation = \"truth.csv\"\n", "");
    let (mut a, mut b) = (String::from(HEADER), String::from(HEADER));
    let mut truth = String::from("source,record_id,person_id\n");
    for (i, p) in PEOPLE.iter().enumerate() {
        a.push_str(&line(&format!("rec-{i}"), p, p.given, p.dob, &ssn(i)));
        b.push_str(&duplicate(i, p));
        truth.push_str(&format!("a,rec-{i},p{i}\nb,dup-{i},p{i}\n"));
    }
    std::fs::write(dir.path().join("a.csv"), a).unwrap();
    std::fs::write(dir.path().join("b.csv"), b).unwrap();
    std::fs::write(dir.path().join("truth.csv"), truth).unwrap();
    let s = resolve(dir.path(), &[]);
    assert_eq!(s["customers"], [PEOPLE.len().to_string()], "{s:?}");
    let scores = evaluate(dir.path());
    assert_eq!(scores["pairwise F1"], 1.0, "{scores:?}");
    let sources = csv_rows(
        run_in(
            dir.path(),
            &["sql", "--format", "csv", "SELECT DISTINCT sources FROM customers"],
        )
        .ok(),
    );
    assert_eq!(sources, ["\"a,b\""]);
}

/// Two registries whose last person is in `a` twice (same id number, same
/// attributes) and not in `b`: only deduplication can join that pair. The
/// first person is in `a` twice too (another id number) and in `b` as an
/// exact copy, so one attribute profile spans both sources.
fn registries(link_type: &str) -> tempfile::TempDir {
    let dir = two_registries("", &format!("link_type = \"{link_type}\"\n"));
    let (mut a, mut b) = (String::from(HEADER), String::from(HEADER));
    let last = PEOPLE.len() - 1;
    for (i, p) in PEOPLE.iter().enumerate() {
        a.push_str(&line(&format!("rec-{i}"), p, p.given, p.dob, &ssn(i)));
        if i < last {
            b.push_str(&duplicate(i, p));
        }
    }
    let p = &PEOPLE[last];
    a.push_str(&line("again", p, p.given, p.dob, &ssn(last)));
    let p = &PEOPLE[0];
    a.push_str(&line("again-0", p, p.given, p.dob, "7770001"));
    b.push_str(&line("copy-0", p, p.given, p.dob, &ssn(0)));
    std::fs::write(dir.path().join("a.csv"), a).unwrap();
    std::fs::write(dir.path().join("b.csv"), b).unwrap();
    dir
}

/// The number of edges joining two records of one source, and of two sources.
fn edges_within_and_across(dir: &Path) -> (u64, u64) {
    let rows = csv_rows(
        run_in(
            dir,
            &[
                "sql",
                "--format",
                "csv",
                "SELECT count(*) FILTER (WHERE source_a = source_b), count(*) FILTER (WHERE source_a <> source_b) FROM identity_edges",
            ],
        )
        .ok(),
    );
    let (within, across) = rows[0].split_once(',').unwrap();
    (within.parse().unwrap(), across.parse().unwrap())
}

#[test]
fn link_types_choose_which_records_may_link() {
    let n = PEOPLE.len();
    let last = format!("rec-{}", n - 1);

    // Both: the pair in `a` joins, and every duplicate in `b` finds its person.
    let dir = registries("link_and_dedupe");
    let s = resolve(dir.path(), &[]);
    assert_eq!(s["customers"], [n.to_string()], "{s:?}");
    assert!(!s.contains_key("link type"), "{s:?}");
    assert_eq!(customer_of(dir.path(), "again"), customer_of(dir.path(), &last));

    // Across sources only: `a` is taken as free of duplicates, so the pair
    // stays two customers; the duplicates in `b` still link, by id number
    // and by the model, and the first person's second record in `a` joins
    // through the copy in `b` — every edge between two sources.
    let dir = registries("link_only");
    let s = resolve(dir.path(), &[]);
    assert_eq!(s["customers"], [(n + 1).to_string()], "{s:?}");
    assert_eq!(s["link type"], ["link_only: records link across sources only"]);
    assert_ne!(customer_of(dir.path(), "again"), customer_of(dir.path(), &last));
    assert_eq!(customer_of(dir.path(), "again-0"), customer_of(dir.path(), "copy-0"));
    for i in 0..n - 1 {
        assert_eq!(
            customer_of(dir.path(), &format!("dup-{i}")),
            customer_of(dir.path(), &format!("rec-{i}")),
            "dup-{i}"
        );
    }
    let (within, across) = edges_within_and_across(dir.path());
    assert_eq!((within, across > 0), (0, true));
    assert!(s["by rule"].iter().any(|r| r.starts_with("probabilistic: ")), "{s:?}");

    // A model trained on one link type is not reused for another.
    let toml = std::fs::read_to_string(dir.path().join("oneview.toml")).unwrap();
    std::fs::write(
        dir.path().join("oneview.toml"),
        toml.replace("link_type = \"link_only\"", "link_type = \"link_and_dedupe\""),
    )
    .unwrap();
    run_in(dir.path(), &["resolve"]).fails(
        2,
        "identity_model.json: was trained with link_type = \"link_only\", but [identity] link_type is \"link_and_dedupe\"",
    );
    let s = resolve(dir.path(), &["--train"]);
    assert_eq!(s["customers"], [n.to_string()], "{s:?}");

    // Within each source only: the pairs in `a` join (and `b`'s copy of the
    // first person its duplicate); no record of `b` joins `a`.
    let dir = registries("dedupe_only");
    let s = resolve(dir.path(), &[]);
    assert_eq!(s["customers"], [(2 * n - 1).to_string()], "{s:?}");
    assert_eq!(customer_of(dir.path(), "again"), customer_of(dir.path(), &last));
    assert_eq!(customer_of(dir.path(), "again-0"), customer_of(dir.path(), "rec-0"));
    assert_eq!(customer_of(dir.path(), "copy-0"), customer_of(dir.path(), "dup-0"));
    let (within, across) = edges_within_and_across(dir.path());
    assert_eq!((within > 0, across), (true, 0));

    // Linking across sources needs two of them.
    let dir = dedupe_project();
    let toml = std::fs::read_to_string(dir.path().join("oneview.toml"))
        .unwrap()
        .replace("[identity]\n", "[identity]\nlink_type = \"link_only\"\n");
    std::fs::write(dir.path().join("oneview.toml"), toml).unwrap();
    run_in(dir.path(), &["resolve"]).fails(
        2,
        "key `identity.link_type` is \"link_only\", which links records of different sources, but [identity] has one source",
    );
}

/// A blocking rule's pairs count against --memory-limit before they are
/// made: 2,000 profiles of one surname make 2M pairs (16 MB), which an 8 MB
/// limit refuses while the records themselves fit; without a limit it runs.
#[test]
fn candidate_pairs_count_against_the_memory_limit() {
    let toml = format!(
        "[tables.people]\nlocation = \"people.csv\"\n[identity]\n{}{MODEL_TOML}",
        source("people", "people")
    );
    let dir = project(&toml);
    let mut people = String::from(HEADER);
    for i in 0..2000 {
        let p = &PEOPLE[i % PEOPLE.len()];
        let given = format!("given{i}");
        let dob = format!("19{:02}-01-{:02}", 40 + i % 50, 1 + i % 28);
        people.push_str(&line(&format!("rec-{i}"), p, &given, &dob, &ssn(i)).replace(p.surname, "smith"));
    }
    std::fs::write(dir.path().join("people.csv"), people).unwrap();
    run_in(dir.path(), &["--memory-limit", "8M", "resolve"]).fails(
        1,
        "allows: the candidate pairs of the attribute model would bring it to at least",
    );
    assert!(
        !dir.path().join("output/identity/current").exists(),
        "nothing is written on error"
    );
    let s = resolve(dir.path(), &[]);
    assert!(s["blocking rule"][0].starts_with("last_name: 1999000 pairs"), "{s:?}");
}
