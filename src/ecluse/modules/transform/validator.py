"""Transformer ``validator``: data-quality rules per column and on the whole table.

Row rules (not_null, unique, in_set, range, regex, type, length, custom expression) mark
each row valid or not; a null value passes every rule but ``not_null`` (as SQL CHECK
constraints do). On a violation the node either fails the run (``fail``), drops the
invalid rows (``drop``), or sends them to its second output ``rejected`` with the name of
the first rule they broke (``quarantine``) so a loader can store them.

Table checks (row count bounds, freshness of a timestamp column) fail the run or only warn.

Counting violations needs the data, so in run and preview mode the node runs **one**
aggregate query over its input while the pipeline is being built (all rules and table
checks in a single pass) — always with ``fail`` and table checks, and for ``drop`` /
``quarantine`` unless ``report`` is false. The counts per rule go to ``ctx.metrics``
(``violations``, ``rows_rejected``), which the engine merges into the node's metrics,
and to the run log. At design time (schema mode) nothing runs.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any, ClassVar, Literal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ecluse.sdk import (
    ConfigError,
    Inputs,
    ModuleConfig,
    NodeContext,
    NodeError,
    OutputPort,
    Transformer,
    TypeName,
    column_field,
    expression_field,
    to_ibis_type,
)
from ecluse.sdk.expressions import compile_expression
from ecluse.sdk.relational import require_columns
from ecluse.sdk.types import type_name

Check = Literal["not_null", "unique", "in_set", "range", "regex", "type", "length", "expression"]
RULE_COLUMN = "_rejected_rule"
RULES_COLUMN = "_rejected_rules"
_DURATION = re.compile(r"^\s*(\d+)\s*(second|minute|hour|day|week)s?\s*$", re.I)


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    check: Check = Field(description="not_null, unique, in_set (`values`), range (`min`/`max`), "
                         "regex (`pattern`), type (`type`: text readable as that type), length "
                         "(`min`/`max` characters), expression (`expression` must be true).")
    column: str | None = column_field("Column checked (not needed for `expression`).",
                                      default=None)
    name: str | None = Field(None, description="Rule name shown in reports and in "
                             "`_rejected_rule`; `<column>_<check>` by default.")
    values: list[str | int | float | bool] | None = Field(None, description="in_set: the "
                                                          "allowed values.")
    min: float | int | str | None = Field(None, description="range / length: smallest allowed "
                                          "(inclusive); a date or timestamp as ISO text.")
    max: float | int | str | None = Field(None, description="range / length: largest allowed "
                                          "(inclusive).")
    pattern: str | None = Field(None, description="regex: a regular expression the text must "
                                "contain (anchor it with ^...$ for a full match).")
    type: TypeName | None = Field(None, description="type: the type the values must have or be "
                                  "readable as (int64, float64, date, timestamp...).")
    expression: str | None = expression_field("expression: a condition over the row's columns, "
                                              "e.g. `end_date >= start_date`.", default=None)

    @model_validator(mode="after")
    def _arguments(self) -> Rule:
        needs = {"in_set": "values", "regex": "pattern", "type": "type", "expression": "expression"}
        if self.check != "expression" and self.column is None:
            raise ValueError(f"check {self.check!r} needs a 'column'")
        if self.check in needs and getattr(self, needs[self.check]) is None:
            raise ValueError(f"check {self.check!r} needs '{needs[self.check]}'")
        if self.check in ("range", "length") and self.min is None and self.max is None:
            raise ValueError(f"check {self.check!r} needs 'min' and/or 'max'")
        if self.check == "length" and any(isinstance(v, str) for v in (self.min, self.max)):
            raise ValueError("length bounds are numbers of characters")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from exc
        return self

    def label(self, index: int) -> str:
        if self.name:
            return self.name
        return f"{self.column}_{self.check}" if self.column else f"rule_{index + 1}"


class Freshness(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    column: str = column_field("Timestamp (or date) column whose latest value is checked.")
    max_age: str = Field(description="Largest age of the latest value, e.g. `\"24 hours\"`, "
                         "`\"2 days\"`.", examples=["24 hours"])

    @model_validator(mode="after")
    def _age(self) -> Freshness:
        if not _DURATION.match(self.max_age):
            raise ValueError("write max_age as a number and a unit, e.g. '24 hours', '2 days'")
        return self


class TableChecks(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    min_rows: int | None = Field(None, ge=0, description="Fewest rows expected.")
    max_rows: int | None = Field(None, ge=0, description="Most rows expected.")
    freshness: Freshness | None = Field(None, description="The newest row must be this recent.")
    severity: Literal["fail", "warn"] = Field("fail", description="A failed table check stops "
                                              "the run, or is only logged.")


class ValidatorConfig(ModuleConfig):
    rules: list[Rule] = Field(default_factory=list, description="Row rules.")
    table_checks: TableChecks | None = Field(None, description="Checks on the whole table.")
    on_violation: Literal["fail", "drop", "quarantine"] = Field(
        "quarantine", description="fail: stop the run; drop: remove invalid rows; quarantine: "
        "send them to the `rejected` output with the rule they broke.")
    report: bool = Field(True, description="Count violations per rule (one extra aggregate "
                         "pass over the input) for drop and quarantine.")

    @model_validator(mode="after")
    def _check(self) -> ValidatorConfig:
        if not self.rules and self.table_checks is None:
            raise ValueError("give at least one rule or table check")
        names = [r.label(i) for i, r in enumerate(self.rules)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names must be unique; repeated: {', '.join(dupes)} (set "
                             "'name')")
        return self


class ValidationFailed(NodeError):
    """The data broke a rule and the validator was told to fail."""


class Validator(Transformer):
    name = "validator"
    title = "Validate"
    description = "Check rules per column and on the table; fail, drop or quarantine bad rows."
    category = "Cleaning"
    icon = "rule"
    Config = ValidatorConfig
    config: ValidatorConfig
    pushdown: ClassVar = False
    queries_input: ClassVar = True
    outputs: ClassVar = (OutputPort("out", description="Rows that pass every rule."),
                         OutputPort("rejected", description="Rows that broke a rule, with "
                                    f"`{RULE_COLUMN}` and `{RULES_COLUMN}`."))
    examples: ClassVar = (
        {"rules": [{"column": "order_id", "check": "not_null"},
                   {"column": "order_id", "check": "unique"},
                   {"column": "status", "check": "in_set", "values": ["new", "paid", "shipped"]},
                   {"column": "amount", "check": "range", "min": 0, "max": 100000},
                   {"column": "email", "check": "regex", "pattern": "^[^@\\s]+@[^@\\s]+$"},
                   {"check": "expression", "name": "dates_in_order",
                    "expression": "shipped_at IS NULL OR shipped_at >= ordered_at"}],
         "table_checks": {"min_rows": 1, "freshness": {"column": "ordered_at", "max_age": "2 days"}},
         "on_violation": "quarantine"},
    )

    def transform(self, inputs: Inputs, ctx: NodeContext) -> dict[str, ir.Table]:
        c = self.config
        t = inputs.one()
        base, oks = self._row_checks(t)
        names = [r.label(i) for i, r in enumerate(c.rules)]
        flags = [f"__ecluse_ok_{i}" for i in range(len(oks))]
        marked = base.mutate(**{f: ok.fill_null(True) for f, ok in zip(flags, oks, strict=True)})
        all_ok: ir.BooleanValue = ibis.literal(True)
        for f in flags:
            all_ok = all_ok & marked[f]
        columns = list(t.columns)
        bad = marked.filter(~all_ok)
        first_rule = ibis.cases(*[(~bad[f], n) for f, n in zip(flags, names, strict=True)],
                                else_=None) if flags else ibis.null("string")
        every_rule: ir.Value = ibis.literal("")
        for f, n in zip(flags, names, strict=True):
            every_rule = every_rule.concat(ibis.ifelse(bad[f], "", f"{n}, "))  # type: ignore[attr-defined]
        rejected = bad.select(*columns, first_rule.cast("string").name(RULE_COLUMN),
                              every_rule.re_replace(", $", "").name(RULES_COLUMN))  # type: ignore[attr-defined]
        good = marked.filter(all_ok).select(*columns)

        if ctx.mode != "schema" and getattr(ctx, "backend", None) is not None and (
                c.on_violation == "fail" or c.table_checks is not None or c.report):
            self._measure(t, marked, flags, names, ctx)
        if c.on_violation == "fail":
            return {"out": t, "rejected": rejected.limit(0)}
        if c.on_violation == "drop":
            return {"out": good, "rejected": rejected.limit(0)}
        return {"out": good, "rejected": rejected}

    # -- rules

    def _row_checks(self, t: ir.Table) -> tuple[ir.Table, list[ir.BooleanValue]]:
        base = t
        unique_cols: dict[str, str] = {}
        for i, rule in enumerate(self.config.rules):
            if rule.column is not None:
                require_columns(t, [rule.column], field="rules")
            if rule.check == "unique" and rule.column and rule.column not in unique_cols:
                counter = f"__ecluse_n_{i}"
                key = f"__ecluse_k_{i}"
                col = t[rule.column]
                counts = (t.filter(col.notnull()).group_by(col.name(key))
                          .aggregate(**{counter: ibis._.count()}))
                base = base.left_join(counts, base[rule.column] == counts[key]).drop(key)
                unique_cols[rule.column] = counter
        oks = [self._rule(base, rule, unique_cols) for rule in self.config.rules]
        return base, oks

    def _rule(self, t: ir.Table, rule: Rule, unique_cols: dict[str, str]) -> ir.BooleanValue:
        if rule.check == "expression":
            assert rule.expression is not None
            return compile_expression(rule.expression, t, field="rules", boolean=True)  # type: ignore[return-value]
        assert rule.column is not None
        col: Any = t[rule.column]
        ctype = col.type()
        match rule.check:
            case "not_null":
                return col.notnull()  # type: ignore[no-any-return]
            case "unique":
                return t[unique_cols[rule.column]].isnull() | (t[unique_cols[rule.column]] == 1)
            case "in_set":
                assert rule.values is not None
                allowed = [_typed(v, ctype, rule) for v in rule.values]
                return col.isnull() | col.isin(allowed)  # type: ignore[no-any-return]
            case "range":
                if not isinstance(ctype, dt.Numeric | dt.Date | dt.Timestamp | dt.String):
                    raise ConfigError(f"range needs a number, date or text column; "
                                      f"{rule.column!r} is {type_name(ctype)}", field="rules")
                ok = col.isnull() | col.notnull()
                if rule.min is not None:
                    ok = ok & (col >= _typed(rule.min, ctype, rule))
                if rule.max is not None:
                    ok = ok & (col <= _typed(rule.max, ctype, rule))
                return col.isnull() | ok  # type: ignore[no-any-return]
            case "regex":
                _text(ctype, rule)
                return col.isnull() | col.re_search(rule.pattern)  # type: ignore[no-any-return]
            case "length":
                _text(ctype, rule)
                n = col.length()
                ok = col.isnull() | col.notnull()
                if rule.min is not None:
                    ok = ok & (n >= int(rule.min))
                if rule.max is not None:
                    ok = ok & (n <= int(rule.max))
                return col.isnull() | ok  # type: ignore[no-any-return]
        # type
        assert rule.type is not None
        target = to_ibis_type(rule.type)
        if isinstance(ctype, dt.String) and not isinstance(target, dt.String):
            return col.isnull() | col.try_cast(target).notnull()  # type: ignore[no-any-return]
        if type_name(ctype) == type_name(target) or (ctype.is_integer() and target.is_integer()):
            return ibis.literal(True)
        raise ConfigError(f"column {rule.column!r} is {type_name(ctype)}, not {rule.type}; "
                          "(the type check reads text columns)", field="rules")

    # -- counting

    def _measure(self, t: ir.Table, marked: ir.Table, flags: list[str], names: list[str],
                 ctx: NodeContext) -> None:
        c = self.config
        metrics: dict[str, Any] = {"rows": marked.count()}
        if flags:
            metrics["bad"] = (~_all(marked, flags)).sum()
        for f, n in zip(flags, names, strict=True):
            metrics[f"v_{n}"] = (~marked[f]).sum()
        fresh = c.table_checks.freshness if c.table_checks else None
        if fresh:
            require_columns(t, [fresh.column], field="table_checks")
            ftype = t[fresh.column].type()
            if not isinstance(ftype, dt.Timestamp | dt.Date):
                raise ConfigError(f"freshness needs a timestamp or date column; {fresh.column!r} "
                                  f"is {type_name(ftype)}", field="table_checks")
            metrics["latest"] = marked[fresh.column].max()
        row = ctx.backend.to_arrow(marked.aggregate(**metrics)).to_pylist()[0]
        violations = {n: int(row[f"v_{n}"] or 0) for n in names}
        ctx.metrics["violations"] = violations
        ctx.metrics["rows_in"] = int(row["rows"])
        ctx.metrics["rows_rejected"] = int(row.get("bad") or 0)
        if any(violations.values()):
            ctx.log("validation found violations", level="warning", violations=violations)
        problems = self._table_problems(int(row["rows"]), row.get("latest"))
        if problems:
            ctx.metrics["table_checks_failed"] = problems
            if c.table_checks is not None and c.table_checks.severity == "fail":
                raise ValidationFailed(self.node_id, "table check failed: " + "; ".join(problems))
            ctx.log("table check failed", level="warning", problems=problems)
        if c.on_violation == "fail" and any(violations.values()):
            broken = ", ".join(f"{n}: {v} row{'s' if v > 1 else ''}"
                               for n, v in violations.items() if v)
            sample = ctx.backend.to_arrow(marked.filter(~_all(marked, flags)).select(*t.columns),
                                          limit=5).to_pylist()
            raise ValidationFailed(self.node_id, f"validation failed ({broken})",
                                   sample_rows=sample)

    def _table_problems(self, rows: int, latest: Any) -> list[str]:
        tc = self.config.table_checks
        if tc is None:
            return []
        problems = []
        if tc.min_rows is not None and rows < tc.min_rows:
            problems.append(f"{rows} rows, fewer than the minimum {tc.min_rows}")
        if tc.max_rows is not None and rows > tc.max_rows:
            problems.append(f"{rows} rows, more than the maximum {tc.max_rows}")
        if tc.freshness is not None:
            m = _DURATION.match(tc.freshness.max_age)
            assert m is not None
            age = _dt.timedelta(**{m.group(2).lower() + "s": int(m.group(1))})
            now = _dt.datetime.now(_dt.UTC)
            if latest is None:
                problems.append(f"{tc.freshness.column!r} has no value")
            else:
                if isinstance(latest, _dt.datetime):
                    stamp = latest if latest.tzinfo else latest.replace(tzinfo=_dt.UTC)
                else:
                    stamp = _dt.datetime.combine(latest, _dt.time.max, tzinfo=_dt.UTC)
                if now - stamp > age:
                    problems.append(f"the latest {tc.freshness.column!r} is {latest}, older than "
                                    f"{tc.freshness.max_age}")
        return problems


def _all(t: ir.Table, flags: list[str]) -> ir.BooleanValue:
    out: ir.BooleanValue = ibis.literal(True)
    for f in flags:
        out = out & t[f]
    return out


def _text(ctype: dt.DataType, rule: Rule) -> None:
    if not isinstance(ctype, dt.String):
        raise ConfigError(f"{rule.check} needs a text column; {rule.column!r} is "
                          f"{type_name(ctype)}", field="rules")


def _typed(value: Any, ctype: dt.DataType, rule: Rule) -> ir.Value:
    try:
        if isinstance(ctype, dt.Date) and isinstance(value, str):
            return ibis.literal(_dt.date.fromisoformat(value))
        if isinstance(ctype, dt.Timestamp) and isinstance(value, str):
            return ibis.literal(_dt.datetime.fromisoformat(value)).cast(ctype)
        if isinstance(ctype, dt.String):
            return ibis.literal(str(value))
        if isinstance(ctype, dt.Numeric) and isinstance(value, str):
            return ibis.literal(float(value))
        return ibis.literal(value).cast(ctype)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{value!r} does not fit column {rule.column!r} "
                          f"({type_name(ctype)})", field="rules") from exc
