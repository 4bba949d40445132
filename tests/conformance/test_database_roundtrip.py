"""The shared conformance suite of the database modules: one table of awkward values (nulls
everywhere, unicode, emojis, very long text, extreme numbers, timestamps at DST boundaries) and
an empty table go through each database's loader and come back through its extractor, inside
real pipelines, and must compare exactly - up to the type widening documented for that database
in docs/databases.md (and applied in ``WIDEN`` below, nothing else).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.integration.databases.harness import extract, load

TABLE = 'awkward "table" select'

AWKWARD = pa.table({
    "id": pa.array([1, 2, 3, 4, 5], pa.int64()),
    "text": [None, "ünïcødé ✓ \"quotes\" 'single' \\ back, comma\ttab",
             "emoji 🚀🔥👩‍👩‍👧 and a\nnew line", "x" * 100_000, ""],
    "big": pa.array([None, 2**63 - 1, -(2**63), 0, -1], pa.int64()),
    "real": pa.array([None, 1.7976931348623157e308, -2.2250738585072014e-308, 0.1, -0.0],
                     pa.float64()),
    "amount": pa.array([None, decimal.Decimal("99999999999999.9999"),
                        decimal.Decimal("-0.0001"), decimal.Decimal("0.0000"),
                        decimal.Decimal("12.3400")], pa.decimal128(18, 4)),
    "flag": [None, True, False, True, False],
    "day": pa.array([None, dt.date(2024, 3, 31), dt.date(1970, 1, 1), dt.date(2038, 1, 19),
                     dt.date(2024, 10, 27)], pa.date32()),
    # wall-clock times around Europe's 2024 DST switches (02:30 does not exist on 31 March,
    # happens twice on 27 October), and the epoch
    "ts": pa.array([None, dt.datetime(2024, 3, 31, 1, 59, 59), dt.datetime(2024, 3, 31, 2, 30),
                    dt.datetime(2024, 10, 27, 2, 30, 0, 500000), dt.datetime(1970, 1, 1)],
                   pa.timestamp("us")),
    # bytes that are not UTF-8 text (a NUL, invalid lead bytes), and an empty value
    "blob": pa.array([None, b"\x00\xff\xfe binary", b"", b"plain", b"\x80"], pa.binary()),
    # a column name with quotes, a backquote, spaces and a reserved word
    'we"ird `col` select': [None, "a", "b", "c", "d"],
})

Widen = Callable[[str, list[Any]], list[Any]]


def _same(_: str, values: list[Any]) -> list[Any]:
    return values


def _sqlite(name: str, values: list[Any]) -> list[Any]:
    if name == "flag":  # SQLite has no boolean type: 1/0
        return [None if v is None else bool(v) for v in values]
    return values


def _sqlite_expected(name: str, values: list[Any]) -> list[Any]:
    if name == "amount":  # DECIMAL has NUMERIC affinity: stored as an 8-byte float
        return [None if v is None else float(v) for v in values]
    return values


def _naive_utc(values: list[Any]) -> list[Any]:
    return [None if v is None else v.astimezone(dt.UTC).replace(tzinfo=None) for v in values]


def _clickhouse(name: str, values: list[Any]) -> list[Any]:
    if name == "flag":  # UInt8 before ClickHouse 21.12 (no Bool type)
        return [None if v is None else bool(v) for v in values]
    if name == "ts":  # stored as DateTime64(6, 'UTC') (DateTime('UTC') before 20.1: whole
        # seconds): read back as UTC instants
        return [None if v is None else v.replace(microsecond=0) for v in _naive_utc(values)]
    return values


def _mongodb(name: str, values: list[Any]) -> list[Any]:
    if name == "ts":  # BSON dates are UTC instants with milliseconds
        return _naive_utc(values)
    if name == "day":  # BSON has no date type: midnight UTC
        return [None if v is None else v.date() for v in values]
    if name == "amount":  # Decimal128 read back with the sampled scale
        return [None if v is None else v.quantize(decimal.Decimal("0.0001")) for v in values]
    return values


def _clickhouse_expected(name: str, values: list[Any]) -> list[Any]:
    if name == "ts":  # compared to the second: servers before 20.1 have no DateTime64
        return [None if v is None else v.replace(microsecond=0) for v in values]
    return values


TARGETS: dict[str, tuple[str | None, Callable[[Path], dict[str, Any]], Widen, Widen]] = {
    "postgres": ("postgres_conformance_url",
                 lambda p: {"connection": "test-postgres", "table": TABLE}, _same, _same),
    "duckdb": (None, lambda p: {"path": str(p / "db.duckdb"), "table": TABLE}, _same, _same),
    "sqlite": (None, lambda p: {"path": str(p / "db.sqlite"), "table": TABLE}, _sqlite,
               _sqlite_expected),
    "mysql": ("mysql_url", lambda p: {"connection": "test-mysql", "table": TABLE}, _same, _same),
    "clickhouse": ("clickhouse_url", lambda p: {"connection": "test-clickhouse", "table": TABLE},
                   _clickhouse, _clickhouse_expected),
    "mongodb": ("mongodb_url", lambda p: {"connection": "test-mongodb", "collection": TABLE},
                _mongodb, _same),
}


def _round_trip(kind: str, data: pa.Table, tmp_path: Path, request: pytest.FixtureRequest,
                **load_config: Any) -> pa.Table:
    fixture, config, _, _ = TARGETS[kind]
    if fixture:
        request.getfixturevalue(fixture)
    if kind == "mongodb":
        request.applymarker(pytest.mark.emulator)
    cfg = config(tmp_path)
    result = load(kind, data, tmp_path, chunk=2, **cfg, mode="replace", **load_config)
    assert result.status == "succeeded", result.error
    back, _ = extract(kind, tmp_path, **cfg)
    return back


@pytest.mark.parametrize("kind", list(TARGETS))
def test_awkward_values_round_trip(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    back = _round_trip(kind, AWKWARD, tmp_path, request)
    _, _, widen, expect = TARGETS[kind]
    if "_id" in back.column_names and "_id" not in AWKWARD.column_names:
        back = back.drop_columns(["_id"])  # MongoDB adds its own document id
    assert sorted(back.column_names) == sorted(AWKWARD.column_names)
    back = back.sort_by("id")
    for name in AWKWARD.column_names:
        expected = expect(name, AWKWARD.column(name).to_pylist())
        got = widen(name, back.column(name).to_pylist())
        assert got == expected, f"{kind}: column {name!r}"


@pytest.mark.parametrize("kind", list(TARGETS))
def test_empty_table_round_trip(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    back = _round_trip(kind, AWKWARD.slice(0, 0), tmp_path, request)
    assert back.num_rows == 0
    if kind == "mongodb":  # a collection has no schema: no documents, only the id column
        assert back.column_names == ["_id"]
    else:
        assert back.column_names == AWKWARD.column_names
        assert back.schema.field("blob").type == pa.binary(), kind
