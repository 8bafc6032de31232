#!/usr/bin/env python3
"""oneview vs DuckDB: counting 20 marketing segments on the same generated Parquet.

    python3 benches/segments_vs_duckdb.py [--people 2000000] [--runs 3]

Writes the 20 segments as segments/*.sql of a oneview project over the
generator's data (2M people make ~21M orders), times `oneview segments
count` (one process: start-up, planning and all 20 counts) and DuckDB running
`SELECT count(DISTINCT customer_id)` over the same 20 SELECTs in-process,
checks that both count the same members, and prints the times and the ratio.
Only standard SQL is used so that both engines run the same text.
"""

import argparse
import json

from bench_common import BENCH, best_of, dataset, ensure_venv, oneview_binary, oneview_csv

KEY = "coalesce(contact_id, lower(trim(email)), phone)"
AS_OF = "TIMESTAMP '2026-01-01 00:00:00'"
RETURNED = "CASE WHEN is_returned THEN 1 ELSE 0 END"
# One row per customer: the base most segments filter.
CUSTOMERS = f"""(
  SELECT {KEY} AS customer_id, count(*) AS orders, sum(amount) AS revenue,
         max(ordered_at) AS last_order, min(ordered_at) AS first_order,
         sum({RETURNED}) AS returns, min(channel) AS first_channel, max(channel) AS last_channel,
         sum(CASE WHEN channel = 'web' THEN 1 ELSE 0 END) AS web_orders,
         sum(CASE WHEN currency = 'GBP' THEN 1 ELSE 0 END) AS gbp_orders,
         sum(CASE WHEN date_part('dow', ordered_at) IN (0, 6) THEN 1 ELSE 0 END) AS weekend_orders
  FROM orders GROUP BY 1
) c"""

SEGMENTS = {
    "big_spenders": f"SELECT customer_id FROM {CUSTOMERS} WHERE revenue > 1000",
    "one_time_buyers": f"SELECT customer_id FROM {CUSTOMERS} WHERE orders = 1",
    "repeat_buyers": f"SELECT customer_id FROM {CUSTOMERS} WHERE orders >= 2",
    "loyal": f"SELECT customer_id FROM {CUSTOMERS} WHERE orders >= 10",
    "lapsed_six_months": f"SELECT customer_id FROM {CUSTOMERS} WHERE orders >= 2 AND last_order < {AS_OF} - INTERVAL '182 days'",
    "active_30_days": f"SELECT customer_id FROM {CUSTOMERS} WHERE last_order >= {AS_OF} - INTERVAL '30 days'",
    "new_90_days": f"SELECT customer_id FROM {CUSTOMERS} WHERE first_order >= {AS_OF} - INTERVAL '90 days'",
    "high_basket": f"SELECT customer_id FROM {CUSTOMERS} WHERE revenue / orders > 150",
    "frequent_returners": f"SELECT customer_id FROM {CUSTOMERS} WHERE returns >= 3 AND returns >= 0.3 * orders",
    "loyal_never_returned": f"SELECT customer_id FROM {CUSTOMERS} WHERE returns = 0 AND orders >= 5",
    "web_regulars": f"SELECT customer_id FROM {CUSTOMERS} WHERE web_orders >= 3",
    # min = max rather than count(DISTINCT channel) = 1: DataFusion 55 keeps a
    # hash set per group for a DISTINCT next to other aggregates, which with
    # 3.5M groups needs ~20 GB; DuckDB copes. Same meaning, same text for both.
    "single_channel": f"SELECT customer_id FROM {CUSTOMERS} WHERE first_channel = last_channel AND orders >= 3",
    "uk_customers": f"SELECT customer_id FROM {CUSTOMERS} WHERE gbp_orders > 0",
    "weekend_shoppers": f"SELECT customer_id FROM {CUSTOMERS} WHERE orders >= 3 AND weekend_orders > 0.5 * orders",
    "december_shoppers": (
        f"SELECT DISTINCT {KEY} AS customer_id FROM orders "
        "WHERE ordered_at >= TIMESTAMP '2025-12-01 00:00:00' AND ordered_at < TIMESTAMP '2026-01-01 00:00:00'"
    ),
    "top_decile_spend": (
        f"SELECT customer_id FROM (SELECT customer_id, ntile(10) OVER (ORDER BY revenue, customer_id) AS decile "
        f"FROM {CUSTOMERS}) d WHERE decile = 10"
    ),
    "cart_abandoners": (
        "SELECT c.user_id AS customer_id FROM "
        "(SELECT user_id, max(occurred_at) AS last_cart FROM web_events "
        f"WHERE event_type = 'add_to_cart' AND user_id IS NOT NULL AND occurred_at >= {AS_OF} - INTERVAL '30 days' "
        "GROUP BY user_id) c LEFT JOIN "
        "(SELECT user_id, max(occurred_at) AS last_order FROM web_events "
        "WHERE event_type = 'order_completed' AND user_id IS NOT NULL GROUP BY user_id) o ON o.user_id = c.user_id "
        "WHERE o.last_order IS NULL OR o.last_order < c.last_cart"
    ),
    "engaged_browsers": (
        "SELECT user_id AS customer_id FROM web_events WHERE user_id IS NOT NULL "
        "GROUP BY user_id HAVING count(*) >= 20"
    ),
    "subscribers_never_bought": (
        "SELECT lower(trim(s.email)) AS customer_id FROM email_subscribers s "
        "WHERE s.status = 'active' AND NOT EXISTS "
        "(SELECT 1 FROM orders o WHERE lower(trim(o.email)) = lower(trim(s.email)))"
    ),
    "contacts_without_orders": (
        "SELECT k.contact_id AS customer_id FROM crm_contacts k "
        "LEFT JOIN (SELECT DISTINCT contact_id FROM orders WHERE contact_id IS NOT NULL) o "
        "ON o.contact_id = k.contact_id WHERE o.contact_id IS NULL"
    ),
}
TABLES = ["orders", "web_events", "email_subscribers", "crm_contacts"]


