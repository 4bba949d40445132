"""The storage and lakehouse modules are in the catalog with complete JSON Schemas, and
importing them pulls in no client library (the catalog imports every module at start-up)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from ecluse.sdk.registry import default_registry

MODULES = [("extractor", n) for n in ("s3", "gcs", "azure_blob", "delta", "iceberg")] + \
    [("loader", n) for n in ("gcs", "azure_blob", "delta", "iceberg")]


def _props(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = list(schema.get("properties", {}).items())
    for sub in schema.get("$defs", {}).values():
        out += list(sub.get("properties", {}).items())
    return out


@pytest.mark.parametrize(("kind", "name"), MODULES)
def test_in_catalog_with_descriptions(kind: str, name: str) -> None:
    cls = default_registry().get(kind, name)
    assert cls is not None
    entry = cls.describe()
    assert entry["description"] and entry["examples"]
    missing = [k for k, v in _props(entry["config_schema"]) if not v.get("description")]
    assert not missing, missing
    for example in entry["examples"]:
        cls.parse_config(example)


def test_catalog_imports_no_client_library() -> None:
    code = ("import sys; from ecluse.sdk.registry import default_registry; default_registry(); "
            "heavy = [m for m in ('deltalake', 'pyiceberg', 's3fs', 'gcsfs', 'adlfs', 'boto3') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_bad_file_options_are_rejected_at_design_time() -> None:
    cls = default_registry().get("extractor", "s3")
    assert cls is not None
    with pytest.raises(Exception, match="delimiter"):
        cls.parse_config({"connection": "c", "bucket": "bkt", "format": "csv",
                          "options": {"delimiter": ";;"}})
    with pytest.raises(Exception, match="record_path"):
        cls.parse_config({"connection": "c", "bucket": "bkt", "format": "xml"})
