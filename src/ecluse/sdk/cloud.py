"""The shared body of the object-storage extractors and loaders (``s3``, ``gcs``,
``azure_blob``): list, filter, read through the file modules' parsing, stage a manifest of the
files read; write rolling files, publish them atomically."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any, ClassVar, Literal

import ibis.expr.types as ir
from pydantic import Field, field_validator, model_validator

from ecluse.sdk.config import ModuleConfig, column_field
from ecluse.sdk.context import NodeContext
from ecluse.sdk.errors import ConfigError
from ecluse.sdk.module import Extractor, Loader, LoadResult
from ecluse.sdk.relational import require_columns
from ecluse.sdk.rolling import write_rolling
from ecluse.sdk.storage import (
    ObjectInfo,
    Publication,
    StorageKind,
    download,
    duckdb_s3_secret,
    filesystem,
    list_objects,
    storage_error,
    wanted,
)

ReadFormat = Literal["csv", "json", "parquet", "xml", "excel"]
PREVIEW_BYTES = 1 << 20
_SUFFIXES = {"csv": (".csv", ".tsv", ".txt", ".csv.gz"), "json": (".json", ".jsonl", ".ndjson", ".json.gz",
                                                                   ".jsonl.gz"),
             "parquet": (".parquet", ".pq"), "xml": (".xml",), "excel": (".xlsx", ".xlsm", ".xls", ".ods")}


def _clean_prefix(value: str) -> str:
    value = value.strip().strip("/")
    if any(part in (".", "..") for part in value.split("/")):
        raise ValueError("the prefix may not contain '.' or '..' folders")
    return value


class ObjectReadConfig(ModuleConfig):
    """Fields common to the object-storage extractors (each adds its bucket/container)."""

    prefix: str = Field("", description="Folder (key prefix) to read under, e.g. `raw/orders`; "
                        "read recursively.")
    glob: str | None = Field(None, description="Only keys matching this pattern (relative to the "
                             "prefix; `*` within a folder, `**/` across folders), e.g. "
                             "`**/*.parquet`. Default: every file of the format's extensions.",
                             examples=["*.csv", "**/*.parquet", "2024-*/part-*.jsonl"])
    format: ReadFormat = Field("parquet", description="File format; parsed exactly as the file "
                               "extractor of that name does.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Options of the file extractor of the chosen format "
        "(everything but `path`), e.g. for csv `{\"delimiter\": \";\", \"encoding\": \"latin-1\"}`, "
        "for xml `{\"record_path\": \"/orders/order\"}`, for excel `{\"sheet\": \"2024\"}`.")
    hive_partitioning: bool = Field(True, description="Read `key=value` folder names as columns "
                                    "(Parquet).")
    incremental: bool = Field(False, description="Read only the files not read by an earlier "
                              "successful run (new or rewritten objects); the list of files read "
                              "is kept as the node's state.")

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return _clean_prefix(value)

    @model_validator(mode="after")
    def _options(self) -> ObjectReadConfig:
        try:
            file_config(self.format, dict(self.options), "x")  # the file module validates them
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self


def file_module(fmt: str) -> type[Extractor]:
    from ecluse.sdk.registry import default_registry

    cls = default_registry().get("extractor", fmt)
    if cls is None:  # pragma: no cover - the file modules are built in
        raise ConfigError(f"no file extractor for format {fmt!r}", field="format")
    assert issubclass(cls, Extractor)
    return cls


def file_config(fmt: str, options: dict[str, Any], path: str) -> Any:
    """The file module's own validated config (errors name the option)."""
    if "path" in options:
        raise ConfigError("`options` may not set `path`: the objects read are the path", field="options")
    cls = file_module(fmt)
    try:
        return cls.parse_config({**options, "path": path})  # type: ignore[attr-defined]
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"invalid {fmt} options: {exc}", field="options") from exc


