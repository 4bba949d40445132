"""The expression language of ``filter``, ``derive``, ``validator`` and friends.

Users write small SQL expressions (DuckDB flavour) over the input columns::

    dep_delay > 15 AND origin IN ('JFK', 'LGA')
    origin || '-' || dest
    CASE WHEN amount >= 100 THEN 'big' ELSE 'small' END

The text is parsed with sqlglot into a syntax tree, every node is checked against a
whitelist (operators, ``CASE``/``IF``, ``CAST``, and the functions in :data:`FUNCTIONS`),
every column against the input schema, and the tree is lowered to an Ibis expression.
Nothing is ever ``eval``'d and the text is never pasted into SQL: what runs is the Ibis
expression, so the same condition works on DuckDB, Polars and PySpark.

Errors are :class:`ExpressionError` (a :class:`~ecluse.sdk.errors.ConfigError`) carrying
the line, column and text of the offending token.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from ecluse.sdk.errors import ConfigError
from ecluse.sdk.suggest import closest

__all__ = ["FUNCTIONS", "ExpressionError", "compile_expression", "parse_expression",
           "referenced_columns"]


class ExpressionError(ConfigError):
    """An expression that cannot work: a syntax error, an unknown column or function, a type
    mismatch. ``line``/``column`` are 1-based; ``token`` is the offending text."""

    def __init__(self, message: str, *, field: str | None, expression: str,
                 line: int | None = None, column: int | None = None, token: str | None = None,
                 start: int | None = None) -> None:
        where = ""
        if line is not None and column is not None:
            where = f" (line {line}, column {column}"
            where += f", at {token!r})" if token else ")"
        elif token:
            where = f" (at {token!r})"
        super().__init__(f"{message}{where} in expression {expression!r}", field=field)
        self.reason = message
        self.expression = expression
        self.line = line
        self.column = column
        self.token = token
        self.start = start


# ---------------------------------------------------------------------------- parsing


@functools.lru_cache(maxsize=512)
def _parse_cached(text: str) -> exp.Expr:
    statements = sqlglot.parse(text, read="duckdb")
    if len(statements) != 1 or statements[0] is None:
        raise ValueError("one expression expected")
    return statements[0]


def parse_expression(text: str, *, field: str | None = None) -> exp.Expr:
    """Parse ``text`` into a sqlglot tree; raise :class:`ExpressionError` with the position of
    a syntax error."""
    if not text or not text.strip():
        raise ExpressionError("the expression is empty", field=field, expression=text)
    try:
        tree = _parse_cached(text)
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        desc = str(first.get("description") or "syntax error")
        raise ExpressionError(f"syntax error: {_plain(desc)}", field=field, expression=text,
                              line=first.get("line"), column=first.get("col"),
                              token=first.get("highlight") or None) from None
    except TokenError as exc:
        raise ExpressionError(f"syntax error: {exc}", field=field, expression=text) from None
    except ValueError:
        raise ExpressionError("write a single expression (no ';', no statements)", field=field,
                              expression=text) from None
    if isinstance(tree, (exp.Query, exp.Command, exp.DDL, exp.DML, exp.Block)):
        raise ExpressionError("write an expression, not a statement", field=field,
                              expression=text, **_position(tree, text))
    return tree


def _plain(description: str) -> str:
    if "Required keyword" in description:
        return "the expression is incomplete"
    if "Invalid expression / Unexpected token" in description:
        return "unexpected token"
    return description


def referenced_columns(text: str, *, field: str | None = None) -> list[str]:
    """Input columns an expression reads, in order of first use."""
    seen: list[str] = []
    for col in parse_expression(text, field=field).find_all(exp.Column):
        if col.name not in seen:
            seen.append(col.name)
    return seen


def _position(node: exp.Expr, text: str) -> dict[str, Any]:
    """Line, column and text of the first token of ``node`` (from sqlglot's token metadata)."""
    spans = [(int(sub.meta["start"]), int(sub.meta["end"])) for sub in node.walk()
             if sub is not None and sub.meta and "start" in sub.meta]
    if spans:
        start, end = min(spans)
        line = text.count("\n", 0, start) + 1
        column = start - (text.rfind("\n", 0, start) + 1) + 1
        snippet = node.sql(dialect="duckdb")
        return {"line": line, "column": column, "start": start,
                "token": snippet if len(snippet) <= 60 else text[start:end + 1]}
    return {"token": node.sql(dialect="duckdb")}


# ---------------------------------------------------------------------------- lowering


@dataclass
class _Lowering:
    table: ir.Table
    text: str
    field: str | None

    def fail(self, message: str, node: exp.Expr) -> ExpressionError:
        return ExpressionError(message, field=self.field, expression=self.text,
                               **_position(node, self.text))

    def lower(self, node: exp.Expr) -> ir.Value:
        handler = _NODES.get(type(node))
        try:
            if handler is not None:
                value = handler(self, node)
                return ~value if node.args.get("negate") else value  # NOT LIKE...
            if isinstance(node, exp.Func):
                return self.call(node)
        except ExpressionError:
            raise
        except (TypeError, ValueError, AttributeError, NotImplementedError,
                ibis.common.exceptions.IbisError) as exc:
            raise self.fail(_type_message(self, node, exc), node) from None
        raise self.fail(f"{_describe(node)} is not supported here", node)

    def column(self, node: exp.Column) -> ir.Value:
        if node.table or node.args.get("db") or node.args.get("catalog"):
            raise self.fail("write the column name alone, without a table prefix", node)
        name = node.name
        columns = list(self.table.columns)
        if name not in columns:
            lowered = {c.lower(): c for c in columns}
            if name.lower() in lowered and not node.this.quoted:
                return self.table[lowered[name.lower()]]
            near = closest(name, columns)
            hint = f"; did you mean {near!r}?" if near else f"; columns are: {', '.join(columns)}"
            raise self.fail(f"column {name!r} does not exist in the input{hint}", node)
        return self.table[name]

    def call(self, node: exp.Func) -> ir.Value:
        name = node.name.lower() if isinstance(node, exp.Anonymous) else node.key.lower()
        spec = FUNCTIONS.get(name)
        if spec is None:
            if isinstance(node, exp.AggFunc):
                raise self.fail(f"aggregate function {_fn_name(node)}() cannot be used in a "
                                "row expression (use the aggregate module)", node)
            raise self.fail(f"unknown or unsupported function {_fn_name(node)}(); available: "
                            f"{', '.join(sorted(PUBLIC_FUNCTIONS))}", node)
        return spec(self, node)

    def arg(self, node: exp.Expr, key: str) -> ir.Value:
        value = node.args.get(key)
        if value is None:
            raise self.fail(f"{_fn_name(node)}() is missing an argument", node)
        return self.lower(value)

    def args(self, node: exp.Expr) -> list[ir.Value]:
        """Positional arguments of an anonymous function call."""
        return [self.lower(a) for a in node.expressions]

    def literal_int(self, node: exp.Expr, key: str) -> int:
        value = node.args.get(key)
        if isinstance(value, exp.Neg) and isinstance(value.this, exp.Literal):
            return -int(value.this.this)
        if not isinstance(value, exp.Literal) or value.is_string:
            raise self.fail(f"{_fn_name(node)}() needs a whole number here", value or node)
        return int(value.this)

    def literal_str(self, node: exp.Expr | None, parent: exp.Expr) -> str:
        if isinstance(node, exp.Var):
            return node.name
        if not isinstance(node, exp.Literal) or not node.is_string:
            raise self.fail(f"{_fn_name(parent)}() needs a quoted text constant here", node or parent)
        return str(node.this)


def _fn_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name)
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return node.key


