#!/usr/bin/env python3
"""oneview resolve vs Splink (DuckDB backend) on the same generated sources.

    python3 benches/identity_vs_splink.py [--people 20000] [--skip-splink]

Both resolve every record of the generator's seven sources (CRM contacts, web
events, orders, tickets, email subscribers, social profiles, consents) and are
scored against its ground truth with the same pairwise and B-cubed formulas
(computed here in DuckDB from each system's record -> cluster table).

- oneview: the demo project's [identity] section (identifier links with
  guards, then Fellegi-Sunter on names, birth dates and addresses), timed for
  the whole `oneview resolve` process: reading, normalizing, linking,
  training the model, clustering and writing the identity tables.
- Splink (5.x): one table of all records with the identifiers already
  normalized by oneview's functions and the same junk values removed (time not
  counted for Splink), configured as Splink's docs recommend for person data
  with identifiers: blocking rules on each identifier plus the same three
  attribute rules; exact-match comparisons with term-frequency adjustments for
  the identifiers (EmailComparison for email), NameComparison /
  DateOfBirthComparison for names and dates, exact postcode and city with
  term frequencies; the chance two random records match from deterministic
  rules, u by random sampling, m by EM on several blocking rules (the
  "round robin" of the training-rationale topic guide). Timed from loading the
  table to the clusters at Splink's default threshold (match probability 0.5).

Each system is reported at its default threshold and at its best one over a
sweep (oneview: `resolve` again with the saved model and `threshold = T`;
Splink: its predictions clustered at each T), with the same scoring.
"""

import argparse
import re
import shutil
import time

from bench_common import BENCH, dataset, ensure_venv, oneview_binary, oneview_csv, ROOT

DEMO = ROOT / "datasets" / "demo" / "oneview.toml"
TABLES = ["crm_contacts", "web_events", "orders", "support_tickets", "email_subscribers",
          "social_profiles", "consents", "ground_truth", "people"]


def identity_project(data, people):
    """A project over `data` with the demo's [identity] section."""
    folder = BENCH / f"project-identity-{people}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    demo = DEMO.read_text()
    identity = demo[demo.index("[identity]"):]
    tables = "".join(f'[tables.{t}]\nlocation = "{data / t}/"\n' for t in TABLES)
    (folder / "oneview.toml").write_text(tables + "\n" + identity)
    return folder


# The same normalization for Splink, through oneview's SQL functions.
PHONE_REGION = "CASE WHEN trim({c}) LIKE '0%' THEN 'GB' ELSE 'US' END"
JUNK = (r"'^[0\-\s.()+]*$|^(null|none|nil|n/?a|unknown|test|x+)$|^(x+|n/?a|none|null|no|noemail|test)@|@test\.com$"
        r"|^\+?[0-9]{0,3}(0{10}|1{10}|2{10}|3{10}|4{10}|5{10}|6{10}|7{10}|8{10}|9{10}|1234567890)$'")


def clean(expr):
    return f"CASE WHEN regexp_like(lower({expr}), {JUNK}) THEN NULL ELSE {expr} END"


def name_parts(expr):
    n = f"normalize_name(CASE WHEN strpos({expr}, ',') > 0 THEN split_part({expr}, ',', 2) || ' ' || split_part({expr}, ',', 1) ELSE {expr} END)"
    return (f"split_part({n}, ' ', 1)", f"CASE WHEN strpos({n}, ' ') > 0 THEN regexp_replace({n}, '^.* ', '') END")


def dob_sql(d):
    """The date of birth as YYYY-MM-DD, read as oneview reads it (ISO,
    YYYYMMDD, DD.MM.YYYY, and slashed dates month-first unless the first part
    cannot be a month; two-digit years in the last hundred years)."""
    slashed = f"replace({d}, '.', '/')"
    a, b, y = (f"CAST(split_part({slashed}, '/', {i}) AS INT)" for i in (1, 2, 3))
    day_first = f"(strpos({d}, '.') > 0 OR {a} > 12)"
    year = f"CASE WHEN length(split_part({slashed}, '/', 3)) <= 2 THEN CASE WHEN {y} > 26 THEN 1900 + {y} ELSE 2000 + {y} END ELSE {y} END"
    month = f"CASE WHEN {day_first} THEN {b} ELSE {a} END"
    day = f"CASE WHEN {day_first} THEN {a} ELSE {b} END"
    return (
        f"CASE WHEN regexp_like({d}, '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$') THEN {d} "
        f"WHEN regexp_like({d}, '^[0-9]{{8}}$') THEN substr({d}, 1, 4) || '-' || substr({d}, 5, 2) || '-' || substr({d}, 7, 2) "
        f"WHEN regexp_like({d}, '^[0-9]{{1,2}}[/.][0-9]{{1,2}}[/.][0-9]{{2,4}}$') THEN "
        f"CAST({year} AS VARCHAR) || '-' || lpad(CAST({month} AS VARCHAR), 2, '0') || '-' || lpad(CAST({day} AS VARCHAR), 2, '0') END"
    )


