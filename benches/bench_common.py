"""Shared pieces of the peer-comparison scripts: the virtualenv with DuckDB,
the release binary, the generated dataset, and timing."""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "target" / "bench"
DUCKDB_VERSION = "1.4.1"


def ensure_venv(script, extra=()):
    """Re-runs `script` inside a virtualenv that has DuckDB (and `extra` packages)."""
    venv = BENCH / "venv"
    python = venv / "bin" / "python"
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"duckdb=={DUCKDB_VERSION}", *extra], check=True)
    os.execv(str(python), [str(python), script, *sys.argv[1:]])


def oneview_binary():
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    return ROOT / "target" / "release" / "oneview"


def dataset(binary, people):
    """The generator's dataset for `people`, made once and cached."""
    data = BENCH / f"data-{people}"
    if not (data / "generator.json").exists():
        print(f"generating {people} people into {data} ...", flush=True)
        started = time.perf_counter()
        subprocess.run([str(binary), "gen", "--customers", str(people), "--seed", "1", "--out", str(data)], check=True)
        print(f"  generated in {time.perf_counter() - started:.1f}s", flush=True)
    return data


def project(name, tables):
    """A oneview project with `tables` (name -> location)."""
    folder = BENCH / name
    folder.mkdir(parents=True, exist_ok=True)
    toml = "".join(f'[tables.{table}]\nlocation = "{location}"\n' for table, location in tables.items())
    (folder / "oneview.toml").write_text(toml)
    return folder


def best_of(runs, action):
    """Best wall time of `runs` warm calls of `action` (after one that warms
    the file cache), and the last call's result."""
    best, result = None, None
    for _ in range(runs + 1):
        started = time.perf_counter()
        result = action()
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    return best, result


def oneview_csv(binary, project_dir, *args):
    """Standard output of `oneview -C project_dir ARGS`."""
    return subprocess.run(
        [str(binary), "-C", str(project_dir), *args], check=True, capture_output=True, text=True
    ).stdout


def time_oneview(binary, project_dir, sql, runs):
    """Best wall time of `runs` warm runs of `oneview sql`, and the rows."""
    best, output = best_of(runs, lambda: oneview_csv(binary, project_dir, "sql", "--format", "csv", sql))
    rows = [line.split(",") for line in output.strip().splitlines()[1:]]
    return best, rows


def time_duckdb(con, sql, runs):
    return best_of(runs, lambda: con.sql(sql).fetchall())


def same(oneview_rows, duck_rows, digits=2):
    def norm(v):
        text = str(v).replace("T", " ")
        try:
            return round(float(text), digits)
        except ValueError:
            return text

    return [[norm(v) for v in r] for r in oneview_rows] == [[norm(v) for v in r] for r in duck_rows]