class ObjectExtractor(Extractor):
    """Base of the object-storage extractors; subclasses set ``storage`` and ``container_key``."""

    storage: ClassVar[StorageKind]
    container_key: ClassVar[str] = "bucket"
    category = "Cloud storage"
    icon = "cloud_download"
    config: Any

    # -- listing ---------------------------------------------------------------------------
    def _container(self) -> str:
        return str(getattr(self.config, self.container_key))

    def _where(self) -> str:
        from ecluse.sdk.storage import SCHEMES

        p = self.config.prefix
        return f"{SCHEMES[self.storage]}://{self._container()}/{p}".rstrip("/")

    def _objects(self, ctx: NodeContext) -> tuple[Any, list[ObjectInfo]]:
        c = self.config
        conn = ctx.connection(c.connection)
        fs = filesystem(self.storage, conn)
        objects = list_objects(fs, self._container(), c.prefix, c.glob, where=self._where(),
                               connection=c.connection)
        if c.glob is None:
            objects = [o for o in objects if o.key.lower().endswith(_SUFFIXES[c.format])]
        if not objects:
            raise ConfigError(f"no {c.format} file found under {self._where()}"
                              + (f" matching {c.glob!r}" if c.glob else ""), field="prefix")
        return fs, objects

    # -- reading ---------------------------------------------------------------------------
    def _duckdb_reads(self, ctx: NodeContext) -> bool:
        return self.storage == "s3" and ctx.backend.name == "duckdb" and \
            self.config.format in ("parquet", "json")

    def _secret(self, ctx: NodeContext) -> None:
        if not ctx.scratch.get("secret"):
            duckdb_s3_secret(ctx.backend.raw, ctx.connection(self.config.connection),  # type: ignore[attr-defined]
                             scope=f"s3://{self._container()}")
            ctx.scratch["secret"] = True

    def _duckdb_objects(self, ctx: NodeContext) -> list[ObjectInfo]:
        """List with DuckDB's own S3 client (no second client to start); empty on any error,
        so that the storage layer's listing then reports the precise problem."""
        c = self.config
        container = self._container()
        base = f"s3://{container}/{c.prefix}/" if c.prefix else f"s3://{container}/"
        try:
            self._secret(ctx)
            rows = ctx.backend.raw.execute("SELECT file FROM glob(?)", [base + "**"]).fetchall()  # type: ignore[attr-defined]
        except Exception:
            return []
        out = []
        for (url,) in rows:
            rel = str(url)[len(base):]
            if wanted(rel, c.glob) and (c.glob or rel.lower().endswith(_SUFFIXES[c.format])):
                out.append(ObjectInfo(str(url)[len(f"s3://{container}/"):], 0, ""))
        return sorted(out, key=lambda o: o.key)

    def read(self, ctx: NodeContext) -> ir.Table:
        c = self.config
        if self._duckdb_reads(ctx) and not (c.incremental and ctx.mode == "run"):
            listed = self._duckdb_objects(ctx)
            if listed:
                chosen = listed if ctx.mode == "run" else listed[:1]
                ctx.metrics["files"] = len(chosen)
                return self._read_objects(ctx, None, chosen, sample=ctx.mode != "run")
        fs, objects = self._objects(ctx)
        chosen = objects
        if c.incremental and ctx.mode == "run":
            seen: dict[str, str] = dict((ctx.previous_state or {}).get("files", {}))
            chosen = [o for o in objects if seen.get(o.key) != o.fingerprint]
            seen.update({o.key: o.fingerprint for o in chosen})
            ctx.scratch["manifest"] = seen
            ctx.metrics["files_skipped"] = len(objects) - len(chosen)
        if ctx.mode != "run":
            chosen = objects[:1]
        ctx.metrics["files"] = len(chosen)
        ctx.metrics["bytes_listed"] = sum(o.size for o in chosen)
        if not chosen:  # nothing new: the schema of a file already read, no rows
            return self._read_objects(ctx, fs, objects[:1], sample=True).limit(0)
        return self._read_objects(ctx, fs, chosen, sample=ctx.mode != "run")

    def _read_objects(self, ctx: NodeContext, fs: Any, objects: list[ObjectInfo], *,
                      sample: bool) -> ir.Table:
        c = self.config
        container = self._container()
        if self._duckdb_reads(ctx):
            # DuckDB reads S3 itself (parallel range requests; preview limits are pushed down)
            self._secret(ctx)
            urls = [f"s3://{container}/{o.key}" for o in objects]
            try:
                return self._scan(ctx, urls, hive_root=None)
            except ConfigError:
                raise
            except Exception as exc:
                raise storage_error(exc, where=self._where(), connection=c.connection) from exc
        if sample and c.format in ("csv", "json"):
            return self._scan(ctx, [str(_head(fs, container, objects[0], ctx))], hive_root=None)
        if sample and c.format == "parquet":
            return _parquet_sample(ctx, fs, container, objects[0])
        local = ctx.work_dir / f"objects-{uuid.uuid4().hex[:8]}"
        try:
            paths = download(fs, container, objects, local, strip=c.prefix)
        except ConfigError:
            raise
        except Exception as exc:
            raise storage_error(exc, where=self._where(), connection=c.connection) from exc
        return self._scan(ctx, [str(p) for p in paths], hive_root=local)

    def _scan(self, ctx: NodeContext, paths: list[str], *, hive_root: Path | None) -> ir.Table:
        c = self.config
        if c.format in ("csv", "json") and c.hive_partitioning and hive_root is not None:
            groups = _hive_groups(paths, str(hive_root))
            if len(groups) > 1 or any(groups):
                return _with_partitions(groups, lambda ps: self._scan_files(ctx, ps, hive_root))
        return self._scan_files(ctx, paths, hive_root)

    def _scan_files(self, ctx: NodeContext, paths: list[str], hive_root: Path | None) -> ir.Table:
        from ecluse.sdk.files import CsvReadOptions
        from ecluse.sdk.relational import flatten_structs

        c = self.config
        fc = file_config(c.format, dict(c.options), paths[0])
        if c.format == "parquet":
            return ctx.backend.scan_parquet(paths, hive_partitioning=c.hive_partitioning)
        if c.format == "csv":
            options = CsvReadOptions(delimiter=fc.delimiter, encoding=fc.encoding, header=fc.header,
                                     quote=fc.quote, decimal=fc.decimal,
                                     null_values=tuple(fc.null_values), columns=dict(fc.columns),
                                     on_error=fc.on_error, skip_rows=fc.skip_rows)
            reject_dir = str(ctx.artifacts_dir) if fc.on_error == "quarantine" else None
            table, handle = ctx.backend.scan_csv(paths, options, reject_dir=reject_dir)
            ctx.scratch["rejects"] = handle
            return table
        if c.format == "json":
            lines = {"auto": None, "array": False, "lines": True}[fc.format]
            table = ctx.backend.scan_json(paths, lines=lines)
            return flatten_structs(table, fc.separator) if fc.flatten else table
        # xml and excel: the file module itself, on the downloaded copies
        assert hive_root is not None or len(paths) == 1
        module = file_module(c.format)
        folder = str(hive_root) if hive_root is not None else paths[0]
        pattern = f"{folder}/**/*" if hive_root is not None else folder
        return module(file_config(c.format, dict(c.options), pattern), self.node_id).read(ctx)  # type: ignore[call-arg]

    def finish(self, ctx: NodeContext, *, succeeded: bool) -> None:
        manifest = ctx.scratch.get("manifest")
        if succeeded and manifest is not None:
            ctx.set_state({"files": manifest})


