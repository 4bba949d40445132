"""The Celery executor (issue 6 targets, measured, never asserted):

- queue-to-start latency: from the API recording a run as queued to a worker recording it as
  running (``started_at - created_at``, both stamped on this machine), runs sent one at a
  time to an idle worker;
- throughput: N short pipelines (the demo: csv → cleaner → aggregate → partitioned parquet)
  queued at once, drained by 1 worker and then by 2 workers (``--concurrency 1`` each,
  ``ECLUSE_THREADS=1``: one core per run), from the first queued to the last finished.

Starts its own `ecluse serve` (ECLUSE_EXECUTOR=celery) and `ecluse worker` processes against
real PostgreSQL and Redis on 127.0.0.1 (started when missing, as the tests do).

    .venv/bin/python bench/celery_bench.py [--runs 20] [--latency-samples 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests import servers  # noqa: E402  (the same service bootstrap as the tests)

TERMINAL = ("succeeded", "failed", "cancelled")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def seconds(a: str, b: str) -> float:
    return (dt.datetime.fromisoformat(b) - dt.datetime.fromisoformat(a)).total_seconds()


class Cluster:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        from ecluse.orchestration.celery_app import make_celery
        from ecluse.services.config import PlatformSettings

        self.env, self.logs = env, logs
        self.queue = env["ECLUSE_CELERY_QUEUE"]
        self.db = psycopg.connect(env["ECLUSE_DATABASE_URL"], autocommit=True)
        self.celery = make_celery(PlatformSettings(redis_url=env["ECLUSE_REDIS_URL"],
                                                   celery_queue=self.queue, data_dir=logs))
        self.port = servers.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self.client = httpx.Client(base_url=self.base, timeout=30)
        self.pipelines: list[str] = []

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        return subprocess.Popen([str(Path(sys.executable).parent / "ecluse"), *args], cwd=ROOT,
                                env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def start_api(self) -> None:
        self.procs.append(self._spawn(["serve", "--port", str(self.port)], "api"))
        for _ in range(600):
            try:
                if self.client.get("/api/v1/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        token = self.client.post("/api/v1/auth/login", json={
            "username": "admin", "password": "bench-password"}).json()["access_token"]
        self.client.headers["Authorization"] = f"Bearer {token}"

    def set_workers(self, n: int) -> None:
        while len(self.workers) > n:
            self._stop(self.workers.pop())
        while len(self.workers) < n:
            name = f"bench{len(self.workers) + 1}"
            log = self.logs / f"{name}.log"
            log.write_text("")
            self.workers.append(self._spawn(["worker", "--concurrency", "1", "--hostname",
                                             f"{name}@%h", "--loglevel", "info"], name))
            while " ready." not in log.read_text(errors="replace"):
                assert self.workers[-1].poll() is None, log.read_text()
                time.sleep(0.1)
        for _ in range(n):  # warm: each worker process has run once
            self.wait(self.start(self.pipelines[0]))

    def _stop(self, p: subprocess.Popen[bytes]) -> None:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(60)

    def close(self) -> None:
        for p in self.workers + self.procs:
            if p.poll() is None:
                self._stop(p)
        self.db.close()

    def create_pipelines(self, n: int, out: Path) -> None:
        doc = json.loads((ROOT / "examples/demo/orders_pipeline.json").read_text())
        doc.pop("schedule", None)
        for i in range(n):
            nodes = [dict(node) for node in doc["nodes"]]
            for node in nodes:
                node["config"] = dict(node["config"])
                if node["id"] == "orders":
                    node["config"]["path"] = str(ROOT / node["config"]["path"])
                if node["id"] == "report":
                    node["config"]["path"] = str(out / f"report_{i}")
            r = self.client.post("/api/v1/pipelines", json={**doc, "nodes": nodes,
                                                            "name": f"celery bench {i}"})
            r.raise_for_status()
            self.pipelines.append(r.json()["id"])

    def dispatched(self, run_id: str) -> object:
        row = self.db.execute("SELECT dispatched_at FROM runs WHERE id = %s", (run_id,)).fetchone()
        return row[0] if row else None

    def worker_of(self, run_id: str) -> str:
        row = self.db.execute("SELECT instance FROM runs WHERE id = %s", (run_id,)).fetchone()
        return str(row[0]).split(":")[0] if row else "?"

    def start(self, pipeline_id: str) -> str:
        r = self.client.post(f"/api/v1/pipelines/{pipeline_id}/runs", json={"parameters": {}})
        r.raise_for_status()
        return str(r.json()["id"])

    def wait(self, run_id: str) -> dict[str, Any]:
        while True:
            run: dict[str, Any] = self.client.get(f"/api/v1/runs/{run_id}").json()
            if run["status"] in TERMINAL:
                assert run["status"] == "succeeded", run
                return run
            time.sleep(0.02)


def latency(cluster: Cluster, samples: int) -> dict[str, float]:
    values = []
    for i in range(samples):
        run = cluster.wait(cluster.start(cluster.pipelines[i % len(cluster.pipelines)]))
        values.append(seconds(run["created_at"], run["started_at"]) * 1000)
        time.sleep(0.2)  # the worker is idle again, as a real queue-to-start would find it
    return {"p50_ms": round(statistics.median(values), 1), "p95_ms": round(pct(values, 95), 1),
            "max_ms": round(max(values), 1), "samples": samples}


def throughput(cluster: Cluster, runs: int) -> dict[str, float]:
    """The workers stop consuming while the runs are queued (so that the API's work of
    accepting them is not counted), then drain the queue: first start to last finish."""
    control = cluster.celery.control
    control.cancel_consumer(cluster.queue, reply=True, timeout=5)
    ids = [cluster.start(cluster.pipelines[i % len(cluster.pipelines)]) for i in range(runs)]
    while any(cluster.client.get(f"/api/v1/runs/{i}").json()["status"] != "queued" or
              cluster.dispatched(i) is None for i in ids):
        time.sleep(0.05)
    control.add_consumer(cluster.queue, reply=True, timeout=5)
    done = [cluster.wait(run_id) for run_id in ids]
    wall = seconds(min(r["started_at"] for r in done), max(r["finished_at"] for r in done))
    per_run = [r["duration_s"] for r in done]
    by_worker: dict[str, list[dict[str, Any]]] = {}
    for r in done:
        by_worker.setdefault(cluster.worker_of(r["id"]), []).append(r)
    gaps = [seconds(a["finished_at"], b["started_at"]) * 1000 for rs in by_worker.values()
            for a, b in itertools.pairwise(sorted(rs, key=lambda r: r["started_at"]))]
    return {"wall_s": round(wall, 2), "runs_per_s": round(runs / wall, 2),
            "run_p50_s": round(statistics.median(per_run), 3),
            "gap_between_runs_p50_ms": round(statistics.median(gaps), 1) if gaps else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--latency-samples", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3, help="throughput rounds per worker count")
    args = ap.parse_args()
    pg, redis_url = servers.ensure_postgres(), servers.ensure_redis()
    name = f"ecluse_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    tmp = Path(tempfile.mkdtemp(prefix="ecluse-celery-bench-"))
    env = {**os.environ, "ECLUSE_DATABASE_URL": f"{pg.rpartition('/')[0]}/{name}",
           "ECLUSE_REDIS_URL": redis_url, "ECLUSE_EXECUTOR": "celery",
           "ECLUSE_CELERY_QUEUE": name, "ECLUSE_SECRET_KEY": "bench-secret",
           "ECLUSE_DATA_DIR": str(tmp / "data"), "ECLUSE_ADMIN_USERNAME": "admin",
           "ECLUSE_ADMIN_PASSWORD": "bench-password", "ECLUSE_SCHEDULER": "off",
           "ECLUSE_THREADS": "1"}
    cluster = Cluster(env, tmp)
    results: dict[str, Any] = {"load_before": os.getloadavg()}
    try:
        cluster.start_api()
        cluster.create_pipelines(args.runs, tmp / "out")
        cluster.set_workers(1)
        results["latency"] = latency(cluster, args.latency_samples)
        print(f"queue-to-start {results['latency']}", flush=True)
        rounds: dict[int, list[dict[str, float]]] = {1: [], 2: []}
        for _ in range(args.repeat):  # interleaved: 1, 2, 1, 2 ... so load drifts hit both
            for n in (1, 2):
                cluster.set_workers(n)
                rounds[n].append(throughput(cluster, args.runs))
                print(f"{n} worker(s): {rounds[n][-1]}", flush=True)
        for n, rs in rounds.items():
            results[f"workers_{n}"] = min(rs, key=lambda r: r["wall_s"]) | {
                "median_wall_s": statistics.median(r["wall_s"] for r in rs)}
        results["speedup_median"] = round(
            results["workers_1"]["median_wall_s"] / results["workers_2"]["median_wall_s"], 2)
        results["load_after"] = os.getloadavg()
        print(json.dumps(results, indent=1))
    finally:
        cluster.close()
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
