"""The fast read path of the ``mysql`` extractor: connectorx decodes rows in Rust straight into
Arrow batches (PyMySQL decodes them in Python, ~25x slower). Columns whose values connectorx
would change are converted by the server first (TIME as microseconds, wide DECIMALs as text)
and every batch is cast to the types the PyMySQL probe gives, so both paths agree exactly.

connectorx's ``arrow_stream`` holds the GIL while it waits for the server's next rows, so a
query slow to produce rows would stall every thread of the process (an API server, a cancel).
Three ways in, then: :func:`stream` in the process for table scans (rows flow at once);
:func:`read_bounded` (``arrow`` mode, which releases the GIL, but holds the whole result) for
results a LIMIT bounds (keyset pages, previews); :func:`stream_in_child` for any other query:
connectorx runs in a child process that streams Arrow IPC through a pipe, which this process
reads without holding the GIL."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ecluse.sdk.errors import ConfigError
from ecluse.sdk.mysql_arrow import not_a_boolean
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
            # connectorx decodes a DECIMAL into a 96-bit rust_decimal (28 digits) rescaled to
            # 10 decimals, as decimal128(38, 10): exact for up to 18 integer digits
            t = arrow_type(f)
            out.append(col if t.scale <= 10 and t.precision - t.scale <= 18
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
        columns = [_cast(col, f) for col, f in zip(batch.columns, schema, strict=True)]
        yield pa.RecordBatch.from_arrays(columns, schema=schema)


def read_bounded(params: dict[str, Any], sql: str, schema: pa.Schema) -> pa.RecordBatch:
    """The whole (LIMIT-bounded) result of ``sql`` as one batch of ``schema``; connectorx's
    ``arrow`` mode releases the GIL while it waits."""
    import connectorx as cx
    import pyarrow as pa

    table = cx.read_sql(url(params), sql, return_type="arrow", pre_execution_query=[_TIME_ZONE])
    batch = table.combine_chunks().to_batches()
    columns = ([_cast(col, f) for col, f in zip(batch[0].columns, schema, strict=True)]
               if batch else [pa.array([], f.type) for f in schema])
    return pa.RecordBatch.from_arrays(columns, schema=schema)


_CHILD = """
import json, sys
_MARK = "ecluse-connectorx-error: "
import connectorx as cx
import pyarrow as pa
spec = json.loads(sys.stdin.readline())
try:
    reader = cx.read_sql(spec["url"], spec["sql"], return_type="arrow_stream",
                         batch_size=spec["batch_size"], pre_execution_query=[spec["pre"]])
    with pa.ipc.new_stream(sys.stdout.buffer, reader.schema) as out:
        for batch in reader:
            if batch.num_rows:
                out.write_batch(batch)
except BrokenPipeError:
    pass
except BaseException as exc:  # a failed query is a Rust panic (PanicException)
    sys.stderr.write("\\n" + _MARK + (str(exc) or type(exc).__name__).replace("\\n", " "))
    sys.exit(1)
