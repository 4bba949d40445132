"""Errors a module or the engine raises. Each names where it happened so a person can act."""

from __future__ import annotations

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
