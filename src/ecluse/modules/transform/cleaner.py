"""Transformer ``cleaner``: the seed's cleaning family in one node - trim, case, regex
replace, cast, fill and drop nulls, remove duplicates."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import ClassVar, Literal

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
    Transformer,
    TypeName,
    columns_field,
    to_ibis_type,
)
from ecluse.sdk.relational import is_text, require_columns
from ecluse.sdk.trim import trim_spaces

Scalar = str | int | float | bool


class Replacement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    column: str = Field(description="Text column to rewrite.")
    pattern: str = Field(description="Regular expression to find.")
    replacement: str = Field("", description="Text put in place of each match (`\\1` for groups).")


class CleanerConfig(ModuleConfig):
    remove_duplicates: bool = Field(False, description="Keep one row per distinct key.")
    columns: list[str] | None = columns_field(
        "Key columns for duplicate detection; all columns when empty.", default=None)
    trim: bool | list[str] = Field(False, description="Remove surrounding spaces: `true` for every "
                                   "text column, or a list of columns.")
    case: dict[str, Literal["lower", "upper", "title"]] = Field(
        default_factory=dict, description="Change the letter case of columns, e.g. `{\"email\": "
        "\"lower\"}`.")
    replace: list[Replacement] = Field(default_factory=list,
                                       description="Regular-expression replacements per column.")
    cast: dict[str, TypeName] = Field(default_factory=dict,
                                      description="New type per column, e.g. `{\"amount\": \"float64\"}`.")
    on_cast_error: Literal["fail", "null"] = Field(
        "fail", description="A value that cannot be cast stops the run, or becomes null.")
    fill_nulls: dict[str, Scalar] = Field(default_factory=dict,
                                          description="Value put in place of nulls, per column.")
    drop_nulls: list[str] = columns_field("Rows missing any of these columns are dropped.",
                                          default_factory=list)

    @model_validator(mode="after")
    def _something_to_do(self) -> CleanerConfig:
        if self.columns and not self.remove_duplicates:
            raise ValueError("'columns' only applies with 'remove_duplicates': true")
        return self


class Cleaner(Transformer):
    name = "cleaner"
    title = "Clean"
    description = "Trim, change case, replace, cast, fill or drop nulls, remove duplicates."
    category = "Cleaning"
    icon = "cleaning_services"
    Config = CleanerConfig
    config: CleanerConfig
    examples: ClassVar = ({"remove_duplicates": True, "columns": ["email"], "trim": True,
                           "case": {"email": "lower"}, "drop_nulls": ["order_id"],
                           "fill_nulls": {"country": "UNKNOWN"},
                           "cast": {"amount": "float64", "order_ts": "timestamp"}},)

    def transform(self, inputs: Inputs, ctx: NodeContext) -> ir.Table:
        c = self.config
        t = inputs.one()
        self._check_columns(t)
        changes = self._text_changes(t)

        def current(col: str) -> ir.Value:
            return changes.get(col, t[col])

        for col, type_name in c.cast.items():
            target = to_ibis_type(type_name)
            value = current(col)
            changes[col] = value.try_cast(target) if c.on_cast_error == "null" else value.cast(target)
        for col, fill in c.fill_nulls.items():
            value = current(col)
            changes[col] = value.fill_null(ibis.literal(fill).cast(value.type()))
        if changes:
            t = t.mutate(**changes)
        if c.drop_nulls:
            t = t.drop_null(c.drop_nulls)
        if c.remove_duplicates:
            t = t.distinct(on=c.columns, keep="first") if c.columns else t.distinct()
        return t

    def explain_failure(self, inputs: Inputs, ctx: NodeContext) -> NodeError | None:
        c = self.config
        if c.on_cast_error != "fail":
            return None
        t = inputs.one()
        before_cast = self._text_changes(t)
        for col, type_name in c.cast.items():
            value = before_cast.get(col, t[col])
            bad = value.notnull() & value.try_cast(to_ibis_type(type_name)).isnull()
            found = t.filter(bad).mutate(**{col: value}).relocate(col)  # the culprit first
            rows = ctx.backend.to_arrow(found, limit=5).to_pylist()
            if rows:
                return NodeError(self.node_id, f"cannot cast column {col!r} to {type_name}: "
                                 f"{rows[0][col]!r} is not a valid {type_name}; fix the values "
                                 "upstream, or set on_cast_error to \"null\" to blank them",
                                 field="cast", sample_rows=rows)
        return None

    def _check_columns(self, t: ir.Table) -> None:
        """Every column named in any setting, checked at once: one message lists them all."""
        c = self.config
        named = {"trim": c.trim if isinstance(c.trim, list) else [], "case": list(c.case),
                 "replace": [r.column for r in c.replace], "cast": list(c.cast),
                 "fill_nulls": list(c.fill_nulls), "drop_nulls": c.drop_nulls,
                 "columns": (c.columns or []) if c.remove_duplicates else []}
        wrong = [setting for setting, cols in named.items() if set(cols) - set(t.columns)]
        if wrong:
            require_columns(t, [col for cols in named.values() for col in cols], field=wrong[0])
        schema = t.schema()
        for col, fill in c.fill_nulls.items():
            if not _fits(fill, schema[col]):
                raise ConfigError(f"fill_nulls: {fill!r} cannot fill column {col!r}, which is "
                                  f"{schema[col]}", field="fill_nulls")

    def _text_changes(self, t: ir.Table) -> dict[str, ir.Value]:
        """The trim, case and replace steps: what every later step (a cast) starts from
        (the columns were checked by :meth:`_check_columns`)."""
        c = self.config
        schema = t.schema()
        changes: dict[str, ir.Value] = {}

        def current(col: str) -> ir.Value:
            return changes.get(col, t[col])

        if c.trim:
            trim_cols = [n for n, ty in schema.items() if is_text(ty)] if c.trim is True else c.trim
            if isinstance(c.trim, list):
                _require_text(schema, c.trim, "trim")
            for col in trim_cols:
                changes[col] = trim_spaces(current(col))  # type: ignore[arg-type]
        _require_text(schema, c.case, "case")
        for col, mode in c.case.items():
            value = current(col)
            if mode == "lower":
                changes[col] = value.lower()  # type: ignore[attr-defined]
            elif mode == "upper":
                changes[col] = value.upper()  # type: ignore[attr-defined]
            else:
                changes[col] = _title(value)  # type: ignore[arg-type]
        _require_text(schema, [r.column for r in c.replace], "replace")
        for r in c.replace:
            changes[r.column] = current(r.column).re_replace(r.pattern, r.replacement)  # type: ignore[attr-defined]
        return changes


def _fits(value: object, dtype: dt.DataType) -> bool:
    """Whether a fill value can stand in a column of ``dtype`` (checked before the run)."""
    if dtype.is_boolean():
        return isinstance(value, bool)
    if dtype.is_numeric():
        return not isinstance(value, bool) and (isinstance(value, (int, float))
                                                or _parses(float, value))
    if dtype.is_date():
        return _parses(datetime.date.fromisoformat, value)
    if dtype.is_timestamp():
        return _parses(datetime.datetime.fromisoformat, value)
    return True


def _parses(parse: Callable[[str], object], value: object) -> bool:
    try:
        parse(str(value))
    except ValueError:
        return False
    return True


def _require_text(schema: ibis.Schema, columns: object, field: str) -> None:
    for col in columns:  # type: ignore[attr-defined]
        if not is_text(schema[col]):
            raise ConfigError(f"column {col!r} is {schema[col]}, not text; {field} applies to text "
                              "columns only", field=field)


def _title(value: ir.StringValue) -> ir.StringValue:
    words = value.lower().split(" ")
    return words.map(lambda w: w.capitalize()).join(" ")  # type: ignore[no-any-return]


