"""Extractor ``xml``: repeating elements of XML files as rows, parsed as a stream
(iterparse), so a file larger than memory works. Attributes become columns, nested elements
are flattened, repeated elements become lists."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import ibis.expr.types as ir
import pyarrow as pa
from pydantic import Field, field_validator

from ecluse.sdk import ConfigError, Extractor, ModuleConfig, NodeContext, TypeName, path_field
from ecluse.sdk.files import expand_paths
from ecluse.sdk.types import to_ibis_type

BATCH_ROWS = 10_000
INFER_ROWS = 10_000


class XmlConfig(ModuleConfig):
    path: str = path_field("An XML file or a glob of files.")
    record_path: str = Field(description="Path of the repeating element, e.g. `/catalog/book`, or "
                             "just `book` to match it at any depth; prefixes come from `namespaces`.",
                             examples=["/orders/order", "item", "ns:Record"])
    namespaces: dict[str, str] = Field(default_factory=dict, description="Prefix -> namespace URI, "
                                       "e.g. `{\"ns\": \"http://example.com/orders\"}`.")
    attributes: bool = Field(True, description="Read attributes as columns.")
    attribute_prefix: str = Field("", description="Put before attribute column names, e.g. `@`.")
    separator: str = Field("_", min_length=1, max_length=5,
                           description="Joins nested names: `customer/email` -> `customer_email`.")
    columns: dict[str, TypeName] = Field(
        default_factory=dict, description="Explicit types; other columns are inferred (integer, "
        "number, boolean, date, timestamp, else text).")

    @field_validator("record_path")
    @classmethod
    def _path(cls, value: str) -> str:
        steps = [s for s in value.strip().split("/") if s]
        if not steps or any(not s.replace(":", "").replace("-", "").replace("_", "").replace(".", "")
                            .isalnum() for s in steps):
            raise ValueError(f"{value!r} is not an element path such as '/catalog/book' or 'book'")
        return value


class XmlExtractor(Extractor):
    name = "xml"
    title = "XML file"
    description = "Read repeating XML elements as rows (streamed; attributes and nesting flattened)."
    category = "Files"
    icon = "code"
    Config = XmlConfig
    config: XmlConfig
    examples: ClassVar = ({"path": "in/orders.xml", "record_path": "/orders/order"},)

    def read(self, ctx: NodeContext) -> ir.Table:
        c = self.config
        paths = expand_paths(c.path, base_dir=ctx.base_dir)
        limit = INFER_ROWS if ctx.mode == "schema" else ctx.sample_rows
        parser = _RecordParser(c)
        names = parser.column_names(paths, limit)
        if not names:
            raise ConfigError(f"no element matches {c.record_path!r} in {c.path!r}",
                              field="record_path")
        sample = [r for _, r in zip(range(INFER_ROWS), parser.records(paths, limit), strict=False)]
        schema = pa.schema([(n, _target_type(n, c.columns, sample)) for n in names])
        reader = pa.RecordBatchReader.from_batches(schema, parser.batches(paths, schema, limit))
        return ctx.backend.from_arrow(reader, name="xml")


class _RecordParser:
    def __init__(self, config: XmlConfig) -> None:
        self.c = config
        steps = [s for s in config.record_path.strip().split("/") if s]
        self.anchored = config.record_path.strip().startswith("/")
        self.steps = [self._qualify(s) for s in steps]

    def _qualify(self, step: str) -> str:
        prefix, _, local = step.rpartition(":")
        if not prefix:
            return local
        if prefix not in self.c.namespaces:
            raise ConfigError(f"prefix {prefix!r} is not declared in 'namespaces'", field="namespaces")
        return f"{{{self.c.namespaces[prefix]}}}{local}"

    def _matches(self, stack: list[str]) -> bool:
        """Does the current element path end with (or, anchored, equal) the record path?
        Steps without a namespace match the local name in any namespace."""
        if len(stack) < len(self.steps) or (self.anchored and len(stack) != len(self.steps)):
            return False
        return all(step == tag or ("}" not in step and tag.rpartition("}")[2] == step)
                   for step, tag in zip(self.steps, stack[-len(self.steps):], strict=True))

    def records(self, paths: list[str], limit: int | None) -> Iterator[dict[str, Any]]:
        from lxml import etree

        count = 0
        for path in paths:
            stack: list[str] = []
            try:
                for event, elem in etree.iterparse(path, events=("start", "end"), huge_tree=True,
                                                   remove_comments=True, resolve_entities=False):
                    if event == "start":
                        stack.append(elem.tag if isinstance(elem.tag, str) else "")
                        continue
                    if self._matches(stack):
                        yield self._flatten(elem)
                        count += 1
                        elem.clear(keep_tail=False)
                        parent = elem.getparent()
                        while parent is not None and elem.getprevious() is not None:
                            del parent[0]
                        if limit is not None and count >= limit:
                            return
                    stack.pop()
            except etree.XMLSyntaxError as exc:
                line, column = exc.position if exc.position else (exc.lineno, 0)
                raise ConfigError(f"{Path(path).name} is not well-formed XML at line {line}, "
                                  f"column {column}: {exc.msg}", field="path") from exc

    def _flatten(self, elem: Any) -> dict[str, Any]:
        row: dict[str, Any] = {}
        self._add(elem, "", row, root=True)
        return row

    def _add(self, elem: Any, prefix: str, row: dict[str, Any], *, root: bool = False) -> None:
        sep = self.c.separator
        if self.c.attributes:
            for key, value in elem.attrib.items():
                name = f"{prefix}{self.c.attribute_prefix}{_local(key)}"
                row[name] = value
        children = [ch for ch in elem if isinstance(ch.tag, str)]
        text = (elem.text or "").strip()
        if not children:
            if not root:
                _put(row, prefix.rstrip(sep) if prefix else _local(elem.tag), text or None)
            elif text:
                row["text"] = text
            return
        for child in children:
            child_prefix = f"{prefix}{_local(child.tag)}"
            if len(child) or (self.c.attributes and child.attrib):
                self._add(child, child_prefix + sep, row)
            else:
                _put(row, child_prefix, (child.text or "").strip() or None)

    def column_names(self, paths: list[str], limit: int | None) -> list[str]:
        """Every column of every record (a first pass: a column seen only late still counts)."""
        names: dict[str, None] = {}
        for record in self.records(paths, limit):
            names.update(dict.fromkeys(record))
        return list(names)

    def batches(self, paths: list[str], schema: pa.Schema, limit: int | None) -> Iterator[pa.RecordBatch]:
        rows: list[dict[str, Any]] = []
        first = 0
        for record in self.records(paths, limit):
            rows.append(record)
            if len(rows) >= BATCH_ROWS:
                yield _to_batch(rows, schema, first)
                first += len(rows)
                rows = []
        if rows:
            yield _to_batch(rows, schema, first)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _put(row: dict[str, Any], name: str, value: Any) -> None:
    """A repeated element becomes a list of its values."""
    if name not in row:
        row[name] = value
    elif isinstance(row[name], list):
        row[name].append(value)
    else:
        row[name] = [row[name], value]


_CANDIDATES = (pa.int64(), pa.float64(), pa.bool_(), pa.date32(), pa.timestamp("us"))


def _cast(values: pa.Array, dtype: pa.DataType) -> pa.Array:
    import pyarrow.compute as pc  # imported on use: the catalog loads every module at start-up

    return pc.cast(values, dtype)


def _target_type(name: str, explicit: Mapping[str, str], sample: list[dict[str, Any]]) -> pa.DataType:
    if name in explicit:
        return to_ibis_type(explicit[name]).to_pyarrow()
    values = [r.get(name) for r in sample if r.get(name) is not None]
    if any(isinstance(v, list) for v in values):
        return pa.list_(pa.string())
    if not values:
        return pa.string()
    strings = pa.array([str(v) for v in values], pa.string())
    for candidate in _CANDIDATES:
        try:
            _cast(strings, candidate)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        return candidate
    return pa.string()


def _to_batch(rows: list[dict[str, Any]], schema: pa.Schema, first: int) -> pa.RecordBatch:
    columns = []
    for field in schema:
        values = [r.get(field.name) for r in rows]
        if pa.types.is_list(field.type):
            values = [v if v is None or isinstance(v, list) else [v] for v in values]
            columns.append(pa.array(values, field.type))
            continue
        text = pa.array([None if v is None else str(v) for v in values], pa.string())
        try:
            columns.append(_cast(text, field.type) if field.type != pa.string() else text)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            bad = next(i for i, v in enumerate(values) if v is not None and not _casts(v, field.type))
            raise ConfigError(f"record {first + bad + 1}: {values[bad]!r} in {field.name!r} is not "
                              f"a {field.type} like the records before it; set its type in "
                              f"'columns' (e.g. \"string\")", field="columns") from exc
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _casts(value: Any, dtype: pa.DataType) -> bool:
    try:
        _cast(pa.array([str(value)], pa.string()), dtype)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True
