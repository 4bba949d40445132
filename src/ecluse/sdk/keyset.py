"""Incremental reads shared by the database extractors (mysql, clickhouse, mongodb): the same
``incremental`` config block as the postgres extractor, keyset positions kept as visible state,
and rows turned into Arrow batches.

State is staged with ``ctx.set_state`` in ``finish`` and saved by the engine only when the whole
run commits, so a failed run reads the same rows again next time.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from ecluse.sdk.config import ModuleConfig, column_field
from ecluse.sdk.context import NodeContext
from ecluse.sdk.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa


class IncrementalConfig(ModuleConfig):
    cursor_column: str = column_field(
        "Column that grows with new or changed rows (an `updated_at` timestamp, an id...). "
        "Its highest value read is kept and bound as `:last_value` on the next run.")
    key_column: str | None = column_field(
        "Unique tie-break column (usually the primary key), so rows sharing a cursor value are "
        "never lost nor read twice; enables keyset paging.", default=None)
    initial_value: str | None = Field(
        None, description="Cursor value to start from on the first run (e.g. `2024-01-01`); "
        "when empty the first run reads everything.")
    page_size: int = Field(100_000, ge=1, le=10_000_000,
                           description="Rows per keyset page (each page is one short query).")


def state_value(value: Any) -> Any:
    """A cursor value as JSON-friendly state: numbers stay numbers, the rest becomes text that
    SQL servers parse back (``2024-03-31 01:59:59.000000``)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):  # its text would not bind back: the same page read forever
        raise ConfigError("a binary column cannot be an incremental cursor or key: its position "
                          "cannot be kept as state; use a number, text or time column",
                          field="incremental")
    return str(value)


INCLUSIVE = "inclusive"
"""The state's flag of a mark set by hand (``ecluse state set … --last-value``): the rows whose
cursor equals ``last_value`` are read too, as from an ``initial_value``. A mark a run saved has
no such flag; the next run saves its own state, without it."""


def saved_position(state: Mapping[str, Any] | None, cursor: tuple[str, str],
                   key: tuple[str, str | None]) -> tuple[Any, Any, bool] | None:
    """The position a saved state gives, as ``(last value, last key, after)``, or None when it
    gives none (no state, no value, or a mark of another cursor column). ``cursor`` and ``key``
    are (the state's name for the column, the configured column): ``("cursor_column",
    "updated_at")``; a state that names no column (written by hand) is taken as the config's.

    ``after`` tells whether the rows at the last value itself were read: a run without a key
    column read every row up to its mark (``cursor > last_value`` next time); a mark set by
    hand (flagged ``inclusive``) or without a key while the config has a key column starts at
    the value itself (``cursor >= last_value``); with a last key, the keyset goes on exactly
    after it (``(cursor, key) > (last_value, last_key)``)."""
    state = state or {}
    cursor_name, cursor_column = cursor
    key_name, key_column = key
    if state.get("last_value") is None or state.get(cursor_name) not in (None, cursor_column):
        return None
    last_key = None
    if key_column is not None and state.get(key_name) in (None, key_column):
        last_key = state.get("last_key")
    if last_key is not None:
        return state["last_value"], last_key, True
    return state["last_value"], None, key_column is None and not state.get(INCLUSIVE)


def start_position(inc: IncrementalConfig | None,
                   previous_state: dict[str, Any] | None) -> tuple[Any, Any, bool]:
    """(last cursor value, last key, whether rows at that value are past: ``>`` rather than
    ``>=``); see ``saved_position``. Without a usable state: ``initial_value``, from it on."""
    if inc is None:
        return None, None, False
    saved = saved_position(previous_state, ("cursor_column", inc.cursor_column),
                           ("key_column", inc.key_column))
    return saved if saved is not None else (inc.initial_value, None, False)


def keyset_condition(inc: IncrementalConfig, cursor_sql: str, key_sql: str | None,
                     position: tuple[Any, Any, bool], placeholder: Callable[[Any], str]) -> str:
    """The WHERE condition that starts at ``position`` (see ``start_position``);
    ``placeholder(value)`` binds a value and returns its placeholder text. A row without a
    cursor value is never read: no position can follow it (MySQL sorts nulls first: a page of
    them used to restart the read forever)."""
    value, key, after = position
    if value is None:
        return f"{cursor_sql} IS NOT NULL"
    if key_sql is not None and key is not None:
        return (f"({cursor_sql} > {placeholder(value)} OR ({cursor_sql} = {placeholder(value)} "
                f"AND {key_sql} > {placeholder(key)}))")
    if after:
        return f"{cursor_sql} > {placeholder(value)}"
    return f"{cursor_sql} >= {placeholder(value)}"  # an initial value, a mark set by hand


def keyset_order(cursor_sql: str, key_sql: str | None) -> str:
    return f" ORDER BY {cursor_sql}" + (f", {key_sql}" if key_sql else "")


def remember(ctx: NodeContext, inc: IncrementalConfig, batch: pa.RecordBatch) -> tuple[Any, Any]:
    """Note the last row of ``batch`` as the position reached (for ``finish``)."""
    cursor = batch.column(batch.schema.get_field_index(inc.cursor_column))[-1].as_py()
    key = None
    if inc.key_column:
        key = batch.column(batch.schema.get_field_index(inc.key_column))[-1].as_py()
    position = (state_value(cursor), state_value(key))
    if position[0] is not None:
        ctx.scratch["position"] = position
    return position


def stage_state(ctx: NodeContext, inc: IncrementalConfig | None, *, succeeded: bool) -> None:
    """In ``finish``: stage the position reached; nothing new keeps the previous state."""
    if inc is None or not succeeded or ctx.mode != "run":
        return
    position = ctx.scratch.get("position")
    if position is None:
        return
    ctx.set_state({"cursor_column": inc.cursor_column, "last_value": position[0],
                   "key_column": inc.key_column, "last_key": position[1]})


def rows_to_batch(rows: Sequence[Sequence[Any]], schema: pa.Schema,
                  convert: Sequence[Callable[[Any], Any] | None] | None = None) -> pa.RecordBatch:
    """Row tuples -> one Arrow batch of ``schema`` (column by column, with optional per-column
    value conversions)."""
    import pyarrow as pa

    columns: Iterable[Sequence[Any]] = zip(*rows, strict=True) if rows else [[] for _ in schema]
    arrays = []
    for i, (values, f) in enumerate(zip(columns, schema, strict=True)):
        fn = convert[i] if convert else None
        if fn is not None:
            values = [None if v is None else fn(v) for v in values]
        arrays.append(pa.array(values, type=f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
