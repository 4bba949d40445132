"""Fixtures of the server tests: every API test runs against SQLite and real PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ecluse.api import create_app

ADMIN = ("admin", "admin-password-1")
PASSWORD = "role-password-1"
TERMINAL = {"succeeded", "failed", "cancelled"}


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture
def settings(database_url: str | None, tmp_path: Path) -> dict[str, Any]:
    return {"data_dir": tmp_path / "data", "database_url": database_url,
            "secret_key": "test-secret-key", "admin_username": ADMIN[0],
            "admin_password": ADMIN[1], "poll_seconds": 0.1, "heartbeat_seconds": 0.5,
            "scheduler": "off", "retry_backoff_seconds": 0.2, "cancel_grace_seconds": 5,
            "extra_modules": ["tests.integration.server.slow_modules"],
            "login_attempts": 5}


class Api:
    """A TestClient with helpers: log in as a role, wait for a run."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self._tokens: dict[str, str] = {}

    @property
    def app(self) -> FastAPI:
        app: FastAPI = self.client.app  # type: ignore[assignment]
        return app

    def login(self, username: str, password: str) -> dict[str, Any]:
        r = self.client.post("/api/v1/auth/login", json={"username": username,
                                                         "password": password})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def headers(self, role: str = "admin") -> dict[str, str]:
        if role not in self._tokens:
            if role == "admin":
                token = self.login(*ADMIN)["access_token"]
            else:
                r = self.client.post("/api/v1/users", headers=self.headers("admin"),
                                     json={"username": role, "password": PASSWORD, "role": role})
                assert r.status_code == 201, r.text
                token = self.login(role, PASSWORD)["access_token"]
            self._tokens[role] = token
        return {"Authorization": f"Bearer {self._tokens[role]}"}

    def request(self, method: str, url: str, role: str = "admin", **kw: Any) -> Any:
        return self.client.request(method, url, headers={**self.headers(role),
                                                         **kw.pop("headers", {})}, **kw)

    def get(self, url: str, role: str = "admin", **kw: Any) -> Any:
        return self.request("GET", url, role, **kw)

    def post(self, url: str, role: str = "admin", **kw: Any) -> Any:
        return self.request("POST", url, role, **kw)

    def put(self, url: str, role: str = "admin", **kw: Any) -> Any:
        return self.request("PUT", url, role, **kw)

    def create_pipeline(self, doc: dict[str, Any]) -> dict[str, Any]:
        r = self.post("/api/v1/pipelines", json=doc)
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    def start_run(self, pipeline_id: str, parameters: dict[str, Any] | None = None
                  ) -> dict[str, Any]:
        r = self.post(f"/api/v1/pipelines/{pipeline_id}/runs",
                      json={"parameters": parameters or {}})
        assert r.status_code == 202, r.text
        body: dict[str, Any] = r.json()
        return body

    def wait_run(self, run_id: str, until: Callable[[dict[str, Any]], bool] | None = None,
                 deadline: float = 120.0) -> dict[str, Any]:
        """Poll until the run is terminal (or ``until`` holds); the deadline only stops a
        hung test, it asserts nothing about speed."""
        check = until or (lambda run: run["status"] in TERMINAL)
        end = time.monotonic() + deadline
        while True:
            run: dict[str, Any] = self.get(f"/api/v1/runs/{run_id}").json()
            if check(run):
                return run
            if time.monotonic() > end:
                raise AssertionError(f"run never reached the expected state: {run}")
            time.sleep(0.1)

    def runs_of(self, pipeline_id: str) -> list[dict[str, Any]]:
        r = self.get(f"/api/v1/runs?pipeline_id={pipeline_id}&sort=created_at&limit=500")
        items: list[dict[str, Any]] = r.json()["items"]
        return items


@pytest.fixture
def make_api(settings: dict[str, Any]) -> Iterator[Callable[..., Api]]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> Api:
        client = TestClient(create_app(**{**settings, **overrides}))
        client.__enter__()
        clients.append(client)
        return Api(client)

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()


def csv_pipeline(tmp_path: Path, name: str = "orders", rows: int = 5) -> dict[str, Any]:
    src = tmp_path / f"{name}.csv"
    src.write_text("id,amount\n" + "".join(f"{i},{i * 1.5}\n" for i in range(rows)))
    return {"name": name, "nodes": [
        {"id": "src", "type": "extractor", "module": "csv", "config": {"path": str(src)}},
        {"id": "out", "type": "loader", "module": "parquet",
         "config": {"path": str(tmp_path / "out" / f"{name}.parquet"), "mode": "overwrite"}}],
        "edges": [{"source": "src", "target": "out"}]}


def gated_pipeline(tmp_path: Path, *, gate: Path | None = None, fail_marker: Path | None = None,
                   name: str = "gated", **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"batches": 3, "rows_per_batch": 10}
    if gate is not None:
        config["gate"] = str(gate)
    if fail_marker is not None:
        config["fail_marker"] = str(fail_marker)
    return {"name": name, "nodes": [
        {"id": "src", "type": "extractor", "module": "gated", "config": config},
        {"id": "out", "type": "loader", "module": "parquet",
         "config": {"path": str(tmp_path / "dest" / f"{name}.parquet"), "mode": "overwrite"}}],
        "edges": [{"source": "src", "target": "out"}], **extra}
