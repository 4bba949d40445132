"""One storage layer for every location: local folders, S3 (and S3-compatible stores),
Google Cloud Storage and Azure Blob Storage.

Built on fsspec (s3fs, gcsfs, adlfs): one ``AbstractFileSystem`` API for listing, reading
ranges, uploading, server-side copies and deletes, whatever the location. The table formats
(deltalake, Polars) take their own ``object_store`` options, derived here from the same
connection by :func:`object_store_options`; DuckDB gets an S3 secret from
:func:`duckdb_s3_secret`.

Connections (``ctx.connection(name)``), by type:

- ``s3``: ``access_key_id``, ``secret_access_key``, ``session_token``, ``region``,
  ``endpoint_url`` (MinIO and other S3-compatible stores).
- ``gcs``: ``project``, ``service_account_json`` (the key file's JSON, text or object) or
  ``token`` (``anon`` for an emulator), ``endpoint_url`` (an emulator).
- ``azure_blob``: ``connection_string``, or ``account_name`` with ``account_key`` or
  ``sas_token``; ``endpoint_url`` (a blob endpoint such as Azurite's).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import posixpath
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ecluse.sdk.connections import Connection
from ecluse.sdk.errors import ConfigError

StorageKind = str  # "s3" | "gcs" | "azure_blob" | "local"
SCHEMES: dict[str, str] = {"s3": "s3", "gcs": "gs", "azure_blob": "az", "local": "file"}
_URL_KINDS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure_blob",
              "abfs": "azure_blob", "abfss": "azure_blob", "azure": "azure_blob", "file": "local"}
MANIFEST = "_ecluse_manifest.json"
TEMP_MARK = ".ecluse-tmp-"


@dataclass(frozen=True)
class ObjectInfo:
    """One object of a listing: its key (inside the bucket), size and a change fingerprint."""

    key: str
    size: int
    fingerprint: str


def kind_of_url(url: str) -> StorageKind:
    scheme = url.split("://", 1)[0].lower() if "://" in url else "file"
    kind = _URL_KINDS.get(scheme)
    if kind is None:
        raise ConfigError(f"unsupported location {url!r}: use a local path, s3://, gs://, az:// or "
                          "abfs://", field="path")
    return kind


def check_connection(connection: Connection, kind: StorageKind) -> None:
    if connection.type != kind:
        raise ConfigError(f"connection {connection.name!r} is of type {connection.type!r}, "
                          f"not {kind}", field="connection")


def filesystem(kind: StorageKind, connection: Connection | None) -> Any:
    """An fsspec filesystem for a location kind, with the connection's credentials."""
    if kind == "local":
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem(auto_mkdir=True)
    if connection is None:
        raise ConfigError(f"a {kind} location needs a connection", field="connection")
    check_connection(connection, kind)
    get = connection.get
    if kind == "s3":
        import s3fs

        endpoint = get("endpoint_url")
        return s3fs.S3FileSystem(
            key=get("access_key_id"), secret=get("secret_access_key"), token=get("session_token"),
            endpoint_url=endpoint or None, use_listings_cache=False,
            client_kwargs={"region_name": get("region") or "us-east-1"},
            config_kwargs={"s3": {"addressing_style": "path" if endpoint else "auto"},
                           "retries": {"max_attempts": 5, "mode": "standard"},
                           "connect_timeout": 10, "read_timeout": 120})
    if kind == "gcs":
        # gcsfs >= 2026 probes the gRPC Storage Control API for every bucket; emulators and
        # most firewalls make that stall for a minute before it falls back.
        os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        import gcsfs

        token: Any = gcs_key(connection) or get("token")
        return gcsfs.GCSFileSystem(project=get("project") or "ecluse", token=token or "google_default",
                                   endpoint_url=get("endpoint_url") or None, skip_instance_cache=True)
    if kind == "azure_blob":
        import adlfs

        kwargs: dict[str, Any] = {"skip_instance_cache": True}
        if get("connection_string"):
            kwargs["connection_string"] = get("connection_string")
        else:
            kwargs.update(account_name=get("account_name"), account_key=get("account_key"),
                          sas_token=get("sas_token"))
            if get("endpoint_url"):
                kwargs["account_host"] = get("endpoint_url").split("://", 1)[-1].split("/", 1)[0]
        return adlfs.AzureBlobFileSystem(**kwargs)
    raise ConfigError(f"unsupported storage kind {kind!r}", field="connection")


