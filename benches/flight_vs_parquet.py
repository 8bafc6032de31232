#!/usr/bin/env python3
"""Streaming a large result to a notebook: `oneview serve` to the Python ADBC
client, next to pyarrow reading the same Parquet from local disk (the
practical limit of any server on this machine).

    python3 -m pip install -r tests/flight/requirements.txt
    python3 benches/flight_vs_parquet.py [--people 1000000] [--runs 3]

The result is the generator's `orders` table (about 10.6 rows per person:
10.6M rows at 1M people), every column, read batch by batch on the client so
neither side holds it whole. Prints rows/s and MB/s (Arrow in-memory bytes)
for both and their ratio.
"""

import argparse
import os
import subprocess
import time

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow.dataset as ds

from bench_common import dataset, oneview_binary, project

TOKEN = "bench-token"


def start_server(binary, project_dir):
    env = dict(os.environ, ONEVIEW_SERVER_TOKEN=TOKEN)
    server = subprocess.Popen(
        [str(binary), "-C", str(project_dir), "serve", "--bind", "127.0.0.1:0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    banner = server.stderr.readline()
    address = banner.split("://", 1)[1].split()[0]
    return server, f"grpc://{address}"


def drain(reader):
    rows = size = 0
    for batch in reader:
        rows += batch.num_rows
        size += batch.nbytes
    return rows, size


def time_flight(uri, sql, runs):
    best = None
    with flight_sql.connect(uri, db_kwargs={"adbc.flight.sql.authorization_header": f"Bearer {TOKEN}"}) as conn:
        for _ in range(runs + 1):  # the first run warms the file cache
            with conn.cursor() as cur:
                started = time.perf_counter()
                cur.execute(sql)
                rows, size = drain(cur.fetch_record_batch())
                elapsed = time.perf_counter() - started
            best = elapsed if best is None else min(best, elapsed)
    return best, rows, size


def time_parquet(path, runs):
    best = None
    for _ in range(runs + 1):
        started = time.perf_counter()
        rows, size = drain(ds.dataset(path, format="parquet").to_batches())
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    return best, rows, size


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    binary = oneview_binary()
    data = dataset(binary, args.people)
    orders = data / "orders"
    project_dir = project(f"flight-{args.people}", {"orders": str(orders)})
    server, uri = start_server(binary, project_dir)
    try:
        flight_time, flight_rows, flight_bytes = time_flight(uri, "SELECT * FROM orders", args.runs)
    finally:
        server.terminate()
        server.wait(timeout=30)
    local_time, local_rows, local_bytes = time_parquet(orders, args.runs)
    assert flight_rows == local_rows, f"row counts differ: {flight_rows} vs {local_rows}"

    print(f"\n{flight_rows:,} rows, best of {args.runs} warm runs\n")
    print(f"{'reader':<34}{'time':>9}{'rows/s':>14}{'MB/s':>9}")
    for name, elapsed, size in [
        ("oneview serve -> ADBC (loopback)", flight_time, flight_bytes),
        ("pyarrow, local Parquet", local_time, local_bytes),
    ]:
        print(f"{name:<34}{elapsed:>8.2f}s{flight_rows / elapsed:>14,.0f}{size / elapsed / 1e6:>9,.0f}")
    print(f"\nFlight SQL throughput / local Parquet throughput: {local_time / flight_time:.2f}")


if __name__ == "__main__":
    main()
