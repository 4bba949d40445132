"""Every transformer of issue 7 is in the catalog with a complete form and usable examples."""

from __future__ import annotations

from typing import Any

import pytest

from ecluse.sdk.registry import default_registry

MODULES = ["filter", "derive", "select", "rename", "join", "union", "sort", "limit", "sample",
           "deduplicate", "window", "pivot", "unpivot", "sql", "validator", "normalizer"]

ISSUE_SHAPES = [
    ("join", {"how": "left", "on": ["carrier"]}),
    ("join", {"how": "inner", "left_on": ["origin"], "right_on": ["faa"],
              "suffixes": ["", "_airport"]}),
    ("filter", {"condition": "dep_delay > 15 AND origin IN ('JFK', 'LGA')"}),
    ("derive", {"columns": {"delayed": "dep_delay > 15", "route": "origin || '-' || dest"}}),
    ("window", {"partition_by": ["carrier"], "order_by": [{"column": "dep_delay",
                                                           "descending": True}],
                "functions": [{"function": "rank", "name": "delay_rank"},
                              {"function": "lag", "column": "dep_delay", "offset": 1,
                               "name": "prev_delay"}]}),
    ("pivot", {"index": ["carrier"], "columns": "origin", "values": "dep_delay",
               "aggregation": "mean"}),
]


def _undocumented(schema: dict[str, Any]) -> list[str]:
    missing = []
    models = [("", schema), *schema.get("$defs", {}).items()]
    for model_name, model in models:
        for prop, spec in model.get("properties", {}).items():
            if "description" not in spec and "$ref" not in spec and "allOf" not in spec:
                missing.append(f"{model_name or 'config'}.{prop}")
    return missing


@pytest.mark.parametrize("name", MODULES)
def test_catalog_entry(name: str) -> None:
    cls = default_registry().get("transformer", name)
    assert cls is not None, name
    entry = cls.describe()
    assert entry["description"] and entry["title"] and entry["examples"]
    assert _undocumented(entry["config_schema"]) == []
    for example in cls.examples:
        cls.parse_config(example)


@pytest.mark.parametrize(("name", "config"), ISSUE_SHAPES)
def test_issue_shapes_parse_and_are_examples(name: str, config: dict[str, Any]) -> None:
    cls = default_registry().get("transformer", name)
    assert cls is not None
    cls.parse_config(config)
    assert config in list(cls.examples)


def test_ports() -> None:
    reg = default_registry()
    join, union, validator = (reg.get("transformer", n) for n in ("join", "union", "validator"))
    assert join is not None and union is not None and validator is not None
    assert [p.name for p in join.inputs] == ["left", "right"]
    assert (union.inputs[0].min_edges, union.inputs[0].max_edges) == (2, None)
    assert [p.name for p in validator.outputs] == ["out", "rejected"]
