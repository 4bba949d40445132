"""S3 clients from connections of type ``s3`` (AWS, MinIO and other S3-compatible stores)."""

from __future__ import annotations

from typing import Any

from ecluse.sdk.connections import Connection
from ecluse.sdk.errors import ConfigError


def s3_client(connection: Connection) -> Any:
    """A boto3 S3 client from a connection of type ``s3``."""
    import boto3
    from botocore.config import Config

    if connection.type != "s3":
        raise ConfigError(f"connection {connection.name!r} is of type {connection.type!r}, not s3",
                          field="connection")
    endpoint = connection.get("endpoint_url")
    return boto3.client(
        "s3", endpoint_url=endpoint or None,
        aws_access_key_id=connection.get("access_key_id"),
        aws_secret_access_key=connection.get("secret_access_key"),
        aws_session_token=connection.get("session_token"),
        region_name=connection.get("region") or "us-east-1",
        config=Config(s3={"addressing_style": "path" if endpoint else "auto"},
                      retries={"max_attempts": 5, "mode": "standard"},
                      connect_timeout=10, read_timeout=120))
