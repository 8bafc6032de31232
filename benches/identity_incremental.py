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
  orders do), then `resolve` as a nightly job runs it, then `resolve --full`
  on the same data. The two partitions of the records must be equal: the
  script fails otherwise. Printed per day: both times and their ratio.
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


def project(data, people):
    """A copy of the dataset and a project over it with the demo's [identity]."""
    folder = BENCH / f"incremental-{people}"
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(data, folder / "data")
    demo = DEMO.read_text()
    identity = demo[demo.index("[identity]"):]
    tables = "".join(f'[tables.{t}]\nlocation = "{folder / "data" / t}/"\n' for t in TABLES)
    (folder / "oneview.toml").write_text(tables + "\n" + identity)
    return folder


def timed(binary, folder, *args):
    started = time.perf_counter()
    out = subprocess.run([str(binary), "-C", str(folder), *args], check=True, capture_output=True, text=True)
    return time.perf_counter() - started, out.stdout


def links_of_run(folder):
    identity = folder / "output" / "identity"
    return identity / "identity_links" / f"run-{(identity / 'current').read_text().strip()}.parquet"


def add_day(binary, folder, day):
    """Writes day `day`'s new rows of each table in NEW_ROWS as a new file."""
    for table, record_id in NEW_ROWS.items():
        staged = folder / f"{table}-day{day}.parquet"
        sql = (f"SELECT * REPLACE ({record_id} || '-day{day}' AS {record_id}) FROM {table} "
               f"WHERE substr(md5({record_id} || '-day{day}'), 1, 2) IN ('00', '01', '02')")
        subprocess.run([str(binary), "-C", str(folder), "sql", sql, "-o", str(staged)],
                       check=True, capture_output=True)
        staged.rename(folder / "data" / table / f"day{day}.parquet")


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
    args = parser.parse_args()
    import duckdb

    binary = oneview_binary()
    folder = project(dataset(binary, args.people), args.people)
    con = duckdb.connect()

    seconds, _ = timed(binary, folder, "resolve", "--full", "--train")
    print(f"{args.people} people: first full run (training the model) {seconds:.2f} s", flush=True)
    nothing = [timed(binary, folder, "resolve")[0] for _ in range(3)]
    full_now = timed(binary, folder, "resolve", "--full")[0]
    print(f"nothing new: {statistics.median(nothing):.3f} s (median of 3) against a full run's "
          f"{full_now:.2f} s: {statistics.median(nothing) / full_now:.4f} of its time", flush=True)

    ratios = []
    for day in range(1, args.days + 1):
        add_day(binary, folder, day)
        nightly, summary = timed(binary, folder, "resolve", "--format", "csv")
        assert "up to date" not in summary, summary
        kept = folder / f"nightly-day{day}.parquet"
        shutil.copy(links_of_run(folder), kept)
        full, _ = timed(binary, folder, "resolve", "--full")
        equal = same_partition(con, kept, links_of_run(folder))
        ratios.append(nightly / full)
        print(f"day {day}: nightly run {nightly:.2f} s, full run {full:.2f} s, ratio {nightly / full:.3f}; "
              f"partition equal to the full run's: {equal}", flush=True)
        if not equal:
            raise SystemExit("the nightly run's partition differs from the full run's")
    print(f"median nightly / full: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    ensure_venv(__file__)
    main()
