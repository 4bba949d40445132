"""Pure parts of the storage layer: key filtering, Hive folders, connection options, errors."""

from __future__ import annotations

import pytest

from ecluse.sdk.cloud import _hive_groups
from ecluse.sdk.connections import parse_connection
from ecluse.sdk.errors import ConfigError
from ecluse.sdk.storage import kind_of_url, object_store_options, storage_error, wanted


def test_wanted_keys() -> None:
    assert wanted("a/b.csv", None)
    assert not wanted("_delta_log/0.json", None)
    assert not wanted("x/.hidden.csv", None)
    assert not wanted("orders.ecluse-tmp-abc/part.parquet", None)
    assert wanted("2024/x.csv", "**/*.csv") and wanted("x.csv", "**/*.csv")
    assert not wanted("x.json", "*.csv")


def test_hive_groups() -> None:
    groups = _hive_groups(["/r/country=FR/a.csv", "/r/country=FR/b.csv", "/r/country=D%20E/c.csv"], "/r")
    assert groups == {(("country", "FR"),): ["/r/country=FR/a.csv", "/r/country=FR/b.csv"],
                      (("country", "D E"),): ["/r/country=D%20E/c.csv"]}


def test_kinds_and_options() -> None:
    assert kind_of_url("s3://b/k") == "s3" and kind_of_url("abfs://c/k") == "azure_blob"
    assert kind_of_url("/tmp/x") == "local" and kind_of_url("gs://b") == "gcs"
    with pytest.raises(ConfigError):
        kind_of_url("ftp://x/y")
    s3 = parse_connection("l", {"type": "s3", "endpoint_url": "http://127.0.0.1:9000",
                                "access_key_id": "k", "secret_access_key": "s"})
    opts = object_store_options("s3", s3)
    assert opts["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000" and opts["AWS_ALLOW_HTTP"] == "true"
    az = parse_connection("a", {"type": "azure_blob", "connection_string":
                                "AccountName=acc;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/acc;"})
    assert object_store_options("azure_blob", az) == {"account_name": "acc", "account_key": "a2V5",
                                                      "endpoint": "http://127.0.0.1:1/acc",
                                                      "allow_http": "true"}
    with pytest.raises(ConfigError, match="not s3"):
        object_store_options("s3", az)


def test_storage_errors_are_sentences() -> None:
    e = storage_error(PermissionError("InvalidAccessKeyId"), where="s3://b", connection="lake")
    assert "check the credentials of connection 'lake'" in str(e)
    assert "does not exist" in str(storage_error(FileNotFoundError("b"), where="s3://b"))
