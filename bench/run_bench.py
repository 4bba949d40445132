"""The foundation benchmark: ``ecluse run`` against the same work hand-written in DuckDB SQL,
Polars lazy and pandas (and dlt, when its venv exists), in the same run, each in its own
process. Measures wall time and peak RSS of each process tree, checks every output agrees
with DuckDB's, and prints a table with ratios.

    make bench                                     # 5M rows, 3 repeats, all tools
    .venv/bin/python bench/run_bench.py --rows 1000000 --repeat 1
    .venv/bin/python bench/run_bench.py --rows 1000000 5000000 30000000 \\
        --tools ecluse duckdb --memory-limit 2GB   # the larger-than-memory curve
    .venv/bin/python bench/run_bench.py --design   # ecluse schema / preview wall time
    .venv/bin/python bench/run_bench.py --tools ecluse ecluse-pyspark duckdb  # Spark local

Each figure is the median of ``--repeat`` runs; the runs are interleaved (tool A, B, C, A, B,
C...) so a change in the machine's load hits every tool alike. The 1-minute load average
before each run is recorded. Results also go to ``bench/data/results/*.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data"
OUT = DATA / "out"
RESULTS = DATA / "results"
PY = sys.executable
ECLUSE = str(Path(PY).with_name("ecluse"))
DLT_PY = DATA / "dlt-venv" / "bin" / "python"
HAND = ["duckdb", "polars", "pandas", "dlt"]
PANDAS_OBJECT = "pandas-object"
"""pandas with text as Python objects (its default before 3.0); not in the default set."""
ECLUSE_POLARS = "ecluse-polars"
"""The same pipeline on Ecluse's Polars engine (``--engine polars``)."""
ALL_TOOLS = ["ecluse", ECLUSE_POLARS, *HAND]
SPARK = "ecluse-pyspark"
"""The same pipeline on Ecluse's PySpark engine, local mode (``ECLUSE_SPARK_MASTER``, default
``local[*]``); not in the default set: a Spark session alone takes ~20 s to start."""

sys.path.insert(0, str(BENCH))
from generate_orders import csv_path_for, ensure, pipeline  # noqa: E402


@dataclass
class Sample:
    wall_s: float
    peak_rss_mib: float
    load1: float
    cpu_s: float = 0.0
    """User + system CPU time of the process tree: less sensitive than wall time to other
    work on the machine."""
    internal_s: float | None = None
    """For ecluse: the run's own duration (without interpreter start-up and planning)."""


@dataclass
class ToolResult:
    tool: str
    rows: int
    samples: list[Sample] = field(default_factory=list)
    agrees: bool | None = None
    note: str = ""

    @property
    def wall(self) -> float:
        return statistics.median(s.wall_s for s in self.samples)

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu_s for s in self.samples)

    @property
    def rss(self) -> float:
        return statistics.median(s.peak_rss_mib for s in self.samples)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Byte-code caches on, as on any user's machine (some shells here set this).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["ECLUSE_DATA_DIR"] = str(DATA / "ecluse-data")
    return env


