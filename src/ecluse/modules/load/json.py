"""Loader ``json``: JSON lines files, published atomically."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ecluse.modules.load.files import FileLoader, FileLoaderConfig


class JsonLoaderConfig(FileLoaderConfig):
    compression: Literal["none", "gzip", "zstd"] = Field("none", description="Compress the files.")


class JsonLoader(FileLoader):
    name = "json"
    title = "JSON lines"
    description = "Write JSON lines (one record per line), replaced atomically."
    icon = "data_object"
    format = "json"
    Config = JsonLoaderConfig
    config: JsonLoaderConfig
    examples: ClassVar = ({"path": "out/orders.jsonl"},)

    def file_request(self, staging_dir: object) -> dict[str, object]:
        c = self.config
        return {"compression": None if c.compression == "none" else c.compression}
