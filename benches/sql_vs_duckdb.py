#!/usr/bin/env python3
"""oneview vs DuckDB: the same aggregate queries on the same generated Parquet.

    python3 benches/sql_vs_duckdb.py [--people 2000000] [--runs 5]

Generates the dataset once (cached under target/bench/), builds the release
binary, installs DuckDB into a virtualenv under target/bench/, runs each query
through `oneview sql` and through DuckDB's Python API, and prints both wall
times and the ratio. oneview is timed as a whole process (start-up, catalog,
listing included); DuckDB in-process, which favours DuckDB slightly.
"""

import argparse
import json

from bench_common import BENCH, dataset, ensure_venv, oneview_binary, project, same, time_duckdb, time_oneview

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ensure_venv(__file__)
    import duckdb

    binary = oneview_binary()
    data = dataset(binary, args.people)
    proj = project(f"project-{args.people}", {"orders": f"{data}/orders/"})
    con = duckdb.connect()
    con.sql(f"CREATE VIEW orders AS SELECT * FROM read_parquet('{data}/orders/*.parquet')")
    orders = con.sql("SELECT count(*) FROM orders").fetchone()[0]
    print(f"\n{args.people} people, {orders} orders; best of {args.runs} warm runs; DuckDB {duckdb.__version__}\n")
    print(f"{'query':<20} {'oneview s':>10} {'duckdb s':>10} {'duckdb/oneview':>15}  results")
    results = []
    for name, sql in QUERIES.items():
        ov, ov_rows = time_oneview(binary, proj, sql, args.runs)
        dk, dk_rows = time_duckdb(con, sql, args.runs)
        agree = "equal" if same(ov_rows, dk_rows) else "DIFFER"
        print(f"{name:<20} {ov:>10.3f} {dk:>10.3f} {dk / ov:>15.2f}  {agree}")
        results.append({"query": name, "oneview_s": ov, "duckdb_s": dk, "ratio": dk / ov, "results": agree})
    out = BENCH / "sql_vs_duckdb.json"
    out.write_text(json.dumps({"people": args.people, "orders": orders, "results": results}, indent=2))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
