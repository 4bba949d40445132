"""MongoDB through pymongo: connecting, binding ``":name"`` parameters inside filters and
pipelines, turning documents into Arrow (flattened or kept as JSON) and Arrow rows into documents.

BSON types map as: ObjectId and UUID (binary subtype 4, or subtype 3 when the URL names its
legacy ``uuidRepresentation``) -> string, datetime -> ``timestamp[us, UTC]`` (BSON keeps milliseconds),
Decimal128 -> ``decimal128(38, s)`` with s the largest scale seen (text when the values need more
than 38 digits, or hold NaN/Infinity), int32/int64 -> int64,
double -> float64, binary -> binary, arrays (and sub-documents when not flattened) -> JSON text.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ecluse.sdk.connections import Connection
from ecluse.sdk.errors import ConfigError, shown
from ecluse.sdk.suggest import did_you_mean

if TYPE_CHECKING:
    import pyarrow as pa


def connect(connection: Connection, database: str | None, *,
            field: str = "connection") -> tuple[Any, Any]:
    """(client, database) for a ``mongodb://`` connection; the database comes from the config or
    else from the URL's path."""
    import pymongo
    from pymongo.errors import ConfigurationError, PyMongoError, ServerSelectionTimeoutError

    if connection.type != "mongodb":
        raise ConfigError(f"connection {connection.name!r} is of type {connection.type!r}, "
                          "not 'mongodb'", field=field)
    url = str(connection.get("url") or "")
    if not url:
        raise ConfigError(f"connection {connection.name!r} needs a `url` (mongodb://…)", field=field)
    name = database or unquote(urlsplit(url).path.lstrip("/")) or None
    if not name:
        raise ConfigError("give `database` (or put it in the connection's URL)", field="database")
    # options written in the URL win (pymongo lets keyword arguments override the URL); UUIDs
    # (binary subtype 4) are read as UUIDs, not as 16 raw bytes, and written as subtype 4
    options: dict[str, Any] = {key: value for key, value in (
        ("serverSelectionTimeoutMS", 10_000), ("uuidRepresentation", "standard"))
        if key.lower() not in url.lower()}
    try:
        client: Any = pymongo.MongoClient(url, tz_aware=True, **options)
    except (ConfigurationError, ValueError, TypeError) as exc:  # pymongo's own URL checks
        raise ConfigError(f"the URL of MongoDB connection {connection.name!r} is not valid: "
                          f"{exc}", field=field) from exc
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        client.close()
        advice = ("; check the host and port in its URL and that the server is running"
                  if isinstance(exc, ServerSelectionTimeoutError) else "")
        raise ConfigError(f"cannot connect to MongoDB connection {connection.name!r}: "
                          f"{server_message(exc)}{advice}", field=field) from exc
    return client, client[name]


def server_message(exc: BaseException) -> str:
    """What the server or driver said, in one short line: the server's ``errmsg`` and code,
    not its whole reply (pymongo appends it), nor the driver's topology and timeout dump."""
    from pymongo.errors import OperationFailure

    if isinstance(exc, OperationFailure) and isinstance(exc.details, Mapping) \
            and exc.details.get("errmsg"):
        code = f" (code {exc.code})" if exc.code is not None else ""
        return f"{exc.details['errmsg']}{code}"
    text = str(exc).split(", full error: ")[0].split(", Timeout: ")[0]
    text = re.sub(r" \(configured timeouts: [^)]*\)", "", text)
    return text.splitlines()[0] if text else type(exc).__name__


def get_path(doc: Any, path: str) -> Any:
    """The value at a dotted path (``a.b``) of a document; None when absent."""
    for part in path.split("."):
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(part)
    return doc


def bind(value: Any, parameters: Mapping[str, Any], *, field: str = "filter") -> Any:
    """Replace every string exactly ``":name"`` in a filter/pipeline (the setting ``field``) by
    the parameter's value (typed, never pasted into text)."""
    if isinstance(value, str) and value.startswith(":") and value[1:].isidentifier():
        name = value[1:]
        if name not in parameters:
            raise ConfigError(f"the {field} uses :{name}, but no such parameter was given."
                              f"{did_you_mean(name, parameters)}", field=field)
        return to_bson(parameters[name])
    if isinstance(value, Mapping):
        return {k: bind(v, parameters, field=field) for k, v in value.items()}
    if isinstance(value, list):
        return [bind(v, parameters, field=field) for v in value]
    return value


