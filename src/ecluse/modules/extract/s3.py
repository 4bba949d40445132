"""Extractor ``s3``: CSV, JSON, Parquet, XML or Excel objects in S3 or any S3-compatible
store (MinIO...), parsed as the file extractors do; Hive partitions; only new files on
incremental runs. On DuckDB, CSV/JSON/Parquet are read by DuckDB itself (httpfs, a secret
scoped to the bucket); otherwise objects are copied into the run's work folder first."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from ecluse.sdk import connection_field
from ecluse.sdk.cloud import ObjectExtractor, ObjectReadConfig


class S3ExtractConfig(ObjectReadConfig):
    connection: str = connection_field(
        "S3 connection: access key, secret, region, and `endpoint_url` for MinIO and other "
        "S3-compatible stores.", kinds=("s3",))
    bucket: str = Field(min_length=3, max_length=63, description="Bucket name.")


class S3Extractor(ObjectExtractor):
    name = "s3"
    title = "S3 / MinIO"
    description = "Read CSV, JSON, Parquet, XML or Excel files from S3 or MinIO (new ones only if asked)."
    storage = "s3"
    Config = S3ExtractConfig
    config: S3ExtractConfig
    examples: ClassVar = ({"connection": "lake", "bucket": "data-lake", "prefix": "orders",
                           "format": "parquet", "incremental": True},
                          {"connection": "lake", "bucket": "landing", "prefix": "exports",
                           "glob": "*.csv", "format": "csv", "options": {"delimiter": ";"}})