def measure(cmd: list[str], *, cwd: Path = ROOT) -> tuple[float, float, float, str]:
    """Wall time (s), peak RSS and CPU time of the process tree (MiB, s) and stdout of ``cmd``.

    Peak RSS is the larger of: the kernel's ru_maxrss for the child (``wait4``; exact for a
    single process, which every tool here is, once above this process's own peak, which the
    child inherits) and the polled sum over the process tree.
    """
    peak_tree = 0
    tree_cpu: dict[int, float] = {}  # last CPU time seen per process of the tree
    done = threading.Event()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=child_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)

    def poll() -> None:
        nonlocal peak_tree
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not done.is_set():
            total = 0
            try:
                for p in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        total += p.memory_info().rss
                        times = p.cpu_times()
                        tree_cpu[p.pid] = times.user + times.system
            except psutil.NoSuchProcess:
                break
            peak_tree = max(peak_tree, total)
            done.wait(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []
    readers = [threading.Thread(target=lambda s=s, b=b: b.append(s.read()), daemon=True)
               for s, b in ((proc.stdout, out_chunks), (proc.stderr, err_chunks))]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    poller.join()
    for r in readers:
        r.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout = b"".join(out_chunks).decode("utf-8", "replace")
    if proc.returncode != 0:
        err = b"".join(err_chunks).decode("utf-8", "replace")
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}\n{stdout[-2000:]}")
    peak = max(usage.ru_maxrss * 1024, peak_tree)  # ru_maxrss is in KiB on Linux
    # rusage covers the child and the children it waited for; a JVM that PySpark starts is
    # not always among those, so the polled tree can see more.
    cpu = max(usage.ru_utime + usage.ru_stime, sum(tree_cpu.values()))
    return wall, peak / 2**20, cpu, stdout


def command(tool: str, rows: int, csv: Path, doc: Path, memory_limit: str | None) -> list[str]:
    out = str(OUT / f"{tool}_{rows}.parquet")
    if tool == "ecluse":
        cmd = [ECLUSE, "run", str(doc), "--json"]
        return cmd + (["--memory-limit", memory_limit] if memory_limit else [])
    if tool in (ECLUSE_POLARS, SPARK):
        engine = tool.removeprefix("ecluse-")
        engine_doc = doc.with_name(doc.name.replace("_pipeline", f"_{engine}_pipeline"))
        engine_doc.write_text(json.dumps(pipeline(csv, Path(out)), indent=2), encoding="utf-8")
        return [ECLUSE, "run", str(engine_doc), "--json", "--engine", engine]
    python = str(DLT_PY) if tool == "dlt" else PY
    cmd = [python, str(BENCH / "handwritten.py"), tool, str(csv), out,
           "--work", str(DATA / "work" / tool)]
    if tool == "duckdb" and memory_limit:
        cmd += ["--memory-limit", memory_limit]
    return cmd


def agrees_with_duckdb(path: Path, reference: Path) -> tuple[bool, str]:
    """Same groups and values as DuckDB's output (sums within a relative 1e-9)."""
    con = duckdb.connect()
    q = f"""
        WITH a AS (SELECT country, CAST(month AS TIMESTAMP) AS month, total, orders, customers
                   FROM read_parquet('{path}')),
             b AS (SELECT country, CAST(month AS TIMESTAMP) AS month, total, orders, customers
                   FROM read_parquet('{reference}'))
        SELECT count(*) FILTER (WHERE a.country IS NULL OR b.country IS NULL) AS missing,
               count(*) FILTER (WHERE a.orders <> b.orders OR a.customers <> b.customers
                                OR abs(a.total - b.total) > 1e-9 * greatest(abs(b.total), 1))
                 AS different,
               count(*) AS groups
        FROM a FULL OUTER JOIN b
          ON a.country IS NOT DISTINCT FROM b.country AND a.month = b.month"""
    missing, different, groups = con.execute(q).fetchone()  # type: ignore[misc]
    keys = con.execute(f"SELECT country, month FROM read_parquet('{path}')").fetchall()
    order_ok = keys == sorted(keys, key=lambda k: (k[0] is None, k[0] or "", k[1]))
    ok = missing == 0 and different == 0 and groups > 0
    return ok, f"{groups} groups, {missing} missing, {different} different, sorted={order_ok}"


def warm_up(csv: Path, tools: list[str]) -> None:
    """Byte-code caches written and the CSV in the page cache before anything is timed."""
    subprocess.run([PY, "-c", "import ecluse.cli, duckdb, polars, pandas, ibis"],
                   env=child_env(), check=True)
    subprocess.run([ECLUSE, "modules"], env=child_env(), check=True, stdout=subprocess.DEVNULL)
    if "dlt" in tools:
        subprocess.run([str(DLT_PY), "-c", "import dlt, duckdb, pyarrow"], env=child_env(),
                       check=True)
    with csv.open("rb") as fh:
        while fh.read(64 << 20):
            pass


