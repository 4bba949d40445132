"""Every config field of the database modules carries a description (the JSON Schema is the
form, the API contract and the docs), and bad configs are refused with a clear sentence."""

from __future__ import annotations

from typing import Any

import pytest

from ecluse.sdk.registry import default_registry

MODULES = [(kind, name) for kind in ("extractor", "loader")
           for name in ("mysql", "clickhouse", "mongodb")]


def _walk(schema: dict[str, Any], defs: dict[str, Any], path: str) -> list[str]:
    missing = []
    for name, prop in schema.get("properties", {}).items():
        if "description" not in prop:
            missing.append(f"{path}{name}")
        for ref in [prop.get("$ref"), *[a.get("$ref") for a in prop.get("anyOf", [])]]:
            if ref:
                missing += _walk(defs[ref.rsplit("/", 1)[-1]], defs, f"{path}{name}.")
    return missing


@pytest.mark.parametrize(("kind", "name"), MODULES)
def test_every_field_is_described(kind: str, name: str) -> None:
    cls: Any = default_registry().get(kind, name)
    assert cls is not None
    schema = cls.Config.model_json_schema()
    assert _walk(schema, schema.get("$defs", {}), "") == []
    assert cls.description and cls.title


@pytest.mark.parametrize(("name", "config", "message"), [
    ("mysql", {"connection": "c"}, "either `query` or `table`"),
    ("clickhouse", {"connection": "c", "query": "SELECT 1", "where": "x"}, "go with `table`"),
    ("mysql", {"connection": "c", "table": "a.b.c"}, "invalid table name"),
])
def test_extractor_configs_are_checked(name: str, config: dict[str, Any], message: str) -> None:
    cls: Any = default_registry().get("extractor", name)
    with pytest.raises(Exception, match=message):
        cls.parse_config(config)


@pytest.mark.parametrize("name", ["mysql", "clickhouse", "mongodb"])
def test_upsert_needs_keys(name: str) -> None:
    cls: Any = default_registry().get("loader", name)
    target = {"collection": "c"} if name == "mongodb" else {"table": "t"}
    with pytest.raises(Exception, match="needs `keys`"):
        cls.parse_config({"connection": "c", "mode": "upsert", **target})