def _hive_groups(paths: list[str], root: str) -> dict[tuple[tuple[str, str], ...], list[str]]:
    """Files grouped by the `key=value` folders between ``root`` and their name."""
    from urllib.parse import unquote

    groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for path in paths:
        rel = path[len(root):].lstrip("/")
        folders = rel.split("/")[:-1]
        key = tuple((f.split("=", 1)[0], unquote(f.split("=", 1)[1])) for f in folders if "=" in f)
        groups.setdefault(key, []).append(path)
    return groups


def _with_partitions(groups: dict[tuple[tuple[str, str], ...], list[str]], scan: Any) -> ir.Table:
    """Scan each partition's files, add its folder values as columns, and union them all
    (values that are all whole numbers become integers)."""
    import ibis

    names = sorted({k for key in groups for k, _ in key})
    numeric = {n: all(v.lstrip("-").isdigit() for key in groups for k, v in key if k == n
                      and v != "__HIVE_DEFAULT_PARTITION__") for n in names}
    parts = []
    for key, files in groups.items():
        values = dict(key)
        table = scan(files)
        cols = {}
        for n in names:
            v = values.get(n)
            if v is None or v == "__HIVE_DEFAULT_PARTITION__":
                cols[n] = ibis.null("int64" if numeric[n] else "string")
            else:
                cols[n] = ibis.literal(int(v) if numeric[n] else v, "int64" if numeric[n] else "string")
        parts.append(table.mutate(**cols))
    return parts[0] if len(parts) == 1 else ibis.union(*_conformed(parts))