def splink_input_sql():
    email = lambda c: clean(f"normalize_email({c}, 'gmail')")
    phone = lambda c, region: clean(f"normalize_phone({c}, {region})")
    dob = dob_sql("trim(date_of_birth)")
    cols = ["unique_id", "user_id", "email", "phone", "anonymous_id", "order_id", "handle", "loyalty_id",
            "first_name", "last_name", "dob", "postcode", "address", "city"]

    def row(source, rid, **values):
        exprs = [f"'{source}:' || {rid}"] + [values.get(c, "NULL") for c in cols[1:]]
        return "SELECT " + ", ".join(f"CAST({e} AS VARCHAR) AS {c}" for e, c in zip(exprs, cols)) + f" FROM {source}"

    crm_region = "CASE WHEN country IN ('GB', 'UK', 'United Kingdom') THEN 'GB' ELSE 'US' END"
    of, ol = name_parts("ship_name")
    tf, tl = name_parts("requester_name")
    sf, sl = name_parts("display_name")
    parts = [
        row("crm_contacts", "contact_id", user_id="contact_id", email=email("email"),
            phone=phone("phone", crm_region), loyalty_id="loyalty_id",
            handle="lower(ltrim(trim(social_handle), '@'))",
            first_name="normalize_name(first_name)", last_name="normalize_name(last_name)", dob=dob,
            postcode="normalize_postcode(postcode)", address="normalize_address(address_line1)",
            city="normalize_name(city)"),
        row("web_events", "event_id", anonymous_id="anonymous_id", user_id="user_id"),
        row("orders", "order_id", order_id="order_id", user_id="contact_id", email=email("email"),
            phone=phone("phone", "CASE WHEN currency = 'GBP' THEN 'GB' ELSE 'US' END"),
            first_name=of, last_name=ol, postcode="normalize_postcode(ship_postcode)"),
        row("support_tickets", "ticket_id", order_id="order_id", email=email("requester_email"),
            phone=phone("requester_phone", PHONE_REGION.format(c="requester_phone")),
            first_name=tf, last_name=tl),
        row("email_subscribers", "subscriber_id", email=email("email"), first_name="normalize_name(first_name)"),
        row("social_profiles", "profile_id", handle="lower(ltrim(trim(handle), '@'))", email=email("email"),
            first_name=sf, last_name=sl),
        row("consents", "consent_id", user_id="contact_id", email=email("email"),
            phone=phone("phone", PHONE_REGION.format(c="phone"))),
    ]
    return "\nUNION ALL\n".join(parts)


SCORE = """
WITH matched AS (
  SELECT c.cluster, g.person_id AS entity FROM {clusters} c
  JOIN read_parquet('{truth}/*.parquet') g ON c.unique_id = g.source || ':' || g.record_id
),
cells AS (SELECT cluster, entity, count(*)::DOUBLE AS n FROM matched GROUP BY ALL),
bc AS (SELECT cluster, sum(n) AS n FROM cells GROUP BY ALL),
be AS (SELECT entity, sum(n) AS n FROM cells GROUP BY ALL)
SELECT (SELECT sum(n * (n - 1) / 2) FROM cells) AS tp,
       (SELECT sum(n * (n - 1) / 2) FROM bc) AS predicted,
       (SELECT sum(n * (n - 1) / 2) FROM be) AS actual,
       (SELECT sum(cells.n * cells.n / bc.n) FROM cells JOIN bc USING (cluster)) / (SELECT sum(n) FROM cells) AS bp,
       (SELECT sum(cells.n * cells.n / be.n) FROM cells JOIN be USING (entity)) / (SELECT sum(n) FROM cells) AS br
"""


def score(con, clusters, truth):
    tp, predicted, actual, bp, br = con.sql(SCORE.format(clusters=clusters, truth=truth)).fetchone()
    p, r = tp / predicted, tp / actual
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r), "bcubed_f1": 2 * bp * br / (bp + br)}


# Thresholds of the sweep for each system's best F1.
SWEEP = (0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)
# Splink's predict() and clustering take no default threshold; 0.5 (a match
# more likely than not) is what its tutorial clusters at and the default of
# its prediction-error tools (its 50k-persons example uses 0.95, febrl4 0.99;
# the sweep shows both).
SPLINK_DEFAULT = 0.5


