"""duckdb and sqlite loaders on a disk that fills up: the destination is left as it was (no
file when there was none), and the message says the disk is full, naming the file and the
space left. The disk is a real 3 MB filesystem (a tmpfs, which needs root to mount)."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from ecluse.engine.run import RunResult
from tests.integration.databases.harness import load


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a 3 MB filesystem of its own (mounting one needs root, as the test machines
    give; a machine without it fails here, saying so)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    assert shutil.which("mount") is not None, "the full-disk tests need `mount` (util-linux)"
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)],
                             capture_output=True, text=True, check=False)
    assert mounted.returncode == 0, (f"the full-disk tests mount a 3 MB tmpfs, which needs root: "
                                     f"{mounted.stderr.strip()}")
    try:
        yield disk
    finally:  # lazily when a file is still open (it is unmounted once closed)
        if subprocess.run(["umount", str(disk)], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True, check=False)


def fill(disk: Path) -> Path:
    """Fill the disk up to its last byte."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
        try:
            while True:
                f.write(b"\0")
        except OSError:
            pass
    return filler


def rows(n: int, start: int = 0) -> pa.Table:
    return pa.table({"id": pa.array(range(start, start + n), pa.int64()),
                     "text": [f"row number {i} with some padding text" for i in range(n)]})


def refused_for_a_full_disk(result: RunResult, path: Path, disk: Path) -> None:
    assert result.status == "failed" and result.error is not None
    assert result.error.field == "path"
    reason = result.error.reason
    assert str(path) in reason.split(":")[0], reason
    assert f"the disk is full: no space was left writing {path}" in reason, reason
    assert f"on the filesystem of {disk} (" in reason and " free there " in reason, reason
    assert reason.endswith("nothing was changed: free some space there, or give `path` a "
                           "folder on another disk"), reason


@pytest.mark.parametrize(("kind", "n", "filled"), [
    ("duckdb", 10, True),  # no room to create the file: the ATTACH fails
    ("duckdb", 100_000, False),  # the rows fit in memory, their log does not: the COMMIT fails
    ("duckdb", 400_000, False),  # full row groups are written into the file during the insert
    ("sqlite", 10, True),
    ("sqlite", 100_000, False),
])
def test_a_full_disk_leaves_no_new_file_and_says_so(kind: str, n: int, filled: bool,
                                                    small_disk: Path, tmp_path: Path) -> None:
    """A 0-byte (or header-only) file was left behind; a COMMIT that failed was reported as
    the ROLLBACK's "cannot rollback - no transaction is active"."""
    if filled:
        fill(small_disk)
    path = small_disk / f"new.{kind}"
    result = load(kind, rows(n), tmp_path, chunk=50_000, path=str(path), table="t")
    refused_for_a_full_disk(result, path, small_disk)
    assert sorted(p.name for p in small_disk.iterdir()) == (["filler"] if filled else [])


def tables(kind: str, path: Path) -> dict[str, list[tuple[object, ...]]]:
    if kind == "sqlite":
        with contextlib.closing(sqlite3.connect(path)) as con:
            names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            return {t: sorted(con.execute(f'SELECT * FROM "{t}"')) for t in names}
    with duckdb.connect(str(path), read_only=True) as con:
        names = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
        return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in names}


@pytest.mark.parametrize(("kind", "n"), [("duckdb", 100_000), ("duckdb", 400_000),
                                         ("sqlite", 100_000)])
@pytest.mark.parametrize("table", ["keep", "new"])
def test_a_full_disk_leaves_an_existing_file_as_it_was(kind: str, n: int, table: str,
                                                       small_disk: Path, tmp_path: Path) -> None:
    path = small_disk / f"old.{kind}"
    first = load(kind, rows(3), tmp_path, path=str(path), table="keep")
    assert first.status == "succeeded", first.error
    before = tables(kind, path)
    result = load(kind, rows(n, start=10), tmp_path, chunk=50_000, path=str(path), table=table)
    refused_for_a_full_disk(result, path, small_disk)
    assert tables(kind, path) == before
    assert sorted(p.name for p in small_disk.iterdir()) == [path.name]