def dataset(rows: int) -> tuple[Path, Path]:
    """The CSV and pipeline document, the CSV generated in a child process: Linux carries a
    process's peak RSS into the processes it starts (through fork and exec), so generating it
    here would raise every tool's measured peak to the generator's."""
    if not csv_path_for(rows).exists():
        subprocess.run([PY, str(BENCH / "generate_orders.py"), "--rows", str(rows)], check=True)
    return ensure(rows, out_path=OUT / f"ecluse_{rows}.parquet")


def bench_rows(rows: int, tools: list[str], repeat: int, memory_limit: str | None) -> list[ToolResult]:
    csv, doc = dataset(rows)
    warm_up(csv, tools)
    results = {t: ToolResult(t, rows) for t in tools}
    for i in range(repeat):
        for tool in tools:
            shutil.rmtree(DATA / "work" / tool, ignore_errors=True)
            load1 = os.getloadavg()[0]
            wall, rss, cpu, stdout = measure(command(tool, rows, csv, doc, memory_limit))
            internal = None
            if tool.startswith("ecluse"):
                run = json.loads(stdout)
                if run["status"] != "succeeded":
                    raise RuntimeError(f"ecluse run {run['status']}: {run['error']}")
                internal = run["duration_s"]
            results[tool].samples.append(Sample(wall, rss, load1, cpu, internal))
            print(f"  [{rows:>11,} rows, run {i + 1}/{repeat}] {tool:<14} {wall:7.2f} s "
                  f"(cpu {cpu:6.2f} s) {rss:8.0f} MiB  load {load1:.2f}", flush=True)
    if "duckdb" in results:
        reference = OUT / f"duckdb_{rows}.parquet"
        for tool, res in results.items():
            if tool != "duckdb":
                res.agrees, res.note = agrees_with_duckdb(OUT / f"{tool}_{rows}.parquet", reference)
        results["duckdb"].agrees = True
    return list(results.values())


def print_table(results: list[ToolResult], memory_limit: str | None) -> None:
    by = {r.tool: r for r in results}
    hand = [by[t] for t in ("duckdb", "polars") if t in by]
    fastest = min(hand, key=lambda r: r.wall) if hand else None
    pandas = [by[t] for t in ("pandas", PANDAS_OBJECT) if t in by]
    rows = results[0].rows
    print(f"\n{rows:,} rows, memory limit {memory_limit or 'none'}, median of "
          f"{len(results[0].samples)} (load 1-min avg {min(s.load1 for r in results for s in r.samples):.2f}"
          f"-{max(s.load1 for r in results for s in r.samples):.2f}); no peak below this "
          f"process's own {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB "
          "can be seen")
    head = f"{'tool':<15}{'wall s':>9}{'min-max':>15}{'CPU s':>8}{'peak RSS MiB':>14}"
    if fastest:
        head += f"{'vs ' + fastest.tool:>11}{'CPU vs ' + fastest.tool:>15}"
    for p in pandas:
        head += f"{p.tool + ' / x':>{max(12, len(p.tool) + 6)}}"
    if "duckdb" in by:
        head += f"{'RSS vs duckdb':>15}"
    print(head + "  output")
    for r in results:
        walls = [s.wall_s for s in r.samples]
        line = (f"{r.tool:<15}{r.wall:>9.2f}{f'{min(walls):.2f}-{max(walls):.2f}':>15}"
                f"{r.cpu:>8.2f}{r.rss:>14.0f}")
        if fastest:
            line += f"{r.wall / fastest.wall:>10.2f}x{r.cpu / fastest.cpu:>14.2f}x"
        for p in pandas:
            line += f"{p.wall / r.wall:>{max(11, len(p.tool) + 5)}.1f}x"
        if "duckdb" in by:
            line += f"{r.rss / by['duckdb'].rss:>14.2f}x"
        agree = {True: "agrees", False: "DIFFERS", None: "-"}[r.agrees]
        extra = ""
        if r.tool.startswith("ecluse") and r.samples[0].internal_s is not None:
            extra = f" (run itself {statistics.median(s.internal_s or 0 for s in r.samples):.2f} s)"
        print(line + f"  {agree}{extra}")
    bad = [r for r in results if r.agrees is False]
    for r in bad:
        print(f"  !! {r.tool}: {r.note}")


