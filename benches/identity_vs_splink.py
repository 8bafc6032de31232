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
  counted for Splink), blocking rules on each identifier plus the same three
  attribute rules, exact-match comparisons for identifiers and Jaro-Winkler /
  date / postcode comparisons for the attributes, u by random sampling, m by
  EM on two blocking rules, prediction and clustering at 0.95. Timed from
  loading the table to the clusters.
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


def run_oneview(binary, folder):
    for stale in ["output", "state", "identity_model.json"]:
        path = folder / stale
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    started = time.perf_counter()
    summary = oneview_csv(binary, folder, "resolve", "--format", "csv")
    elapsed = time.perf_counter() - started
    return elapsed, summary


def run_splink(con, input_parquet):
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    identifiers = ["user_id", "email", "phone", "anonymous_id", "order_id", "handle", "loyalty_id"]
    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[block_on(c) for c in identifiers] + [
            block_on("last_name", "postcode"), block_on("first_name", "last_name"), block_on("last_name", "dob")],
        comparisons=[cl.ExactMatch(c) for c in identifiers] + [
            cl.JaroWinklerAtThresholds("first_name", [0.92, 0.8]),
            cl.JaroWinklerAtThresholds("last_name", [0.92, 0.8]),
            cl.LevenshteinAtThresholds("dob", [1, 2]),
            cl.ExactMatch("postcode"),
            cl.JaroWinklerAtThresholds("address", [0.9]),
            cl.ExactMatch("city"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    started = time.perf_counter()
    db = DuckDBAPI(connection=con)
    con.sql(f"CREATE OR REPLACE TABLE splink_input AS SELECT * FROM read_parquet('{input_parquet}')")
    linker = Linker(db.register("splink_input"), settings)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("email"), block_on("user_id")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    # Splink's EM can drive an m to exactly 0 on this data, which Splink 5
    # then refuses; such a session is skipped (and said), the others stand.
    for rule in [block_on("first_name", "last_name"), block_on("last_name", "dob"), block_on("last_name", "postcode")]:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
        except ValueError as e:
            print(f"  Splink EM session skipped: {str(e).splitlines()[0]}", flush=True)
    predictions = linker.inference.predict(threshold_match_probability=0.95)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, 0.95)
    con.sql(f"CREATE OR REPLACE TABLE splink_clusters AS SELECT unique_id, cluster_id AS cluster FROM {clusters.physical_name}")
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=20000)
    parser.add_argument("--skip-splink", action="store_true")
    args = parser.parse_args()
    import duckdb

    binary = oneview_binary()
    data = dataset(binary, args.people)
    folder = identity_project(data, args.people)
    con = duckdb.connect()

    seconds, summary = run_oneview(binary, folder)
    records = re.search(r"^records,(\d+)", summary, re.M).group(1)
    # The committed run's file (identity/current names it).
    identity = folder / "output" / "identity"
    links = identity / "identity_links" / f"run-{(identity / 'current').read_text().strip()}.parquet"
    con.sql(f"CREATE OR REPLACE VIEW oneview_clusters AS SELECT source || ':' || record_id AS unique_id, "
            f"customer_id AS cluster FROM read_parquet('{links}')")
    ours = score(con, "oneview_clusters", data / "ground_truth")
    print(f"{args.people} people, {records} records")
    print(f"oneview resolve: {seconds:.1f} s, pairwise P {ours['precision']:.4f} R {ours['recall']:.4f} "
          f"F1 {ours['f1']:.4f}, B-cubed F1 {ours['bcubed_f1']:.4f}", flush=True)
    if args.skip_splink:
        return

    input_parquet = folder / "splink_input.parquet"
    oneview_csv(binary, folder, "sql", splink_input_sql(), "-o", str(input_parquet))
    splink_seconds = run_splink(con, input_parquet)
    theirs = score(con, "splink_clusters", data / "ground_truth")
    print(f"Splink (DuckDB): {splink_seconds:.1f} s, pairwise P {theirs['precision']:.4f} R {theirs['recall']:.4f} "
          f"F1 {theirs['f1']:.4f}, B-cubed F1 {theirs['bcubed_f1']:.4f}")
    print(f"oneview is {splink_seconds / seconds:.1f}x faster, F1 {ours['f1'] - theirs['f1']:+.4f}")


if __name__ == "__main__":
    ensure_venv(__file__, ["splink>=4", "pyarrow"])
    main()
