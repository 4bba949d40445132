"""Loader ``gcs``: Parquet, CSV or JSON-lines objects in Google Cloud Storage, partitioned,
published atomically (temporary prefix, then copied into place; a manifest lists the files)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from ecluse.sdk import ModuleConfig, connection_field
from ecluse.sdk.cloud import ObjectLoader, ObjectWriteConfig


class GcsTarget(ModuleConfig):
    connection: str = connection_field(
        "GCS connection: project and service account key (or `endpoint_url` of an emulator).",
        kinds=("gcs",))
    bucket: str = Field(min_length=3, max_length=222, description="Bucket name.")


class GcsLoadConfig(ObjectWriteConfig, GcsTarget):
    pass


class GcsLoader(ObjectLoader):
    name = "gcs"
    title = "Google Cloud Storage"
    description = "Write Parquet, CSV or JSON files to a GCS bucket, partitioned, published atomically."
    storage = "gcs"
    Config = GcsLoadConfig
    config: GcsLoadConfig
    examples: ClassVar = ({"connection": "gcp", "bucket": "lake", "prefix": "orders",
                           "format": "parquet", "partition_by": ["country"]},)