def _describe(node: exp.Expr) -> str:
    if isinstance(node, exp.Func):
        return f"function {_fn_name(node)}()"
    if isinstance(node, exp.Star):
        return "'*'"
    return f"{node.key.upper()!r}"


def _type_message(lw: _Lowering, node: exp.Expr, exc: BaseException) -> str:
    """A readable sentence for a type error raised by Ibis while building ``node``."""
    parts = []
    for key in ("this", "expression"):
        child = node.args.get(key)
        if isinstance(child, exp.Expr):
            with contextlib.suppress(ExpressionError):
                parts.append(f"{child.sql(dialect='duckdb')} is {lw.lower(child).type()}")
    detail = f" ({'; '.join(parts)})" if parts else ""
    return f"incompatible types for {_describe(node)}{detail}"


# -- typing helpers


def _numeric(lw: _Lowering, value: ir.Value, node: exp.Expr) -> ir.NumericValue:
    if not isinstance(value.type(), (dt.Numeric, dt.Boolean)):
        raise lw.fail(f"{node.sql(dialect='duckdb')} is {value.type()}, a number is needed", node)
    return value  # type: ignore[return-value]


def _text(lw: _Lowering, value: ir.Value, node: exp.Expr) -> ir.StringValue:
    if not isinstance(value.type(), dt.String):
        raise lw.fail(f"{node.sql(dialect='duckdb')} is {value.type()}, text is needed", node)
    return value  # type: ignore[return-value]


