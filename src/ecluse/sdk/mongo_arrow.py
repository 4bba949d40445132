"""MongoDB through pymongo: connecting, binding ``":name"`` parameters inside filters and
pipelines, turning documents into Arrow (flattened or kept as JSON) and Arrow rows into documents.

BSON types map as: ObjectId and UUID -> string, datetime -> ``timestamp[us, UTC]`` (BSON keeps milliseconds),
Decimal128 -> ``decimal128(38, s)`` (text when it cannot fit), int32/int64 -> int64,
double -> float64, binary -> binary, arrays (and sub-documents when not flattened) -> JSON text.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ecluse.sdk.connections import Connection
from ecluse.sdk.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa


def connect(connection: Connection, database: str | None, *,
            field: str = "connection") -> tuple[Any, Any]:
    """(client, database) for a ``mongodb://`` connection; the database comes from the config or
    else from the URL's path."""
    import pymongo

    if connection.type != "mongodb":
        raise ConfigError(f"connection {connection.name!r} is of type {connection.type!r}, "
                          "not 'mongodb'", field=field)
    url = str(connection.get("url") or "")
    if not url:
        raise ConfigError(f"connection {connection.name!r} needs a `url` (mongodb://…)", field=field)
    name = database or unquote(urlsplit(url).path.lstrip("/")) or None
    if not name:
        raise ConfigError("give `database` (or put it in the connection's URL)", field="database")
    client: Any = pymongo.MongoClient(url, tz_aware=True, serverSelectionTimeoutMS=10_000)
    try:
        client.admin.command("ping")
    except Exception as exc:
        client.close()
        raise ConfigError(f"cannot connect to MongoDB connection {connection.name!r}: "
                          f"{str(exc).splitlines()[0]}", field=field) from exc
    return client, client[name]


def bind(value: Any, parameters: Mapping[str, Any]) -> Any:
    """Replace every string exactly ``":name"`` in a filter/pipeline by the parameter's value
    (typed, never pasted into text)."""
    if isinstance(value, str) and value.startswith(":") and value[1:].isidentifier():
        name = value[1:]
        if name not in parameters:
            raise ConfigError(f"the filter uses :{name}, but no such parameter was given",
                              field="filter")
        return to_bson(parameters[name])
    if isinstance(value, Mapping):
        return {k: bind(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [bind(v, parameters) for v in value]
    return value


def to_bson(value: Any) -> Any:
    from bson import Decimal128

    if isinstance(value, decimal.Decimal):
        return Decimal128(value)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


# --- documents -> Arrow ----------------------------------------------------------------

def flatten(doc: Mapping[str, Any], *, nested: bool, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if nested and isinstance(value, Mapping) and value:
            out.update(flatten(value, nested=True, prefix=f"{name}."))
        else:
            out[name] = value
    return out


def _kind(value: Any) -> str:
    from bson import Binary, Decimal128, ObjectId

    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, Decimal128):
        return "decimal"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, (bytes, Binary)) and not isinstance(value, ObjectId):
        return "binary"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (Mapping, list)):
        return "json"
    return "text"  # ObjectId, UUID, Regex, Timestamp...: their text


def infer_schema(docs: Iterable[Mapping[str, Any]]) -> pa.Schema:
    """The Arrow schema of sampled (flattened) documents: fields in order of first appearance;
    mixed kinds widen (int+float -> float64, anything else -> string)."""
    import pyarrow as pa

    kinds: dict[str, set[str]] = {}
    scales: dict[str, int] = {}
    for doc in docs:
        for name, value in doc.items():
            kind = _kind(value)
            kinds.setdefault(name, set()).add(kind)
            if kind == "decimal":
                exponent = value.to_decimal().as_tuple().exponent
                scales[name] = max(scales.get(name, 0), -exponent if isinstance(exponent, int) else 0)
    fields = []
    for name, seen in kinds.items():
        seen = seen - {"null"}
        if not seen:
            dtype: pa.DataType = pa.string()
        elif len(seen) == 1:
            kind = next(iter(seen))
            dtype = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(),
                     "datetime": pa.timestamp("us", tz="UTC"), "binary": pa.binary(),
                     "decimal": pa.decimal128(38, min(scales.get(name, 0), 18))}.get(kind, pa.string())
        elif seen <= {"int", "float"}:
            dtype = pa.float64()
        else:
            dtype = pa.string()
        fields.append(pa.field(name, dtype))
    return pa.schema(fields or [pa.field("_id", pa.string())])  # no documents: only the id


def arrow_value(value: Any, dtype: pa.DataType) -> Any:
    import pyarrow as pa
    from bson import Decimal128, json_util

    if value is None:
        return None
    if pa.types.is_string(dtype):
        if isinstance(value, str):
            return value
        if isinstance(value, (Mapping, list)):
            return json.dumps(json.loads(json_util.dumps(value)), ensure_ascii=False)
        return str(value)
    if pa.types.is_decimal(dtype) and isinstance(value, Decimal128):
        return value.to_decimal()
    if pa.types.is_floating(dtype) and isinstance(value, int):
        return float(value)
    if pa.types.is_binary(dtype):
        return bytes(value)
    return value


def docs_to_batch(docs: list[dict[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
    import pyarrow as pa

    arrays = []
    for f in schema:
        try:
            arrays.append(pa.array([arrow_value(d.get(f.name), f.type) for d in docs], type=f.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, decimal.InvalidOperation) as exc:
            raise ConfigError(f"field {f.name!r} has a value that does not fit the type inferred "
                              f"from the sample ({f.type}): {exc}; raise `sample_size` or "
                              "project the field", field="sample_size") from exc
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


# --- Arrow -> documents ----------------------------------------------------------------

def batch_to_docs(batch: pa.RecordBatch, *, nest_dotted: bool) -> list[dict[str, Any]]:
    """The rows as documents. Each column is converted once, and only where BSON needs it
    (decimals, dates, times, durations; a naive timestamp is already encoded as UTC)."""
    import pyarrow as pa

    t = pa.types
    names = batch.schema.names
    columns = []
    for f, column in zip(batch.schema, batch.columns, strict=True):
        values = column.to_pylist()
        if t.is_decimal(f.type) or t.is_date(f.type) or t.is_time(f.type) or t.is_duration(f.type):
            values = [None if v is None else to_bson(v) for v in values]
        columns.append(values)
    docs = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    if nest_dotted and any("." in n for n in names):
        return [_nested(doc) for doc in docs]
    return docs


def _nested(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` as ``{"a": {"b": 1}}``."""
    doc: dict[str, Any] = {}
    for name, value in flat.items():
        *parents, leaf = name.split(".")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return doc
