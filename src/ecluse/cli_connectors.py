"""CLI commands of the connectors: incremental state (``ecluse state``) and connection tests
(``ecluse connection test``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ecluse.settings import get_settings

console = Console()
err_console = Console(stderr=True)

state_app = typer.Typer(help="Inspect, set or reset incremental state (high-water marks).",
                        no_args_is_help=True)
connection_app = typer.Typer(help="Work with connections (ECLUSE_CONN_* outside the server).",
                             no_args_is_help=True)

PipelineArg = Annotated[str, typer.Argument(help="Pipeline file, id or name (the state key).")]
NodeOpt = Annotated[str | None, typer.Option("--node", "-n", help="Node id.")]


def _store() -> Any:
    from ecluse.engine.state import FileStateStore

    return FileStateStore(get_settings().data_dir / "state")


def pipeline_key(pipeline: str) -> str:
    """A pipeline file gives its id (or name); anything else is the id or name itself."""
    path = Path(pipeline)
    if path.suffix == ".json" and path.is_file():
        try:
            doc = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(f"{path} is not a readable pipeline: {exc}") from exc
        key = doc.get("id") or doc.get("name") if isinstance(doc, dict) else None
        if not key:
            raise typer.BadParameter(f"{path} has neither an id nor a name")
        return str(key)
    return pipeline


@state_app.command("show")
def state_show(pipeline: PipelineArg, node: NodeOpt = None) -> None:
    """Print the saved state of a pipeline (every node, or one) as JSON."""
    store, key = _store(), pipeline_key(pipeline)
    if node is None:
        print(json.dumps(store.all(key), indent=2, default=str))
        return
    value = store.get(key, node)
    if value is None:
        err_console.print(f"[yellow]no state for node {node!r} of {key!r}[/]")
        raise typer.Exit(1)
    print(json.dumps(value, indent=2, default=str))


@state_app.command("set")
def state_set(pipeline: PipelineArg,
              node: Annotated[str, typer.Argument(help="Node id.")],
              value: Annotated[str | None, typer.Argument(help="The whole state as a JSON object.")]
              = None,
              last_value: Annotated[str | None, typer.Option(
                  "--last-value", help="Only change the high-water mark (bound as :last_value): "
                  "the next run reads from it on, the rows at the mark included.")]
              = None) -> None:
    """Set a node's state, e.g. to replay from a date: --last-value 2024-01-01."""
    from ecluse.sdk.keyset import INCLUSIVE

    store, key = _store(), pipeline_key(pipeline)
    if (value is None) == (last_value is None):
        err_console.print("[red]error:[/] give either a JSON object or --last-value")
        raise typer.Exit(2)
    if value is not None:
        try:
            data = json.loads(value)
        except json.JSONDecodeError as exc:
            err_console.print(f"[red]error:[/] not JSON: {exc.msg}")
            raise typer.Exit(2) from None
        if not isinstance(data, dict):
            err_console.print("[red]error:[/] the state must be a JSON object")
            raise typer.Exit(2)
    else:
        columns = {name for pair in _COLUMNS for name in pair}
        data = {k: v for k, v in (store.get(key, node) or {}).items() if k not in columns}
        data.update(_incremental_columns(pipeline, node))
        data["last_value"] = last_value
        data["last_key"] = None  # a new mark: restart ties from its first row
        data[INCLUSIVE] = True  # read from the mark on, its own rows included
    store.put(key, node, data)
    console.print(f"[green]✔[/] state of {key!r} / {node!r} set")
    print(json.dumps(data, indent=2, default=str))


_COLUMNS = (("cursor_column", "key_column"), ("cursor_field", "key_field"))
"""The names a state keeps its columns under (MongoDB's: fields). A mark set by hand drops
those of the previous state (left by an older setting, they may name another column, and the
mark would be ignored); the extractors take a mark naming no column as their own."""


def _incremental_columns(pipeline: str, node: str) -> dict[str, Any]:
    """From a pipeline file: the columns the node's ``incremental`` setting names, under the
    names its state keeps them (``_COLUMNS``). A node the file lacks, or one not incremental,
    is refused: no run would read the mark. Nothing when ``pipeline`` is an id or a name."""
    from ecluse.sdk.suggest import did_you_mean

    path = Path(pipeline)
    if path.suffix != ".json" or not path.is_file():
        return {}
    doc = json.loads(path.read_text(encoding="utf-8-sig"))  # read by pipeline_key already
    nodes = {str(n.get("id")): n for n in doc.get("nodes") or [] if isinstance(n, dict)}
    if node not in nodes:
        err_console.print(f"[red]error:[/] {path} has no node {node!r}."
                          f"{did_you_mean(node, nodes)}", highlight=False)
        raise typer.Exit(2)
    config = nodes[node].get("config")
    inc = config.get("incremental") if isinstance(config, dict) else None
    if not isinstance(inc, dict):
        err_console.print(f"[red]error:[/] node {node!r} of {path} has no `incremental` setting: "
                          "no run would read a --last-value (set `incremental` on a database "
                          "extractor, then the mark)", highlight=False)
        raise typer.Exit(2)
    out: dict[str, Any] = {}
    for cursor, key in _COLUMNS:
        if cursor in inc:
            out[cursor] = inc[cursor]
            out[key] = inc.get(key)
    return out


@state_app.command("reset")
def state_reset(pipeline: PipelineArg, node: NodeOpt = None) -> None:
    """Forget the state of one node (or of every node): the next run reads everything."""
    store, key = _store(), pipeline_key(pipeline)
    nodes = [node] if node else list(store.all(key))
    for n in nodes:
        store.delete(key, n)
    console.print(f"[green]✔[/] state reset for {key!r}: {', '.join(nodes) or 'nothing was set'}")


@connection_app.command("test")
def connection_test(name: Annotated[str, typer.Argument(help="Connection name (ECLUSE_CONN_<NAME>).")],
                    path: Annotated[str | None, typer.Option(help="http: path to GET.")] = None,
                    bucket: Annotated[str | None, typer.Option(help="s3: bucket to check.")] = None,
                    as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Open a connection and make one small request with its credentials."""
    from ecluse.sdk.connections import EnvConnections, env_var_name
    from ecluse.sdk.probe import test_connection

    try:
        connection = EnvConnections().get(name)
    except ValueError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    if connection is None:
        err_console.print(f"[red]error:[/] no connection {name!r} (set {env_var_name(name)})")
        raise typer.Exit(1)
    check = test_connection(connection, path=path, bucket=bucket)
    if as_json:
        print(json.dumps({"ok": check.ok, "message": check.message, "seconds": check.seconds,
                          "details": check.details}, default=str))
    elif check.ok:
        console.print(f"[green]✔[/] {check.message} ({check.seconds:.2f}s)")
    else:
        err_console.print(f"[red]✘[/] {check.message}")
    if not check.ok:
        raise typer.Exit(1)
