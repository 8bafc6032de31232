#!/usr/bin/env python3
"""oneview resolve as a nightly job: a run with nothing new, and runs with a
day's new records, against a full run on the same data.

    python3 benches/identity_incremental.py --people 100000 [--days 3]

On the generator's data for N people (the demo project's [identity]; the
dataset is copied, so the cached one stays as generated), whole `oneview`
processes, release build:

- full: `resolve --full` (the first trains the model; later runs reuse it);
- nothing new: `resolve` again, with no source file changed;
- a day's new records: a new file in web_events and one in orders, each
  with about 1.2% of the existing rows copied under new record ids (so they
  link to existing customers, as a returning customer's new events and
  orders do), then `resolve` as a nightly job runs it (it grows the last
  run when it can: the summary says whether it did), then `resolve --full`
  on the same data. The two partitions of the records, their customer ids
  and the golden records must be equal: the script fails otherwise. Printed
  per day: both times, their ratio and how the nightly run read.

`--joins N` adds N orders a day that each join two customers, as a guest
who checks out with a new account does: a guest order (of a customer with
no CRM record) copied under a new order id, with the contact id of a CRM
contact drawn at random. The nightly run then merges customers (the
summary's `merged ids`), which it does without resolving everything.

`--splits N` adds N web events a day that each give a logged-in device a
second user (another contact's id): the device's guard stops it, and the
customer it held together splits. The nightly run links those customers
again (the summary's `split ids`) rather than resolving everything.

`--chain` runs the nightly job on every day one after another, each growing
the run the last one grew, and `resolve --full` only after the last day: the
comparison then covers runs grown from grown runs (tombstones and remaps of
joined customers carried along), and each day's ratio is to that full run.

`--without-model` leaves `[identity.probabilistic]` out of the project:
identifier links only. With the model (the default) a nightly run links
again every customer the day's records reach, on identifiers or through
the model (see docs/identity.md), which costs more than placing them: a
day touching more than 2% of the customers (`max_share_linked_again`; the
1.2% days touch a sixth) resolves everything.
"""

import argparse
import shutil
import statistics
import subprocess
import time

from bench_common import BENCH, ROOT, dataset, ensure_venv, oneview_binary

DEMO = ROOT / "datasets" / "demo" / "oneview.toml"
TABLES = ["crm_contacts", "web_events", "orders", "support_tickets", "email_subscribers",
          "social_profiles", "consents", "ground_truth", "people"]
# The new rows of a day: a deterministic 3/256 of each table's rows.
NEW_ROWS = {"web_events": "event_id", "orders": "order_id"}


def project(data, people, without_model):
    """A copy of the dataset and a project over it with the demo's [identity]."""
    folder = BENCH / f"incremental-{people}"
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(data, folder / "data")
    demo = DEMO.read_text()
    identity = demo[demo.index("[identity]"):]
    if without_model:
        start = identity.index("[identity.probabilistic]")
        identity = identity[:start] + identity[identity.index("[identity.", start + 1):]
    tables = "".join(f'[tables.{t}]\nlocation = "{folder / "data" / t}/"\n' for t in TABLES)
    (folder / "oneview.toml").write_text(tables + "\n" + identity)
    return folder


def timed(binary, folder, *args):
    started = time.perf_counter()
    out = subprocess.run([str(binary), "-C", str(folder), *args], check=True, capture_output=True, text=True)
    return time.perf_counter() - started, out.stdout


def table_now(binary, folder, table, to):
    """The committed run's `table` (all the files of its chain) as one file."""
    subprocess.run([str(binary), "-C", str(folder), "sql", f"SELECT * FROM {table}", "-o", str(to)],
                   check=True, capture_output=True)
    return to


