"""The base of every module's configuration, and the hints that shape its generated form.

A config is data: frozen, ``extra="forbid"``, validated once at the edge. Its JSON Schema
is the UI form, the API contract and the documentation, so every field carries a
description. A few ``x-widget`` hints tell the form generator what plain JSON Schema cannot.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

WIDGET = "x-widget"


class ModuleConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _hinted(description: str, extra: dict[str, Any], kwargs: dict[str, Any]) -> Any:
    return Field(description=description, json_schema_extra=extra, **kwargs)


def connection_field(description: str = "Name of a stored connection.", *,
                     kinds: tuple[str, ...] = (), **kwargs: Any) -> Any:
    """A field naming a connection; the form shows a picker filtered on ``kinds``."""
    extra: dict[str, Any] = {WIDGET: "connection"}
    if kinds:
        extra["x-connection-types"] = list(kinds)
    return _hinted(description, extra, kwargs)


def connection_kinds(config_model: type[BaseModel], field: str) -> tuple[str, ...]:
    """The connection types a :func:`connection_field` of ``config_model`` accepts (empty: any)."""
    for name, info in config_model.model_fields.items():
        extra = info.json_schema_extra
        if (info.alias or name) == field and isinstance(extra, dict):
            kinds = extra.get("x-connection-types")
            return tuple(str(k) for k in kinds) if isinstance(kinds, list) else ()
    return ()


def sql_field(description: str, *, dialect: str = "duckdb", **kwargs: Any) -> Any:
    """A field holding SQL whose ``:name`` parameters are checked against the document."""
    return _hinted(description, {WIDGET: "sql", "x-sql-dialect": dialect}, kwargs)


def expression_field(description: str, **kwargs: Any) -> Any:
    """A field holding an expression over the input columns; the form shows a code editor."""
    return _hinted(description, {WIDGET: "expression"}, kwargs)


def columns_field(description: str, **kwargs: Any) -> Any:
    """A list of input column names; the form offers the upstream schema's columns."""
    return _hinted(description, {WIDGET: "columns"}, kwargs)


def column_field(description: str, **kwargs: Any) -> Any:
    """One input column name; the form offers the upstream schema's columns."""
    return _hinted(description, {WIDGET: "column"}, kwargs)


def secret_field(description: str, **kwargs: Any) -> Any:
    """A secret typed in a form (shown as a password field, never echoed back)."""
    return _hinted(description, {WIDGET: "password", "writeOnly": True}, kwargs)


def path_field(description: str, **kwargs: Any) -> Any:
    """A file path, folder or glob."""
    return _hinted(description, {WIDGET: "path"}, kwargs)


def fields_with_widget(config_model: type[BaseModel], widget: str) -> list[str]:
    """Names of the top-level fields of ``config_model`` carrying that ``x-widget`` hint."""
    names = []
    for name, info in config_model.model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, dict) and extra.get(WIDGET) == widget:
            names.append(info.alias or name)
    return names
