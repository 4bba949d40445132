"""PostgreSQL <-> Arrow: identifiers, bound ``:name`` parameters and faithful type mapping.

Shared by the ``postgres`` extractor and loader. Reads and writes go through ADBC's libpq
driver (binary COPY into and out of Arrow, in C; see ``arrow_pg_session``); this module only
decides SQL text and the final Arrow types, so nothing here touches data row by row.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import ibis.expr.datatypes as idt

from ecluse.sdk.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa

# --- identifiers --------------------------------------------------------------------------


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, always quoted (so any text is a name, never SQL)."""
    if "\x00" in name:
        raise ConfigError(f"the name {name!r} contains a NUL character")
    return '"' + name.replace('"', '""') + '"'


def split_table_name(text: str) -> tuple[str | None, str]:
    """``orders`` -> (None, orders); ``analytics.orders`` -> (analytics, orders);
    ``"my.schema"."Orders"`` -> (my.schema, Orders). Quotes allow dots inside a part."""
    parts: list[str] = []
    buf: list[str] = []
    i, quoted = 0, False
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == '"':
                if i + 1 < len(text) and text[i + 1] == '"':
                    buf.append('"')
                    i += 1
                else:
                    quoted = False
            else:
                buf.append(ch)
        elif ch == '"':
            quoted = True
        elif ch == ".":
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    if quoted or len(parts) > 2 or any(p == "" for p in parts):
        raise ConfigError(f"{text!r} is not a table name; write `table` or `schema.table` "
                          "(double-quote a part that contains a dot)", field="table")
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def qualified(schema: str | None, table: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(table)}" if schema else quote_ident(table)


# --- :name parameters -----------------------------------------------------------------------