def _temporal(lw: _Lowering, value: ir.Value, node: exp.Expr) -> ir.TimestampValue:
    if not isinstance(value.type(), (dt.Timestamp, dt.Date, dt.Time)):
        raise lw.fail(f"{node.sql(dialect='duckdb')} is {value.type()}, a date or timestamp is "
                      "needed", node)
    return value  # type: ignore[return-value]


def _boolean(lw: _Lowering, value: ir.Value, node: exp.Expr) -> ir.BooleanValue:
    if not isinstance(value.type(), (dt.Boolean, dt.Null)):
        raise lw.fail(f"{node.sql(dialect='duckdb')} is {value.type()}, a condition (true/false) "
                      "is needed", node)
    return value  # type: ignore[return-value]


def _align(lw: _Lowering, a: ir.Value, b: ir.Value) -> tuple[ir.Value, ir.Value]:
    """Let a text constant compare with a date/timestamp column ('2024-01-01')."""
    ta, tb = a.type(), b.type()
    if isinstance(ta, (dt.Date, dt.Timestamp)) and isinstance(tb, dt.String) and _is_literal(b):
        return a, b.cast(ta)
    if isinstance(tb, (dt.Date, dt.Timestamp)) and isinstance(ta, dt.String) and _is_literal(a):
        return a.cast(tb), b
    return a, b


def _is_literal(value: ir.Value) -> bool:
    import ibis.expr.operations as ops

    return isinstance(value.op(), ops.Literal)


def _comparable(lw: _Lowering, node: exp.Expr, a: ir.Value, b: ir.Value) -> None:
    ta, tb = a.type(), b.type()
    groups = (dt.Numeric | dt.Boolean, dt.String, dt.Date | dt.Timestamp, dt.Time, dt.Binary)
    if isinstance(ta, dt.Null) or isinstance(tb, dt.Null):
        return
    for group in groups:
        if isinstance(ta, group) and isinstance(tb, group):  # type: ignore[arg-type]
            return
    raise lw.fail(f"cannot compare {ta} with {tb}", node)


# -- node handlers


def _literal(lw: _Lowering, node: exp.Literal) -> ir.Value:
    if node.is_string:
        return ibis.literal(str(node.this), type="string")
    raw = str(node.this)
    try:
        return ibis.literal(int(raw), type="int64")
    except ValueError:
        return ibis.literal(float(raw), type="float64")


def _unless_zero(divisor: Any) -> Any:
    """Dividing by zero gives null, as on MySQL: engines and databases disagree otherwise
    (infinity on DuckDB and Polars, an error on PostgreSQL, either on ClickHouse)."""
    return divisor.nullif(0) if isinstance(divisor.type(), dt.Numeric) else divisor


def _binary(op: Callable[[Any, Any], ir.Value], kind: str) -> Callable[[_Lowering, Any], ir.Value]:
    def handler(lw: _Lowering, node: exp.Binary) -> ir.Value:
        left, right = lw.lower(node.this), lw.lower(node.expression)
        if kind == "compare":
            left, right = _align(lw, left, right)
            _comparable(lw, node, left, right)
        elif kind == "logic":
            _boolean(lw, left, node.this)
            _boolean(lw, right, node.expression)
        elif kind == "arith":
            for value, child in ((left, node.this), (right, node.expression)):
                if not isinstance(value.type(), (dt.Numeric, dt.Temporal, dt.Interval, dt.Null)):
                    raise lw.fail(f"{child.sql(dialect='duckdb')} is {value.type()}, a number is "
                                  f"needed for {node.key.upper()!r}", child)
        return op(left, right)
    return handler


def _concat(lw: _Lowering, node: exp.DPipe) -> ir.Value:
    parts = [lw.lower(node.this), lw.lower(node.expression)]
    texts = [p if isinstance(p.type(), dt.String) else p.cast("string") for p in parts]
    return texts[0].concat(texts[1])  # type: ignore[attr-defined,no-any-return]


def _not(lw: _Lowering, node: exp.Not) -> ir.Value:
    return ~_boolean(lw, lw.lower(node.this), node.this)


def _neg(lw: _Lowering, node: exp.Neg) -> ir.Value:
    return -_numeric(lw, lw.lower(node.this), node.this)