def _conformed(tables: list[ir.Table]) -> list[ir.Table]:
    """The tables with one schema: each column in the type that holds all its inferred types
    (a partition's CSV whose amounts happen to be whole numbers reads as integers), string
    when none does, and null where a table lacks it."""
    import ibis
    import ibis.expr.datatypes as idt

    types: dict[str, list[idt.DataType]] = {}
    for t in tables:
        for name, dtype in t.schema().items():
            types.setdefault(name, []).append(dtype)
    common: dict[str, idt.DataType] = {}
    for name, found in types.items():
        try:
            common[name] = idt.highest_precedence(found)
        except Exception:
            common[name] = idt.string
    return [t.select(*[(t[n] if t.schema()[n] == d else t[n].cast(d)).name(n) if n in t.columns
                       else ibis.null(d).name(n) for n, d in common.items()]) for t in tables]


def _head(fs: Any, container: str, obj: ObjectInfo, ctx: NodeContext) -> Path:
    """The first lines of a text object (up to 1 MB, cut at the last full line)."""
    import posixpath

    path = posixpath.join(container, obj.key)
    data = fs.cat_file(path, start=0, end=min(obj.size, PREVIEW_BYTES)) if obj.size else b""
    if obj.size > PREVIEW_BYTES and b"\n" in data:
        data = data[: data.rindex(b"\n") + 1]
    if obj.key.endswith(".gz"):
        import gzip
        import zlib

        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data = d.decompress(data)
        if obj.size > PREVIEW_BYTES and b"\n" in data:
            data = data[: data.rindex(b"\n") + 1]
        _ = gzip  # plain text from here
    local = ctx.work_dir / f"head-{uuid.uuid4().hex[:8]}-{posixpath.basename(obj.key).removesuffix('.gz')}"
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(data)
    return local


def _parquet_sample(ctx: NodeContext, fs: Any, container: str, obj: ObjectInfo) -> ir.Table:
    """The first row group batch of a Parquet object, read with range requests (the footer
    and one group, not the whole object)."""
    import posixpath

    import pyarrow as pa
    import pyarrow.parquet as pq

    with fs.open(posixpath.join(container, obj.key), "rb") as handle:
        pf = pq.ParquetFile(handle)
        rows = ctx.sample_rows or 1000
        batch = next(pf.iter_batches(batch_size=max(1, rows)), None)
        table = pa.Table.from_batches([batch]) if batch is not None else pf.schema_arrow.empty_table()
    return ctx.backend.from_arrow(table, name="sample")


# -- loaders --------------------------------------------------------------------------------

DatePart = Literal["year", "month", "day", "hour"]


class DerivedPartitions(ModuleConfig):
    column: str = column_field("Timestamp or date column the partition values come from.")
    parts: list[DatePart] = Field(min_length=1, description="Parts of the date, in folder order, "
                                  "e.g. `[\"year\", \"month\"]` -> `year=2024/month=3/`.")


class ObjectWriteConfig(ModuleConfig):
    """Fields common to the object-storage loaders. A loader's config inherits this first and
    a model holding its `connection` and bucket/container second, so those come first in the
    form: ``class S3LoaderConfig(ObjectWriteConfig, S3Target)``."""

    prefix: str = Field("", description="Folder (key prefix) of the dataset, e.g. `orders`.")
    format: Literal["parquet", "csv", "json"] = Field("parquet", description="File format "
                                                      "(json is JSON lines).")
    partition_by: list[str] | DerivedPartitions = Field(
        default_factory=list, description="Existing columns (one folder per value, "
        "`country=FR/`), or parts derived from a timestamp: "
        "`{\"column\": \"order_ts\", \"parts\": [\"year\", \"month\"]}`.",
        json_schema_extra={"x-widget": "columns"})
    mode: Literal["overwrite", "append"] = Field(
        "overwrite", description="Replace the dataset under the prefix, or add new files beside it.")
    compression: Literal["zstd", "snappy", "gzip", "lz4", "none"] | None = Field(
        None, description="Codec; defaults to zstd for Parquet and none for CSV/JSON "
        "(which accept gzip).")
    target_file_size_mb: int = Field(128, ge=1, le=5_000, description="Start a new file past this "
                                     "size (MB, compressed).")

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return _clean_prefix(value)