def run_oneview(binary, folder, memory_limit=None):
    for stale in ["output", "state", "identity_model.json"]:
        path = folder / stale
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    limit = ["--memory-limit", memory_limit] if memory_limit else []
    started = time.perf_counter()
    summary = oneview_csv(binary, folder, *limit, "resolve", "--format", "csv")
    elapsed = time.perf_counter() - started
    return elapsed, summary


def oneview_links(con, folder):
    """oneview's record -> customer table of the committed run (identity/current names it)."""
    identity = folder / "output" / "identity"
    links = identity / "identity_links" / f"run-{(identity / 'current').read_text().strip()}.parquet"
    con.sql(f"CREATE OR REPLACE VIEW oneview_clusters AS SELECT source || ':' || record_id AS unique_id, "
            f"customer_id AS cluster FROM read_parquet('{links}')")
    return "oneview_clusters"


def oneview_sweep(binary, folder, con, truth):
    """oneview's scores at each threshold of SWEEP: `resolve` again (the model
    saved by the first run is reused, not retrained) with the demo's
    `threshold` replaced. The project's file is restored afterwards."""
    toml = folder / "oneview.toml"
    original = toml.read_text()
    scores = {}
    try:
        for t in SWEEP:
            text, n = re.subn(r"(?m)^threshold = .*$", f"threshold = {t}", original)
            assert n == 1, "the demo's [identity.probabilistic] should set threshold once"
            toml.write_text(text)
            oneview_csv(binary, folder, "resolve", "--format", "csv")
            scores[t] = score(con, oneview_links(con, folder), truth)
    finally:
        toml.write_text(original)
    return scores


IDENTIFIERS = ["user_id", "email", "phone", "anonymous_id", "order_id", "handle", "loyalty_id"]


def splink_settings():
    """Splink's model, as its docs recommend for person records with identifiers:
    the comparison library for names, dates and emails, exact matches with
    term-frequency adjustments for the other identifiers and low-cardinality
    attributes (docs: topic_guides/comparisons/term-frequency.md;
    demos/examples/duckdb/accuracy_analysis_from_labels_column and link_only
    for EmailComparison / NameComparison / DateOfBirthComparison)."""
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    tf = {"term_frequency_adjustments": True}
    return SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[block_on(c) for c in IDENTIFIERS] + [
            block_on("last_name", "postcode"), block_on("first_name", "last_name"), block_on("last_name", "dob")],
        comparisons=[cl.EmailComparison("email").configure(**tf)]
        + [cl.ExactMatch(c).configure(**tf) for c in IDENTIFIERS if c != "email"]
        + [
            cl.NameComparison("first_name").configure(**tf),
            cl.NameComparison("last_name").configure(**tf),
            cl.DateOfBirthComparison("dob", input_is_string=True, datetime_format="%Y-%m-%d"),
            # Not PostcodeComparison: its sector/district/area levels are UK
            # patterns, and on a US zip both sides extract '' and "agree".
            cl.ExactMatch("postcode").configure(**tf),
            cl.JaroWinklerAtThresholds("address", [0.9, 0.8]),
            cl.ExactMatch("city").configure(**tf),
        ],
        retain_intermediate_calculation_columns=False,
    )


def run_splink(con, input_parquet):
    """Trains Splink and clusters at its default threshold, timed; returns the
    seconds and the linker (for the sweep)."""
    import logging

    from splink import DuckDBAPI, Linker, block_on

    started = time.perf_counter()
    db = DuckDBAPI(connection=con)
    con.sql(f"CREATE OR REPLACE TABLE splink_input AS SELECT * FROM read_parquet('{input_parquet}')")
    linker = Linker(db.register("splink_input"), splink_settings(), log_level=logging.WARNING)
    # The training sequence of Splink's topic guide "training rationale":
    # lambda from deterministic rules with a guessed recall (its example rules
    # are an exact name + date of birth and an exact email; here every
    # identifier a person owns — a device id can be shared, so not
    # anonymous_id — and its "typical" recall of 0.8) ...
    linker.training.estimate_probability_two_random_records_match(
        [block_on(c) for c in IDENTIFIERS if c != "anonymous_id"] + [block_on("first_name", "last_name", "dob")],
        recall=0.8)
    # ... u by random sampling (max_pairs as its examples use). Here a person
    # has ~26 records, so most random pairs that share an identifier are the
    # same person: u of an exact identifier comes out near lambda * m, and one
    # shared identifier with nothing else to compare scores about 0.3-0.5
    # (the sweep shows what a lower threshold buys back) ...
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    # ... and m by EM, a "round robin" of blocking rules so that each
    # comparison is estimated in at least one session. Splink's EM can drive
    # an m to exactly 0 on this data, which Splink 5 then refuses; such a
    # session is skipped (and said), the others stand.
    for rule in [block_on("first_name", "last_name"), block_on("email"), block_on("user_id"), block_on("last_name", "dob")]:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True)
        except ValueError as e:
            print(f"  Splink EM session skipped: {str(e).splitlines()[0]}", flush=True)
    predictions = linker.inference.predict(threshold_match_probability=SPLINK_DEFAULT)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, SPLINK_DEFAULT)
    con.sql(f"CREATE OR REPLACE TABLE splink_clusters AS SELECT unique_id, cluster_id AS cluster FROM {clusters.physical_name}")
    return time.perf_counter() - started, linker


