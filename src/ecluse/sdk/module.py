"""Base classes of the module catalog: extractors, transformers and loaders.

A module is one file: a subclass of :class:`Extractor`, :class:`Transformer` or
:class:`Loader` with a ``Config`` (a :class:`~ecluse.sdk.config.ModuleConfig`), its ports,
and its work. It registers through the ``ecluse.modules`` entry-point group.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ecluse.sdk.config import ModuleConfig

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from ecluse.sdk.context import NodeContext
    from ecluse.sdk.errors import NodeError
    from ecluse.sdk.warehouse import Warehouse

ModuleKind = Literal["extractor", "transformer", "loader"]
ALL_ENGINES: frozenset[str] = frozenset({"duckdb", "polars", "pyspark"})


@dataclass(frozen=True)
class InputPort:
    """A target handle. ``max_edges`` None means any number (a union's input)."""

    name: str
    min_edges: int = 1
    max_edges: int | None = 1
    description: str = ""


@dataclass(frozen=True)
class OutputPort:
    name: str
    description: str = ""


@dataclass
class LoadResult:
    rows_written: int = 0
    rows_inserted: int | None = None
    rows_updated: int | None = None
    rows_deleted: int | None = None
    bytes_written: int | None = None
    location: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Inputs:
    """The relations arriving on a node's input ports."""

    def __init__(self, tables: Mapping[str, Sequence[ir.Table]]) -> None:
        self._tables = tables

    def one(self, port: str = "in") -> ir.Table:
        tables = self._tables.get(port, ())
        if len(tables) != 1:
            raise ValueError(f"port {port!r} has {len(tables)} inputs, expected 1")
        return tables[0]

    def many(self, port: str = "in") -> list[ir.Table]:
        return list(self._tables.get(port, ()))

    def ports(self) -> list[str]:
        return list(self._tables)


class Module(ABC):
    kind: ClassVar[ModuleKind]
    name: ClassVar[str]
    """The ``module`` value in a pipeline node."""
    title: ClassVar[str]
    description: ClassVar[str]
    """One line, shown in the palette."""
    category: ClassVar[str] = "General"
    icon: ClassVar[str] = "extension"
    version: ClassVar[int] = 1
    Config: ClassVar[type[ModuleConfig]]
    inputs: ClassVar[tuple[InputPort, ...]] = ()
    outputs: ClassVar[tuple[OutputPort, ...]] = ()
    engines: ClassVar[frozenset[str]] = ALL_ENGINES
    pushdown: ClassVar[bool] = True
    """A transformer built only from portable Ibis expressions can run inside a warehouse."""
    examples: ClassVar[tuple[dict[str, Any], ...]] = ()

    def __init__(self, config: ModuleConfig, node_id: str = "") -> None:
        self.config = config
        self.node_id = node_id

    def finish(self, ctx: NodeContext, *, succeeded: bool) -> None:  # noqa: B027
        """Called after the run with its outcome: release resources, report figures in
        ``ctx.metrics`` (merged into the node's metrics), stage state."""

    @classmethod
    def migrate(cls, config: dict[str, Any], from_version: int) -> dict[str, Any]:
        """Upgrade a config saved by an older ``version`` of this module."""
        return config

    @classmethod
    def parse_config(cls, raw: Mapping[str, Any]) -> ModuleConfig:
        return cls.Config.model_validate(dict(raw))

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The catalog entry: what the UI palette and the form generator need."""
        return {
            "type": cls.kind,
            "module": cls.name,
            "title": cls.title,
            "description": cls.description,
            "category": cls.category,
            "icon": cls.icon,
            "version": cls.version,
            "engines": sorted(cls.engines),
            "inputs": [
                {"name": p.name, "min": p.min_edges, "max": p.max_edges, "description": p.description}
                for p in cls.inputs
            ],
            "outputs": [{"name": p.name, "description": p.description} for p in cls.outputs],
            "config_schema": cls.Config.model_json_schema(),
            "examples": list(cls.examples),
        }


class Extractor(Module):
    kind: ClassVar[ModuleKind] = "extractor"
    outputs: ClassVar[tuple[OutputPort, ...]] = (OutputPort("out"),)

    @abstractmethod
    def read(self, ctx: NodeContext) -> ir.Table:
        """A lazy relation over the source; in preview mode, read only a sample."""

    # ELT pushdown: an extractor and a loader that name the same warehouse let the engine run
    # the transforms between them inside that database, as SQL.
    def warehouse_key(self, ctx: NodeContext) -> str | None:
        """Identity of the database this node reads (same key = same database), or None."""
        return None

    def open_warehouse(self, ctx: NodeContext) -> Warehouse:
        """A connection compiling relations to that database's SQL (an Ibis backend, or an
        :class:`~ecluse.sdk.warehouse.SqlWarehouse`), opened once per run and key."""
        raise NotImplementedError

    def warehouse_relation(self, con: Warehouse, ctx: NodeContext) -> ir.Table | None:
        """The source as a relation of ``con``; None when it cannot be (bound parameters...)."""
        return None

    def finish(self, ctx: NodeContext, *, succeeded: bool) -> None:
        """Called after the run with its outcome (write quarantine files, stage state)."""

    def explain_failure(self, ctx: NodeContext, cause: BaseException) -> NodeError | None:
        """Whether this source's rows made the run's query fail (``cause``, the engine's
        error): a reader's failure past its sample, a value it converts after reading (see
        :meth:`Transformer.explain_failure`). The engine asks extractors first."""
        return None


class Transformer(Module):
    kind: ClassVar[ModuleKind] = "transformer"
    inputs: ClassVar[tuple[InputPort, ...]] = (InputPort("in"),)
    outputs: ClassVar[tuple[OutputPort, ...]] = (OutputPort("out"),)
    queries_input: ClassVar[bool] = False
    """``transform`` runs a query over its input (counts, distinct values) besides building its
    output, so the engine materialises an input that is a one-shot stream first."""
    keeps_first_rows: ClassVar[bool] = False
    """It keeps the first rows of its input and drops the rest: an incremental source upstream
    of it does not save its position (it would pass rows the run never loaded)."""

    def scans_an_input_twice(self, ctx: NodeContext) -> bool:
        """Whether the output reads one input in two places that its relation does not show
        (SQL text naming it twice); the engine then materialises a one-shot stream first. A
        relation built with Ibis needs nothing: the engine sees its scans."""
        return False

    @abstractmethod
    def transform(self, inputs: Inputs, ctx: NodeContext) -> ir.Table | Mapping[str, ir.Table]:
        """Relations in, relations out: build Ibis expressions, never execute them."""

    def explain_failure(self, inputs: Inputs, ctx: NodeContext) -> NodeError | None:
        """Whether this node's rows made the run's query fail, and which rows.

        Relations are lazy: a value this node cannot handle (a failing cast) only raises when a
        loader executes the whole chain, so the error first lands on the loader. The engine then
        asks each transformer upstream, in order; one that recognises the failure returns the
        error naming itself, with a few of the rows (found by a bounded query), else None.
        """
        return None


class Loader(Module):
    kind: ClassVar[ModuleKind] = "loader"
    inputs: ClassVar[tuple[InputPort, ...]] = (InputPort("in"),)

    def check(self, table: ir.Table, ctx: NodeContext) -> None:
        """Design-time check of the incoming relation (raise ConfigError)."""

    def warehouse_key(self, ctx: NodeContext) -> str | None:
        """Identity of the database this loader writes (see ``Extractor.warehouse_key``)."""
        return None

    def open_warehouse(self, ctx: NodeContext) -> Warehouse:
        """A connection compiling relations to that database's SQL (one per run and key)."""
        raise NotImplementedError

    def write_in_warehouse(self, table: ir.Table, con: Warehouse, ctx: NodeContext) -> LoadResult:
        """Load a relation of ``con`` without moving rows out of the database; atomic."""
        raise NotImplementedError

    @abstractmethod
    def write(self, table: ir.Table, ctx: NodeContext) -> LoadResult:
        """Write the relation atomically: on failure the destination is unchanged."""
