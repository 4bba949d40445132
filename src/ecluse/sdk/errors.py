"""Errors a module or the engine raises. Each names where it happened so a person can act."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def cut(text: str, limit: int = 120) -> str:
    """``text`` shortened to ``limit`` characters for a message."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def shown(value: Any, limit: int = 120) -> str:
    """A value as a message quotes it: text in quotes, at most ``limit`` characters."""
    return repr(cut(value, limit)) if isinstance(value, str) else cut(str(value), limit)


class EcluseError(Exception):
    """Base of every error Ecluse raises on purpose."""


class ConfigError(EcluseError):
    """A node's configuration cannot work with its inputs (unknown column, wrong type...).

    ``field`` is the config key at fault, so the UI can show the message on that field.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ConnectionNotFound(EcluseError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no connection named {name!r} is defined")
        self.name = name


class NodeError(EcluseError):
    """A node failed while the pipeline ran; carries the node id and the cause."""

    def __init__(self, node_id: str, message: str, *, cause: BaseException | None = None,
                 field: str | None = None, sample_rows: list[dict[str, object]] | None = None) -> None:
        super().__init__(f"node {node_id!r}: {message}")
        self.node_id = node_id
        self.reason = message
        self.cause = cause
        self.field = field
        self.sample_rows = sample_rows or []


class RunCancelled(EcluseError):
    def __init__(self) -> None:
        super().__init__("the run was cancelled")


def boolean_misfit(table: str, column: str, column_type: str, input_type: str,
                   cast_to: str) -> ConfigError:
    """A load of booleans into a number column, or of numbers into a boolean one. PostgreSQL
    refuses both; the other loaders refuse them alike rather than store true as 1, or 5 as
    true."""
    return ConfigError(f"column {column!r} of table {table!r} is of type {column_type}, but the "
                       f"incoming {column!r} is {input_type}: a boolean and a number do not mix in "
                       "one column; nothing was changed: cast the column before this node (e.g. a "
                       f"cleaner's cast to {cast_to}) or load with mode 'replace' to recreate the "
                       "table", field="table")


def view_target(table: str, where: str, bases: list[str], *,
                kind: str = "a view") -> ConfigError:
    """A loader's target that is a view: every loader refuses it before it changes anything
    (a view holds no rows of its own; 'replace' must not drop it)."""
    if bases:
        names = " or ".join(repr(b) for b in bases)
        fix = (f"set `table` to the table{'s' if len(bases) > 1 else ''} it reads ({names}) to "
               "load that, or to another name (a missing table is created)")
    else:
        fix = ("set `table` to the table the view reads to load that, or to another name (a "
               "missing table is created)")
    return ConfigError(f"table {table!r} of {where} is {kind}, and a view cannot be loaded: it "
                       f"holds no rows of its own, only a query; nothing was changed: {fix}",
                       field="table")


def too_long(table: str, column: str, column_type: str, input_type: str, value: str, row: int,
             limit: int, *, database: str, widen: Callable[[int], str]) -> ConfigError:
    """A text longer than its char(n)/varchar(n) column holds (``widen``: how to widen the
    column for a text of that length)."""
    length = len(value.rstrip(" "))
    return ConfigError(
        f"column {column!r} of table {table!r} is of type {column_type}, but the incoming "
        f"{column!r} ({input_type}) holds {shown(value, 60)} ({length} characters, row {row}): "
        f"{database} cannot store more than {limit} characters there; nothing was changed: "
        f"shorten it before this node (e.g. a derive's left({column}, {limit})) or filter it "
        f"out, or widen the column ({widen(length)})", field="table")


def size_text(size: float) -> str:
    """A number of bytes for a message: ``512 KB``, ``3.2 MB``, ``1.5 GB``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size / 1e3:.0f} KB"


def disk_full(text: str, path: Any, *, what: str) -> ConfigError | None:
    """The error to show when a library's error ``text`` says the disk is full while it wrote
    ``path`` (a file), else None: the file, and the space left on its folder's filesystem."""
    import os
    import re
    import shutil

    lowered = text.lower()
    if not ("no space left on device" in lowered or "disk is full" in lowered
            or "disk full" in lowered or os.strerror(28).lower() in lowered):
        return None
    named = re.search(r'(?:file|writing) "([^"]+)"', text)
    written = named.group(1) if named else str(path)
    folder = os.path.dirname(os.path.abspath(written))
    try:
        free = f" ({size_text(shutil.disk_usage(folder).free)} free there once the load was undone)"
    except OSError:
        free = ""
    beside = folder == os.path.dirname(os.path.abspath(str(path)))
    fix = ", or give `path` a folder on another disk" if beside else ""
    return ConfigError(f"{what}: the disk is full: no space was left writing {written}, on the "
                       f"filesystem of {folder}{free}; nothing was changed: free some space there"
                       f"{fix}", field="path")