def splink_sweep(con, linker, truth):
    """Splink's scores at each threshold of SWEEP: predictions down to the
    lowest, clustered (connected components) at each (not timed)."""
    predictions = linker.inference.predict(threshold_match_probability=min(SWEEP))
    scores = {}
    for t in SWEEP:
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, t)
        con.sql(f"CREATE OR REPLACE TABLE splink_sweep AS SELECT unique_id, cluster_id AS cluster FROM {clusters.physical_name}")
        scores[t] = score(con, "splink_sweep", truth)
        clusters.drop_table_from_database_and_remove_from_cache()
    return scores


def report(name, seconds, default, at_default, sweep):
    # The sweep's threshold of highest F1; of equal ones, the nearest to the default.
    best = max(sweep, key=lambda t: (round(sweep[t]["f1"], 6), -abs(t - float(default))))
    print(f"{name}: {seconds:.1f} s; at its default {default}: pairwise P {at_default['precision']:.4f} "
          f"R {at_default['recall']:.4f} F1 {at_default['f1']:.4f}, B-cubed F1 {at_default['bcubed_f1']:.4f}; "
          f"best threshold {best}: P {sweep[best]['precision']:.4f} R {sweep[best]['recall']:.4f} "
          f"F1 {sweep[best]['f1']:.4f}", flush=True)
    print("  F1 by threshold: " + ", ".join(f"{t} {s['f1']:.4f}" for t, s in sweep.items()), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=20000)
    parser.add_argument("--skip-splink", action="store_true")
    parser.add_argument("--memory-limit", help="oneview's --memory-limit for the timed run (e.g. 2G)")
    parser.add_argument("--time-only", action="store_true",
                        help="time the run and report its memory, without scoring it against the truth "
                             "(scoring 10M people's links is a bigger job than resolving them)")
    args = parser.parse_args()
    import duckdb

    binary = oneview_binary()
    data = dataset(binary, args.people)
    folder = identity_project(data, args.people)
    con = duckdb.connect()

    truth = data / "ground_truth"
    seconds, summary = run_oneview(binary, folder, args.memory_limit)
    records = re.search(r"^records,(\d+)", summary, re.M).group(1)
    memory = re.search(r'^memory,"?([^"\n]*)', summary, re.M).group(1)
    limit = f" under --memory-limit {args.memory_limit}" if args.memory_limit else ""
    print(f"oneview memory{limit}: {memory}", flush=True)
    if args.time_only:
        print(f"{args.people} people, {records} records: oneview resolve {seconds:.1f} s", flush=True)
        return
    ours = score(con, oneview_links(con, folder), truth)
    default = re.search(r"(?m)^threshold = (.*)$", folder.joinpath("oneview.toml").read_text()).group(1)
    print(f"{args.people} people, {records} records", flush=True)
    report("oneview resolve", seconds, default, ours, oneview_sweep(binary, folder, con, truth))
    if args.skip_splink:
        return

    input_parquet = folder / "splink_input.parquet"
    oneview_csv(binary, folder, "sql", splink_input_sql(), "-o", str(input_parquet))
    splink_seconds, linker = run_splink(con, input_parquet)
    theirs = score(con, "splink_clusters", truth)
    report("Splink (DuckDB)", splink_seconds, SPLINK_DEFAULT, theirs, splink_sweep(con, linker, truth))
    print(f"Splink time / oneview time: {splink_seconds / seconds:.1f}; F1 at the defaults: "
          f"oneview {ours['f1']:.4f}, Splink {theirs['f1']:.4f}")


if __name__ == "__main__":
    ensure_venv(__file__, ["splink>=5,<6", "pyarrow"])
    main()
