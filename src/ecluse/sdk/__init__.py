"""The public plugin API: everything a module author needs, and nothing of the server."""

from ecluse.sdk.backend import Backend
from ecluse.sdk.config import (
    ModuleConfig,
    column_field,
    columns_field,
    connection_field,
    expression_field,
    path_field,
    secret_field,
    sql_field,
)
from ecluse.sdk.connections import Connection, ConnectionResolver
from ecluse.sdk.context import CancelToken, NodeContext, StateStore
from ecluse.sdk.errors import ConfigError, EcluseError, NodeError, RunCancelled
from ecluse.sdk.ibis_compilers import install as _lazy_ibis_compilers
from ecluse.sdk.module import (
    Extractor,
    InputPort,
    Inputs,
    Loader,
    LoadResult,
    Module,
    OutputPort,
    Transformer,
)
from ecluse.sdk.registry import Registry, default_registry
from ecluse.sdk.types import TypeName, to_ibis_type, type_name

_lazy_ibis_compilers()  # every Ibis backend is loaded after this (at connect time)

__all__ = [
    "Backend", "CancelToken", "ConfigError", "Connection", "ConnectionResolver", "EcluseError",
    "Extractor", "InputPort", "Inputs", "LoadResult", "Loader", "Module", "ModuleConfig",
    "NodeContext", "NodeError", "OutputPort", "Registry", "RunCancelled", "StateStore",
    "Transformer", "TypeName", "column_field", "columns_field", "connection_field",
    "default_registry", "expression_field", "path_field", "secret_field", "sql_field",
    "to_ibis_type", "type_name",
]