def _paren(lw: _Lowering, node: exp.Paren) -> ir.Value:
    return lw.lower(node.this)


def _in(lw: _Lowering, node: exp.In) -> ir.Value:
    if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
        raise lw.fail("IN takes a list of values, e.g. origin IN ('JFK', 'LGA')", node)
    value = lw.lower(node.this)
    options = []
    for child in node.expressions:
        item = lw.lower(child)
        value_, item = _align(lw, value, item)
        _comparable(lw, child, value_, item)
        options.append(item)
    return value.isin(options)


def _between(lw: _Lowering, node: exp.Between) -> ir.Value:
    value = lw.lower(node.this)
    low, high = lw.lower(node.args["low"]), lw.lower(node.args["high"])
    value, low = _align(lw, value, low)
    value, high = _align(lw, value, high)
    _comparable(lw, node.args["low"], value, low)
    _comparable(lw, node.args["high"], value, high)
    return value.between(low, high)  # type: ignore[attr-defined,no-any-return]


def _is(lw: _Lowering, node: exp.Is) -> ir.Value:
    value = lw.lower(node.this)
    target = node.expression
    if isinstance(target, exp.Null):
        return value.isnull()
    if isinstance(target, exp.Boolean):
        return value.fill_null(not target.this) == target.this  # IS TRUE / IS FALSE
    raise lw.fail("IS only takes NULL, TRUE or FALSE", target)


def _like(case_sensitive: bool) -> Callable[[_Lowering, Any], ir.Value]:
    def handler(lw: _Lowering, node: exp.Like) -> ir.Value:
        value = _text(lw, lw.lower(node.this), node.this)
        pattern = lw.literal_str(node.expression, node)
        if node.args.get("escape"):
            raise lw.fail("LIKE ... ESCAPE is not supported", node)
        # LIKE lowers to an anchored regular expression: every engine supports those.
        return value.re_search(like_to_regex(pattern, case_sensitive=case_sensitive))
    return handler


def like_to_regex(pattern: str, *, case_sensitive: bool = True) -> str:
    """A SQL LIKE pattern (``%`` any text, ``_`` one character) as an anchored regex."""
    out = ["(?s)" if case_sensitive else "(?is)", "^"]
    for ch in pattern:
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    out.append("$")
    return "".join(out)


def _case(lw: _Lowering, node: exp.Case) -> ir.Value:
    subject = node.this
    branches: list[tuple[ir.Value, ir.Value]] = []
    for when in node.args.get("ifs") or []:
        cond_node, result_node = when.this, when.args["true"]
        if subject is not None:
            left, right = _align(lw, lw.lower(subject), lw.lower(cond_node))
            cond: ir.Value = left == right
        else:
            cond = _boolean(lw, lw.lower(cond_node), cond_node)
        branches.append((cond, lw.lower(result_node)))
    default = node.args.get("default")
    return ibis.cases(*branches, else_=lw.lower(default) if default is not None else None)


def _if(lw: _Lowering, node: exp.If) -> ir.Value:
    cond = _boolean(lw, lw.lower(node.this), node.this)
    otherwise = node.args.get("false")
    return ibis.ifelse(cond, lw.lower(node.args["true"]),
                       lw.lower(otherwise) if otherwise is not None else ibis.null())


_SQL_TYPES: dict[str, str] = {
    "VARCHAR": "string", "TEXT": "string", "CHAR": "string", "NCHAR": "string",
    "NVARCHAR": "string", "BIGINT": "int64", "INT": "int32", "INTEGER": "int32",
    "SMALLINT": "int16", "TINYINT": "int8", "DOUBLE": "float64", "FLOAT": "float32",
    "REAL": "float32", "BOOLEAN": "boolean", "DATE": "date", "TIMESTAMP": "timestamp",
    "DATETIME": "timestamp", "TIME": "time", "TIMESTAMPTZ": "timestamp('UTC')",
}


def _cast(lw: _Lowering, node: exp.Cast) -> ir.Value:
    value = lw.lower(node.this)
    to: exp.DataType = node.args["to"]
    kind = to.this.name if hasattr(to.this, "name") else str(to.this)
    target: dt.DataType
    if kind == "DECIMAL":
        params = [int(p.this.this) for p in to.expressions] or [18, 3]
        target = dt.Decimal(*params)
    elif kind in _SQL_TYPES:
        target = dt.dtype(_SQL_TYPES[kind])
    else:
        raise lw.fail(f"cannot cast to {to.sql(dialect='duckdb')}; use one of "
                      f"{', '.join(sorted(_SQL_TYPES))}, DECIMAL(p,s)", node)
    if isinstance(node, exp.TryCast) or node.args.get("safe"):
        return value.try_cast(target)
    return value.cast(target)