def write_project(data, people):
    folder = BENCH / f"project-segments-{people}"
    segments = folder / "segments"
    segments.mkdir(parents=True, exist_ok=True)
    for old in segments.glob("*.sql"):
        old.unlink()
    (folder / "oneview.toml").write_text(
        "".join(f'[tables.{t}]\nlocation = "{data}/{t}/"\n' for t in TABLES)
    )
    for name, sql in SEGMENTS.items():
        (segments / f"{name}.sql").write_text(f"-- description: benchmark segment {name}\n{sql}\n")
    return folder


def time_oneview(binary, project, runs):
    best, out = best_of(runs, lambda: oneview_csv(binary, project, "segments", "count", "--format", "csv"))
    counts = {row.split(",")[0]: int(row.split(",")[1]) for row in out.strip().splitlines()[1:]}
    return best, counts


def time_duckdb(con, runs):
    return best_of(
        runs,
        lambda: {
            name: con.sql(f"SELECT count(DISTINCT customer_id) FROM ({sql}) s").fetchone()[0]
            for name, sql in SEGMENTS.items()
        },
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ensure_venv(__file__)
    import duckdb

    binary = oneview_binary()
    data = dataset(binary, args.people)
    project = write_project(data, args.people)
    con = duckdb.connect()
    for t in TABLES:
        con.sql(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{data}/{t}/*.parquet')")
    orders = con.sql("SELECT count(*) FROM orders").fetchone()[0]
    customers = con.sql(f"SELECT count(DISTINCT {KEY}) FROM orders").fetchone()[0]
    print(
        f"\n{args.people} people, {customers} buying customers, {orders} orders; "
        f"{len(SEGMENTS)} segments; best of {args.runs} warm runs; DuckDB {duckdb.__version__}\n"
    )
    ov, ov_counts = time_oneview(binary, project, args.runs)
    dk, dk_counts = time_duckdb(con, args.runs)
    print(f"{'segment':<26} {'oneview':>10} {'duckdb':>10}")
    for name in SEGMENTS:
        mark = "" if ov_counts.get(name) == dk_counts[name] else "  DIFFER"
        print(f"{name:<26} {ov_counts.get(name, -1):>10} {dk_counts[name]:>10}{mark}")
    agree = all(ov_counts.get(n) == dk_counts[n] for n in SEGMENTS)
    print(f"\nall 20 counts: oneview {ov:.2f} s (whole process), DuckDB {dk:.2f} s (in-process); "
          f"duckdb/oneview = {dk / ov:.2f}; counts {'equal' if agree else 'DIFFER'}")
    out = BENCH / "segments_vs_duckdb.json"
    out.write_text(
        json.dumps(
            {"people": args.people, "customers": customers, "orders": orders, "oneview_s": ov, "duckdb_s": dk,
             "ratio": dk / ov, "counts_equal": agree},
            indent=2,
        )
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
