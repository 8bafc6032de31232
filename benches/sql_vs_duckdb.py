#!/usr/bin/env python3
"""oneview vs DuckDB: the same aggregate queries on the same generated Parquet.

    python3 benches/sql_vs_duckdb.py [--people 2000000] [--runs 3]

Generates the dataset once (cached under target/bench/), builds the release
binary, installs DuckDB into a virtualenv under target/bench/, runs each query
through `oneview sql` and through DuckDB's Python API, and prints both wall
times and the ratio. oneview is timed as a whole process (start-up, catalog,
listing included); DuckDB in-process, which favours DuckDB slightly.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "target" / "bench"
DUCKDB_VERSION = "1.4.1"

CUSTOMER = "coalesce(contact_id, lower(trim(email)), phone)"
QUERIES = {
    "count": "SELECT count(*) FROM orders",
    "group_by_customer": (
        "SELECT count(*) AS customers, sum(n) AS orders, round(sum(revenue), 2) AS revenue, max(last_order) AS last_order "
        f"FROM (SELECT {CUSTOMER} AS customer, count(*) AS n, sum(amount) AS revenue, max(ordered_at) AS last_order "
        "FROM orders GROUP BY 1)"
    ),
    "top_10_customers": (
        f"SELECT {CUSTOMER} AS customer, round(sum(amount), 2) AS revenue FROM orders "
        "GROUP BY 1 ORDER BY revenue DESC, customer LIMIT 10"
    ),
}


def ensure_venv():
    """Re-runs this script inside a virtualenv that has DuckDB."""
    venv = BENCH / "venv"
    python = venv / "bin" / "python"
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"duckdb=={DUCKDB_VERSION}"], check=True
    )
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def oneview_binary():
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    return ROOT / "target" / "release" / "oneview"


def dataset(binary, people):
    data = BENCH / f"data-{people}"
    if not (data / "generator.json").exists():
        print(f"generating {people} people into {data} ...", flush=True)
        started = time.perf_counter()
        subprocess.run([str(binary), "gen", "--customers", str(people), "--seed", "1", "--out", str(data)], check=True)
        print(f"  generated in {time.perf_counter() - started:.1f}s", flush=True)
    project = BENCH / f"project-{people}"
    project.mkdir(parents=True, exist_ok=True)
    (project / "oneview.toml").write_text(f'[tables.orders]\nlocation = "{data}/orders/"\n')
    return data, project


def time_oneview(binary, project, sql, runs):
    best, output = None, None
    for _ in range(runs + 1):  # the first run warms the file cache
        started = time.perf_counter()
        out = subprocess.run(
            [str(binary), "-C", str(project), "sql", "--format", "csv", sql],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
        output = out
    rows = [line.split(",") for line in output.strip().splitlines()[1:]]
    return best, rows


def time_duckdb(con, sql, runs):
    best, rows = None, None
    for _ in range(runs + 1):
        started = time.perf_counter()
        rows = con.sql(sql).fetchall()
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    return best, rows


def same(oneview_rows, duck_rows):
    def norm(v):
        text = str(v).replace("T", " ")
        try:
            return round(float(text), 2)
        except ValueError:
            return text
    return [[norm(v) for v in r] for r in oneview_rows] == [[norm(v) for v in r] for r in duck_rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ensure_venv()
    import duckdb

    binary = oneview_binary()
    data, project = dataset(binary, args.people)
    con = duckdb.connect()
    con.sql(f"CREATE VIEW orders AS SELECT * FROM read_parquet('{data}/orders/*.parquet')")
    orders = con.sql("SELECT count(*) FROM orders").fetchone()[0]
    print(f"\n{args.people} people, {orders} orders; best of {args.runs} warm runs; DuckDB {duckdb.__version__}\n")
    print(f"{'query':<20} {'oneview s':>10} {'duckdb s':>10} {'duckdb/oneview':>15}  results")
    results = []
    for name, sql in QUERIES.items():
        ov, ov_rows = time_oneview(binary, project, sql, args.runs)
        dk, dk_rows = time_duckdb(con, sql, args.runs)
        agree = "equal" if same(ov_rows, dk_rows) else "DIFFER"
        print(f"{name:<20} {ov:>10.3f} {dk:>10.3f} {dk / ov:>15.2f}  {agree}")
        results.append({"query": name, "oneview_s": ov, "duckdb_s": dk, "ratio": dk / ov, "results": agree})
    out = BENCH / "sql_vs_duckdb.json"
    out.write_text(json.dumps({"people": args.people, "orders": orders, "results": results}, indent=2))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