class ObjectLoader(Loader):
    """Base of the object-storage loaders; subclasses set ``storage`` and ``container_key``.

    Batches stream from the engine into rolling local files (one writer per partition, a new
    file past the target size); each closed file is uploaded at once under a temporary prefix
    beside the dataset and removed locally. Only when everything is uploaded are the objects
    copied into place, old objects removed (overwrite) and the manifest written; on any
    failure the temporary objects are deleted and the dataset is untouched."""

    storage: ClassVar[StorageKind]
    container_key: ClassVar[str] = "bucket"
    category = "Cloud storage"
    icon = "cloud_upload"
    config: Any

    def _container(self) -> str:
        return str(getattr(self.config, self.container_key))

    def _publication(self, fs: Any) -> Publication:
        """Where the files go (a subclass may tune how they are uploaded)."""
        return Publication(fs, self._container(), self.config.prefix)

    # -- design time ------------------------------------------------------------------------
    def _prepare(self, table: ir.Table) -> tuple[ir.Table, list[str]]:
        """The relation to write (derived partition columns added) and the partition columns."""
        import ibis.expr.datatypes as idt

        p = self.config.partition_by
        if isinstance(p, DerivedPartitions):
            require_columns(table, [p.column], field="partition_by")
            dtype = table.schema()[p.column]
            if not isinstance(dtype, idt.Timestamp | idt.Date):
                raise ConfigError(f"column {p.column!r} is {dtype}, not a timestamp or date: "
                                  "partition parts cannot be derived from it", field="partition_by")
            if "hour" in p.parts and isinstance(dtype, idt.Date):
                raise ConfigError(f"column {p.column!r} is a date: it has no hour", field="partition_by")
            clash = [part for part in p.parts if part in table.columns]
            if clash:
                raise ConfigError(f"the input already has column(s) {clash}; partition by them "
                                  "directly with a list", field="partition_by")
            col = table[p.column]
            return table.mutate(**{part: getattr(col, part)() for part in p.parts}), list(p.parts)
        require_columns(table, p, field="partition_by")
        if p and len(p) == len(table.columns):
            raise ConfigError("every column is a partition column: nothing would be left in the "
                              "files", field="partition_by")
        return table, list(p)

    def check(self, table: ir.Table, ctx: NodeContext) -> None:
        self._prepare(table)
        c = self.config
        if c.format != "parquet" and c.compression not in (None, "none", "gzip"):
            raise ConfigError(f"{c.format} files can be compressed with gzip only", field="compression")

    # -- run --------------------------------------------------------------------------------
    def write(self, table: ir.Table, ctx: NodeContext) -> LoadResult:
        from ecluse.sdk.storage import SCHEMES

        c = self.config
        self.check(table, ctx)
        relation, parts = self._prepare(table)
        container = self._container()
        where = f"{SCHEMES[self.storage]}://{container}/{c.prefix}".rstrip("/")
        fs = filesystem(self.storage, ctx.connection(c.connection))
        try:
            fs.info(container)  # one request: a missing bucket or refused keys show here
        except Exception as exc:
            raise storage_error(exc, where=f"{SCHEMES[self.storage]}://{container}",
                                connection=c.connection) from exc
        pub = self._publication(fs)
        local = ctx.work_dir / f"out-{pub.run}"
        try:
            local.mkdir(parents=True, exist_ok=True)
            rows = write_rolling(ctx.backend.to_batches(relation, batch_size=65_536), ctx,
                                 partition_by=parts, fmt=c.format, compression=c.compression,
                                 target_bytes=c.target_file_size_mb << 20, folder=local, run=pub.run,
                                 done=pub.put)
            ctx.cancel.raise_if_cancelled()
            pub.publish(mode=c.mode, rows=rows, fmt=c.format)
        except BaseException as exc:
            if isinstance(exc, OSError) or type(exc).__module__.startswith(
                    ("botocore", "aiobotocore", "azure", "google", "gcsfs", "adlfs", "aiohttp")):
                raise storage_error(exc, where=where, connection=c.connection) from exc
            raise
        finally:
            pub.discard()
            shutil.rmtree(local, ignore_errors=True)
        return LoadResult(rows_written=rows, bytes_written=pub.bytes, location=where,
                          extra={"files": len(pub.uploaded)})
