"""Extractor ``mongodb``: a collection (with a filter and a projection) or an aggregation
pipeline, streamed in batches into Arrow; nested documents flattened into ``a.b`` columns or
kept as JSON text; optionally incremental on a field with keyset paging on (field, ``_id``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, model_validator

from ecluse.sdk import ConfigError, Extractor, ModuleConfig, NodeContext, connection_field
from ecluse.sdk.config import column_field
from ecluse.sdk.keyset import saved_position
from ecluse.sdk.mongo_arrow import (
    bind,
    connect,
    docs_to_batch,
    flatten,
    get_path,
    infer_schema,
    json_options,
    server_message,
    to_bson,
    unknown_fields,
)
from ecluse.sdk.suggest import did_you_mean

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa
    from pymongo.errors import PyMongoError


class MongoIncrementalConfig(ModuleConfig):
    cursor_field: str = column_field(
        "Field that grows with new or changed documents (`updated_at`, an increasing id...). "
        "Its highest value read is kept (as extended JSON) and bound as `\":last_value\"` in "
        "filters and pipelines on the next run.")
    key_field: str = column_field("Unique tie-break field for keyset paging.", default="_id")
    initial_value: Any = Field(None, description="Cursor value to start from on the first run "
                               "(an extended-JSON value such as `{\"$date\": \"2024-01-01T00:00:00Z\"}` "
                               "or a plain number/string); empty reads everything.")
    page_size: int = Field(100_000, ge=1, le=10_000_000,
                           description="Documents per keyset page (each page is one short query).")


class MongoExtractConfig(ModuleConfig):
    connection: str = connection_field("MongoDB connection (`mongodb://…`).", kinds=("mongodb",))
    database: str | None = Field(None, description="Database; defaults to the one in the "
                                 "connection's URL.")
    collection: str = Field(min_length=1, description="Collection to read (the pipeline's "
                            "starting collection).")
    filter: dict[str, Any] = Field(default_factory=dict, description="Query filter (MongoDB "
                                   "syntax). A string value `\":name\"` is replaced by that "
                                   "pipeline parameter, typed.")
    projection: dict[str, Any] | None = Field(None, description="Fields to return, e.g. "
                                              "`{\"name\": 1, \"address.city\": 1}`.")
    pipeline: list[dict[str, Any]] | None = Field(
        None, description="Aggregation pipeline instead of filter/projection (`\":name\"` "
        "parameters allowed).")
    flatten: bool = Field(True, description="Flatten sub-documents into `parent.child` columns; "
                          "when off they are kept as JSON text. Arrays are always JSON text.")
    sample_size: int = Field(1000, ge=1, le=1_000_000, description="Documents sampled to infer "
                             "the columns and their types.")
    batch_size: int = Field(10_000, ge=10, le=1_000_000,
                            description="Documents per batch fetched from the server.")
    incremental: MongoIncrementalConfig | None = Field(
        None, description="Read only documents added or changed since the last successful run.")

    @model_validator(mode="after")
    def _one_source(self) -> MongoExtractConfig:
        if self.pipeline is not None and (self.filter or self.projection):
            raise ValueError("give either `pipeline` or `filter`/`projection`, not both")
        return self


class MongoExtractor(Extractor):
    name = "mongodb"
    title = "MongoDB"
    description = "Read a MongoDB collection or aggregation, streamed as Arrow (optionally incremental)."
    category = "Databases"
    icon = "storage"
    Config = MongoExtractConfig
    config: MongoExtractConfig
    examples: ClassVar = (
        {"connection": "app-db", "collection": "orders", "filter": {"status": ":status"}},
        {"connection": "app-db", "collection": "events",
         "incremental": {"cursor_field": "updated_at"}},
    )

    def _start(self, ctx: NodeContext, sample: list[dict[str, Any]]) -> tuple[Any, Any, bool]:
        """(last value, last key, whether documents at that value are past): the rules of the
        other incremental extractors (``keyset.saved_position``). A run keeps its position as
        extended JSON, which keeps dates and ObjectIds typed; a plain value (a mark set by hand,
        `ecluse state set … --last-value 2024-01-01`, or an `initial_value`) is read as the
        type the ``sample`` documents hold in the field (``_plain``)."""
        inc = self.config.incremental
        if inc is None:
            return None, None, False
        saved = saved_position(ctx.previous_state, ("cursor_field", inc.cursor_field),
                               ("key_field", inc.key_field))
        where = "the node's saved state" if saved is not None else "`incremental.initial_value`"
        value, key, after = saved if saved is not None else (inc.initial_value, None, False)
        return (_plain(value, [get_path(d, inc.cursor_field) for d in sample], inc.cursor_field, where),
                _plain(key, [get_path(d, inc.key_field) for d in sample], inc.key_field, where),
                after)

    def _cursor(self, coll: Any, ctx: NodeContext, position: tuple[Any, Any, bool], start: Any,
                limit: int | None) -> Any:
        c, inc = self.config, self.config.incremental
        params = {**ctx.parameters, "last_value": start}
        match: dict[str, Any] = {}
        sort: list[tuple[str, int]] = []
        if inc is not None and ctx.mode == "run":
            value, key, after = position
            if value is None:  # a document without a cursor value is never read (keyset.py)
                match = {inc.cursor_field: {"$ne": None}}
            elif key is not None:
                match = {"$or": [{inc.cursor_field: {"$gt": value}},
                                 {inc.cursor_field: value, inc.key_field: {"$gt": key}}]}
            elif after:
                match = {inc.cursor_field: {"$gt": value}}
            else:  # an initial value, a mark set by hand
                match = {inc.cursor_field: {"$gte": value}}
            sort = [(inc.cursor_field, 1), (inc.key_field, 1)]
            limit = inc.page_size
        if c.pipeline is not None:
            stages = bind(c.pipeline, params, field="pipeline")
            if match:
                stages.append({"$match": match})
            if sort:
                stages.append({"$sort": dict(sort)})
            if limit is not None:
                stages.append({"$limit": int(limit)})
            return coll.aggregate(stages, batchSize=c.batch_size, allowDiskUse=True)
        query = bind(c.filter, params)
        if match:
            query = {"$and": [query, match]} if query else match
        cursor = coll.find(query, c.projection, batch_size=c.batch_size)
        if sort:
            cursor = cursor.sort(sort)
        if limit is not None:
            cursor = cursor.limit(int(limit))
        return cursor

    def read(self, ctx: NodeContext) -> ir.Table:
        import pyarrow as pa
        from pymongo.errors import PyMongoError

        c = self.config
        client, db = connect(ctx.connection(c.connection), c.database)
        try:
            coll = self._collection(db, ctx)
            try:  # a filter's ":last_value" is bound as given (no sample tells its type yet)
                docs = list(self._cursor(coll, ctx, (None, None, False),
                                         self._start(ctx, [])[0], c.sample_size))
            except PyMongoError as exc:
                raise self._query_error(exc) from exc
            position = self._start(ctx, docs)
            sample = [flatten(d, nested=c.flatten) for d in docs]
            schema = infer_schema(sample)
            inc = c.incremental
            if inc is not None and sample:
                for name, what in ((inc.cursor_field, "cursor_field"), (inc.key_field, "key_field")):
                    if name not in schema.names:
                        raise ConfigError(f"incremental {what} {name!r} is not a field of the "
                                          f"documents; fields are: {', '.join(schema.names)}",
                                          field="incremental")
        except BaseException:
            client.close()
            raise
        if ctx.mode == "schema":
            client.close()
            return ctx.backend.from_arrow(schema.empty_table(), name="mongodb")
        reader = pa.RecordBatchReader.from_batches(schema, self._stream(client, coll, ctx, schema,
                                                                        position))
        return ctx.backend.from_arrow(reader, name="mongodb")

    def _collection(self, db: Any, ctx: NodeContext) -> Any:
        """The collection to read. A missing one is almost always a typo: an error for a query,
        a warning for a pipeline (whose stages, ``$unionWith``..., may read other collections)."""
        from pymongo.errors import PyMongoError

        c = self.config
        try:
            names = db.list_collection_names(authorizedCollections=True)
        except PyMongoError:  # not allowed to list them: the query will tell
            return db[c.collection]
        if c.collection not in names:
            where = (f"database {db.name!r}" if names else
                     f"database {db.name!r}, which has no collections (check `database` or the "
                     "connection's URL)")
            hint = did_you_mean(c.collection, names)
            if c.pipeline is None:
                raise ConfigError(f"collection {c.collection!r} does not exist in {where}.{hint}",
                                  field="collection")
            ctx.log(f"collection {c.collection!r} does not exist in {where}: the pipeline "
                    f"starts from no documents.{hint}", level="warning")
        return db[c.collection]

    def _query_error(self, exc: PyMongoError) -> ConfigError:
        from pymongo.errors import OperationFailure

        c = self.config
        if not isinstance(exc, OperationFailure):  # the network, not the query
            return ConfigError(f"lost the connection to MongoDB while reading: "
                               f"{server_message(exc)}", field="connection")
        field = "pipeline" if c.pipeline is not None else "filter"
        if c.projection and "projection" in server_message(exc).lower():
            field = "projection"
        return ConfigError(f"MongoDB rejected the {field}: {server_message(exc)}", field=field)

    def _stream(self, client: Any, coll: Any, ctx: NodeContext, schema: pa.Schema,
                position: tuple[Any, Any, bool]) -> Iterator[pa.RecordBatch]:
        from pymongo.errors import PyMongoError

        c, inc = self.config, self.config.incremental
        known = set(schema.names)
        total, start = 0, position[0]
        limit = ctx.sample_rows if ctx.mode == "preview" else None
        try:
            while True:
                ctx.cancel.raise_if_cancelled()
                page = 0
                cursor = self._cursor(coll, ctx, position, start, limit)
                docs_iter = iter(cursor)
                while chunk := list(itertools.islice(docs_iter, c.batch_size)):
                    ctx.cancel.raise_if_cancelled()
                    flat = [flatten(d, nested=c.flatten) for d in chunk]
                    extra = unknown_fields(flat, known)
                    if extra:
                        raise ConfigError(
                            f"documents have field(s) {sorted(extra)} not seen in the first "
                            f"{c.sample_size} documents; raise `sample_size` or set a `projection`",
                            field="sample_size")
                    batch = docs_to_batch(flat, schema)
                    page += batch.num_rows
                    total += batch.num_rows
                    ctx.progress(total)
                    if inc is not None and ctx.mode == "run":
                        last = chunk[-1]
                        position = (get_path(last, inc.cursor_field), get_path(last, inc.key_field),
                                    True)
                        ctx.scratch["position"] = position
                    yield batch
                with contextlib.suppress(Exception):
                    cursor.close()
                if inc is None or ctx.mode != "run" or page < inc.page_size:
                    break
            ctx.metrics["rows_out"] = total
        except PyMongoError as exc:
            raise self._query_error(exc) from exc
        finally:
            client.close()

    def finish(self, ctx: NodeContext, *, succeeded: bool) -> None:
        from bson import json_util

        inc = self.config.incremental
        position = ctx.scratch.get("position")
        if inc is None or not succeeded or ctx.mode != "run" or position is None:
            return
        ctx.set_state({"cursor_field": inc.cursor_field,
                       "last_value": json_util.dumps(position[0], json_options=json_options()),
                       "key_field": inc.key_field,
                       "last_key": json_util.dumps(position[1], json_options=json_options())})


def _kind(value: Any) -> str:
    from bson import Decimal128, ObjectId

    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, Decimal128)):
        return "number"
    if isinstance(value, dt.datetime):
        return "date"
    if isinstance(value, ObjectId):
        return "ObjectId"
    return "text" if isinstance(value, str) else type(value).__name__


def _plain(kept: Any, seen: list[Any], field: str, where: str) -> Any:
    """A position as kept in state or config, as the one kind of value ``seen`` (the sampled
    values of ``field``) hold: extended JSON (`{"$date": ...}`, `{"$oid": ...}`, `"text"`, `5`)
    is read as such; plain text (`2024-01-01`, a hex ObjectId, `42`) as a date, an ObjectId, a
    number or the text itself. Unchanged when the field holds no values or several kinds."""
    import decimal

    from bson import Decimal128, ObjectId, json_util

    value = kept
    if isinstance(kept, (dict, list)):
        value = json_util.loads(json_util.dumps(kept), json_options=json_options())
    elif isinstance(kept, str):
        with contextlib.suppress(ValueError):  # not JSON: a plain value, as text
            value = json_util.loads(kept, json_options=json_options())
    kinds = {_kind(v) for v in seen if v is not None}
    if value is None or len(kinds) != 1 or _kind(value) in kinds:
        return value
    kind = next(iter(kinds))
    text = kept if isinstance(kept, str) else None
    if kind == "text":  # `--last-value 42` or `1.50` on a text field: the text as given
        return text if text is not None else str(value)
    if kind == "date" and text is not None:
        with contextlib.suppress(ValueError):
            return to_bson(dt.datetime.fromisoformat(text))
    if kind == "ObjectId" and text is not None and ObjectId.is_valid(text):
        return ObjectId(text)
    if kind == "number" and text is not None:
        with contextlib.suppress(ValueError, decimal.InvalidOperation):
            number = decimal.Decimal(text.strip())
            if isinstance(next(v for v in seen if v is not None), Decimal128):
                return Decimal128(number)
            return int(number) if number == number.to_integral_value() else float(number)
    if kind not in ("date", "ObjectId", "number"):
        return value
    what = {"date": "a date", "ObjectId": "an ObjectId", "number": "a number"}[kind]
    example = {"date": '2024-01-01T00:00:00Z (or {"$date": "2024-01-01T00:00:00Z"})',
               "ObjectId": 'its 24 hexadecimal digits (or {"$oid": "…"})', "number": "42"}[kind]
    how = ("with `ecluse state set PIPELINE NODE --last-value …`" if "state" in where
           else "in `incremental.initial_value`")
    raise ConfigError(f"incremental position {kept!r} in {where} is not {what}, while field "
                      f"{field!r} holds {kind}s: no document could follow it. Set it again {how} "
                      f"as {what}, e.g. {example}", field="incremental")
