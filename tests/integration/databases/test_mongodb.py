"""mongodb extractor and loader. EMULATOR-BACKED: no real mongod can be installed here, so these
run against secantusdb, a MongoDB wire-protocol server written in Python (see docs/databases.md).
"""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pymongo
import pytest
from bson import Decimal128, ObjectId

from ecluse.engine.events import RunEvent
from ecluse.engine.plan import compile_pipeline
from ecluse.engine.run import RunOptions, run_pipeline
from ecluse.engine.state import FileStateStore, MemoryStateStore
from tests import servers
from tests.helpers import state_set
from tests.integration.databases.harness import REGISTRY, extract, load, pipeline_file

pytestmark = pytest.mark.emulator
CONN = "test-mongodb"
COLL = 'odd "name" select.é'


def db(url: str) -> Any:
    client: Any = pymongo.MongoClient(url, tz_aware=True)
    return client.get_default_database()


def test_types_flattening_and_projection(mongodb_url: str, tmp_path: Path) -> None:
    oid = ObjectId()
    db(mongodb_url).docs.insert_many([
        {"_id": oid, "name": "héllo 🚀", "n": 1, "price": Decimal128("12.345"),
         "at": dt.datetime(2024, 3, 31, 1, 59, 59, 123000, tzinfo=dt.UTC),
         "address": {"city": "Lyon", "geo": {"lat": 45.75}}, "tags": ["a", "b"], "raw": b"\x00\xff"},
        {"_id": 2, "name": None, "n": 2.5, "address": {"city": "Nice"}},
    ])
    back, _ = extract("mongodb", tmp_path, connection=CONN, collection="docs")
    types = {f.name: str(f.type) for f in back.schema}
    assert types == {"_id": "string", "name": "string", "n": "double",
                     "price": "decimal128(38, 3)", "at": "timestamp[us, tz=UTC]",
                     "address.city": "string", "address.geo.lat": "double", "tags": "string",
                     "raw": "binary"}
    rows = {r["_id"]: r for r in back.to_pylist()}
    first = rows[str(oid)]
    assert first["price"] == decimal.Decimal("12.345") and first["tags"] == '["a", "b"]'
    assert first["at"] == dt.datetime(2024, 3, 31, 1, 59, 59, 123000, tzinfo=dt.UTC)
    assert first["address.geo.lat"] == 45.75 and first["raw"] == b"\x00\xff"
    assert rows["2"]["n"] == 2.5 and rows["2"]["address.geo.lat"] is None
    kept, _ = extract("mongodb", tmp_path, connection=CONN, collection="docs", flatten=False,
                      projection={"address": 1})
    assert set(kept.column_names) == {"_id", "address"}
    assert '"city": "Lyon"' in kept.sort_by("_id").column("address").to_pylist()[1]


def test_filter_parameters_and_pipeline(mongodb_url: str, tmp_path: Path) -> None:
    db(mongodb_url).p.insert_many([{"_id": i, "g": i % 2, "v": i} for i in range(6)])
    back, _ = extract("mongodb", tmp_path, connection=CONN, collection="p",
                      filter={"v": {"$gte": ":min_id"}}, parameters={"min_id": 4})
    assert sorted(back.column("_id").to_pylist()) == [4, 5]
    back, _ = extract("mongodb", tmp_path, connection=CONN, collection="p", pipeline=[
        {"$group": {"_id": "$g", "total": {"$sum": "$v"}}}, {"$sort": {"_id": 1}}])
    assert back.sort_by("_id").column("total").to_pylist() == [6, 9]
    _, result = extract("mongodb", tmp_path, expect_ok=False, connection=CONN, collection="p",
                        pipeline=[{"$match": {"g": ":min_di"}}])
    assert result.error is not None and result.error.field == "pipeline"
    assert "the pipeline uses :min_di, but no such parameter was given. Did you mean 'min_id'?" \
        in result.error.reason


