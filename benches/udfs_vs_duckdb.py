#!/usr/bin/env python3
"""oneview's identity functions vs the nearest DuckDB SQL, on 10M rows.

    python3 benches/udfs_vs_duckdb.py [--rows 10000000] [--runs 3]

The rows are the generator's CRM identifiers (2M people's contacts, repeated
to --rows) in one Parquet file, so values are as messy as real ones. Each
function is timed over the whole column (counting or summing the results, so
nothing is printed) through `oneview sql` and through DuckDB:

- normalize_email  vs  regexp_replace(lower(trim(email)), '\\+[^@]*@', '@')
                       (the same rules without validation)
- normalize_phone  vs  regexp_replace(phone, '[^0-9]', '', 'g')
                       (DuckDB has no phone parser: digits only, no E.164, no
                       validation; a floor rather than an equivalent)
- jaro_winkler     vs  jaro_winkler_similarity (equivalent)
- damerau_levenshtein  in both (unrestricted in both; equal on ASCII text, as
                       DuckDB counts bytes and oneview characters)
- lower(trim())    in both, as a baseline of the engines themselves
"""

import argparse
import json
import subprocess

from bench_common import BENCH, dataset, ensure_venv, oneview_binary, project, same, time_duckdb, time_oneview

PAIRS = {
    "normalize_email": (
        "SELECT count(normalize_email(email)) FROM ids",
        "SELECT count(nullif(regexp_replace(lower(trim(email)), '\\+[^@]*@', '@'), '')) FROM ids",
    ),
    "normalize_phone": (
        "SELECT count(normalize_phone(phone)) FROM ids",
        "SELECT count(nullif(regexp_replace(phone, '[^0-9]', '', 'g'), '')) FROM ids",
    ),
    "jaro_winkler": (
        "SELECT round(sum(jaro_winkler(first_name, last_name)), 3) FROM ids",
        "SELECT round(sum(jaro_winkler_similarity(first_name, last_name)), 3) FROM ids",
    ),
    "damerau_levenshtein": (
        "SELECT sum(damerau_levenshtein(first_name, last_name)) FROM ids",
        "SELECT sum(damerau_levenshtein(first_name, last_name)) FROM ids",
    ),
    "lower_trim": (
        "SELECT count(lower(trim(email))) FROM ids",
        "SELECT count(lower(trim(email))) FROM ids",
    ),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ensure_venv(__file__)
    import duckdb

    binary = oneview_binary()
    data = dataset(binary, 2_000_000)
    ids = BENCH / f"identifiers-{args.rows}.parquet"
    if not ids.exists():
        source = project("project-identifiers", {"crm_contacts": f"{data}/crm_contacts/"})
        sql = (
            "SELECT email, phone, first_name, last_name FROM crm_contacts CROSS JOIN range(10) "
            f"LIMIT {args.rows}"
        )
        subprocess.run([str(binary), "-C", str(source), "sql", "-o", str(ids), sql], check=True)
    proj = project("project-udfs", {"ids": str(ids)})
    con = duckdb.connect()
    con.sql(f"CREATE VIEW ids AS SELECT * FROM read_parquet('{ids}')")
    rows = con.sql("SELECT count(*) FROM ids").fetchone()[0]
    print(f"\n{rows} rows; best of {args.runs} warm runs; DuckDB {duckdb.__version__}\n")
    print(f"{'function':<20} {'oneview s':>10} {'Mrows/s':>8} {'duckdb s':>10} {'duckdb/oneview':>15}  results")
    results = []
    for name, (ov_sql, dk_sql) in PAIRS.items():
        ov, ov_rows = time_oneview(binary, proj, ov_sql, args.runs)
        dk, dk_rows = time_duckdb(con, dk_sql, args.runs)
        agree = "equal" if same(ov_rows, dk_rows) else f"differ ({ov_rows[0][0]} vs {dk_rows[0][0]})"
        print(f"{name:<20} {ov:>10.3f} {rows / ov / 1e6:>8.1f} {dk:>10.3f} {dk / ov:>15.2f}  {agree}")
        results.append({"function": name, "oneview_s": ov, "duckdb_s": dk, "ratio": dk / ov, "results": agree})
    out = BENCH / "udfs_vs_duckdb.json"
    out.write_text(json.dumps({"rows": rows, "results": results}, indent=2))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
