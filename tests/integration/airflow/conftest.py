"""A real Airflow (its own cached virtualenv, temp AIRFLOW_HOME, SQLite) and a real
``ecluse serve`` on a free loopback port with ECLUSE_SCHEDULER=airflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import servers

REPO = Path(__file__).resolve().parents[3]
ADMIN = ("admin", "admin-password-1")


@dataclass
class Ecluse:
    url: str
    env: dict[str, str]
    client: httpx.Client
    workdir: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ecluse.cli", *args], env=self.env,
                              cwd=self.workdir, capture_output=True, text=True, timeout=120)

    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        r = self.client.post("/api/v1/pipelines", json=doc)
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    def runs(self, pipeline_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.client.get(
            "/api/v1/runs", params={"pipeline_id": pipeline_id}).json()["items"]
        return items


@dataclass
class Airflow:
    bin: Path
    env: dict[str, str]
    dags: Path

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.bin / "airflow"), *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def python(self, code: str) -> Any:
        """Run code in Airflow's interpreter; it prints one JSON line last."""
        out = subprocess.run([str(self.bin / "python"), "-c", code], env=self.env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("ECLUSE_", "AIRFLOW")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")}


@pytest.fixture(scope="module")
def ecluse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ecluse]:
    work = tmp_path_factory.mktemp("ecluse")
    port = servers.free_port()
    env = {**_clean_env(), "ECLUSE_DATA_DIR": str(work / "data"), "ECLUSE_SCHEDULER": "airflow",
           "ECLUSE_ADMIN_USERNAME": ADMIN[0], "ECLUSE_ADMIN_PASSWORD": ADMIN[1],
           "ECLUSE_SECRET_KEY": "airflow-test-key", "ECLUSE_POLL_SECONDS": "0.2",
           "ECLUSE_EXTRA_MODULES": '["tests.integration.server.slow_modules"]',
           "PYTHONPATH": str(REPO)}
    log = (work / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "ecluse.cli", "serve", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, cwd=work, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("ecluse serve did not start: "
                                   + (work / "serve.log").read_text()[-3000:])
            time.sleep(0.2)
        token = httpx.post(f"{url}/api/v1/auth/login", json={"username": ADMIN[0],
                                                             "password": ADMIN[1]}).json()
        with httpx.Client(base_url=url, timeout=30, headers={
                "Authorization": f"Bearer {token['access_token']}"}) as client:
            yield Ecluse(url, env, client, work)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, ecluse: Ecluse) -> Airflow:
    """Airflow with the connection ``ecluse_default`` pointing at the server with a fresh API
    key (from ``ecluse apikey create``), given as an environment variable, never in a file."""
    made = ecluse.cli("apikey", "create", "airflow", "--role", "developer")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    home = tmp_path_factory.mktemp("airflow")
    bin_dir = servers.ensure_airflow_venv()
    host, _, port = ecluse.url.removeprefix("http://").partition(":")
    env = {**_clean_env(), "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
           "AIRFLOW_CONN_ECLUSE_DEFAULT": json.dumps({"conn_type": "http", "host": host,
                                                       "port": int(port), "password": key})}
    (home / "dags").mkdir()
    af = Airflow(bin_dir, env, home / "dags")
    migrated = af.run("db", "migrate")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    return af