def gcs_key(connection: Connection) -> dict[str, Any] | None:
    """The service account key of a ``gcs`` connection, checked: gcsfs reports a malformed
    key as an unrelated ``KeyError: 'refresh_token'``."""
    sa = connection.get("service_account_json")
    if not sa:
        return None
    what = f"the service account key (service_account_json) of connection {connection.name!r}"
    try:
        info = json.loads(sa) if isinstance(sa, str) else sa
    except json.JSONDecodeError as exc:  # the message never holds the key's text
        raise ConfigError(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                          field="connection") from None
    if not isinstance(info, dict):
        raise ConfigError(f"{what} must be a JSON object (the key file downloaded from Google Cloud)",
                          field="connection")
    from google.oauth2 import service_account

    try:
        service_account.Credentials.from_service_account_info(info)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"{what} cannot be used: {exc}", field="connection") from None
    return dict(info)


def _azure_parts(connection: Connection) -> dict[str, str]:
    text = connection.get("connection_string") or ""
    parts = dict(p.split("=", 1) for p in text.split(";") if "=" in p)
    out = {"account_name": parts.get("AccountName") or connection.get("account_name") or "",
           "account_key": parts.get("AccountKey") or connection.get("account_key") or ""}
    endpoint = parts.get("BlobEndpoint") or connection.get("endpoint_url") or ""
    if endpoint:
        out["endpoint"] = endpoint
    if connection.get("sas_token"):
        out["sas_token"] = str(connection.get("sas_token"))
    return out