def _column(lw: _Lowering, node: exp.Column) -> ir.Value:
    return lw.column(node)


def _boolean_literal(lw: _Lowering, node: exp.Boolean) -> ir.Value:
    return ibis.literal(bool(node.this))


def _null(lw: _Lowering, node: exp.Null) -> ir.Value:
    return ibis.null()


_NODES: dict[type[exp.Expr], Callable[[_Lowering, Any], ir.Value]] = {
    exp.Column: _column,
    exp.Literal: _literal,
    exp.Boolean: _boolean_literal,
    exp.Null: _null,
    exp.Paren: _paren,
    exp.Not: _not,
    exp.Neg: _neg,
    exp.And: _binary(lambda a, b: a & b, "logic"),
    exp.Or: _binary(lambda a, b: a | b, "logic"),
    exp.EQ: _binary(lambda a, b: a == b, "compare"),
    exp.NEQ: _binary(lambda a, b: a != b, "compare"),
    exp.GT: _binary(lambda a, b: a > b, "compare"),
    exp.GTE: _binary(lambda a, b: a >= b, "compare"),
    exp.LT: _binary(lambda a, b: a < b, "compare"),
    exp.LTE: _binary(lambda a, b: a <= b, "compare"),
    exp.Add: _binary(lambda a, b: a + b, "arith"),
    exp.Sub: _binary(lambda a, b: a - b, "arith"),
    exp.Mul: _binary(lambda a, b: a * b, "arith"),
    exp.Div: _binary(lambda a, b: a / _unless_zero(b), "arith"),
    exp.Mod: _binary(lambda a, b: a % _unless_zero(b), "arith"),
    exp.DPipe: _concat,
    exp.NullSafeEQ: _binary(lambda a, b: a.identical_to(b), "compare"),
    exp.NullSafeNEQ: _binary(lambda a, b: ~a.identical_to(b), "compare"),
    exp.In: _in,
    exp.Between: _between,
    exp.Is: _is,
    exp.Like: _like(True),
    exp.ILike: _like(False),
    exp.Case: _case,
    exp.If: _if,
    exp.Cast: _cast,
    exp.TryCast: _cast,
}


# ---------------------------------------------------------------------------- functions

Fn = Callable[[_Lowering, Any], ir.Value]


def _unary_text(method: str) -> Fn:
    def fn(lw: _Lowering, node: exp.Func) -> ir.Value:
        return getattr(_text(lw, lw.arg(node, "this"), node.this), method)()  # type: ignore[no-any-return]
    return fn


def _unary_num(method: str) -> Fn:
    def fn(lw: _Lowering, node: exp.Func) -> ir.Value:
        return getattr(_numeric(lw, lw.arg(node, "this"), node.this), method)()  # type: ignore[no-any-return]
    return fn


def _part(method: str) -> Fn:
    def fn(lw: _Lowering, node: exp.Func) -> ir.Value:
        return getattr(_temporal(lw, lw.arg(node, "this"), node.this), method)()  # type: ignore[no-any-return]
    return fn


def _trim(lw: _Lowering, node: exp.Trim) -> ir.Value:
    value = _text(lw, lw.arg(node, "this"), node.this)
    if node.args.get("expression") is not None:
        raise lw.fail("trim() removes spaces only; use replace() for other characters", node)
    position = str(node.args.get("position") or "").upper()
    if position == "LEADING":
        return value.lstrip()
    if position == "TRAILING":
        return value.rstrip()
    return value.strip()


def _substring(lw: _Lowering, node: exp.Substring) -> ir.Value:
    value = _text(lw, lw.arg(node, "this"), node.this)
    # SQL counts from 1, Ibis from 0; constant positions keep Polars happy.
    start = lw.literal_int(node, "start")
    length = lw.literal_int(node, "length") if node.args.get("length") is not None else None
    if start < 1 or (length is not None and length < 0):
        raise lw.fail("substr() counts characters from 1 and needs a positive length", node)
    return value.substr(start - 1, length)


def _replace(lw: _Lowering, node: exp.Replace) -> ir.Value:
    value = _text(lw, lw.arg(node, "this"), node.this)
    return value.replace(_text(lw, lw.arg(node, "expression"), node),
                         _text(lw, lw.arg(node, "replacement"), node))