# A day's orders that join a guest's customer to a CRM contact's.
JOINS = """
WITH guests AS (
  SELECT l.record_id FROM identity_links l JOIN customers c ON c.customer_id = l.customer_id
  WHERE l.source = 'orders' AND c.sources NOT LIKE '%crm_contacts%'
  ORDER BY md5(l.record_id || '-join{day}') LIMIT {n}),
numbered AS (SELECT record_id, row_number() OVER (ORDER BY record_id) AS i FROM guests),
contacts AS (SELECT contact_id, row_number() OVER (ORDER BY md5(contact_id || '-join{day}')) AS i
             FROM crm_contacts)
SELECT o.* REPLACE (o.order_id || '-join{day}' AS order_id, k.contact_id AS contact_id)
FROM orders o JOIN numbered g ON o.order_id = g.record_id JOIN contacts k ON k.i = g.i
"""


# A day's web events that each give a device another user: the device's
# guard (`max_distinct = { user_id = 1 }`) stops it, and its customer, whose
# anonymous events it held together, splits.
SPLITS = """
WITH devices AS (
  SELECT anonymous_id FROM web_events WHERE anonymous_id IS NOT NULL
  GROUP BY anonymous_id HAVING min(user_id) = max(user_id) AND count(*) > count(user_id)
  ORDER BY md5(anonymous_id || '-split{day}') LIMIT {n}),
numbered AS (SELECT anonymous_id, row_number() OVER (ORDER BY anonymous_id) AS i FROM devices),
contacts AS (SELECT contact_id, row_number() OVER (ORDER BY md5(contact_id || '-split{day}')) AS i
             FROM crm_contacts),
firsts AS (SELECT *, row_number() OVER (PARTITION BY anonymous_id ORDER BY event_id) AS rn
           FROM web_events WHERE anonymous_id IN (SELECT anonymous_id FROM devices))
SELECT w.* EXCLUDE (rn) REPLACE (w.event_id || '-split{day}' AS event_id, k.contact_id AS user_id)
FROM firsts w JOIN numbered g ON w.anonymous_id = g.anonymous_id AND w.rn = 1 JOIN contacts k ON k.i = g.i
"""


def add_day(binary, folder, day, joins, splits=0):
    """Writes day `day`'s new rows of each table in NEW_ROWS as a new file,
    `joins` orders joining two customers each as another, and `splits` web
    events splitting a customer each as a third."""
    files = {}
    for table, record_id in NEW_ROWS.items():
        files[(table, f"day{day}")] = (f"SELECT * REPLACE ({record_id} || '-day{day}' AS {record_id}) FROM {table} "
                                       f"WHERE substr(md5({record_id} || '-day{day}'), 1, 2) IN ('00', '01', '02')")
    if joins:
        files[("orders", f"day{day}-joins")] = JOINS.format(day=day, n=joins)
    if splits:
        files[("web_events", f"day{day}-splits")] = SPLITS.format(day=day, n=splits)
    for (table, name), sql in files.items():
        staged = folder / f"{table}-{name}.parquet"
        subprocess.run([str(binary), "-C", str(folder), "sql", sql, "-o", str(staged)],
                       check=True, capture_output=True)
    for (table, name) in files:
        (folder / f"{table}-{name}.parquet").rename(folder / "data" / table / f"{name}.parquet")
    # A file changed within a clock tick of a listing cannot be trusted to
    # be unchanged later (the run reads everything); a nightly job's files
    # are hours old.
    time.sleep(2.5)


def same_rows(con, a, b):
    """Whether two files hold the same rows (as multisets)."""
    query = "SELECT count(*) FROM (SELECT * FROM read_parquet('{}') EXCEPT ALL SELECT * FROM read_parquet('{}'))"
    return con.sql(query.format(a, b)).fetchone()[0] == 0 and con.sql(query.format(b, a)).fetchone()[0] == 0