def object_store_options(kind: StorageKind, connection: Connection | None) -> dict[str, str]:
    """Options for Rust ``object_store`` clients (deltalake, Polars) from a connection."""
    if kind == "local" or connection is None:
        return {}
    check_connection(connection, kind)
    get = connection.get
    if kind == "s3":
        opts = {"AWS_ACCESS_KEY_ID": get("access_key_id") or "",
                "AWS_SECRET_ACCESS_KEY": get("secret_access_key") or "",
                "AWS_REGION": get("region") or "us-east-1",
                # one writer per table (the engine runs one loader per table): no lock table
                "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
        if get("session_token"):
            opts["AWS_SESSION_TOKEN"] = get("session_token")
        if get("endpoint_url"):
            opts["AWS_ENDPOINT_URL"] = get("endpoint_url")
            opts["AWS_ALLOW_HTTP"] = str(get("endpoint_url").startswith("http://")).lower()
        return {k: v for k, v in opts.items() if v}
    if kind == "gcs":
        opts = {}
        if get("endpoint_url"):
            opts.update(google_base_url=get("endpoint_url"), skip_signature="true",
                        allow_http="true")
        key = gcs_key(connection)
        if key:
            opts["google_service_account_key"] = json.dumps(key)
        return opts
    if kind == "azure_blob":
        parts = _azure_parts(connection)
        opts = {"account_name": parts["account_name"]}
        if parts["account_key"]:
            opts["account_key"] = parts["account_key"]
        if "sas_token" in parts:
            opts["sas_token"] = parts["sas_token"]
        if "endpoint" in parts:  # Azurite, sovereign clouds: the blob endpoint with the account
            opts["endpoint"] = parts["endpoint"].rstrip("/")
            if parts["endpoint"].startswith("http://"):
                opts["allow_http"] = "true"
        return opts
    return {}


def duckdb_s3_secret(raw: Any, connection: Connection, *, scope: str) -> None:
    """Give a DuckDB connection a temporary S3 secret for ``scope`` (``s3://bucket``)."""
    def sql_literal(value: str) -> str:
        return "'" + str(value).replace("'", "''") + "'"

    get = connection.get
    endpoint = get("endpoint_url") or ""
    parts = ["TYPE s3", f"KEY_ID {sql_literal(get('access_key_id') or '')}",
             f"SECRET {sql_literal(get('secret_access_key') or '')}",
             f"REGION {sql_literal(get('region') or 'us-east-1')}", f"SCOPE {sql_literal(scope)}"]
    if get("session_token"):
        parts.append(f"SESSION_TOKEN {sql_literal(get('session_token'))}")
    if endpoint:
        host = endpoint.split("://", 1)[-1].rstrip("/")
        parts += [f"ENDPOINT {sql_literal(host)}", "URL_STYLE 'path'",
                  f"USE_SSL {str(endpoint.startswith('https://')).lower()}"]
    raw.execute("LOAD httpfs")
    name = "ecluse_s3_" + uuid.uuid4().hex[:10]
    raw.execute(f"CREATE TEMPORARY SECRET {name} ({', '.join(parts)})")


def storage_error(exc: BaseException, *, where: str, connection: str | None = None) -> ConfigError:
    """A sentence a user can act on, for a failure of the store."""
    text = str(exc)
    low = text.lower()
    auth_words = ("invalidaccesskeyid", "signaturedoesnotmatch", "accessdenied", "forbidden",
                  "authorization", "authenticat", "invalid_grant", "403", "401", "credential",
                  "permission")
    if isinstance(exc, PermissionError) or any(w in low for w in auth_words):
        who = f" of connection {connection!r}" if connection else ""
        return ConfigError(f"access to {where} was refused: check the credentials{who} "
                           f"({text.splitlines()[0][:200] if text else type(exc).__name__})",
                           field="connection")
    if isinstance(exc, FileNotFoundError) or "nosuchbucket" in low or "not found" in low \
            or "containernotfound" in low or "404" in low:
        return ConfigError(f"{where} does not exist", field="bucket")
    return ConfigError(f"cannot reach {where}: {text.splitlines()[0][:300] if text else type(exc).__name__}",
                       field="connection")


def _fingerprint(info: dict[str, Any]) -> str:
    for k in ("ETag", "etag", "md5Hash", "generation", "content_settings"):
        v = info.get(k)
        if v and isinstance(v, str | int):
            return f"{info.get('size', 0)}:{str(v).strip(chr(34))}"
    for k in ("LastModified", "last_modified", "updated", "mtime"):
        if info.get(k) is not None:
            return f"{info.get('size', 0)}:{info[k]}"
    return str(info.get("size", 0))


def _hidden(relative: str) -> bool:
    return any(part.startswith(("_", ".")) or TEMP_MARK in part for part in relative.split("/"))


def wanted(relative: str, pattern: str | None) -> bool:
    """Whether a key (relative to the prefix) is read: not hidden, matching the pattern."""
    if _hidden(relative):
        return False
    return not pattern or fnmatch.fnmatchcase(relative, pattern) or \
        fnmatch.fnmatchcase(relative, pattern.replace("**/", ""))


def list_objects(fs: Any, root: str, prefix: str, pattern: str | None, *, where: str,
                 connection: str | None = None) -> list[ObjectInfo]:
    """Objects under ``root/prefix`` (recursively), matching ``pattern`` (a glob on the key
    relative to the prefix, ``**`` crossing folders), hidden and temporary objects excluded.
    Keys are returned relative to ``root``, sorted."""
    base = posixpath.join(root, prefix.strip("/")) if prefix.strip("/") else root
    try:
        found = fs.find(base, detail=True)
        if not found:  # a missing bucket or a refusal shows here (a bucket listing is slow on S3)
            fs.ls(root, detail=False)
    except ConfigError:
        raise
    except Exception as exc:
        raise storage_error(exc, where=where, connection=connection) from exc
    out: list[ObjectInfo] = []
    for path, info in found.items():
        if info.get("type") == "directory":
            continue
        rel_root = path[len(root):].lstrip("/") if path.startswith(root) else path
        rel = path[len(base):].lstrip("/") if path.startswith(base) else rel_root
        if not wanted(rel, pattern):
            continue
        out.append(ObjectInfo(rel_root, int(info.get("size") or 0), _fingerprint(info)))
    return sorted(out, key=lambda o: o.key)


def download(fs: Any, root: str, objects: Sequence[ObjectInfo], target: Path, *,
             strip: str = "") -> list[Path]:
    """Copy objects into ``target`` keeping their folders below ``strip`` (so Hive folder
    names survive); refuse when the disk has not room for them."""
    need = sum(o.size for o in objects)
    target.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target).free
    if need > free * 0.9:
        raise ConfigError(f"the objects to read ({need / 1e9:.1f} GB) do not fit in the work folder "
                          f"({free / 1e9:.1f} GB free)", field="prefix")
    out = []
    for o in objects:
        rel = o.key[len(strip):].lstrip("/") if strip and o.key.startswith(strip) else o.key
        local = target / rel
        local.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(posixpath.join(root, o.key), str(local))
        out.append(local)
    return out