"""
_MARK = "ecluse-connectorx-error: "


def error_text(text: str) -> str:
    """The server's words in a connectorx failure (a panic's message wraps them:
    ``cx writer failed: Source(MySQLError(MySqlError { ERROR 1242 (21000): ... }))``)."""
    if _MARK in text:
        text = text.rsplit(_MARK, 1)[1]
    found = re.search(r"ERROR \d+ \(\w+\): (.*?)(?: \}+\)*)?$", text.strip().splitlines()[-1]
                      if text.strip() else "")
    return found.group(1) if found else (text.strip().splitlines() or ["connectorx failed"])[-1]


def stream_in_child(params: dict[str, Any], sql: str, schema: pa.Schema, batch_size: int
                    ) -> Iterator[pa.RecordBatch]:
    """:func:`stream`, with connectorx in a child process (its GIL, not ours, waits for the
    server). The child is killed when the stream is closed early."""
    import pyarrow as pa

    env = {**os.environ, "RUST_BACKTRACE": "0"}  # a panic's message, not its stack
    proc = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        spec = {"url": url(params), "sql": sql, "batch_size": batch_size, "pre": _TIME_ZONE}
        proc.stdin.write(json.dumps(spec).encode() + b"\n")  # the password never in argv
        proc.stdin.close()
        broken: Exception | None = None
        try:
            for batch in pa.ipc.open_stream(proc.stdout):
                columns = [_cast(col, f) for col, f in zip(batch.columns, schema, strict=True)]
                yield pa.RecordBatch.from_arrays(columns, schema=schema)
        except (pa.ArrowInvalid, OSError) as exc:  # the stream stopped short: the child failed
            broken = exc
        if proc.wait() != 0:  # its own words (the server's error) over the broken stream's
            raise RuntimeError(error_text(proc.stderr.read().decode(errors="replace"))
                               if proc.returncode > 0 else
                               f"connectorx's process ended by signal {-proc.returncode}")
        if broken is not None:
            raise broken
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def _cast(column: pa.Array, field: pa.Field) -> pa.Array:
    import pyarrow as pa

    to = field.type
    if column.type == to:
        return column
    if pa.types.is_duration(to):  # microseconds
        return column.cast(pa.int64()).cast(to)
    if (fast := _rescaled(column, to)) is not None:
        return fast
    if pa.types.is_boolean(to) and pa.types.is_integer(column.type):
        _check_boolean(column, field.name)
    try:
        return column.cast(to)
    except pa.ArrowInvalid as exc:
        if not pa.types.is_decimal(to):
            raise
        # MariaDB declares ROUND(x, <a column>) with x's precision: ROUND(99.99, 0) = 100.00
        # does not fit the DECIMAL(4, 2) it declared
        raise ConfigError(
            f"column {field.name!r}: the server declared it DECIMAL({to.precision}, {to.scale}) "
            f"but sent a value that does not fit ({exc}); CAST the expression to a wider "
            "DECIMAL in the query", field="query") from exc


def _check_boolean(column: pa.Array, name: str) -> None:
    import pyarrow.compute as pc

    bounds = pc.min_max(column)
    if bounds["min"].as_py() is not None and (bounds["min"].as_py() < 0 or bounds["max"].as_py() > 1):
        value = pc.filter(column, pc.or_(pc.less(column, 0), pc.greater(column, 1)))[0]
        raise not_a_boolean(name, value.as_py())


def _rescaled(column: pa.Array, to: pa.DataType) -> pa.Array | None:
    """connectorx reads every DECIMAL as decimal128(38, 10), and Arrow's cast to the column's
    own (p, s) divides value by value in 128 bits: the column's 6 % of the read time at 5M rows.
    Columns whose values fit in 64 bits at scale 10 (below 922,337,203 in magnitude: prices,
    amounts, rates...) are rescaled here with NumPy's integer division, at half that cost; None
    for the others, and for values the cast would refuse (more digits, or a fraction the scale
    would drop), which the cast then reports."""
    import numpy as np
    import pyarrow as pa

    frm, n = column.type, len(column)
    if not (pa.types.is_decimal128(frm) and pa.types.is_decimal128(to)) or column.offset \
            or to.scale > frm.scale or not n:
        return None
    words = np.frombuffer(column.buffers()[1], dtype=np.int64, count=2 * n)
    low, high = words[0::2].copy(), words[1::2]  # little-endian 128-bit: low word first
    if column.null_count:  # what a null's slot holds is unspecified
        nulls = ~np.asarray(column.is_valid())
        low[nulls], high = 0, np.where(nulls, 0, high)
    if not np.array_equal(high, low >> 63):  # a value beyond 64 bits
        return None
    factor = 10 ** (frm.scale - to.scale)
    scaled = low // factor
    if not np.array_equal(scaled * factor, low):
        return None
    if to.precision <= 18 and max(-int(scaled.min()), int(scaled.max())) >= 10 ** to.precision:
        return None
    out = np.empty(2 * n, dtype=np.int64)
    out[0::2], out[1::2] = scaled, scaled >> 63
    return pa.Array.from_buffers(to, n, [column.buffers()[0], pa.py_buffer(out)],
                                 null_count=column.null_count)