def test_load_modes_round_trip(mongodb_url: str, tmp_path: Path) -> None:
    data = pa.table({"id": [1, 2], "name": ["a", "ü 🚀"], "address.city": ["Lyon", None],
                     "amount": pa.array([decimal.Decimal("1.50"), None], pa.decimal128(10, 2)),
                     "at": [dt.datetime(2024, 3, 31, 2, 30), None]})
    run = lambda d, **kw: load("mongodb", d, tmp_path, connection=CONN, collection=COLL, **kw)  # noqa: E731
    result = run(data)
    assert result.status == "succeeded", result.error
    stored = db(mongodb_url)[COLL].find_one({"id": 1})
    assert stored["address"] == {"city": "Lyon"} and stored["amount"] == Decimal128("1.50")
    assert stored["at"] == dt.datetime(2024, 3, 31, 2, 30, tzinfo=dt.UTC)
    assert run(data, mode="insert").status == "succeeded"
    assert db(mongodb_url)[COLL].count_documents({}) == 4
    result = run(data, mode="replace")
    assert result.status == "succeeded", result.error
    assert result.nodes["out"].extra["rows_deleted"] == 4
    assert db(mongodb_url)[COLL].count_documents({}) == 2
    result = run(pa.table({"id": [2, 3], "name": ["B", "c"]}), mode="upsert", keys=["id"])
    assert result.status == "succeeded", result.error
    extra = result.nodes["out"].extra
    assert (extra["rows_inserted"], extra["rows_updated"]) == (1, 1)
    names = {d["id"]: d["name"] for d in db(mongodb_url)[COLL].find()}
    assert names == {1: "a", 2: "B", 3: "c"}


def test_partial_failures_are_counted(mongodb_url: str, tmp_path: Path) -> None:
    db(mongodb_url).dups.insert_one({"_id": 4})
    result = load("mongodb", pa.table({"_id": [1, 2, 3, 4]}), tmp_path, connection=CONN,
                  collection="dups", batch_size=2)
    assert result.status == "failed" and result.error is not None
    assert "1 document(s) were refused" in result.error.reason
    assert "3 inserted" in result.error.reason
    assert "row 4: " in result.error.reason  # its place in the input, not in its bulk write


@pytest.mark.parametrize("mode", ["insert", "replace", "upsert"])
def test_failure_mid_load_leaves_the_collection_unchanged(mode: str, mongodb_url: str,
                                                          tmp_path: Path) -> None:
    assert load("mongodb", pa.table({"id": [1, 2]}), tmp_path, connection=CONN,
                collection=COLL).status == "succeeded"
    keys = {"keys": ["id"]} if mode == "upsert" else {}
    result = load("mongodb", pa.table({"id": list(range(10, 20))}), tmp_path, fail=True,
                  connection=CONN, collection=COLL, mode=mode, **keys)
    assert result.status == "failed"
    assert result.error is not None and "source connection lost" in result.error.reason
    assert sorted(d["id"] for d in db(mongodb_url)[COLL].find()) == [1, 2]
    assert db(mongodb_url).list_collection_names() == [COLL]