def same_partition(con, a, b):
    """Whether two runs' links put the same records together (ids aside)."""
    cells, left, right, records = con.sql(
        f"SELECT count(DISTINCT (x.customer_id, y.customer_id)), count(DISTINCT x.customer_id), "
        f"count(DISTINCT y.customer_id), count(*) FROM read_parquet('{a}') x "
        f"JOIN read_parquet('{b}') y USING (source, record_id)").fetchone()
    total_a = con.sql(f"SELECT count(*) FROM read_parquet('{a}')").fetchone()[0]
    total_b = con.sql(f"SELECT count(*) FROM read_parquet('{b}')").fetchone()[0]
    return cells == left == right and records == total_a == total_b


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=100000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--without-model", action="store_true")
    parser.add_argument("--joins", type=int, default=0, help="orders a day that join two customers")
    parser.add_argument("--splits", type=int, default=0, help="web events a day that split a customer")
    parser.add_argument("--chain", action="store_true", help="grow from grown runs; one full run at the end")
    args = parser.parse_args()
    import duckdb

    binary = oneview_binary()
    folder = project(dataset(binary, args.people), args.people, args.without_model)
    con = duckdb.connect()
    time.sleep(2.5)

    seconds, _ = timed(binary, folder, "resolve", "--full", "--train")
    print(f"{args.people} people: first full run (training the model) {seconds:.2f} s", flush=True)
    nothing = [timed(binary, folder, "resolve")[0] for _ in range(3)]
    full_now = timed(binary, folder, "resolve", "--full")[0]
    print(f"nothing new: {statistics.median(nothing):.3f} s (median of 3) against a full run's "
          f"{full_now:.2f} s: {statistics.median(nothing) / full_now:.4f} of its time", flush=True)

    ratios, nightlies = [], []
    for day in range(1, args.days + 1):
        add_day(binary, folder, day, args.joins, args.splits)
        nightly, summary = timed(binary, folder, "resolve", "--format", "csv")
        assert "up to date" not in summary, summary
        how = next(line for line in summary.splitlines() if line.startswith("sources,"))
        merged = next(line for line in summary.splitlines() if line.startswith("  merged ids,"))
        split = next(line for line in summary.splitlines() if line.startswith("  split ids,"))
        merged = f"{merged.strip()}; {split.strip()}"
        if args.chain and day < args.days:
            nightlies.append((day, nightly, how, merged))
            continue
        links = table_now(binary, folder, "identity_links", folder / f"nightly-day{day}-links.parquet")
        customers = table_now(binary, folder, "customers", folder / f"nightly-day{day}-customers.parquet")
        full, _ = timed(binary, folder, "resolve", "--full")
        full_links = table_now(binary, folder, "identity_links", folder / f"full-day{day}-links.parquet")
        full_customers = table_now(binary, folder, "customers", folder / f"full-day{day}-customers.parquet")
        equal = same_partition(con, links, full_links)
        same_ids = con.sql(f"SELECT count(*) FROM read_parquet('{links}') x JOIN read_parquet('{full_links}') y "
                           "USING (source, record_id) WHERE x.customer_id <> y.customer_id").fetchone()[0] == 0
        same_golden = same_rows(con, customers, full_customers)
        for earlier, seconds, earlier_how, earlier_merged in nightlies:
            ratios.append(seconds / full)
            print(f"day {earlier}: nightly run {seconds:.2f} s, grown from the run before; ratio to the full run "
                  f"after day {day}: {seconds / full:.3f}; the nightly run's {earlier_how}; {earlier_merged.strip()}",
                  flush=True)
        ratios.append(nightly / full)
        print(f"day {day}: nightly run {nightly:.2f} s, full run {full:.2f} s, ratio {nightly / full:.3f}; "
              f"partition equal to the full run's: {equal}, ids: {same_ids}, golden records: {same_golden}; "
              f"the nightly run's {how}; {merged.strip()}", flush=True)
        if not (equal and same_ids and same_golden):
            raise SystemExit("the nightly run differs from the full run")
    print(f"median nightly / full: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    ensure_venv(__file__)
    main()
