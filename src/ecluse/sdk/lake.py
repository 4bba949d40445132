"""Table locations for the lakehouse modules (Delta, Iceberg): a path (local or object
storage) and the optional connection giving its credentials."""

from __future__ import annotations

from ecluse.sdk.connections import Connection
from ecluse.sdk.context import NodeContext
from ecluse.sdk.errors import ConfigError
from ecluse.sdk.storage import kind_of_url, object_store_options


def table_location(ctx: NodeContext, path: str, connection: str | None) -> tuple[str, dict[str, str]]:
    """The table URI (local paths made absolute) and its ``object_store`` options."""
    kind = kind_of_url(path)
    if kind == "local":
        if connection:
            raise ConfigError("a local path takes no connection", field="connection")
        local = ctx.resolve_path(path.removeprefix("file://"))
        return str(local.absolute()), {}
    if not connection:
        raise ConfigError(f"{path!r} is in object storage: choose a {kind} connection for its "
                          "credentials", field="connection")
    conn: Connection = ctx.connection(connection)
    if kind == "azure_blob" and path.startswith("az://"):
        path = "abfs://" + path.removeprefix("az://")
    return path, object_store_options(kind, conn)


def delta_error(exc: BaseException, where: str, connection: str | None) -> ConfigError | None:
    """A clear error for storage failures raised by delta-rs (None when it is something else)."""
    from ecluse.sdk.storage import storage_error

    text = str(exc)
    low = text.lower()
    if any(w in low for w in ("invalidaccesskeyid", "signaturedoesnotmatch", "accessdenied", "403",
                              "forbidden", "authoriz", "credential")):
        return storage_error(PermissionError(text), where=where, connection=connection)
    if "nosuchbucket" in low or "bucket does not exist" in low or "containernotfound" in low:
        return ConfigError(f"the bucket or container of {where} does not exist", field="path")
    return None
