"""File options shared by file modules and engine backends, and atomic publication of
written output (write elsewhere, then move into place)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ecluse.sdk.errors import ConfigError

OnError = Literal["fail", "skip", "quarantine"]
WriteMode = Literal["overwrite", "append", "error_if_exists"]
FileFormat = Literal["csv", "parquet", "json"]


@dataclass(frozen=True)
class CsvReadOptions:
    delimiter: str | None = None
    encoding: str | None = None
    """None: detected from the first file."""
    header: bool = True
    quote: str | None = '"'
    decimal: Literal[".", ","] = "."
    null_values: Sequence[str] = ()
    columns: Mapping[str, str] = field(default_factory=dict)
    on_error: OnError = "fail"
    skip_rows: int = 0


@dataclass(frozen=True)
class ScanReport:
    """What a scan learned after it ran (rows rejected, where they were written)."""

    rows_rejected: int = 0
    rejected_path: str | None = None
    rejected_sample: list[dict[str, object]] = field(default_factory=list)


@dataclass(frozen=True)
class FileWrite:
    """A request to write a relation as files into ``directory`` (a fresh temp folder)."""

    directory: Path
    format: FileFormat
    partition_by: Sequence[str] = ()
    compression: str | None = None
    csv_delimiter: str = ","
    csv_header: bool = True
    single_file_name: str | None = None
    """When set and not partitioned, write exactly one file with this name."""


def expand_paths(pattern: str, *, base_dir: Path | None = None) -> list[str]:
    """Expand a local path or glob; raise a clear error when nothing matches."""
    raw = os.path.expanduser(pattern)
    if base_dir is not None and not os.path.isabs(raw) and "://" not in raw:
        raw = str(base_dir / raw)
    if "://" in raw:
        return [raw]
    if glob.has_magic(raw):
        matches = sorted(p for p in glob.glob(raw, recursive=True) if os.path.isfile(p))
        if not matches:
            raise ConfigError(f"no file matches {pattern!r}", field="path")
        return matches
    path = Path(raw)
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
        if not files:
            raise ConfigError(f"folder {pattern!r} holds no files", field="path")
        return files
    if not path.exists():
        raise ConfigError(f"file {pattern!r} does not exist", field="path")
    return [str(path)]


def make_folder(folder: Path, *, field: str = "path") -> None:
    """``mkdir -p``, whose failure names the part of the path that is a file."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()),
                       folder)
        raise ConfigError(f"cannot create the folder {folder}: {blocker} is a file, not a folder",
                          field=field) from exc


@contextlib.contextmanager
def staged_output(target: Path, mode: WriteMode) -> Iterator[Path]:
    """Yield a fresh staging folder beside ``target``; publish it when the block succeeds.

    ``overwrite`` replaces the target (file or folder) by a rename; ``append`` moves the new
    files into the target folder under unique names; ``error_if_exists`` refuses an existing
    target before anything is written. On any failure the staging folder is removed and the
    target is exactly as it was.
    """
    target = target.absolute()
    if mode == "error_if_exists" and target.exists():
        raise ConfigError(f"{target} already exists and mode is 'error_if_exists'", field="mode")
    make_folder(target.parent)
    staging = target.parent / f".ecluse-staging-{target.name}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
        _publish(staging, target, mode)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(staging: Path, target: Path, mode: WriteMode) -> None:
    produced = [p for p in staging.rglob("*") if p.is_file()]
    single = len(produced) == 1 and produced[0].parent == staging and target.suffix != ""
    if mode == "append" and target.exists():
        if target.is_file():
            raise ConfigError(f"cannot append to {target}: it is a single file; write to a folder",
                              field="mode")
        for path in produced:
            relative = path.relative_to(staging)
            dest = target / relative.parent / f"{relative.stem}-{uuid.uuid4().hex[:8]}{relative.suffix}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
        return
    source = produced[0] if single else staging
    if not target.exists():
        os.replace(source, target)
        if source is staging:
            staging.mkdir()  # so the cleanup in staged_output has something to remove
        return
    # Overwrite: move the old one aside, move the new one in, then drop the old one.
    backup = target.parent / f".ecluse-old-{target.name}-{uuid.uuid4().hex[:8]}"
    os.replace(target, backup)
    try:
        os.replace(source, target)
    except BaseException:
        os.replace(backup, target)
        raise
    if source is staging:
        staging.mkdir()
    if backup.is_dir():
        shutil.rmtree(backup, ignore_errors=True)
    else:
        backup.unlink(missing_ok=True)


def directory_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
