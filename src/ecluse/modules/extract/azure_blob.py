"""Extractor ``azure_blob``: CSV, JSON, Parquet, XML or Excel blobs in Azure Blob Storage
(or ADLS Gen2), parsed as the file extractors do; Hive partitions; only new files on
incremental runs."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from ecluse.sdk import connection_field
from ecluse.sdk.cloud import ObjectExtractor, ObjectReadConfig


class AzureBlobExtractConfig(ObjectReadConfig):
    connection: str = connection_field(
        "Azure Blob connection: a connection string, or account name with key or SAS token.",
        kinds=("azure_blob",))
    container: str = Field(min_length=3, max_length=63, description="Container name.")


class AzureBlobExtractor(ObjectExtractor):
    name = "azure_blob"
    title = "Azure Blob Storage"
    description = "Read CSV, JSON, Parquet, XML or Excel blobs from Azure (new ones only if asked)."
    storage = "azure_blob"
    container_key = "container"
    Config = AzureBlobExtractConfig
    config: AzureBlobExtractConfig
    examples: ClassVar = ({"connection": "azure", "container": "landing", "prefix": "sales",
                           "format": "csv", "options": {"delimiter": ";"}},)
