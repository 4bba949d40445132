"""Extractor ``gcs``: CSV, JSON, Parquet, XML or Excel objects in Google Cloud Storage,
parsed as the file extractors do; Hive partitions; only new files on incremental runs."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from ecluse.sdk import connection_field
from ecluse.sdk.cloud import ObjectExtractor, ObjectReadConfig


class GcsExtractConfig(ObjectReadConfig):
    connection: str = connection_field(
        "GCS connection: project and service account key (or `endpoint_url` of an emulator).",
        kinds=("gcs",))
    bucket: str = Field(min_length=3, max_length=222, description="Bucket name.")


class GcsExtractor(ObjectExtractor):
    name = "gcs"
    title = "Google Cloud Storage"
    description = "Read CSV, JSON, Parquet, XML or Excel files from a GCS bucket (new ones only if asked)."
    storage = "gcs"
    Config = GcsExtractConfig
    config: GcsExtractConfig
    examples: ClassVar = ({"connection": "gcp", "bucket": "landing", "prefix": "events",
                           "format": "json", "incremental": True},)