def _concat_fn(lw: _Lowering, node: exp.Concat) -> ir.Value:
    parts = [lw.lower(e) for e in node.expressions]
    if not parts:
        raise lw.fail("concat() needs arguments", node)
    # DuckDB's concat() skips nulls.
    texts = [(p if isinstance(p.type(), dt.String) else p.cast("string")).fill_null("")
             for p in parts]
    out = texts[0]
    for t in texts[1:]:
        out = out.concat(t)  # type: ignore[attr-defined]
    return out


def _text_pred(method: str) -> Fn:
    def fn(lw: _Lowering, node: exp.Func) -> ir.Value:
        value = _text(lw, lw.arg(node, "this"), node.this)
        other = _text(lw, lw.arg(node, "expression"), node)
        return getattr(value, method)(other)  # type: ignore[no-any-return]
    return fn


def _regexp_like(lw: _Lowering, node: exp.RegexpLike) -> ir.Value:
    value = _text(lw, lw.arg(node, "this"), node.this)
    return value.re_search(lw.literal_str(node.expression, node))


def _regexp_replace(lw: _Lowering, node: exp.RegexpReplace) -> ir.Value:
    value = _text(lw, lw.arg(node, "this"), node.this)
    pattern = lw.literal_str(node.expression, node)
    replacement = lw.literal_str(node.args.get("replacement"), node)
    return value.re_replace(pattern, replacement)


def _left_right(side: str) -> Fn:
    def fn(lw: _Lowering, node: exp.Func) -> ir.Value:
        value = _text(lw, lw.arg(node, "this"), node.this)
        n = lw.literal_int(node, "expression")
        return value.left(n) if side == "left" else value.right(n)  # type: ignore[no-any-return]
    return fn


def _pad(lw: _Lowering, node: exp.Pad) -> ir.Value:
    value = _text(lw, lw.arg(node, "this"), node.this)
    length = lw.literal_int(node, "expression")
    fill = lw.literal_str(node.args.get("fill_pattern"), node) if node.args.get("fill_pattern") else " "
    return value.lpad(length, fill) if node.args.get("is_left") else value.rpad(length, fill)


def _strpos(lw: _Lowering, node: exp.StrPosition) -> ir.Value:
    value = _text(lw, lw.arg(node, "this"), node.this)
    needle = _text(lw, lw.arg(node, "substr"), node)
    # SQL positions count from 1, 0 when absent; null in, null out.
    return ibis.ifelse(value.isnull() | needle.isnull(), ibis.null("int64"),
                       (value.find(needle) + 1).cast("int64"))


def _split_part(lw: _Lowering, node: exp.SplitPart) -> ir.Value:
    value = _text(lw, lw.arg(node, "this"), node.this)
    delimiter = lw.literal_str(node.args.get("delimiter"), node)
    index = lw.literal_int(node, "part_index")
    if index < 1:
        raise lw.fail("split_part() counts parts from 1", node)
    sep = re.escape(delimiter)
    part = value.re_extract(f"^(?:(?:[^{sep}]*){sep}){{{index - 1}}}([^{sep}]*)" if len(delimiter) == 1
                            else f"^(?:.*?{sep}){{{index - 1}}}(.*?)(?:{sep}|$)", 1)
    # A missing part is '' (DuckDB's split_part), on every engine.
    return ibis.ifelse(value.isnull(), ibis.null("string"), part.fill_null(""))


def _round(lw: _Lowering, node: exp.Round) -> ir.Value:
    value = _numeric(lw, lw.arg(node, "this"), node.this)
    digits = lw.literal_int(node, "decimals") if node.args.get("decimals") is not None else 0
    if isinstance(value.type(), dt.Floating):
        # Half away from zero on every engine (Polars alone would round half to even).
        scale = 10.0 ** digits
        return (value.sign() * (value.abs() * scale + 0.5).floor() / scale).round(digits)
    return value.round(digits)


def _log(lw: _Lowering, node: exp.Log) -> ir.Value:
    if node.args.get("expression") is None:
        return _numeric(lw, lw.arg(node, "this"), node.this).log10()
    base = _numeric(lw, lw.arg(node, "this"), node.this)
    value = _numeric(lw, lw.arg(node, "expression"), node)
    return value.log(base)


def _pow(lw: _Lowering, node: exp.Pow) -> ir.Value:
    return (_numeric(lw, lw.arg(node, "this"), node.this)
            ** _numeric(lw, lw.arg(node, "expression"), node))


