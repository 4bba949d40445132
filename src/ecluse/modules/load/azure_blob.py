"""Loader ``azure_blob``: Parquet, CSV or JSON-lines blobs in Azure Blob Storage, partitioned,
published atomically (temporary prefix, then copied into place; a manifest lists the files)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from ecluse.sdk import ModuleConfig, connection_field
from ecluse.sdk.cloud import ObjectLoader, ObjectWriteConfig


class AzureBlobTarget(ModuleConfig):
    connection: str = connection_field(
        "Azure Blob connection: a connection string, or account name with key or SAS token.",
        kinds=("azure_blob",))
    container: str = Field(min_length=3, max_length=63, description="Container name.")


class AzureBlobLoadConfig(ObjectWriteConfig, AzureBlobTarget):
    pass


class AzureBlobLoader(ObjectLoader):
    name = "azure_blob"
    title = "Azure Blob Storage"
    description = "Write Parquet, CSV or JSON blobs to an Azure container, partitioned, published atomically."
    storage = "azure_blob"
    container_key = "container"
    Config = AzureBlobLoadConfig
    config: AzureBlobLoadConfig
    examples: ClassVar = ({"connection": "azure", "container": "lake", "prefix": "orders",
                           "format": "parquet"},)
