"""The web UI's own checks, run by `make test`: Vitest + ESLint + tsc, then the browser smoke test
(sign in, build csv → cleaner → aggregate → parquet by drag and drop, configure, save, run, preview;
then a run failing at the cleaner, inspected on that node)
in Debian's Chromium, installed when missing. Screenshots land in test-artifacts/."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests import servers

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"


def _npm(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["npm", *args], cwd=WEB, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "CI": "true", "NO_COLOR": "1"})


def _check(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{result.args}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"


@pytest.fixture(scope="module")
def web() -> Path:
    if shutil.which("npm") is None:
        pytest.fail("node/npm missing: the web UI needs Node 20 (see web/README.md)")
    with servers._lock("web-npm"):
        lock = WEB / "package-lock.json"
        stamp = WEB / "node_modules" / ".package-lock.json"
        if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
            # `npm install --no-save`, not `npm ci`: the registry reachable here lacks other
            # platforms' optional packages (rollup's android/darwin builds), so the lock cannot list
            # them and `npm ci` refuses it; this installs the locked versions all the same.
            _check(_npm("install", "--no-save", "--no-audit", "--no-fund"))
    return WEB


def test_web_unit_lint_types(web: Path) -> None:
    _check(_npm("test"))
    _check(_npm("run", "lint"))
    _check(_npm("run", "typecheck"))


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A real `ecluse serve` (built UI, API, workers) in its own data and working folders."""
    work = tmp_path / "server"
    (work / "examples" / "demo").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "demo" / "orders.csv", work / "examples" / "demo")
    port = servers.free_port()
    password = "e2e-password-1"
    env = {**os.environ, "ECLUSE_DATA_DIR": str(work / "data"), "ECLUSE_ADMIN_USERNAME": "admin",
           "ECLUSE_ADMIN_PASSWORD": password}
    for key in ("ECLUSE_DATABASE_URL", "ECLUSE_REDIS_URL"):
        env.pop(key, None)
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen([str(ROOT / ".venv" / "bin" / "ecluse"), "serve", "--port", str(port)],
                               cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        servers.wait_port(port, "ecluse serve", timeout=120)
        yield {"url": f"http://127.0.0.1:{port}", "user": "admin", "password": password,
               "work": str(work)}
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_web_end_to_end_against_the_server(web: Path, live_server: dict[str, str]) -> None:
    if not Path("/usr/bin/chromium").exists():
        with servers._lock("apt"):
            if not Path("/usr/bin/chromium").exists():
                servers._apt_install("chromium")
    with servers._lock("web-build"):
        _check(_npm("run", "build"))
        env = {**os.environ, "API_TARGET": live_server["url"], "ECLUSE_USER": live_server["user"],
               "ECLUSE_PASSWORD": live_server["password"]}
        result = subprocess.run(["node", "e2e/smoke.mjs"], cwd=web, capture_output=True, text=True,
                                timeout=600, env=env)
        _check(result)
        assert "smoke: 1 passed" in result.stdout
        # A run failing mid-chain: the cleaner's cast, shown on the cleaner with its rows.
        failure = subprocess.run(["node", "e2e/failure.mjs"], cwd=web, capture_output=True,
                                 text=True, timeout=300, env=env)
    _check(failure)
    assert "failure: 1 passed" in failure.stdout
    shots = ROOT / "test-artifacts"
    for name in ("05-config-csv", "08-finished-run", "09-preview", "14-failed-node"):
        assert (shots / f"{name}.png").stat().st_size > 10_000
    # The run really happened on the server: the Parquet output is on disk with every group.
    output = pq.read_table(Path(live_server["work"]) / "examples" / "demo" / "out" / "monthly")
    assert output.num_rows > 0 and "total" in output.column_names


def test_ui_is_served_by_the_platform(web: Path, live_server: dict[str, str]) -> None:
    with servers._lock("web-build"):
        if not (web / "dist" / "index.html").exists():
            _check(_npm("run", "build"))
    for path in ("/", "/pipelines", "/pipelines/some-id/edit"):  # client-side routes survive reload
        with urllib.request.urlopen(live_server["url"] + path, timeout=10) as response:
            assert response.status == 200
            assert b'<div id="root">' in response.read()