def json_options() -> Any:
    """Relaxed extended JSON that takes the UUIDs the client decodes (binary subtype 4 both
    ways; pymongo's default refuses them)."""
    from bson import json_util
    from bson.binary import UuidRepresentation

    return json_util.RELAXED_JSON_OPTIONS.with_options(uuid_representation=UuidRepresentation.STANDARD)


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


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, Mapping) and not value)


def _parents(names: Iterable[str]) -> set[str]:
    """Every ``a`` and ``a.b`` of the columns ``a.b.c``."""
    return {name[:i] for name in names for i, char in enumerate(name) if char == "."}


def unknown_fields(docs: Iterable[Mapping[str, Any]], known: set[str]) -> set[str]:
    """Fields of flattened documents that the columns ``known`` lack; a null or ``{}`` where the
    columns hold the field's sub-fields is none (those sub-fields are null in its row)."""
    parents = _parents(known)
    return {k for d in docs for k, v in d.items()
            if k not in known and not (k in parents and _empty(v))}


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
    if _is_uuid(value):
        return "text"
    if isinstance(value, (bytes, Binary)) and not isinstance(value, ObjectId):
        return "binary"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (Mapping, list)):
        return "json"
    return "text"  # ObjectId, UUID, Regex, Timestamp...: their text


def _is_uuid(value: Any) -> bool:
    """A standard UUID the client did not decode (a URL naming a legacy representation)."""
    from bson.binary import UUID_SUBTYPE, Binary

    return isinstance(value, Binary) and value.subtype == UUID_SUBTYPE


def _decimal_digits(value: Any) -> tuple[int, int] | None:
    """(digits before the point, digits after) of a Decimal128; None for NaN and infinities."""
    number = value.to_decimal()
    if not number.is_finite():
        return None
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite
    return max(len(digits) + exponent, 0), max(-exponent, 0)


def infer_schema(docs: Iterable[Mapping[str, Any]]) -> pa.Schema:
    """The Arrow schema of sampled (flattened) documents: fields in order of first appearance;
    mixed kinds widen (int+float -> float64, anything else -> string)."""
    import pyarrow as pa

    kinds: dict[str, set[str]] = {}
    whole: dict[str, int] = {}  # decimals: the most digits seen before and after the point
    scales: dict[str, int] = {}
    filled: set[str] = set()  # the fields holding more than null or {} somewhere
    for doc in docs:
        for name, value in doc.items():
            if not _empty(value):
                filled.add(name)
            kind = _kind(value)
            if kind == "decimal":
                shape = _decimal_digits(value)
                if shape is None:
                    kind = "text"
                else:
                    whole[name] = max(whole.get(name, 0), shape[0])
                    scales[name] = max(scales.get(name, 0), shape[1])
            kinds.setdefault(name, set()).add(kind)
    # a field that is a sub-document in some documents and null or {} in the others gives its
    # sub-fields' columns only (null in those rows), not a column of its own always empty
    parents = _parents(kinds)
    fields = []
    for name, seen in kinds.items():
        if name in parents and name not in filled:
            continue
        seen = seen - {"null"}
        if not seen:
            dtype: pa.DataType = pa.string()
        elif seen == {"decimal"}:
            scale = scales.get(name, 0)
            fits = whole.get(name, 0) + scale <= DECIMAL_DIGITS
            dtype = pa.decimal128(DECIMAL_DIGITS, scale) if fits else pa.string()
        elif len(seen) == 1:
            dtype = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(),
                     "datetime": pa.timestamp("us", tz="UTC"),
                     "binary": pa.binary()}.get(next(iter(seen)), pa.string())
        elif seen <= {"int", "float"}:
            dtype = pa.float64()
        else:
            dtype = pa.string()
        fields.append(pa.field(name, dtype))
    return pa.schema(fields or [pa.field("_id", pa.string())])  # no documents: only the id