@dataclass
class Publication:
    """Atomic publication of a dataset of files: upload under a temporary prefix beside the
    dataset, then (only when everything is uploaded) copy into place, drop the old objects
    (overwrite) and write a manifest; on any failure the temporary objects are removed and
    the dataset is untouched."""

    fs: Any
    root: str
    prefix: str
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    uploaded: list[tuple[str, str]] = field(default_factory=list)  # (temp key, final key)
    bytes: int = 0
    manifest_options: ClassVar[dict[str, Any]] = {}  # the store's upload options for the manifest

    @property
    def base(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""

    @property
    def temp_prefix(self) -> str:
        return f"{self.prefix}{TEMP_MARK}{self.run}" if self.prefix else f"_ecluse-tmp-{self.run}"

    def put(self, local: Path, relative: str) -> None:
        """Upload a local file under the temporary prefix; ``relative`` is its key inside the
        dataset."""
        temp_key = f"{self.temp_prefix}/{relative}"
        self.uploaded.append((temp_key, f"{self.base}{relative}"))  # first: a half upload is removed too
        self.transfer(local, posixpath.join(self.root, temp_key))
        self.bytes += local.stat().st_size

    def transfer(self, local: Path, path: str) -> None:
        self.fs.put_file(str(local), path)

    def copy(self, source: str, target: str) -> None:
        """Server-side copy of an uploaded object into place."""
        self.fs.cp_file(source, target)

    def publish(self, *, mode: str, rows: int, fmt: str) -> None:
        import datetime as dt

        manifest_path = posixpath.join(self.root, f"{self.base}{MANIFEST}")
        old: list[str] = []
        previous: list[str] = []
        if mode == "overwrite":
            with contextlib.suppress(FileNotFoundError):
                base_path = posixpath.join(self.root, self.prefix) if self.prefix else self.root
                # the temporary objects of this run and of concurrent ones are not the dataset's
                old = [p for p in self.fs.find(base_path) if not _temporary(_strip_proto(p))]
        else:
            with contextlib.suppress(Exception):
                previous = list(json.loads(self.fs.cat_file(manifest_path)).get("files", []))
        for temp_key, final_key in self.uploaded:
            self.copy(posixpath.join(self.root, temp_key), posixpath.join(self.root, final_key))
        files = [f for _, f in self.uploaded]
        manifest = {"run": self.run, "written_at": dt.datetime.now(dt.UTC).isoformat(),
                    "format": fmt, "rows": rows, "files": previous + files}
        self.fs.pipe_file(manifest_path, json.dumps(manifest, indent=1).encode(), **self.manifest_options)
        keep = {_strip_proto(posixpath.join(self.root, f)) for f in files} | {_strip_proto(manifest_path)}
        stale = [p for p in old if _strip_proto(p) not in keep]
        if stale:
            self.fs.rm(stale)

    def discard(self) -> None:
        """Remove everything under the temporary prefix (call on failure and after publish)."""
        with contextlib.suppress(Exception):
            temps = self.fs.find(posixpath.join(self.root, self.temp_prefix))
            if temps:
                self.fs.rm(temps)


def _temporary(path: str) -> bool:
    return any(TEMP_MARK in part or part.startswith("_ecluse-tmp-") for part in path.split("/"))


def _strip_proto(path: str) -> str:
    return path.split("://", 1)[-1].lstrip("/")
