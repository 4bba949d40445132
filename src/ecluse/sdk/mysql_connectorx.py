"""The fast read path of the ``mysql`` extractor: connectorx decodes rows in Rust straight into
Arrow batches (PyMySQL decodes them in Python, ~25x slower). Columns whose values connectorx
would change are converted by the server first (TIME as microseconds, wide DECIMALs as text)
and every batch is cast to the types the PyMySQL probe gives, so both paths agree exactly.
The extractor uses it for table scans only: ``arrow_stream`` holds the GIL while it waits for
the server, so a query slow to produce rows would stall every thread of the process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ecluse.sdk.mysql_arrow import quote as quote_ident

if TYPE_CHECKING:
    import pyarrow as pa

_TIME_ZONE = "SET time_zone = '+00:00'"  # TIMESTAMP read as UTC, as on the PyMySQL path


def select_list(fields: list[Any], alias: str) -> list[str] | None:
    """Per column of a probed result (PyMySQL fields), what connectorx should select, or None
    when a column has a type connectorx cannot read faithfully (spatial types...)."""
    from pymysql.constants import FIELD_TYPE as T

    from ecluse.sdk.mysql_arrow import arrow_type

    plain = {T.TINY, T.SHORT, T.INT24, T.LONG, T.LONGLONG, T.YEAR, T.FLOAT, T.DOUBLE, T.DATE,
             T.DATETIME, T.TIMESTAMP, T.VARCHAR, T.VAR_STRING, T.STRING, T.JSON, T.ENUM, T.SET,
             T.TINY_BLOB, T.MEDIUM_BLOB, T.LONG_BLOB, T.BLOB, T.BIT}
    out = []
    for f in fields:
        col = f"{alias}.{quote_ident(f.name)}"
        if f.type_code in (T.DECIMAL, T.NEWDECIMAL):
            # connectorx reads DECIMAL as decimal128(38, 10): exact up to 28 + 10 digits
            t = arrow_type(f)
            out.append(col if t.scale <= 10 and t.precision - t.scale <= 28
                       else f"CAST({col} AS CHAR)")
        elif f.type_code == T.TIME:  # negative and > 24 h values are valid MySQL TIMEs
            out.append(f"CAST(ROUND(TIME_TO_SEC({col}) * 1000000) AS SIGNED)")
        elif f.type_code in plain:
            out.append(col)
        else:
            return None
    return [f"{expr} AS {quote_ident(f.name)}" for expr, f in zip(out, fields, strict=True)]


def url(params: dict[str, Any]) -> str:
    auth = quote(str(params.get("user") or "root"), safe="")
    if params.get("password"):
        auth += ":" + quote(str(params["password"]), safe="")
    db = quote(str(params["database"]), safe="") if params.get("database") else ""
    return f"mysql://{auth}@{params.get('host') or '127.0.0.1'}:{params.get('port') or 3306}/{db}"


def stream(params: dict[str, Any], sql: str, schema: pa.Schema, batch_size: int
           ) -> Iterator[pa.RecordBatch]:
    """The result of ``sql``, batch by batch, as ``schema``."""
    import connectorx as cx
    import pyarrow as pa

    reader = cx.read_sql(url(params), sql, return_type="arrow_stream", batch_size=batch_size,
                         pre_execution_query=[_TIME_ZONE])
    for batch in reader:
        if not batch.num_rows:
            continue
        columns = [_cast(col, f.type) for col, f in zip(batch.columns, schema, strict=True)]
        yield pa.RecordBatch.from_arrays(columns, schema=schema)


def _cast(column: pa.Array, to: pa.DataType) -> pa.Array:
    import pyarrow as pa

    if column.type == to:
        return column
    if pa.types.is_duration(to):  # microseconds
        return column.cast(pa.int64()).cast(to)
    return column.cast(to)
