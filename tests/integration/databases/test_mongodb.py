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

from ecluse.engine.state import MemoryStateStore
from tests.integration.databases.harness import extract, load

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
    db(mongodb_url).dups.insert_one({"_id": 2})
    result = load("mongodb", pa.table({"_id": [1, 2, 3]}), tmp_path, connection=CONN,
                  collection="dups")
    assert result.status == "failed" and result.error is not None
    assert "1 document(s) were refused" in result.error.reason
    assert "2 inserted" in result.error.reason


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
