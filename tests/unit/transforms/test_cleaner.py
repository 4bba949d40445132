"""cleaner: the steps whose engines differ in their own functions (regex replacement syntax,
text casts, title case) give the same rows on DuckDB and Polars."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers import chain, node, run_doc, transform_table
from tests.unit.transforms.util import ENGINES, rows

UTC = dt.UTC


@pytest.mark.parametrize("engine", ENGINES)
def test_replace_takes_backslash_group_references_and_keeps_dollars(engine: str) -> None:
    t = pa.table({"d": ["05/01/2024", "on 5/1/24, 6/2/24", None, "none"],
                  "p": ["12.50 EUR", "x 3.1 EUR", "$ EUR", "1.2"]})
    out = rows("cleaner", t, engine=engine, replace=[
        {"column": "d", "pattern": r"(\d+)/(\d+)/(\d+)", "replacement": r"\3-\2-\1"},
        {"column": "p", "pattern": r"(\d+)\.(\d+) EUR", "replacement": r"$\1,\2 (\0) \\$1 \10"},
        {"column": "p", "pattern": r"^\$ ", "replacement": "$$ "}])
    assert out == [
        {"d": "2024-01-05", "p": r"$12,50 (12.50 EUR) \$1 120"},
        {"d": "on 24-1-5, 24-2-6", "p": r"x $3,1 (3.1 EUR) \$1 30"},
        {"d": None, "p": "$$ EUR"},
        {"d": "none", "p": "1.2"}]


@pytest.mark.parametrize("engine", ENGINES)
def test_replace_with_a_missing_group_leaves_the_value_as_is(engine: str) -> None:
    """DuckDB (RE2) does not rewrite a value whose replacement names a group the pattern lacks."""
    t = pa.table({"s": ["ab", "b"]})
    out = rows("cleaner", t, engine=engine, replace=[
        {"column": "s", "pattern": "(a)", "replacement": r"\2"}])
    assert out == [{"s": "ab"}, {"s": "b"}]


CASTS: dict[str, list[tuple[str | None, Any]]] = {
    "date": [("2024-01-05", dt.date(2024, 1, 5)), ("2024-1-5", dt.date(2024, 1, 5)),
             (" 2024/01/05", dt.date(2024, 1, 5)), ("2024-02-29", dt.date(2024, 2, 29)),
             ("2024-01-05 10:00:00", dt.date(2024, 1, 5)), ("0024-01-05", dt.date(24, 1, 5)),
             (None, None)],
    "timestamp": [("2024-01-05", dt.datetime(2024, 1, 5)),
                  ("2024-01-05 10:00", dt.datetime(2024, 1, 5, 10)),
                  ("2024-01-05T10:00:30", dt.datetime(2024, 1, 5, 10, 0, 30)),
                  ("2024-01-05 10:00:30.1234567", dt.datetime(2024, 1, 5, 10, 0, 30, 123456)),
                  ("2024-01-05 10:00:00+02:00", dt.datetime(2024, 1, 5, 10)),
                  ("2024-01-05T10:00:00Z", dt.datetime(2024, 1, 5, 10)),
                  ("2024/1/5 1:2:3", dt.datetime(2024, 1, 5, 1, 2, 3)),
                  ("2024-12-31 24:00:00", dt.datetime(2025, 1, 1)), (None, None)],
    "timestamptz": [("2024-01-05", dt.datetime(2024, 1, 5, tzinfo=UTC)),
                    ("2024-01-05 10:00:00", dt.datetime(2024, 1, 5, 10, tzinfo=UTC)),
                    ("2024-01-05 10:00:00+02", dt.datetime(2024, 1, 5, 8, tzinfo=UTC)),
                    ("2024-01-05 10:00:00.5-05:30", dt.datetime(2024, 1, 5, 15, 30, 0, 500000,
                                                                tzinfo=UTC)),
                    ("2024-01-05 00:30:00+0100", dt.datetime(2024, 1, 4, 23, 30, tzinfo=UTC)),
                    ("2024-01-05 10:00:00 UTC", dt.datetime(2024, 1, 5, 10, tzinfo=UTC)),
                    (None, None)],
    "time": [("10:00", dt.time(10)), ("10:00:30", dt.time(10, 0, 30)),
             ("1:2:3.25", dt.time(1, 2, 3, 250000)), ("23:59:59.9999999", dt.time(23, 59, 59, 999999)),
             ("2024-01-05 10:00:00", dt.time(10)), (None, None)],
    "boolean": [("true", True), ("false", False), ("t", True), ("f", False), ("1", True),
                ("0", False), ("yes", True), ("no", False), ("Y", True), ("n", False),
                ("TRUE", True), ("No", False), (None, None)],
}
BAD: dict[str, list[str]] = {
    "date": ["2024-02-30", "05/01/2024", "20240105", "2024-13-01", "soon", ""],
    "timestamp": ["2024-01-05 25:00", "2024-01-05 10:60", "2024-01-05 10", "05/01/2024 10:00",
                  "2024-01-05 10:00 x", "later"],
    "timestamptz": ["2024-02-30 10:00:00+02", "2024-01-05 10:00:00 +02", "later"],
    "time": ["25:00", "10:60", "10", "noon", "10:00 AM"],
    "boolean": ["on", "off", "2", " true", "tru", ""],
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("target", list(CASTS))
def test_text_casts(engine: str, target: str) -> None:
    good, expected = zip(*CASTS[target], strict=True)
    t = pa.table({"x": pa.array(good, pa.string())})
    for mode in ("fail", "null"):
        out = rows("cleaner", t, engine=engine, cast={"x": target}, on_cast_error=mode)
        assert [r["x"] for r in out] == list(expected), mode
    bad = pa.table({"x": pa.array([*good, *BAD[target]], pa.string())})
    out = rows("cleaner", bad, engine=engine, cast={"x": target}, on_cast_error="null")
    assert [r["x"] for r in out] == [*expected, *[None] * len(BAD[target])]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("target", "value"), [("date", "2024-02-30"), ("timestamp", "later"),
                                               ("timestamptz", "2024-01-05 25:00:00"),
                                               ("time", "noon"), ("boolean", "on")])
def test_a_text_cast_that_fails_names_the_column_and_value(workdir: Path, engine: str,
                                                           target: str, value: str) -> None:
    good = next(v for v, _ in CASTS[target] if v is not None)
    pq.write_table(pa.table({"id": [1, 2, 3], "x": [good, value, None]}), workdir / "in.parquet")
    doc = chain(node("src", "extractor", "parquet", path="in.parquet"),
                node("clean", "transformer", "cleaner", cast={"x": target}),
                node("out", "loader", "parquet", path="out.parquet"))
    error = run_doc(doc, engine=engine).to_dict()["error"]
    assert error["node_id"] == "clean" and error["field"] == "cast"
    assert f"cannot cast column 'x' to {target}: {value!r} is not a valid {target}" \
        in error["message"]
    assert error["sample_rows"] == [{"x": value, "id": 2}]
    assert not (workdir / "out.parquet").exists()


def _variants() -> list[str]:
    dates = ["2024-01-05", "2024-1-5", "2024/01/05", "2024 01 05", "24-01-05", "2024-02-30",
             "2023-02-29", "2024-02-29", "2024-13-01", "2024-01/05", "20240105", "2024.01.05"]
    seps = ["", " ", "T", "  ", "\t", "T ", " T", "x"]
    times = ["", "10:00", "1:2", "10:00:30", "10:00:30.5", "10:00:30.", "23:59:59.1234567",
             "24:00:00", "24:00", "24:00:01", "25:00", "10:60", "10:00:60", "10", "100:00"]
    zones = ["", "Z", "+02", "-0530", "+02:30", "+02:30:15", " UTC", " utc", "  UTC", " +02",
             "+2", "Z x", "x"]
    ends = ["", " ", "\t"]
    out = {f"{lead}{d}{s}{t}{z}{e}" for lead, d, s, t, z, e in itertools.product(
        ["", " "], dates, seps, times, zones, ends) if (s and t) or not (s or t or z)}
    out |= {f"{lead}{t}{z}{e}" for lead, t, z, e in itertools.product(["", " "], times, zones, ends)}
    out |= {f"{d}{tail}" for d, tail in itertools.product(dates, ["x", "2", ".", "Z", " BC", "+02"])}
    out |= {"10:00:", "10:00:x", "10:00:001", "10:00:00:00", "10:00:00,5", "10:000", "10:00x",
            "T10:00", "\n10:00", "-1:00", "", " ", "x", "2024", "2024-01", "10:00 10:00"}
    return sorted(out)


def _as_numbers(values: pa.ChunkedArray) -> list[Any]:
    """Dates, times and timestamps as their counts of days or microseconds (a DuckDB time may
    be 24:00:00, which Python cannot hold)."""
    if pa.types.is_time(values.type):
        values = values.cast(pa.time64("us"))
    elif pa.types.is_timestamp(values.type):
        values = values.cast(pa.timestamp("us", values.type.tz))
    if pa.types.is_boolean(values.type):
        return values.to_pylist()
    return values.cast(pa.int32() if pa.types.is_date32(values.type) else pa.int64()).to_pylist()


@pytest.mark.parametrize("target", list(CASTS))
def test_text_casts_agree_with_duckdb_on_many_forms(target: str) -> None:
    """Typical and odd texts (separators, zones, out-of-range fields, trailing text): what
    DuckDB reads, Polars reads the same, but a time of 24:00:00 (Polars has none)."""
    words = ["true", "FALSE", "Yes", "nO", "t", "F", "1", "0", "on", "2", " y", "n ", "", "yes!"]
    values = words if target == "boolean" else _variants()
    t = pa.table({"x": values})
    got = {e: _as_numbers(transform_table("cleaner", t, engine=e, cast={"x": target},
                                          on_cast_error="null").column("x")) for e in ENGINES}
    midnight_end = 86_400_000_000 if target == "time" else None
    differ = [(v, d, p) for v, d, p in zip(values, got["duckdb"], got["polars"], strict=True)
              if d != p and not (d == midnight_end and p is None)]
    assert not differ, (len(differ), differ[:20])


@pytest.mark.parametrize("engine", ENGINES)
def test_title_case(engine: str) -> None:
    values = ["jean-pierre o'neil", "ÉLODIE  DE   LA FONTAINE", "  élan vital ", "", None,
              "1st PLACE", "ñandú àÉ", "mcDONALD's\tbar"]
    out = rows("cleaner", pa.table({"s": values}), engine=engine, case={"s": "title"})
    assert [r["s"] for r in out] == [
        "Jean-pierre O'neil", "Élodie  De   La Fontaine", "  Élan Vital ", "", None,
        "1st Place", "Ñandú Àé", "Mcdonald's\tbar"]


def test_every_mistyped_column_is_named_in_one_message() -> None:
    """validate reports all of them at once, not one per fix-and-rerun."""
    from ecluse.sdk.errors import ConfigError

    t = pa.table({"email": ["a"], "amount": [1.0], "country": ["FR"]})
    with pytest.raises(ConfigError) as caught:
        transform_table("cleaner", t, case={"emial": "lower"}, cast={"amout": "float64"},
                        fill_nulls={"contry": "XX"}, drop_nulls=["email"])
    assert caught.value.field == "case"
    assert ("columns 'emial', 'amout', 'contry' do not exist in the input; did you mean "
            "'email' for 'emial', 'amount' for 'amout', 'country' for 'contry'?") in str(caught.value)


@pytest.mark.parametrize(("column", "fill"), [("qty", "none"), ("qty", True), ("day", "soon"),
                                              ("ok", "yes")])
def test_a_fill_value_the_column_cannot_hold_is_refused_before_the_run(column: str,
                                                                      fill: object) -> None:
    from ecluse.sdk.errors import ConfigError

    t = pa.table({"qty": [1, None], "day": [dt.date(2024, 1, 1), None], "ok": [True, None]})
    with pytest.raises(ConfigError, match=f"cannot fill column '{column}'"):
        transform_table("cleaner", t, fill_nulls={column: fill})
    assert transform_table("cleaner", t, fill_nulls={"qty": 0, "day": "2024-02-01",
                                                     "ok": False}).to_pylist()[1] == {
        "qty": 0, "day": dt.date(2024, 2, 1), "ok": False}
