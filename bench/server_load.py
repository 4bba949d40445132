"""Load generator for the platform server (issue 3 targets, measured, never asserted):
list endpoints and run start under 50 concurrent clients, and the delay to the first
WebSocket event of a run. Starts its own server on a free loopback port with a temp data dir.

    .venv/bin/python bench/server_load.py [--clients 50] [--seconds 10] [--wrk]

Each phase also reports what the server saw: its own latency (the Prometheus request histogram
on /metrics: mean and an interpolated p99) and the CPU time of the API process per request (from
/proc), which do not depend on how fast the load generator is. With --wrk the load comes from
`wrk` (C, little CPU) instead of the Python clients, which on 2 cores take a core themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import websockets


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def hammer(base: str, headers: dict[str, str], paths: list[str], clients: int,
                 seconds: float, method: str = "GET", body: dict | None = None,
                 think_ms: float = 0) -> list[float]:
    """Each client sends a request, waits for the answer, pauses ``think_ms`` (randomised
    ±50 % so clients do not march in step; 0 = closed loop, a saturation test) and goes on."""
    latencies: list[float] = []
    # The clients exist before the clock starts: building one loads the CA bundle (~45 ms of
    # CPU, with the event loop blocked); built inside the run, 50 of them stalled the first
    # requests for ~2 s, which then reached the server all at once - that burst was the p99.
    pool = [httpx.AsyncClient(base_url=base, headers=headers, timeout=30)
            for _ in range(clients)]
    stop = time.monotonic() + seconds

    async def client(i: int) -> None:
        c = pool[i]
        if think_ms:
            await asyncio.sleep(random.uniform(0, think_ms) / 1000)
        while time.monotonic() < stop:
            path = paths[i % len(paths)]
            t0 = time.perf_counter()
            r = await c.request(method, path, json=body)
            latencies.append((time.perf_counter() - t0) * 1000)
            assert r.status_code < 400, r.text
            if think_ms:
                await asyncio.sleep(random.uniform(0.5, 1.5) * think_ms / 1000)

    try:
        await asyncio.gather(*(client(i) for i in range(clients)))
    finally:
        await asyncio.gather(*(c.aclose() for c in pool))
    return latencies


def report_quiet(lat: list[float], seconds: float) -> dict[str, float]:
    return {"requests": len(lat), "rps": round(len(lat) / seconds, 1),
            "p50_ms": round(statistics.median(lat), 1), "p99_ms": round(pct(lat, 99), 1)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (not its children: the run workers)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_SAMPLE = re.compile(r'^ecluse_http_request_duration_seconds_(bucket|sum|count)\{(.*)\} (\S+)$')


def histogram(base: str, method: str) -> dict[str, float]:
    """The server's request latency histogram, every route of ``method`` summed:
    ``{"sum": s, "count": n, "le=<bound>": cumulative n, ...}``."""
    out: dict[str, float] = {}
    for line in httpx.get(f"{base}/metrics", timeout=30).text.splitlines():
        m = _SAMPLE.match(line)
        if not m or f'method="{method}"' not in m.group(2) or "/metrics" in m.group(2):
            continue
        key = m.group(1)
        if key == "bucket":
            key = "le=" + re.search(r'le="([^"]+)"', m.group(2)).group(1)  # type: ignore[union-attr]
        out[key] = out.get(key, 0.0) + float(m.group(3))
    return out


def server_side(before: dict[str, float], after: dict[str, float], cpu: float
                ) -> dict[str, float]:
    """Mean and p99 (interpolated in the histogram's buckets) of the latency the server
    measured between two scrapes, and its CPU milliseconds per request."""
    n = after.get("count", 0) - before.get("count", 0)
    if n <= 0:
        return {}
    bounds = sorted((float(k[3:]), after[k] - before.get(k, 0.0)) for k in after
                    if k.startswith("le="))
    target, lower, below = 0.99 * n, 0.0, 0.0
    p99 = bounds[-1][0]
    for upper, cumulative in bounds:
        if cumulative >= target:
            p99 = upper if upper == float("inf") else (
                lower + (upper - lower) * (target - below) / max(cumulative - below, 1e-9))
            break
        lower, below = upper, cumulative
    return {"requests": n, "mean_ms": round((after["sum"] - before["sum"]) / n * 1000, 1),
            "p99_ms": round(p99 * 1000, 1), "cpu_ms_per_request": round(cpu / n * 1000, 2)}


WRK_SCRIPT = """
local paths = {%s}
local i = 0
wrk.method = "%s"
wrk.headers["Authorization"] = "%s"
wrk.headers["Content-Type"] = "application/json"
wrk.body = %s
request = function()
  i = i + 1
  return wrk.format(nil, paths[(i %% #paths) + 1])
end
"""


def run_wrk(base: str, headers: dict[str, str], paths: list[str], clients: int, seconds: float,
            method: str = "GET", body: dict | None = None) -> dict[str, float]:
    """A closed loop of ``clients`` connections driven by wrk; its own latency percentiles."""
    script = Path(tempfile.mkdtemp(prefix="ecluse-wrk-")) / "load.lua"
    script.write_text(WRK_SCRIPT % (", ".join(json.dumps(p) for p in paths), method,
                                    headers["Authorization"],
                                    json.dumps(json.dumps(body)) if body is not None else "nil"))
    out = subprocess.run(["wrk", "-t2", f"-c{clients}", f"-d{int(seconds)}s", "--latency",
                          "--timeout", "30s", "-s", str(script), base],
                         capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m, out
        return round(float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)], 1)

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert errors is None, out
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "p50_ms": ms("50"), "p99_ms": ms("99")}


def phase(name: str, base: str, pid: int, method: str, load: Any) -> dict[str, Any]:
    """Run ``load`` (which reports the client's view) and add the server's view."""
    before, cpu0 = histogram(base, method), cpu_seconds(pid)
    client = load()
    cpu = cpu_seconds(pid) - cpu0
    server = server_side(before, histogram(base, method), cpu)
    print(f"{name:28s} client {client}")
    print(f"{'':28s} server {server}")
    return {"client": client, "server": server}


async def first_ws_event(base: str, ws_base: str, headers: dict[str, str], token: str,
                         pipeline_id: str, n: int = 5) -> list[float]:
    """Milliseconds from the run's start request to its first pushed event after the snapshot
    (the executor's run_started when a worker slot is free)."""
    delays = []
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as c:
        for _ in range(n):
            async with websockets.connect(f"{ws_base}/api/v1/ws/runs?token={token}") as ws:
                t0 = time.perf_counter()
                run = (await c.post(f"/api/v1/pipelines/{pipeline_id}/runs",
                                    json={"parameters": {}})).json()
                async for msg in ws:
                    ev = json.loads(msg)
                    if ev["run_id"] == run["id"] and ev["kind"] == "run_started":
                        delays.append((time.perf_counter() - t0) * 1000)
                        break
            while (await c.get(f"/api/v1/runs/{run['id']}")).json()["status"] not in (
                    "succeeded", "failed", "cancelled"):
                await asyncio.sleep(0.2)
    return delays


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--skip-ws", action="store_true", help="skip the first-event test (for a "
                    "server started with ECLUSE_EXECUTOR_ENABLED=false, whose runs never start)")
    ap.add_argument("--think-ms", type=float, default=0, help="pause of each client between "
                    "requests (0: closed loop, as fast as the server answers)")
    ap.add_argument("--wrk", action="store_true", help="drive the load with wrk (closed loop; "
                    "installed with `apt-get install -y wrk`), not the Python clients")
    args = ap.parse_args()
    if args.wrk and not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")
    if args.wrk and args.think_ms:
        sys.exit("--think-ms needs the Python clients (wrk runs a closed loop)")
    root = Path(__file__).resolve().parent.parent
    data = Path(tempfile.mkdtemp(prefix="ecluse-bench-"))
    port = free_port()
    env = {**os.environ, "ECLUSE_DATA_DIR": str(data), "ECLUSE_ADMIN_USERNAME": "admin",
           "ECLUSE_ADMIN_PASSWORD": "bench-password", "ECLUSE_SCHEDULER": "off"}
    with fresh_postgres(env):
        serve_and_measure(args, root, port, env)


@contextlib.contextmanager
def fresh_postgres(env: dict[str, str]) -> Iterator[None]:
    """With ``ECLUSE_DATABASE_URL`` on PostgreSQL, the server gets a new, empty database on that
    server, dropped afterwards: runs queued by an earlier measurement would otherwise be
    executed during this one."""
    url = env.get("ECLUSE_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        yield
        return
    import sqlalchemy as sa

    name = f"ecluse_load_{os.getpid()}"
    admin = sa.create_engine(sa.make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    env["ECLUSE_DATABASE_URL"] = sa.make_url(url).set(database=name).render_as_string(
        hide_password=False)
    try:
        yield
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def serve_and_measure(args: argparse.Namespace, root: Path, port: int,
                      env: dict[str, str]) -> None:
    server = subprocess.Popen([sys.executable, "-m", "ecluse.cli", "serve", "--port", str(port)],
                              cwd=root, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base, ws_base = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/api/v1/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        token = httpx.post(f"{base}/api/v1/auth/login", json={
            "username": "admin", "password": "bench-password"}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        doc = json.loads((root / "examples/demo/orders_pipeline.json").read_text())
        doc.pop("schedule", None)
        ids = []
        for i in range(20):
            r = httpx.post(f"{base}/api/v1/pipelines", json={**doc, "name": f"bench {i}"},
                           headers=headers)
            ids.append(r.json()["id"])
        print(f"load average before: {os.getloadavg()}")
        results = {}
        if not args.skip_ws:
            ws_delays = asyncio.run(first_ws_event(base, ws_base, headers, token, ids[0]))
            results["first_ws_event_ms"] = {"p50": round(statistics.median(ws_delays), 1),
                                            "max": round(max(ws_delays), 1)}
            print(f"{'first WS event after start':28s} {results['first_ws_event_ms']}")
        lists = ["/api/v1/pipelines", "/api/v1/runs", "/api/v1/connections"]
        starts = [f"/api/v1/pipelines/{i}/runs" for i in ids]
        start_body = {"parameters": {}}

        def load(paths: list[str], method: str, body: dict | None) -> Any:
            if args.wrk:
                return lambda: run_wrk(base, headers, paths, args.clients, args.seconds, method,
                                       body)
            return lambda: report_quiet(asyncio.run(hammer(
                base, headers, paths, args.clients, args.seconds, method, body,
                think_ms=args.think_ms)), args.seconds)

        results["list"] = phase("list endpoints", base, server.pid, "GET",
                                load(lists, "GET", None))
        results["run_start"] = phase("run start", base, server.pid, "POST",
                                     load(starts, "POST", start_body))
        print(f"load average after: {os.getloadavg()}")
        print(json.dumps(results))
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
