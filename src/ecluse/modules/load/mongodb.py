"""Loader ``mongodb``: the incoming rows are first spooled to a local Arrow file (so a source
that fails mid-way never reaches the database), then written in tuned batches:

- insert: unordered ``insert_many``;
- upsert: unordered bulk ``ReplaceOne(..., upsert=True)`` matched on `keys`; an input holding
  a key twice fails before anything is written (which row wins would be arbitrary);
- replace: everything goes into a new collection, renamed over the target at the end
  (``renameCollection`` with dropTarget: readers see the old or the new data, never a mix).

Documents the server refuses (duplicate keys, too large...) are counted and reported: the run
fails with the counts and the first errors, nothing is dropped silently.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from ecluse.sdk import ConfigError, Loader, LoadResult, ModuleConfig, NodeContext, columns_field
from ecluse.sdk.config import connection_field
from ecluse.sdk.mongo_arrow import (
    batch_to_docs,
    connect,
    get_path,
    require_decimal128,
    server_message,
)
from ecluse.sdk.relational import require_columns

if TYPE_CHECKING:
    from pathlib import Path

    import ibis.expr.types as ir
    import pyarrow as pa


class MongoLoadConfig(ModuleConfig):
    connection: str = connection_field("MongoDB connection (`mongodb://…`).", kinds=("mongodb",))
    database: str | None = Field(None, description="Database; defaults to the one in the "
                                 "connection's URL.")
    collection: str = Field(min_length=1, description="Target collection (created when missing).")
    mode: Literal["insert", "upsert", "replace"] = Field(
        "insert", description="insert: add the documents; upsert: replace documents whose "
        "`keys` match and insert the others; replace: the collection holds exactly the new "
        "documents (written aside, then renamed over it).")
    keys: list[str] = columns_field("Fields identifying a document (upsert); a unique index on "
                                    "them is created when missing.", default_factory=list)
    nest_dotted_columns: bool = Field(True, description="Columns named `a.b` become the "
                                      "sub-document `{a: {b: …}}` (the inverse of the "
                                      "extractor's flattening).")
    batch_size: int = Field(5_000, ge=1, le=100_000,
                            description="Documents per bulk write sent to the server.")

    @model_validator(mode="after")
    def _keys(self) -> MongoLoadConfig:
        if self.mode == "upsert" and not self.keys:
            raise ValueError("mode 'upsert' needs `keys`")
        return self


class MongoLoader(Loader):
    name = "mongodb"
    title = "MongoDB"
    description = "Write documents into a MongoDB collection (insert, upsert, replace)."
    category = "Databases"
    icon = "storage"
    Config = MongoLoadConfig
    config: MongoLoadConfig
    examples: ClassVar = (
        {"connection": "app-db", "collection": "customers", "mode": "upsert", "keys": ["email"]},
    )

    def check(self, table: ir.Table, ctx: NodeContext) -> None:
        require_columns(table, self.config.keys, field="keys")

    def write(self, table: ir.Table, ctx: NodeContext) -> LoadResult:
        import pyarrow as pa
        import pyarrow.ipc as ipc
        from pymongo.errors import PyMongoError

        c = self.config
        reader = ctx.backend.to_batches(table)
        missing = [k for k in c.keys if k not in reader.schema.names]
        if missing:
            raise ConfigError(f"key column(s) {missing} are not in the incoming data", field="keys")
        # 1. spool: the source is read to its end before the database is touched
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        spool = ctx.work_dir / f"mongodb-{uuid.uuid4().hex[:8]}.arrows"
        try:
            with pa.OSFile(str(spool), "wb") as sink, ipc.new_stream(sink, reader.schema) as writer:
                rows = 0
                for batch in reader:
                    ctx.cancel.raise_if_cancelled()
                    require_decimal128(batch, rows)
                    writer.write_batch(batch)
                    rows += batch.num_rows
            keep = _last_of_each_key(spool, c.keys) if c.mode == "upsert" else None
            return self._load(spool, keep, ctx)
        except PyMongoError as exc:
            raise ConfigError(f"MongoDB refused the load into collection {c.collection!r}: "
                              f"{server_message(exc)}", field="collection") from exc
        finally:
            with contextlib.suppress(OSError):
                spool.unlink()

    def _load(self, spool: Path, keep: pa.BooleanArray | None, ctx: NodeContext) -> LoadResult:
        import pyarrow as pa
        import pyarrow.ipc as ipc
        from pymongo.errors import OperationFailure

        c = self.config
        client, db = connect(ctx.connection(c.connection), c.database)
        temp = f"{c.collection}__ecluse_new_{uuid.uuid4().hex[:8]}"
        counts = {"inserted": 0, "updated": 0, "failed": 0}
        errors: list[str] = []
        try:
            existed = c.collection in db.list_collection_names()
            target = db[temp] if c.mode == "replace" else db[c.collection]
            deleted = db[c.collection].estimated_document_count() if (
                c.mode == "replace" and existed) else 0
            if c.mode == "replace":
                db.create_collection(temp)
            elif not existed:  # it exists after the load, even of no rows
                db.create_collection(c.collection)
            if c.keys and c.mode != "insert":
                try:
                    target.create_index([(k, 1) for k in c.keys], unique=True)
                except OperationFailure as exc:
                    raise ConfigError(
                        f"cannot create the unique index on keys {c.keys} of collection "
                        f"{c.collection!r}: {server_message(exc)}; the documents already there "
                        "must have one per key (remove the duplicates, or choose other keys)",
                        field="keys") from exc
            done = 0
            with pa.memory_map(str(spool)) as source:
                for docs in _prepared(_kept(ipc.open_stream(source), keep), c.batch_size,
                                      c.nest_dotted_columns):
                    ctx.cancel.raise_if_cancelled()
                    self._write(target, docs, done, counts, errors)
                    done += len(docs)
                    ctx.progress(done)
            ctx.metrics["documents_failed"] = counts["failed"]
            if counts["failed"]:
                raise ConfigError(
                    f"{counts['failed']} document(s) were refused by MongoDB "
                    f"({counts['inserted']} inserted, {counts['updated']} updated"
                    + (", the collection was left unchanged" if c.mode == "replace" else "")
                    + f"); first errors: {'; '.join(errors[:3])}", field="collection")
            if c.mode == "replace":
                if existed:
                    target.rename(c.collection, dropTarget=True)
                else:
                    target.rename(c.collection)
            return LoadResult(rows_written=counts["inserted"] + counts["updated"],
                              rows_inserted=counts["inserted"], rows_updated=counts["updated"],
                              rows_deleted=deleted, location=f"{db.name}.{c.collection}",
                              extra={"documents_failed": counts["failed"]})
        finally:
            with contextlib.suppress(Exception):
                if c.mode == "replace" and temp in db.list_collection_names():
                    db[temp].drop()
            client.close()

    def _write(self, coll: Any, docs: list[dict[str, Any]], done: int, counts: dict[str, int],
               errors: list[str]) -> None:
        """One bulk write of ``docs`` (rows ``done + 1``... of the input)."""
        from pymongo import ReplaceOne
        from pymongo.errors import BulkWriteError

        c = self.config
        try:
            if c.mode == "upsert":
                ops = [ReplaceOne({k: get_path(d, k) for k in c.keys}, d, upsert=True)
                       for d in docs]
                result = coll.bulk_write(ops, ordered=False).bulk_api_result
            else:
                result = {"nInserted": len(coll.insert_many(docs, ordered=False).inserted_ids)}
        except BulkWriteError as exc:
            result = exc.details
            write_errors = result.get("writeErrors", [])
            counts["failed"] += len(write_errors)
            errors.extend(f"row {done + int(e.get('index', 0)) + 1}: {e.get('errmsg')}"
                          for e in write_errors[:3])
        counts["inserted"] += int(result.get("nInserted", 0)) + int(result.get("nUpserted", 0))
        counts["updated"] += int(result.get("nMatched", 0))


def _last_of_each_key(spool: Path, keys: list[str]) -> pa.BooleanArray | None:
    """Which rows of the spooled input to write for an upsert: the last one of each key, as
    every loader does (the unordered bulk write would keep an arbitrary one); None when no key
    repeats."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.ipc as ipc

    with pa.memory_map(str(spool)) as source:
        table = ipc.open_stream(source).read_all().select(keys)
    nested = [f"{f.name!r} ({f.type})" for f in table.schema if pa.types.is_nested(f.type)]
    if nested:
        raise ConfigError(f"upsert keys must hold single values, not lists or records: "
                          f"{', '.join(nested)}", field="keys")
    names = [f"k{i}" for i in range(len(keys))]  # no clash with the row number
    table = table.rename_columns(names).append_column("row", pa.array(np.arange(table.num_rows)))
    last = table.group_by(names).aggregate([("row", "max")])
    if last.num_rows == table.num_rows:
        return None
    keep = np.zeros(table.num_rows, dtype=bool)
    keep[last["row_max"].to_numpy()] = True
    return pa.array(keep)


def _kept(batches: Iterable[pa.RecordBatch], keep: pa.BooleanArray | None) -> Iterator[pa.RecordBatch]:
    at = 0
    for batch in batches:
        yield batch if keep is None else batch.filter(keep.slice(at, batch.num_rows))
        at += batch.num_rows


def _prepared(batches: Iterable[pa.RecordBatch], size: int,
              nest_dotted: bool) -> Iterator[list[dict[str, Any]]]:
    """Documents ``size`` at a time, the next part converted in a thread while the server
    writes the current one (the wait on the socket lets it run): one part ahead, no more."""
    from concurrent.futures import Future, ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="ecluse-mongodb-docs") as pool:
        ahead: Future[list[dict[str, Any]]] | None = None
        for batch in batches:
            for start in range(0, batch.num_rows, size):
                part = pool.submit(batch_to_docs, batch.slice(start, size), nest_dotted=nest_dotted)
                if ahead is not None:
                    yield ahead.result()
                ahead = part
        if ahead is not None:
            yield ahead.result()