def _mod(lw: _Lowering, node: exp.Mod) -> ir.Value:
    return (_numeric(lw, lw.arg(node, "this"), node.this)
            % _numeric(lw, lw.arg(node, "expression"), node))


def _greatest_least(which: str) -> Fn:
    def fn(lw: _Lowering, node: exp.Func) -> ir.Value:
        values = [lw.lower(node.this), *[lw.lower(e) for e in node.expressions]]
        return ibis.greatest(*values) if which == "greatest" else ibis.least(*values)
    return fn


def _coalesce(lw: _Lowering, node: exp.Coalesce) -> ir.Value:
    values = [lw.lower(node.this), *[lw.lower(e) for e in node.expressions]]
    return ibis.coalesce(*values)


def _nullif(lw: _Lowering, node: exp.Nullif) -> ir.Value:
    value = lw.arg(node, "this")
    return value.nullif(lw.arg(node, "expression"))


def _dayofweek(lw: _Lowering, node: exp.DayOfWeek) -> ir.Value:
    value = _temporal(lw, lw.arg(node, "this"), node.this)
    return value.day_of_week.index() + 1  # type: ignore[attr-defined,no-any-return]


_UNITS = {"YEAR": "Y", "QUARTER": "Q", "MONTH": "M", "WEEK": "W", "DAY": "D", "HOUR": "h",
          "MINUTE": "m", "SECOND": "s"}


def _unit(lw: _Lowering, node: exp.Expr | None, parent: exp.Expr) -> str:
    name = lw.literal_str(node, parent).upper().rstrip("S") if node is not None else ""
    if name not in _UNITS:
        raise lw.fail(f"unknown unit; use one of {', '.join(u.lower() for u in _UNITS)}",
                      node or parent)
    return name


def _date_trunc(lw: _Lowering, node: exp.Func) -> ir.Value:
    value = _temporal(lw, lw.arg(node, "this"), node.this)
    unit = _unit(lw, node.args.get("unit"), node)
    return value.truncate(_UNITS[unit])


def _extract(lw: _Lowering, node: exp.Extract) -> ir.Value:
    value = _temporal(lw, lw.arg(node, "expression"), node)
    unit = _unit(lw, node.this, node)
    methods = {"YEAR": "year", "QUARTER": "quarter", "MONTH": "month", "DAY": "day",
               "HOUR": "hour", "MINUTE": "minute", "SECOND": "second"}
    if unit not in methods:
        raise lw.fail("extract() takes year, quarter, month, day, hour, minute or second", node)
    return getattr(value, methods[unit])()  # type: ignore[no-any-return]


def _date_diff(lw: _Lowering, node: exp.DateDiff) -> ir.Value:
    end = _temporal(lw, lw.arg(node, "this"), node.this)
    start = _temporal(lw, lw.arg(node, "expression"), node)
    unit = _unit(lw, node.args.get("unit"), node)
    if isinstance(end.type(), dt.Date) and isinstance(start.type(), dt.Timestamp):
        end = end.cast(start.type())
    elif isinstance(start.type(), dt.Date) and isinstance(end.type(), dt.Timestamp):
        start = start.cast(end.type())
    if unit == "DAY" and isinstance(end.type(), dt.Timestamp):
        end, start = end.date(), start.date()  # type: ignore[attr-defined]
    return end.delta(start, unit=unit.lower())  # type: ignore[attr-defined,no-any-return]


def _strftime(lw: _Lowering, node: exp.TimeToStr) -> ir.Value:
    value = _temporal(lw, lw.arg(node, "this"), node.this)
    return value.strftime(lw.literal_str(node.args.get("format"), node))


def _strptime(lw: _Lowering, node: exp.StrToTime) -> ir.Value:
    value = _text(lw, lw.arg(node, "this"), node.this)
    return value.as_timestamp(lw.literal_str(node.args.get("format"), node))


def _to_date(lw: _Lowering, node: exp.Date) -> ir.Value:
    value = lw.arg(node, "this")
    if isinstance(value.type(), dt.Timestamp):
        return value.date()  # type: ignore[attr-defined,no-any-return]
    return value.cast("date")


def _current_date(lw: _Lowering, node: exp.Func) -> ir.Value:
    return ibis.today()


def _current_timestamp(lw: _Lowering, node: exp.Func) -> ir.Value:
    return ibis.now()


