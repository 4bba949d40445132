"""Loader ``s3``: Parquet, CSV or JSON-lines objects in S3 or any S3-compatible store (MinIO...),
partitioned (by columns or by parts of a timestamp), in rolling files, published atomically
(temporary prefix, then copied into place; a manifest lists the files)."""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from ecluse.sdk import ModuleConfig, connection_field
from ecluse.sdk.cloud import ObjectLoader, ObjectWriteConfig
from ecluse.sdk.storage import Publication


class S3Target(ModuleConfig):
    connection: str = connection_field(
        "S3 connection: access key, secret, region, and `endpoint_url` for MinIO and other "
        "S3-compatible stores.", kinds=("s3",))
    bucket: str = Field(min_length=3, max_length=63, description="Bucket name.")


class S3LoaderConfig(ObjectWriteConfig, S3Target):
    multipart_chunk_mb: int = Field(16, ge=5, le=5_000, description="Upload in parts of this size.")


@dataclass
class _Upload(Publication):
    """Files of ``chunk`` bytes or more go up in parts of that size (s3fs's ``put_file`` would
    send up to twice its chunk in one request), and are copied into place part by part, so a
    published object keeps the ETag of its upload. An interrupted upload or copy is aborted
    (its parts would otherwise be kept, and billed, by the store)."""

    chunk: int = 16 << 20
    manifest_options: ClassVar[dict[str, Any]] = {"ContentType": "application/json"}

    def transfer(self, local: Path, path: str) -> None:
        with local.open("rb") as source:
            target = self.fs.open(path, "wb", block_size=self.chunk)
            try:
                shutil.copyfileobj(source, target, self.chunk)
                target.close()
            except BaseException:
                target.discard()
                raise

    def copy(self, source: str, target: str) -> None:
        try:
            self.fs.cp_file(source, target, preserve_etag=True)
        except BaseException:
            with contextlib.suppress(Exception):
                key = target.split("/", 1)[1]
                for upload in self.fs.list_multipart_uploads(self.root):
                    if upload["Key"] == key:
                        self.fs.abort_mpu(self.root, key, upload["UploadId"])
            raise


class S3Loader(ObjectLoader):
    name = "s3"
    title = "S3 / MinIO"
    description = "Write Parquet, CSV or JSON files to S3 or MinIO, partitioned, published atomically."
    storage = "s3"
    Config = S3LoaderConfig
    config: S3LoaderConfig
    examples: ClassVar = ({"connection": "lake", "bucket": "data-lake", "prefix": "orders",
                           "format": "parquet", "partition_by": ["year", "month"]},
                          {"connection": "lake", "bucket": "data-lake", "prefix": "orders",
                           "partition_by": {"column": "order_ts", "parts": ["year", "month"]}})

    def _publication(self, fs: Any) -> Publication:
        return _Upload(fs, self.config.bucket, self.config.prefix,
                       chunk=self.config.multipart_chunk_mb << 20)
