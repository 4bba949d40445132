"""The web UI's own checks, run by `make test`: Vitest + ESLint + tsc, then the browser smoke test
(sign in, build csv → cleaner → aggregate → parquet by drag and drop, configure, save, run, preview)
in Debian's Chromium, installed when missing. Screenshots land in test-artifacts/."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

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


def test_web_smoke_in_browser(web: Path) -> None:
    if not Path("/usr/bin/chromium").exists():
        with servers._lock("apt"):
            if not Path("/usr/bin/chromium").exists():
                servers._apt_install("chromium")
    with servers._lock("web-build"):
        _check(_npm("run", "build"))
        result = subprocess.run(["node", "e2e/smoke.mjs"], cwd=web, capture_output=True, text=True,
                                timeout=240)
    _check(result)
    assert "smoke: 1 passed" in result.stdout
    shots = ROOT / "test-artifacts"
    for name in ("05-config-csv", "08-finished-run", "09-preview"):
        assert (shots / f"{name}.png").stat().st_size > 10_000