def _anon_length(lw: _Lowering, node: exp.Anonymous) -> ir.Value:
    args = lw.args(node)
    if len(args) != 1:
        raise lw.fail(f"{node.name}() takes one argument", node)
    return _text(lw, args[0], node).length()


def _anon_unary_num(method: str) -> Fn:
    def fn(lw: _Lowering, node: exp.Anonymous) -> ir.Value:
        args = lw.args(node)
        if len(args) != 1:
            raise lw.fail(f"{node.name}() takes one argument", node)
        return getattr(_numeric(lw, args[0], node), method)()  # type: ignore[no-any-return]
    return fn


FUNCTIONS: dict[str, Fn] = {
    # text
    "lower": _unary_text("lower"),
    "upper": _unary_text("upper"),
    "length": _unary_text("length"),
    "strlen": _anon_length,
    "reverse": _unary_text("reverse"),
    "trim": _trim,
    "substring": _substring,
    "replace": _replace,
    "concat": _concat_fn,
    "startswith": _text_pred("startswith"),
    "endswith": _text_pred("endswith"),
    "contains": _text_pred("contains"),
    "regexplike": _regexp_like,
    "regexpreplace": _regexp_replace,
    "left": _left_right("left"),
    "right": _left_right("right"),
    "pad": _pad,
    "strposition": _strpos,
    "splitpart": _split_part,
    # math
    "abs": _unary_num("abs"),
    "round": _round,
    "floor": _unary_num("floor"),
    "ceil": _unary_num("ceil"),
    "sqrt": _unary_num("sqrt"),
    "ln": _unary_num("ln"),
    "log": _log,
    "exp": _unary_num("exp"),
    "pow": _pow,
    "sign": _unary_num("sign"),
    "mod": _mod,
    "greatest": _greatest_least("greatest"),
    "least": _greatest_least("least"),
    # nulls
    "coalesce": _coalesce,
    "nullif": _nullif,
    # dates
    "year": _part("year"),
    "quarter": _part("quarter"),
    "month": _part("month"),
    "day": _part("day"),
    "hour": _part("hour"),
    "minute": _part("minute"),
    "second": _part("second"),
    "week": _part("week_of_year"),
    "dayofweek": _dayofweek,
    "timestamptrunc": _date_trunc,
    "datetrunc": _date_trunc,
    "extract": _extract,
    "datediff": _date_diff,
    "timetostr": _strftime,
    "strtotime": _strptime,
    "date": _to_date,
    "currentdate": _current_date,
    "currenttimestamp": _current_timestamp,
    "now": _current_timestamp,
}
"""Whitelisted functions by sqlglot key (the names users write are in PUBLIC_FUNCTIONS)."""

PUBLIC_FUNCTIONS: tuple[str, ...] = (
    "lower", "upper", "length", "reverse", "trim", "ltrim", "rtrim", "substr", "substring",
    "replace", "concat", "starts_with", "ends_with", "contains", "regexp_matches",
    "regexp_replace", "left", "right", "lpad", "rpad", "strpos", "split_part",
    "abs", "round", "floor", "ceil", "sqrt", "ln", "log", "log10", "exp", "power", "sign", "mod",
    "greatest", "least", "coalesce", "ifnull", "nullif", "year", "quarter", "month", "day",
    "hour", "minute", "second", "week", "dayofweek", "date_trunc", "extract", "date_diff",
    "strftime", "strptime", "date", "current_date", "current_timestamp", "now",
)


# ---------------------------------------------------------------------------- entry point


def compile_expression(text: str, table: ir.Table, *, field: str | None = None,
                       boolean: bool = False) -> ir.Value:
    """Lower ``text`` to an Ibis value expression over ``table``'s columns.

    ``boolean``: the expression must be a condition (filters, validation rules).
    Raises :class:`ExpressionError` pointing at the offending token.
    """
    tree = parse_expression(text, field=field)
    lowering = _Lowering(table, text, field)
    value = lowering.lower(tree)
    if boolean and not isinstance(value.type(), (dt.Boolean, dt.Null)):
        raise lowering.fail(f"the expression gives {value.type()}, but a condition (true or "
                            "false) is needed", tree)
    return value


def compile_many(expressions: Sequence[tuple[str, str]], table: ir.Table, *,
                 field: str) -> dict[str, ir.Value]:
    """Compile ``(name, text)`` pairs; raises on the first error."""
    return {name: compile_expression(text, table, field=f"{field}.{name}").name(name)
            for name, text in expressions}
