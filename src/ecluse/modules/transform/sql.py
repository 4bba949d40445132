"""Transformer ``sql``: a SELECT query over the node's inputs, written in the DuckDB dialect.

Inputs are named after their handle — ``input`` (the ``in`` handle; ``"in"`` quoted works
too), ``in2``, ``in3``, ``in4`` — and after the id of the node feeding them. The query is
parsed with sqlglot and checked before anything runs: one SELECT (or WITH ... SELECT)
statement, tables only among the inputs and the query's own CTEs (no files, no table
functions, no other database objects). ``:name`` parameters are bound from the pipeline's
typed parameters as literal nodes of the syntax tree — never pasted into the text. Each
input is exposed to the engine as a view (a lazy relation, nothing executes) and the query
is handed to the engine through Ibis, which transpiles the DuckDB dialect with sqlglot for
engines that speak another one (Polars' SQL context, Spark SQL). Its output schema is known at
design time from the engine's planner.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import itertools
import re
from collections import Counter
from typing import Any, ClassVar

import ibis.expr.types as ir
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from ecluse.sdk import ConfigError, InputPort, Inputs, ModuleConfig, NodeContext, Transformer
from ecluse.sdk.config import sql_field
from ecluse.sdk.suggest import closest

HANDLES = ("in", "in2", "in3", "in4")
_FORBIDDEN_FUNCTIONS = re.compile(r"^(read_|glob$|getenv$|query$|query_table$|sniff_csv$|"
                                  r"parquet_|iceberg_|delta_scan$|postgres_|mysql_|sqlite_|"
                                  r"duckdb_|pragma_|current_setting$|which_secret$)", re.I)
_names = itertools.count()


class SqlConfig(ModuleConfig):
    query: str = sql_field(
        "A SELECT over the inputs, in DuckDB SQL. Inputs are named `input` (the `in` handle), "
        "`in2`, `in3`, `in4`, or by the id of the node feeding them; use `:name` for pipeline "
        "parameters.", min_length=1,
        examples=["SELECT carrier, avg(dep_delay) AS mean_delay FROM input "
                  "WHERE dep_delay > :min_delay GROUP BY carrier"])


class Sql(Transformer):
    name = "sql"
    title = "SQL query"
    description = "Transform the inputs with a SQL SELECT query (DuckDB dialect)."
    category = "Advanced"
    icon = "code"
    Config = SqlConfig
    config: SqlConfig
    pushdown: ClassVar = False
    inputs: ClassVar = (InputPort("in", description="Queried as `input` (or \"in\")."),
                        InputPort("in2", min_edges=0, description="Queried as `in2`."),
                        InputPort("in3", min_edges=0, description="Queried as `in3`."),
                        InputPort("in4", min_edges=0, description="Queried as `in4`."))
    examples: ClassVar = (
        {"query": "SELECT carrier, avg(dep_delay) AS mean_delay FROM input "
                  "WHERE dep_delay > :min_delay GROUP BY carrier"},
        {"query": "SELECT f.*, a.name AS airport FROM input AS f "
                  "LEFT JOIN in2 AS a ON f.origin = a.faa"},
    )

    def transform(self, inputs: Inputs, ctx: NodeContext) -> ir.Table:
        tables = self._named_inputs(inputs, ctx)
        tree = parse_query(self.config.query)
        views = {name: f"_ecluse_sql_{_safe(self.node_id)}_{next(_names)}_{_safe(name)}"
                 for name in tables}
        tree = bind(tree, self.config.query, views, ctx.parameters)
        if getattr(ctx, "backend", None) is None:
            raise ConfigError("a SQL query needs an engine to know its output", field="query")
        used = {t.name for t in tree.find_all(exp.Table)}
        for name, table in tables.items():
            if views[name] in used:
                ctx.backend.create_view(views[name], table)
        con: Any = ctx.backend.con
        try:
            return con.sql(tree.sql(dialect="duckdb"), dialect="duckdb")  # type: ignore[no-any-return]
        except Exception as exc:  # the engine's planner: unknown column, type error...
            raise ConfigError(f"the query cannot run: {_first_line(exc)}", field="query") from exc

    def scans_an_input_twice(self, ctx: NodeContext) -> bool:
        """The query names one input twice (a self-join), under one name or two (`input` and
        `in`, or the id of the node feeding it)."""
        try:
            tree = parse_query(self.config.query)
        except ConfigError:
            return False  # transform() reports it
        handle_of = {"input": "in", **{h: h for h in HANDLES}}
        for handle, ids in (getattr(ctx, "upstream", None) or {}).items():
            for node_id in ids:
                handle_of.setdefault(str(node_id), handle)
        ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
        scans = Counter(handle_of[t.name] for t in tree.find_all(exp.Table)
                        if t.name in handle_of and t.name not in ctes)
        return any(n > 1 for n in scans.values())

    @staticmethod
    def _named_inputs(inputs: Inputs, ctx: NodeContext) -> dict[str, ir.Table]:
        tables: dict[str, ir.Table] = {}
        for handle in HANDLES:
            bound = inputs.many(handle)
            if len(bound) > 1:
                raise ConfigError(f"handle {handle!r} takes one input; connect the others to "
                                  f"{', '.join(h for h in HANDLES if h != handle)}")
            if bound:
                tables[handle] = bound[0]
                if handle == "in":
                    tables["input"] = bound[0]
        # Each input is also named after the node feeding it (ctx.upstream, from the engine).
        upstream = getattr(ctx, "upstream", None) or {}
        for handle, ids in upstream.items():
            for node_id, table in zip(ids, inputs.many(handle), strict=False):
                tables.setdefault(str(node_id), table)
        return tables


def parse_query(query: str) -> exp.Query:
    """Parse one DuckDB SELECT; raise ConfigError with line and column on a syntax error."""
    try:
        statements = sqlglot.parse(query, read="duckdb")
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = (f" at line {first.get('line')}, column {first.get('col')}"
                 if first.get("line") else "")
        near = f" (near {first.get('highlight')!r})" if first.get("highlight") else ""
        desc = str(first.get("description") or "syntax error").split(". Line")[0]
        raise ConfigError(f"syntax error{where}{near}: {desc}", field="query") from None
    except TokenError as exc:
        raise ConfigError(f"syntax error: {exc}", field="query") from None
    found = [s for s in statements if s is not None]
    if len(found) != 1:
        raise ConfigError("write exactly one SELECT statement (no ';'-separated statements)",
                          field="query")
    tree = found[0]
    if not isinstance(tree, exp.Query):
        raise ConfigError(f"only SELECT queries are allowed, not {tree.key.upper()}",
                          field="query")
    return tree


def bind(tree: exp.Query, text: str, views: dict[str, str],
         parameters: Any) -> exp.Query:
    """Check tables and functions, point input names at their views, bind ``:name``."""
    tree = tree.copy()
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    known = sorted(set(views) | ctes)
    for table in list(tree.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier):
            raise ConfigError(f"table functions such as {table.this.sql(dialect='duckdb')[:40]} "
                              f"are not allowed; query the inputs: {', '.join(known)}",
                              field="query")
        if table.args.get("db") or table.args.get("catalog"):
            raise ConfigError(f"{table.sql(dialect='duckdb')!r}: write the input name alone "
                              f"({', '.join(known)})", field="query")
        name = table.name
        if name in ctes:
            continue
        if name not in views:
            near = closest(name, known)
            hint = f"; did you mean {near!r}?" if near else f"; inputs are: {', '.join(known)}"
            raise ConfigError(f"the query reads {name!r}, which is not an input{_at(text, name)}"
                              f"{hint}", field="query")
        alias = table.alias or name
        table.set("this", exp.to_identifier(views[name]))
        table.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
    for func in tree.find_all(exp.Func):
        fname = func.name if isinstance(func, exp.Anonymous) else func.sql_name()
        if _FORBIDDEN_FUNCTIONS.match(fname or ""):
            raise ConfigError(f"function {fname.lower()}() is not allowed in a SQL node",
                              field="query")
    for ph in list(tree.find_all(exp.Placeholder)):
        pname = ph.name
        if not pname:
            raise ConfigError("use named parameters (:name), not '?'", field="query")
        if pname not in parameters:
            near = closest(pname, parameters)
            hint = f"; did you mean :{near}?" if near else ""
            raise ConfigError(f"the query uses :{pname}, which the pipeline does not define{hint}",
                              field="query")
        ph.replace(_literal(parameters[pname]))
    return tree


def _literal(value: Any) -> exp.Expr:
    """A typed literal node for a parameter value (the generator quotes and escapes it)."""
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float | decimal.Decimal):
        return exp.Literal.number(value)
    if isinstance(value, _dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(value, _dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if isinstance(value, list | tuple):
        return exp.Array(expressions=[_literal(v) for v in value])
    return exp.Literal.string(str(value))


def _at(text: str, name: str) -> str:
    m = re.search(rf"(?<![\w\"]){re.escape(name)}(?![\w\"])", text)
    if not m:
        return ""
    line = text.count("\n", 0, m.start()) + 1
    col = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
    return f" (line {line}, column {col})"


def _safe(name: str) -> str:
    return re.sub(r"\W", "_", name) or "n"


def _first_line(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__