def test_incremental_keyset_and_state(mongodb_url: str, tmp_path: Path) -> None:
    coll = db(mongodb_url).ev
    coll.insert_many([{"_id": i, "at": dt.datetime(2024, 1, 1 + i // 4, tzinfo=dt.UTC)}
                      for i in range(10)])
    coll.insert_many([{"_id": 20 + i, "at": None} for i in range(4)] + [{"_id": 30}])  # no cursor
    state = MemoryStateStore()
    inc = {"cursor_field": "at", "page_size": 3}
    back, _ = extract("mongodb", tmp_path, state=state, connection=CONN, collection="ev",
                      incremental=inc)
    assert sorted(int(v) for v in back.column("_id").to_pylist()) == list(range(10))
    saved = state.get("p-read", "src")
    assert saved is not None and "2024-01-03" in saved["last_value"] and saved["last_key"] == "9"
    back, _ = extract("mongodb", tmp_path, state=state, connection=CONN, collection="ev",
                      incremental=inc)
    assert back.num_rows == 0
    coll.insert_many([{"_id": 10, "at": dt.datetime(2024, 1, 3, tzinfo=dt.UTC)},
                      {"_id": 11, "at": dt.datetime(2024, 2, 1, tzinfo=dt.UTC)}])
    back, _ = extract("mongodb", tmp_path, state=state, connection=CONN, collection="ev",
                      incremental=inc)
    assert sorted(int(v) for v in back.column("_id").to_pylist()) == [10, 11]


def test_incremental_marks_set_by_hand(mongodb_url: str, tmp_path: Path) -> None:
    """`ecluse state set P NODE --last-value 2024-01-01` failed: a plain value was parsed as
    extended JSON. A mark in extended JSON was ignored on a node without state (it names no
    `cursor_field`), and over a run's state the documents at the mark were skipped (`$gt`). A
    plain value is read as the type the field holds (a date, a number, an ObjectId, text)."""
    oids = [ObjectId() for _ in range(5)]
    db(mongodb_url).ev.insert_many([
        {"_id": i, "at": dt.datetime(2024, 1, 1 + i // 4, tzinfo=dt.UTC), "n": i * 1.5,
         "name": f"k{i:02d}", "o": oids[i % 5]} for i in range(10)])
    data = tmp_path / "data"
    state = FileStateStore(data / "state")

    def ids(inc: dict[str, Any], expect_ok: bool = True) -> Any:
        back, result = extract("mongodb", tmp_path, state=state, connection=CONN,
                               collection="ev", incremental=inc, expect_ok=expect_ok)
        return sorted(int(v) for v in back.column("_id").to_pylist()) if expect_ok else result

    by_date = {"cursor_field": "at", "page_size": 3}
    assert state_set(data, "p-read", "src", "--last-value", "2024-01-02").exit_code == 0
    assert ids(by_date) == list(range(4, 10))
    assert ids(by_date) == []  # the run's own mark: nothing read twice
    path = pipeline_file(tmp_path, "mongodb", connection=CONN, collection="ev", incremental=by_date)
    assert state_set(data, path, "src", "--last-value", "2024-01-03").exit_code == 0
    assert state.get("p-read", "src") == {"cursor_field": "at", "key_field": None,
                                          "last_value": "2024-01-03", "last_key": None,
                                          "inclusive": True}
    assert ids(by_date) == [8, 9]
    state.delete("p-read", "src")
    mark = '{"$date": "2024-01-03T00:00:00Z"}'
    assert state_set(data, "p-read", "src", "--last-value", mark).exit_code == 0
    assert ids(by_date) == [8, 9]
    for inc, mark, expected in (({"cursor_field": "n"}, "10.5", [7, 8, 9]),
                                ({"cursor_field": "n"}, "12", [8, 9]),
                                ({"cursor_field": "name"}, "k05", [5, 6, 7, 8, 9]),
                                ({"cursor_field": "o"}, str(oids[3]), [3, 4, 8, 9])):
        state.delete("p-read", "src")
        assert state_set(data, "p-read", "src", "--last-value", mark).exit_code == 0
        assert ids(inc) == expected, (inc, mark)
    assert state_set(data, "p-read", "src", "--last-value", "yesterday").exit_code == 0
    error = ids(by_date, expect_ok=False).error
    assert error is not None and error.field == "incremental"
    assert "'yesterday' in the node's saved state is not a date" in error.reason


def test_decimals_keep_every_digit(mongodb_url: str, tmp_path: Path) -> None:
    tiny = Decimal128("1.0000000000000000000001")  # scale 22: more than 18
    db(mongodb_url).dec.insert_many([{"_id": 1, "x": tiny}, {"_id": 2, "x": Decimal128("-12.5")}])
    back, _ = extract("mongodb", tmp_path, connection=CONN, collection="dec")
    assert str(back.schema.field("x").type) == "decimal128(38, 22)"
    assert back.sort_by("_id").column("x").to_pylist() == [
        decimal.Decimal("1.0000000000000000000001"), decimal.Decimal("-12.5")]
    # more than 38 digits in all, NaN, Infinity: no Arrow decimal holds them, their text does
    db(mongodb_url).wide.insert_many([{"_id": 1, "x": Decimal128("1E+40")},
                                      {"_id": 2, "x": Decimal128("0.000001")},
                                      {"_id": 3, "x": Decimal128("NaN")}])
    back, _ = extract("mongodb", tmp_path, connection=CONN, collection="wide")
    assert back.sort_by("_id").column("x").to_pylist() == ["1E+40", "0.000001", "NaN"]


@pytest.mark.parametrize(("late", "shown"), [(Decimal128("1.000001"), "1.000001"), (2.5, "2.5")])
def test_a_value_outside_the_sampled_type_is_named(late: Any, shown: str, mongodb_url: str,
                                                   tmp_path: Path) -> None:
    first = Decimal128("1.5") if isinstance(late, Decimal128) else 1
    db(mongodb_url).late.insert_many([{"_id": i, "x": first} for i in range(3)]
                                     + [{"_id": 9, "x": late}])
    _, result = extract("mongodb", tmp_path, expect_ok=False, connection=CONN,
                        collection="late", sample_size=2)
    assert result.error is not None and result.error.field == "sample_size"  # 2.5 is never 2
    assert f"field 'x' holds {shown}, which does not fit" in result.error.reason
    assert "raise `sample_size`" in result.error.reason


def test_a_missing_collection_is_an_error_with_a_suggestion(mongodb_url: str,
                                                            tmp_path: Path) -> None:
    db(mongodb_url).orders.insert_one({"_id": 1})
    _, result = extract("mongodb", tmp_path, expect_ok=False, connection=CONN, collection="order")
    assert result.error is not None and result.error.field == "collection"
    assert "collection 'order' does not exist" in result.error.reason
    assert "Did you mean 'orders'?" in result.error.reason


def test_a_pipeline_on_a_missing_collection_warns(mongodb_url: str, tmp_path: Path) -> None:
    """Its stages may read other collections ($unionWith): it runs, with a warning."""
    db(mongodb_url).orders.insert_one({"_id": 1})
    events: list[RunEvent] = []
    doc = {"name": "read", "nodes": [
        {"id": "src", "type": "extractor", "module": "mongodb",
         "config": {"connection": CONN, "collection": "order",
                    "pipeline": [{"$unionWith": "orders"}]}},
        {"id": "out", "type": "loader", "module": "parquet",
         "config": {"path": str(tmp_path / "back.parquet")}}],
        "edges": [{"source": "src", "target": "out"}]}
    result = run_pipeline(compile_pipeline(doc, REGISTRY),
                          RunOptions(data_dir=tmp_path / "d", on_event=events.append))
    assert result.status == "succeeded", result.error
    warnings = [e.data["message"] for e in events
                if e.kind == "log" and e.data.get("level") == "warning"]
    assert any("collection 'order' does not exist" in w and "Did you mean 'orders'?" in w
               for w in warnings), warnings


def test_server_errors_are_short(mongodb_url: str, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    db(mongodb_url).p.insert_one({"_id": 1})
    _, result = extract("mongodb", tmp_path, expect_ok=False, connection=CONN, collection="p",
                        filter={"v": {"$nope": 1}})
    assert result.error is not None and result.error.field == "filter"
    assert "unknown operator: $nope (code 2)" in result.error.reason
    assert "full error" not in result.error.reason and "clusterTime" not in result.error.reason
    _, result = extract("mongodb", tmp_path, expect_ok=False, connection=CONN, collection="p",
                        projection={"s": 1, "v": 0})
    assert result.error is not None and result.error.field == "projection"
    # nothing listens on this port: the driver's reason, not its topology dump
    port = servers.free_port()
    monkeypatch.setenv("ECLUSE_CONN_TEST_MONGODB",
                       f"mongodb://127.0.0.1:{port}/x?serverSelectionTimeoutMS=300")
    _, result = extract("mongodb", tmp_path, expect_ok=False, connection=CONN, collection="p")
    assert result.error is not None and result.error.field == "connection"
    assert "Connection refused; check the host and port" in result.error.reason
    assert "Topology" not in result.error.reason and "configured timeouts" not in result.error.reason
    monkeypatch.setenv("ECLUSE_CONN_TEST_MONGODB", "mongodb://127.0.0.1:1:2/x")
    _, result = extract("mongodb", tmp_path, expect_ok=False, connection=CONN, collection="p")
    assert result.error is not None and result.error.field == "connection"
    assert "is not valid" in result.error.reason


def test_upsert_keeps_the_last_row_of_a_repeated_key(mongodb_url: str, tmp_path: Path) -> None:
    """As every loader does: the unordered bulk write alone would keep an arbitrary one."""
    db(mongodb_url).up.insert_one({"id": 1, "v": "old"})
    data = pa.table({"id": [1, 2, 3, 1, 4, 3, 1], "v": list("abcdefg")})  # across batches of 2
    result = load("mongodb", data, tmp_path, connection=CONN, collection="up", mode="upsert",
                  keys=["id"], batch_size=2)
    assert result.status == "succeeded", result.error
    assert sorted((d["id"], d["v"]) for d in db(mongodb_url).up.find()) == \
        [(1, "g"), (2, "b"), (3, "f"), (4, "e")]
    assert (result.nodes["out"].extra["rows_inserted"], result.nodes["out"].extra["rows_updated"]) \
        == (3, 1)


def test_upsert_on_a_dotted_key_matches_the_nested_field(mongodb_url: str,
                                                         tmp_path: Path) -> None:
    run = lambda v: load("mongodb", pa.table({"a.b": [1, 2], "v": v}), tmp_path,  # noqa: E731
                         connection=CONN, collection="nest", mode="upsert", keys=["a.b"])
    assert run([1, 2]).status == "succeeded"
    result = run([3, 4])
    assert result.status == "succeeded", result.error
    assert result.nodes["out"].extra["rows_updated"] == 2
    assert sorted((d["a"]["b"], d["v"]) for d in db(mongodb_url).nest.find()) == [(1, 3), (2, 4)]


def test_a_unique_index_that_cannot_be_built_names_the_keys(mongodb_url: str,
                                                            tmp_path: Path) -> None:
    db(mongodb_url).twice.insert_many([{"k": 1}, {"k": 1}])
    result = load("mongodb", pa.table({"k": [1, 2]}), tmp_path, connection=CONN,
                  collection="twice", mode="upsert", keys=["k"])
    assert result.error is not None and result.error.field == "keys"
    assert "cannot create the unique index on keys ['k']" in result.error.reason
    assert "duplicate key" in result.error.reason and "full error" not in result.error.reason


@pytest.mark.parametrize("mode", ["insert", "upsert", "replace"])
def test_loading_no_rows_creates_the_collection(mode: str, mongodb_url: str,
                                                tmp_path: Path) -> None:
    """So that a pipeline reading it next finds it (a missing collection is an error there)."""
    keys = {"keys": ["id"]} if mode == "upsert" else {}
    result = load("mongodb", pa.table({"id": pa.array([], pa.int64())}), tmp_path,
                  connection=CONN, collection="none_yet", mode=mode, **keys)
    assert result.status == "succeeded", result.error
    assert db(mongodb_url).list_collection_names() == ["none_yet"]
    back, _ = extract("mongodb", tmp_path, connection=CONN, collection="none_yet")
    assert back.num_rows == 0


def test_upsert_keys_must_be_single_values(mongodb_url: str, tmp_path: Path) -> None:
    result = load("mongodb", pa.table({"k": [[1], [2]]}), tmp_path, connection=CONN,
                  collection="lists", mode="upsert", keys=["k"])
    assert result.error is not None and result.error.field == "keys"
    assert "upsert keys must hold single values" in result.error.reason
    assert "'k' (list<" in result.error.reason


def test_a_decimal_wider_than_decimal128_is_named(mongodb_url: str, tmp_path: Path) -> None:
    """Decimal128 holds 34 significant digits, a decimal(38,30) value up to 38: the load failed
    with "[<class 'decimal.Inexact'>]"; every value that fits is stored exactly."""
    fits = [decimal.Decimal(v) for v in ("1.5", "1.000000000000000000000000000000",
                                         "1234.123456789012345678901234567890")]
    too_long = decimal.Decimal("12345678.123456789012345678901234567891")
    wide = pa.decimal128(38, 30)
    result = load("mongodb", pa.table({"x": pa.array([*fits, too_long], wide)}), tmp_path,
                  connection=CONN, collection="wide")
    assert result.status == "failed" and result.error is not None
    assert result.error.reason == (
        "column 'x' holds 12345678.123456789012345678901234567891 (row 4), which has 38 "
        "significant digits: MongoDB's Decimal128 keeps 34, so it cannot be stored exactly; "
        "nothing was written: round it before this node (e.g. a derive's round(x, 26)), or cast "
        "the column to string (a cleaner's cast) to store its exact text")
    assert "wide" not in db(mongodb_url).list_collection_names()
    result = load("mongodb", pa.table({"x": pa.array(fits, wide)}), tmp_path, connection=CONN,
                  collection="wide")
    assert result.status == "succeeded", result.error
    assert [d["x"].to_decimal() for d in db(mongodb_url).wide.find()] == fits


def test_uuids_are_read_as_text(mongodb_url: str, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """pymongo's default representation read a standard UUID (binary subtype 4) as 16 raw
    bytes; a legacy one (subtype 3, whose byte order depends on the driver that wrote it) stays
    bytes unless the URL names its `uuidRepresentation`."""
    import base64
    import uuid

    from bson import Binary

    ids = [uuid.UUID(int=i * 2**100 + 7) for i in range(1, 5)]
    db(mongodb_url).uu.insert_many([
        {"_id": Binary.from_uuid(u), "n": i, "legacy": Binary(u.bytes, 3),
         "tags": [Binary.from_uuid(u)]} for i, u in enumerate(ids[:3])])
    state = MemoryStateStore()
    inc = {"cursor_field": "n", "page_size": 2}
    back, _ = extract("mongodb", tmp_path, state=state, connection=CONN, collection="uu",
                      incremental=inc)
    assert str(back.schema.field("_id").type) == "string"
    assert str(back.schema.field("legacy").type) == "binary"
    rows = sorted(back.to_pylist(), key=lambda r: r["n"])
    assert [r["_id"] for r in rows] == [str(u) for u in ids[:3]]
    assert rows[0]["legacy"] == ids[0].bytes
    encoded = base64.b64encode(ids[0].bytes).decode()  # inside JSON text: extended JSON's form
    assert rows[0]["tags"] == f'[{{"$binary": {{"base64": "{encoded}", "subType": "04"}}}}]'
    # the last UUID read is kept in the state and bound again on the next run
    db(mongodb_url).uu.insert_one({"_id": Binary.from_uuid(ids[3]), "n": 2, "legacy": None})
    back, _ = extract("mongodb", tmp_path, state=state, connection=CONN, collection="uu",
                      incremental=inc)
    assert back.column("_id").to_pylist() == [str(ids[3])]
    # a URL naming the legacy byte order reads both kinds as text
    monkeypatch.setenv("ECLUSE_CONN_TEST_MONGODB", f"{mongodb_url}&uuidRepresentation=pythonLegacy")
    back, _ = extract("mongodb", tmp_path, connection=CONN, collection="uu")
    assert sorted(back.select(["_id", "legacy"]).to_pylist(), key=lambda r: r["_id"])[:3] == [
        {"_id": str(u), "legacy": str(u)} for u in ids[:3]]


def test_a_sub_document_sometimes_null_gives_no_empty_column(mongodb_url: str,
                                                             tmp_path: Path) -> None:
    """A field holding a sub-document in some documents and null (or {}) in others gave an
    extra column `a`, always null, beside `a.b`; past the sample, such a null failed the run
    as a field 'not seen in the first documents'. A scalar there is data: its column stays."""
    db(mongodb_url).sub.insert_many([
        {"_id": 1, "a": {"b": 1}, "c": 5}, {"_id": 2, "a": None, "c": {"d": 2}},
        {"_id": 3, "a": {}}, {"_id": 4}, {"_id": 5, "a": None}, {"_id": 6, "a": {"b": 6}}])
    for sample_size in (6, 2):
        back, _ = extract("mongodb", tmp_path, connection=CONN, collection="sub",
                          sample_size=sample_size)
        assert back.column_names == ["_id", "a.b", "c", "c.d"]
        assert back.sort_by("_id").to_pylist() == [
            {"_id": 1, "a.b": 1, "c": 5, "c.d": None}, {"_id": 2, "a.b": None, "c": None, "c.d": 2},
            *({"_id": i, "a.b": None, "c": None, "c.d": None} for i in (3, 4, 5)),
            {"_id": 6, "a.b": 6, "c": None, "c.d": None}]
