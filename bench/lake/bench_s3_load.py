"""The `s3` loader writing a Parquet dataset (default 5M rows) into an S3-compatible server
(moto, started here on 127.0.0.1), optionally against an earlier version of Ecluse on the
same data in the same run.

Each write runs in its own process (`parquet` extractor -> `s3` loader): wall time and the
process's CPU time (user + system, all threads), plus the CPU time moto spent serving it.
Runs are interleaved (before, after, before, after...) so a change in the machine's load hits
both alike; the 1-minute load average before each run is recorded. The datasets written by
both versions are read back and compared row for row.

Usage: python bench/lake/bench_s3_load.py [--rows 5000000] [--repeat 3] [--before <git rev>]
       [--append-results]
`--before` takes `src/ecluse` of that revision (`git archive`) and runs it with this venv.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import pyarrow.dataset as ds
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))

from bench_lake import _data, _free_port  # noqa: E402

CASES: dict[str, dict[str, Any]] = {
    "unpartitioned": {},
    "by year/month of ts": {"partition_by": {"column": "ts", "parts": ["year", "month"]}},
}

# one write, in a fresh process; writes its wall and CPU seconds as JSON into argv[5]
RUNNER = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests.helpers import chain, node, run_doc
config = json.loads(sys.argv[3])
t0, c0 = time.perf_counter(), time.process_time()
r = run_doc(chain(node("src", "extractor", "parquet", path=sys.argv[2]),
                  node("dst", "loader", "s3", connection="lake", bucket="bench", **config)),
            data_dir=Path(sys.argv[4]))
assert r.status == "succeeded", r.error
Path(sys.argv[5]).write_text(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}))
"""


def _write(src_dir: Path, source: Path, config: dict[str, Any], env: dict[str, str],
           work: Path, moto: psutil.Process) -> dict[str, float]:
    load = os.getloadavg()[0]
    moto_before = sum(moto.cpu_times()[:2])
    report = work / "report.json"
    subprocess.run([sys.executable, "-c", RUNNER, str(ROOT), str(source), json.dumps(config),
                    str(work / ".ecluse"), str(report)], env={**env, "PYTHONPATH": str(src_dir)},
                   check=True, stdout=subprocess.DEVNULL)
    result: dict[str, float] = json.loads(report.read_text())
    result["moto_cpu"] = sum(moto.cpu_times()[:2]) - moto_before
    result["load"] = load
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", help="git revision to compare with (its src/ecluse)")
    parser.add_argument("--append-results", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-s3-load-"))
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    versions = {"after": ROOT / "src"}
    if args.before:
        tree = work / "before"
        tree.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before, "src/ecluse"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        versions = {"before": tree / "src", **versions}
    conn = {"type": "s3", "endpoint_url": endpoint, "access_key_id": "test",
            "secret_access_key": "test", "region": "us-east-1"}
    env = {**os.environ, "ECLUSE_CONN_LAKE": json.dumps(conn)}
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        import boto3

        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test",
                              aws_secret_access_key="test", region_name="us-east-1")
        for _ in range(100):  # until moto answers
            try:
                client.create_bucket(Bucket="bench")
                break
            except Exception:
                time.sleep(0.1)
        moto = psutil.Process(server.pid)
        source = work / "orders.parquet"
        pq.write_table(_data(args.rows), source, row_group_size=250_000)
        print(f"source: {args.rows:,} rows, {source.stat().st_size / 1e6:.1f} MB of Parquet")
        for i in range(args.repeat):
            for case, extra in CASES.items():
                for version, src_dir in versions.items():
                    prefix = f"{version}-{case.split()[0]}-{i}"
                    r = _write(src_dir, source, {"prefix": prefix, **extra}, env, work, moto)
                    runs.setdefault((case, version), []).append(r)
                    print(f"{case} / {version}: wall {r['wall']:.2f} s, cpu {r['cpu']:.2f} s, "
                          f"moto cpu {r['moto_cpu']:.2f} s, load {r['load']:.1f}", flush=True)
        if args.before:
            from pyarrow import fs as pafs

            s3 = pafs.S3FileSystem(access_key="test", secret_key="test", scheme="http",
                                   endpoint_override=f"127.0.0.1:{port}", region="us-east-1")
            for case in CASES:
                tables = [ds.dataset(f"bench/{v}-{case.split()[0]}-0", filesystem=s3, format="parquet",
                                     partitioning="hive").to_table().sort_by("order_id")
                          for v in versions]
                assert tables[0].equals(tables[1]), f"{case}: the datasets differ"
            print("the datasets written before and after read back identical")
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(work, ignore_errors=True)

    lines = [f"\n### {dt.date.today().isoformat()}: `s3` loader, {args.rows:,} rows of Parquet "
             f"into moto on 127.0.0.1, median of {args.repeat}, interleaved "
             f"(`bench/lake/bench_s3_load.py{' --before ' + args.before if args.before else ''}`)\n",
             "| case | version | wall s | CPU s (loader) | CPU s (moto) | load avg (1 min) |",
             "|---|---|---|---|---|---|"]
    for (case, version), rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("wall", "cpu", "moto_cpu")}
        loads = f"{min(r['load'] for r in rs):.1f}-{max(r['load'] for r in rs):.1f}"
        lines.append(f"| {case} | {version} | {med['wall']:.2f} | {med['cpu']:.2f} | "
                     f"{med['moto_cpu']:.2f} | {loads} |")
    print("\n".join(lines))
    if args.append_results:  # at the end of the storage section
        path = ROOT / "bench" / "RESULTS.md"
        text = path.read_text()
        start = text.find("## Storage and lakehouse")
        end = text.find("\n## ", start + 1) if start >= 0 else -1
        at = len(text) if end < 0 else end
        path.write_text(text[:at].rstrip("\n") + "\n" + "\n".join(lines) + "\n" + text[at:])


if __name__ == "__main__":
    main()