_STRINGS_AND_COMMENTS = re.compile(
    r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\$\$.*?\$\$", re.S)
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_TYPE_NAME = re.compile(r"^[A-Za-z_][\w ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?(\[\])*$")


def safe_type(name: str) -> str:
    """A server-given type name, checked before it goes into SQL text."""
    if not _TYPE_NAME.match(name):
        raise ValueError(f"unexpected PostgreSQL type name {name!r}")
    return name


def pg_type_of_value(value: Any) -> str:
    """The PostgreSQL type a Python parameter value is bound as (sent as text, cast)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double precision"
    if isinstance(value, decimal.Decimal):
        return "numeric"
    if isinstance(value, dt.datetime):
        return "timestamptz" if value.tzinfo is not None else "timestamp"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.time):
        return "time"
    return "text"


def value_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


class BoundSql:
    """SQL text with ``$n`` placeholders and the text values bound to them."""

    def __init__(self) -> None:
        self.values: list[str | None] = []

    def add(self, value: str | None, pg_type: str) -> str:
        self.values.append(value)
        return f"CAST(${len(self.values)} AS {safe_type(pg_type)})"

    def bind_named(self, sql: str, parameters: Mapping[str, Any],
                   typed: Mapping[str, tuple[str | None, str | None]] | None = None, *,
                   field: str = "query") -> str:
        """Replace every ``:name`` outside strings and comments by a bound placeholder.

        ``typed`` gives (text, type) for reserved parameters such as ``:last_value``."""
        out: list[str] = []
        pos = 0
        for m in _STRINGS_AND_COMMENTS.finditer(sql):
            out.append(self._replace(sql[pos:m.start()], parameters, typed or {}, field))
            out.append(m.group(0))
            pos = m.end()
        out.append(self._replace(sql[pos:], parameters, typed or {}, field))
        return "".join(out)

    def _replace(self, text: str, parameters: Mapping[str, Any],
                 typed: Mapping[str, tuple[str | None, str | None]], field: str) -> str:
        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in typed:
                value, pg_type = typed[name]
                return "NULL" if pg_type is None else self.add(value, pg_type)
            if name not in parameters:
                raise ConfigError(f"the query uses the parameter :{name}, which has no value "
                                  "in this run", field=field)
            value = parameters[name]
            return self.add(value_text(value), pg_type_of_value(value))
        return _PARAM.sub(sub, text)


def uses_parameter(sql: str, name: str) -> bool:
    stripped = _STRINGS_AND_COMMENTS.sub(" ", sql)
    return name in _PARAM.findall(stripped)


# --- PostgreSQL -> Arrow (reads) -----------------------------------------------------------

PG_TYPE_KEY = b"POSTGRESQL:type"
PG_TYPMOD_KEY = b"POSTGRESQL:typmod"


def numeric_typmod(typmod: int) -> tuple[int, int] | None:
    if typmod < 4:
        return None
    value = typmod - 4
    return (value >> 16) & 0xFFFF, value & 0xFFFF


def _meta(field: pa.Field, key: bytes) -> str | None:
    meta = field.metadata or {}
    raw = meta.get(key)
    return raw.decode() if raw is not None else None


NAN_UNSCALED = -(2**63)
"""The unscaled int8 a numeric(p <= 18, s) NaN is sent as: no such value has 19 digits."""


class NotANumber(ValueError):
    """A NaN in a numeric(p,s) column: Arrow's decimals have no NaN."""

    def __init__(self, column: str, row: int) -> None:
        super().__init__(f"column {column!r} holds NaN (row {row + 1} of the batch)")
        self.column = column
        self.row = row


def read_plan(schema: pa.Schema, *, keep_extensions: bool) -> tuple[list[str], pa.Schema]:
    """From the schema ADBC reports for a query: the select list (with server-side casts for
    types Arrow cannot carry) and the Arrow schema every batch is converted to.

    numeric(p,s) -> decimal128(p,s) (exact text past 38 digits); unconstrained numeric ->
    float64; intervals (months and days have no fixed length in Arrow's engines), enums,
    inet, money, xml and other types without an Arrow form -> text (their
    PostgreSQL spelling), and arrays of them (numeric arrays included) -> lists of text;
    uuid and json/jsonb keep Arrow's uuid/json extension types on DuckDB, and become text
    elsewhere."""
    import pyarrow as pa

    exprs: list[str] = []
    fields: list[pa.Field] = []
    for f in schema:
        col = quote_ident(f.name)
        ftype = f.type
        ext_name = getattr(ftype, "extension_name", None)
        pgtype = _meta(f, PG_TYPE_KEY) or ""
        if ext_name == "arrow.opaque" and pgtype == "numeric":
            mod = numeric_typmod(int(_meta(f, PG_TYPMOD_KEY) or "-1"))
            if mod is None:
                exprs.append(f"{col}::float8 AS {col}")
                fields.append(pa.field(f.name, pa.float64()))
            elif mod[0] > 38:  # wider than any engine's decimal: exact text
                exprs.append(f"{col}::text AS {col}")
                fields.append(pa.field(f.name, pa.string()))
            elif mod[0] <= 18:  # sent as the unscaled int8, rebuilt in Arrow without parsing
                unscaled = f"({col} * 1e{mod[1]})::int8" if mod[1] else f"{col}::int8"
                exprs.append(f"CASE WHEN {col} = 'NaN' THEN {NAN_UNSCALED} ELSE {unscaled} END "
                             f"AS {col}")
                fields.append(pa.field(f.name, pa.decimal128(*mod)))
            else:
                exprs.append(col)
                fields.append(pa.field(f.name, pa.decimal128(*mod)))
        elif (casts := _text_casts(f, keep_extensions)) is not None:
            exprs.append(f"{col}{''.join(f'::{t}' for t in casts)} AS {col}")
            fields.append(pa.field(f.name, pa.string()))
        elif (pa.types.is_list(ftype)
              and (casts := _text_casts(ftype.value_field, keep_extensions)) is not None):
            exprs.append(f"{col}{''.join(f'::{t}[]' for t in casts)} AS {col}")
            fields.append(pa.field(f.name, pa.list_(pa.string())))
        elif ext_name in ("arrow.uuid", "arrow.json"):
            exprs.append(col)
            fields.append(pa.field(f.name, ftype))
        else:
            exprs.append(col)
            fields.append(pa.field(f.name, _plain(ftype)))
    return exprs, pa.schema(fields)


def _text_casts(f: pa.Field, keep_extensions: bool) -> list[str] | None:
    """The casts that read a value (a column, or an array's items) of a type without a
    faithful Arrow form as its PostgreSQL text; None for the others. ADBC sends money as its
    unscaled amount (12.34 -> 1234), so money goes through numeric."""
    import pyarrow as pa

    ext_name = getattr(f.type, "extension_name", None)
    if _meta(f, PG_TYPE_KEY) == "money":
        return ["numeric", "text"]
    if (ext_name == "arrow.opaque" or pa.types.is_interval(f.type)
            or (ext_name in ("arrow.uuid", "arrow.json") and not keep_extensions)):
        return ["text"]
    return None


def _plain(t: pa.DataType) -> pa.DataType:
    """Drop per-child field metadata ADBC attaches to list items."""
    import pyarrow as pa

    if pa.types.is_list(t):
        return pa.list_(_plain(t.value_type))
    return t


def conform_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Give one batch exactly ``schema`` (numeric text -> decimal, metadata dropped); a NaN
    in a decimal column raises :class:`NotANumber`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for array, target in zip(batch.columns, schema, strict=True):
        if isinstance(array.type, pa.BaseExtensionType) and array.type.extension_name == "arrow.opaque":
            array = array.storage
        if array.type != target.type:
            if pa.types.is_int64(array.type) and pa.types.is_decimal128(target.type):
                nan = pc.index(array, NAN_UNSCALED).as_py()
                if nan >= 0:
                    raise NotANumber(target.name, nan)
                array = unscaled_to_decimal(array, target.type)
            elif pa.types.is_string(array.type) and pa.types.is_decimal(target.type):
                try:
                    array = array.cast(target.type)
                except pa.ArrowInvalid:
                    nan = pc.index(pc.utf8_lower(array), "nan").as_py()
                    if nan < 0:
                        raise
                    raise NotANumber(target.name, nan) from None
            elif isinstance(target.type, pa.ExtensionType):
                array = pa.ExtensionArray.from_storage(target.type, array.storage
                                                       if isinstance(array, pa.ExtensionArray)
                                                       else array)
            else:
                array = array.cast(target.type)
        columns.append(array)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def unscaled_to_decimal(array: pa.Array, dtype: pa.DataType) -> pa.Array:
    """int64 unscaled values (``amount * 10^scale``) -> decimal128, by building its 16-byte
    little-endian two's complement buffer (no text parsing, no Python objects)."""
    import numpy as np
    import pyarrow as pa

    values = array.fill_null(0).to_numpy(zero_copy_only=False)
    wide = np.empty((len(values), 2), dtype=np.int64)
    wide[:, 0] = values
    wide[:, 1] = values >> 63
    validity = array.is_valid().buffers()[1] if array.null_count else None
    return pa.Array.from_buffers(dtype, len(values), [validity, pa.py_buffer(wide)],
                                 null_count=array.null_count)


# --- Arrow/Ibis -> PostgreSQL (writes) --------------------------------------------------


def pg_type_of(dtype: idt.DataType) -> str:
    """The column type a loader creates for an Ibis type."""
    if isinstance(dtype, idt.Boolean):
        return "boolean"
    if isinstance(dtype, idt.Int8 | idt.Int16 | idt.UInt8):
        return "smallint"
    if isinstance(dtype, idt.Int32 | idt.UInt16):
        return "integer"
    if isinstance(dtype, idt.Int64 | idt.UInt32):
        return "bigint"
    if isinstance(dtype, idt.UInt64):
        return "numeric(20,0)"
    if isinstance(dtype, idt.Float32 | idt.Float16):
        return "real"
    if isinstance(dtype, idt.Float64):
        return "double precision"
    if isinstance(dtype, idt.Decimal):
        if dtype.precision is None:
            return "numeric"
        return f"numeric({dtype.precision},{dtype.scale or 0})"
    if isinstance(dtype, idt.String):
        return "text"
    if isinstance(dtype, idt.Binary):
        return "bytea"
    if isinstance(dtype, idt.Timestamp):
        return "timestamptz" if dtype.timezone else "timestamp"
    if isinstance(dtype, idt.Date):
        return "date"
    if isinstance(dtype, idt.Time):
        return "time"
    if isinstance(dtype, idt.Interval):
        return "interval"
    if isinstance(dtype, idt.UUID):
        return "uuid"
    if isinstance(dtype, idt.JSON | idt.Struct | idt.Map):
        return "jsonb"
    if isinstance(dtype, idt.INET):
        return "inet"
    if isinstance(dtype, idt.Array):
        inner = pg_type_of(dtype.value_type)
        return "jsonb" if inner == "jsonb" or inner.endswith("[]") else f"{inner}[]"
    if isinstance(dtype, idt.Null):
        return "text"
    raise ConfigError(f"the type {dtype} cannot be stored in PostgreSQL")


def base_type(pg_type: str) -> str:
    """Type without modifiers, for comparing a staging column with a target column."""
    name = re.sub(r"\(.*?\)", "", pg_type).strip().lower()
    aliases = {"timestamp with time zone": "timestamptz",
               "timestamp without time zone": "timestamp",
               "time without time zone": "time", "character varying": "text", "varchar": "text",
               "double precision": "float8", "real": "float4", "integer": "int4", "bigint": "int8",
               "smallint": "int2", "boolean": "bool"}
    array = name.endswith("[]")
    name = name.removesuffix("[]")
    name = aliases.get(name, name)
    return name + ("[]" if array else "")


def adbc_ingest_type(t: pa.DataType) -> str | None:
    """The column type ADBC's binary COPY sends for an Arrow type (None when unsupported)."""
    import pyarrow as pa

    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "int2"
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "int4"
    if pa.types.is_int64(t) or pa.types.is_uint32(t):
        return "int8"
    if pa.types.is_float32(t):
        return "float4"
    if pa.types.is_float64(t):
        return "float8"
    if pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "bytea"
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    if pa.types.is_date32(t):
        return "date"
    if pa.types.is_time64(t):
        return "time"
    if pa.types.is_interval(t):
        return "interval"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        inner = adbc_ingest_type(t.value_type)
        return None if inner is None or inner.endswith("[]") else inner + "[]"
    return None


def json_text_columns(schema: pa.Schema) -> list[int]:
    """Columns ADBC cannot send (structs, maps, nested lists): sent as JSON text instead."""
    return [i for i, f in enumerate(schema) if adbc_ingest_type(f.type) is None]


def to_json_text(array: pa.Array) -> pa.Array:
    import json

    import pyarrow as pa

    return pa.array([None if v is None else json.dumps(v, default=str) for v in array.to_pylist()],
                    type=pa.string())


def sendable_schema(schema: pa.Schema, json_columns: Sequence[int]) -> pa.Schema:
    import pyarrow as pa

    fields = [pa.field(f.name, pa.string()) if i in json_columns else f.remove_metadata()
              for i, f in enumerate(schema)]
    return pa.schema(fields)


# --- connections ------------------------------------------------------------------------


def postgres_uri(connection: Any, *, field: str = "connection") -> str:
    """The libpq URI of a ``postgres`` connection (a ``url``, or host/port/user/... fields)."""
    from urllib.parse import quote

    if connection.type != "postgres":
        raise ConfigError(f"connection {connection.name!r} is of type {connection.type!r}, "
                          "not postgres", field=field)
    url = connection.get("url")
    if isinstance(url, str) and url:
        scheme, sep, rest = url.partition("://")
        return ("postgresql" + sep + rest) if sep and scheme.startswith("postgres") else url
    host = connection.get("host", "127.0.0.1")
    port = connection.get("port", 5432)
    user = quote(str(connection.get("user", "postgres")), safe="")
    password = connection.get("password")
    auth = f"{user}:{quote(str(password), safe='')}" if password else user
    database = quote(str(connection.get("database") or connection.get("dbname") or "postgres"))
    return f"postgresql://{auth}@{host}:{port}/{database}"


def first_line(exc: BaseException) -> str:
    """The server's own sentence when there is one (``ERROR:  ...``), without driver noise."""
    text = str(exc).strip()
    if "ERROR:  " in text:
        text = text.split("ERROR:  ", 1)[1]
    else:
        text = re.sub(r"^[A-Z_]+: ", "", text)
        text = text.removeprefix("[libpq] ")
    return text.splitlines()[0].strip() if text else type(exc).__name__


def warehouse_key(connection: Any) -> str:
    """Same server, port, database and user = the same warehouse (ELT pushdown)."""
    from urllib.parse import urlsplit

    parts = urlsplit(postgres_uri(connection))
    return (f"postgres://{parts.username or ''}@{parts.hostname or ''}:{parts.port or 5432}"
            f"{parts.path or '/'}")