def bench_design(rows: int, repeat: int) -> dict[str, list[float]]:
    """Wall time of ``ecluse schema`` and ``ecluse preview --node monthly --limit 50``."""
    csv, doc = dataset(rows)
    warm_up(csv, [])
    cmds = {"schema": [ECLUSE, "schema", str(doc)],
            "preview": [ECLUSE, "preview", str(doc), "--node", "monthly", "--limit", "50"],
            "python -c 'import ecluse.cli'": [PY, "-c", "import ecluse.cli"]}
    times: dict[str, list[float]] = {k: [] for k in cmds}
    cpus: dict[str, list[float]] = {k: [] for k in cmds}
    load1 = os.getloadavg()[0]
    for _ in range(repeat):
        for name, cmd in cmds.items():
            wall, _, cpu, _ = measure(cmd)
            times[name].append(wall)
            cpus[name].append(cpu)
    print(f"\ndesign time on {rows:,} rows (median of {repeat}, load {load1:.2f}-"
          f"{os.getloadavg()[0]:.2f}):")
    for name, walls in times.items():
        print(f"  {name:<32}{statistics.median(walls):6.2f} s wall (min {min(walls):.2f}, "
              f"max {max(walls):.2f}), {statistics.median(cpus[name]):5.2f} s CPU")
    return {**times, **{f"{k} cpu": v for k, v in cpus.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[5_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--memory-limit", help="DuckDB memory budget for ecluse and hand-written "
                    "DuckDB alike, e.g. 2GB.")
    ap.add_argument("--tools", nargs="+", choices=[*ALL_TOOLS, SPARK, PANDAS_OBJECT], default=ALL_TOOLS)
    ap.add_argument("--skip-pandas", action="store_true")
    ap.add_argument("--skip-dlt", action="store_true")
    ap.add_argument("--design", action="store_true", help="Only time ecluse schema and preview.")
    ap.add_argument("--tag", default="", help="Suffix of the results file name.")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    if args.design:
        times = bench_design(args.rows[0], args.repeat)
        (RESULTS / f"design_{args.rows[0]}_{stamp}{args.tag}.json").write_text(json.dumps(times))
        return
    tools = [t for t in args.tools
             if not (t == "pandas" and args.skip_pandas)
             and not (t == "dlt" and (args.skip_dlt or not DLT_PY.exists()))]
    if "dlt" in args.tools and not DLT_PY.exists() and not args.skip_dlt:
        print(f"dlt skipped: no venv at {DLT_PY} (python -m venv {DLT_PY.parent.parent} && "
              f"{DLT_PY.parent}/pip install 'dlt[duckdb]' pyarrow)")
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"{psutil.virtual_memory().total / 2**30:.1f} GiB RAM, duckdb {duckdb.__version__}")
    for rows in args.rows:
        results = bench_rows(rows, tools, args.repeat, args.memory_limit)
        print_table(results, args.memory_limit)
        (RESULTS / f"bench_{rows}_{stamp}{args.tag}.json").write_text(json.dumps(
            {"rows": rows, "memory_limit": args.memory_limit,
             "results": [{**asdict(r), "wall": r.wall, "cpu": r.cpu, "rss": r.rss}
                         for r in results]}, indent=1))


if __name__ == "__main__":
    main()