DECIMAL_DIGITS = 38
"""Arrow's decimal128 holds 38 digits, split between the integer part and the scale."""


def arrow_value(value: Any, dtype: pa.DataType) -> Any:
    """``value`` as Arrow takes it for a column of ``dtype``. A value of another kind is left
    for Arrow to refuse; a fractional double in an integer column is refused here (Arrow would
    truncate 2.5 to 2)."""
    import pyarrow as pa
    from bson import Decimal128, json_util

    if value is None:
        return None
    if pa.types.is_string(dtype):
        if isinstance(value, str):
            return value
        if isinstance(value, (Mapping, list)):
            return json.dumps(json.loads(json_util.dumps(value, json_options=json_options())),
                              ensure_ascii=False)
        return str(value.as_uuid()) if _is_uuid(value) else str(value)
    if pa.types.is_decimal(dtype) and isinstance(value, Decimal128):
        return value.to_decimal()
    if pa.types.is_floating(dtype) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if pa.types.is_integer(dtype) and isinstance(value, float):
        if not value.is_integer():
            raise TypeError("a fraction in an integer column")
        return int(value)
    if pa.types.is_binary(dtype) and isinstance(value, bytes):
        return bytes(value)
    return value


_REFUSED = (ArithmeticError, TypeError, ValueError)  # pyarrow's ArrowInvalid/TypeError included


def _fits(value: Any, dtype: pa.DataType) -> bool:
    import pyarrow as pa

    try:
        pa.array([arrow_value(value, dtype)], type=dtype)
    except _REFUSED:
        return False
    return True


def docs_to_batch(docs: list[dict[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
    import pyarrow as pa

    arrays = []
    for f in schema:
        values = [d.get(f.name) for d in docs]
        try:
            arrays.append(pa.array([arrow_value(v, f.type) for v in values], type=f.type))
        except _REFUSED as exc:
            bad = next((v for v in values if not _fits(v, f.type)), None)
            if bad is None:
                raise
            raise ConfigError(
                f"field {f.name!r} holds {shown(bad, 100)}, which does not fit the type {f.type} "
                "inferred from the sampled documents; raise `sample_size` so that the sample "
                "holds such values (the column then widens, to text if need be), or leave the "
                "field out with a `projection`", field="sample_size") from exc
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


# --- Arrow -> documents ----------------------------------------------------------------

DECIMAL128_DIGITS = 34
"""Significant digits a BSON Decimal128 holds."""


def require_decimal128(batch: pa.RecordBatch, rows_before: int) -> None:
    """Refuse, naming it, a decimal with more significant digits than Decimal128 holds (a
    decimal(38,30) value can have 38; pymongo raises ``decimal.Inexact``, naming nothing);
    ``rows_before`` rows came before the batch."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from bson import Decimal128

    for f, array in zip(batch.schema, batch.columns, strict=True):
        if not pa.types.is_decimal(f.type) or f.type.precision <= DECIMAL128_DIGITS:
            continue
        # only a value of 10^(34 - scale) or more can have more than 34 digits
        bound = pa.scalar(decimal.Decimal(10) ** (DECIMAL128_DIGITS - f.type.scale))
        for at in pc.indices_nonzero(pc.greater_equal(pc.abs(array), bound).fill_null(False)):
            value = array[at.as_py()].as_py()
            try:
                Decimal128(value)
            except decimal.Inexact:
                digits = len("".join(map(str, value.as_tuple().digits)).strip("0"))
                keep = max(DECIMAL128_DIGITS - value.adjusted() - 1, 0)
                raise ConfigError(
                    f"column {f.name!r} holds {value} (row {rows_before + at.as_py() + 1}), which "
                    f"has {digits} significant digits: MongoDB's Decimal128 keeps "
                    f"{DECIMAL128_DIGITS}, so it cannot be stored exactly; nothing was written: "
                    f"round it before this node (e.g. a derive's round({f.name}, {keep})), or "
                    "cast the column to string (a cleaner's cast) to store its exact text",
                    field="collection") from None


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
