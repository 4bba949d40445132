"""The connectors are in the catalog with complete JSON Schemas (every field described)."""

from __future__ import annotations

from typing import Any

import pytest

from ecluse.sdk.registry import default_registry

CONNECTORS = [("extractor", "postgres"), ("loader", "postgres"), ("extractor", "rest"), ("loader", "s3")]


def _undescribed(schema: dict[str, Any]) -> list[str]:
    missing = []
    for where in [schema, *schema.get("$defs", {}).values()]:
        for name, prop in where.get("properties", {}).items():
            if name != "type" and not prop.get("description"):
                missing.append(f"{where.get('title')}.{name}")
    return missing


@pytest.mark.parametrize(("kind", "name"), CONNECTORS)
def test_connector_in_catalog_with_complete_schema(kind: str, name: str) -> None:
    cls = default_registry().get(kind, name)
    assert cls is not None, f"{kind} {name} is not in the catalog"
    entry = cls.describe()
    assert entry["description"] and entry["title"]
    assert _undescribed(entry["config_schema"]) == []
    for example in entry["examples"]:
        cls.parse_config(example)
