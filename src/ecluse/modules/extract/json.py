"""Extractor ``json``: a JSON array or JSON lines, nested objects flattened."""

from __future__ import annotations

from typing import Literal

import ibis.expr.types as ir
from pydantic import Field

from ecluse.sdk import Extractor, ModuleConfig, NodeContext, path_field
from ecluse.sdk.errors import NodeError
from ecluse.sdk.files import expand_paths
from ecluse.sdk.relational import flatten_structs


class JsonConfig(ModuleConfig):
    path: str = path_field("A file, a folder or a glob such as `in/*.jsonl`.")
    format: Literal["auto", "array", "lines"] = Field(
        "auto", description="One JSON array of records, or one record per line; detected by default.")
    flatten: bool = Field(True, description="Turn nested objects into columns.")
    separator: str = Field("_", min_length=1, max_length=5,
                           description="Joins nested names: `customer.email` -> `customer_email`.")


class JsonExtractor(Extractor):
    name = "json"
    title = "JSON file"
    description = "Read JSON arrays or JSON lines; nested objects become columns."
    category = "Files"
    icon = "data_object"
    Config = JsonConfig
    config: JsonConfig

    def read(self, ctx: NodeContext) -> ir.Table:
        c = self.config
        paths = expand_paths(c.path, base_dir=ctx.base_dir)
        lines = {"auto": None, "array": False, "lines": True}[c.format]
        table = ctx.backend.scan_json(paths, lines=lines)
        return flatten_structs(table, c.separator) if c.flatten else table

    def explain_failure(self, ctx: NodeContext, cause: BaseException) -> NodeError | None:
        """A file the engine could read only in part (JSON broken past its start)."""
        read_error = ctx.backend.describe_read_error(cause)
        return None if read_error is None else NodeError(
            self.node_id, f"cannot read JSON: {read_error}", field="path")
