"""The ``ecluse`` command: validate, inspect, preview and run pipelines."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ecluse import startup
from ecluse.engine.events import RunEvent
from ecluse.settings import get_settings
from ecluse.spec.problems import Problem
from ecluse.spec.validate import DocumentInvalid

app = typer.Typer(help="Ecluse: draw data pipelines, run them fast, trust the data.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()
err_console = Console(stderr=True)
_SETTLE_AFTER_COMPILING = {"validate", "schema", "preview", "run"}
"""Commands that load the engine and a pipeline's modules first; the others start collecting
garbage at once (``serve`` and ``worker`` live long)."""


@app.callback()
def _start(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand not in _SETTLE_AFTER_COMPILING:
        startup.settle()

FileArg = Annotated[Path, typer.Argument(help="Pipeline document (JSON).", exists=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
EngineOpt = Annotated[str | None, typer.Option("--engine", help="duckdb or polars; overrides "
                                                "the pipeline's engine.")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p", help="A parameter as "
                                                     "key=value; repeat for several.")]


def _fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def load_document(path: Path) -> Any:
    if not path.exists():
        _fail(f"{path} does not exist")
    if path.is_dir():
        _fail(f"{path} is a folder; give the pipeline's JSON file")
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        _fail(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")
    except UnicodeDecodeError as exc:
        _fail(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})")


def _registry() -> Any:
    from ecluse.sdk.registry import default_registry

    registry = default_registry()
    for problem in registry.load_errors:
        err_console.print(f"[yellow]warning:[/] {escape(str(problem))}")
    return registry


def _parse_params(values: list[str] | None) -> dict[str, str]:
    params = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(f"--param {item!r} must look like key=value")
        params[key.strip()] = value
    return params


def _print_problems(problems: list[Problem], source: Path) -> None:
    errors = [p for p in problems if p.severity == "error"]
    table = Table(title=f"{len(errors)} problem(s) in {escape(str(source))}" if errors else
                  f"warnings for {escape(str(source))}", title_justify="left", show_lines=False)
    table.add_column("where", style="cyan", no_wrap=True)
    table.add_column("node", style="magenta")
    table.add_column("problem")
    for p in problems:
        style = "red" if p.severity == "error" else "yellow"
        table.add_row(Text(p.pointer or "/"), Text(p.node_id or p.edge or ""),
                      Text(p.message, style=style))
    err_console.print(table)


def _compile(path: Path, engine: str | None, params: dict[str, str], as_json: bool) -> Any:
    from ecluse.engine.plan import compile_pipeline
    from ecluse.sdk.connections import EnvConnections

    raw = load_document(path)
    try:
        plan = compile_pipeline(raw, _registry(), connections=EnvConnections(), engine=engine,
                                parameters=params)
    except DocumentInvalid as exc:
        if as_json:
            print(json.dumps({"valid": False, "problems": [p.to_dict() for p in exc.problems]},
                             indent=2))
        else:
            _print_problems(exc.problems, path)
        raise typer.Exit(1) from None
    startup.settle()
    return plan


@app.command()
def validate(file: FileArg, as_json: JsonOpt = False,
             offline: Annotated[bool, typer.Option(help="Skip checks that open the sources "
                                                   "(column names, types).")] = False) -> None:
    """Check a pipeline document and report every problem at once."""
    from ecluse.engine.design import node_schemas
    from ecluse.sdk.connections import EnvConnections
    from ecluse.spec.validate import validate_document

    raw = load_document(file)
    registry = _registry()
    problems = validate_document(raw, registry, connections=EnvConnections())
    if not any(p.severity == "error" for p in problems) and not offline:
        plan = _compile(file, None, {}, as_json)
        for node_id, schema in node_schemas(plan).items():
            if schema.error is not None and schema.error.cause is not None:
                index = next(i for i, n in enumerate(plan.pipeline.nodes) if n.id == node_id)
                where = f"/nodes/{index}/config" + (f"/{schema.error.field}"
                                                    if schema.error.field else "")
                problems.append(Problem(where, f"Node {node_id!r}: {schema.error.reason}",
                                        "design_check", node_id=node_id, field=schema.error.field))
    errors = [p for p in problems if p.severity == "error"]
    if as_json:
        print(json.dumps({"valid": not errors, "problems": [p.to_dict() for p in problems]},
                         indent=2))
    elif problems:
        _print_problems(problems, file)
    if errors:
        raise typer.Exit(1)
    if not as_json:
        console.print(f"[green]✔[/] {escape(str(file))} is valid.")


@app.command()
def schema(file: FileArg, as_json: JsonOpt = False, engine: EngineOpt = None,
           param: ParamOpt = None) -> None:
    """Show the output columns and types of every node, without running the pipeline."""
    from ecluse.engine.design import node_schemas

    plan = _compile(file, engine, _parse_params(param), as_json)
    schemas = node_schemas(plan)
    if as_json:
        print(json.dumps({k: v.to_dict() for k, v in schemas.items()}, indent=2))
    failed = False
    for pn in plan.nodes:
        s = schemas[pn.id]
        if as_json:
            failed |= s.error is not None
            continue
        title = f"[bold]{escape(pn.id)}[/] [dim]({pn.node.type} {escape(pn.node.module)})[/]"
        if s.error is not None:
            failed = True
            console.print(f"{title}\n  [red]error:[/] {escape(s.error.reason)}")
            continue
        cols = ", ".join(f"{escape(n)} [cyan]{t}[/]" for n, t in s.columns or [])
        console.print(f"{title}\n  {cols}")
    if failed:
        raise typer.Exit(1)


@app.command()
def preview(file: FileArg, node: Annotated[str, typer.Option("--node", help="Node id.")],
            limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
            as_json: JsonOpt = False, engine: EngineOpt = None, param: ParamOpt = None) -> None:
    """Show the first rows at a node, computed on a sample of the sources."""
    from ecluse.engine.design import preview_node
    from ecluse.sdk.errors import NodeError

    plan = _compile(file, engine, _parse_params(param), as_json)
    try:
        plan.node(node)
    except KeyError:
        _fail(f"no node {node!r}; nodes are: {', '.join(n.id for n in plan.nodes)}")
    try:
        data = preview_node(plan, node, limit=limit)
    except NodeError as exc:
        _fail(f"node {exc.node_id!r}: {exc.reason}")
    if as_json:
        print(json.dumps({"columns": [{"name": f.name, "type": str(f.type)} for f in data.schema],
                          "rows": data.to_pylist()}, default=str, indent=2))
        return
    console.print(_rows_table(f"{escape(node)}: first {data.num_rows} row(s) (from a sample)",
                              [f"{escape(f.name)}\n[dim]{f.type}[/]" for f in data.schema],
                              data.to_pylist()))


def _rows_table(title: str, headers: list[str], rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*[Text("null", style="dim italic") if v is None else Text(str(v))
                        for v in row.values()])
    return table


class _Progress:
    """Live per-node progress for ``ecluse run``: status, rows, rows/s, time."""

    def __init__(self, plan: Any) -> None:
        self.plan = plan
        self.state: dict[str, dict[str, Any]] = {
            pn.id: {"status": "pending", "rows": None, "start": None, "end": None}
            for pn in plan.nodes}
        self.lock = threading.Lock()
        self.logs: list[str] = []

    def __call__(self, event: RunEvent) -> None:
        with self.lock:
            s = self.state.get(event.node_id or "")
            if event.kind == "node_started" and s is not None:
                s.update(status="running", start=time.monotonic())
            elif event.kind == "node_progress" and s is not None:
                s["rows"] = event.data.get("rows")
            elif event.kind in ("node_finished", "node_failed") and s is not None:
                s.update(status=event.data.get("status"), end=time.monotonic(),
                         rows=event.data.get("rows_out") or s["rows"])
            elif event.kind == "log":
                where = f"{event.node_id}: " if event.node_id else ""  # None: the whole run
                self.logs.append(f"[{event.data.get('level')}] {where}{event.data.get('message')}")

    def render(self) -> Group:
        table = Table(box=None, pad_edge=False)
        for col in ("node", "module", "status", "rows", "rows/s", "time"):
            table.add_column(col, justify="right" if col in ("rows", "rows/s", "time") else "left")
        now = time.monotonic()
        styles = {"running": "yellow", "succeeded": "green", "failed": "red", "cancelled": "red"}
        with self.lock:
            for pn in self.plan.nodes:
                s = self.state[pn.id]
                elapsed = ((s["end"] or now) - s["start"]) if s["start"] else None
                rows = s["rows"]
                rate = f"{rows / elapsed:,.0f}" if rows and elapsed else ""
                status = s["status"] + (" …" if s["status"] == "running" else "")
                table.add_row(Text(pn.id), Text(pn.node.module), Text(status, style=styles.get(
                    s["status"], "dim")), f"{rows:,}" if rows is not None else "", rate,
                    f"{elapsed:.1f}s" if elapsed is not None else "")
            logs = [Text(line, style="yellow") for line in self.logs[-5:]]
        return Group(table, *logs)


@app.command()
def run(file: FileArg, param: ParamOpt = None, engine: EngineOpt = None,
        memory_limit: Annotated[str | None, typer.Option(help="Engine memory budget, e.g. 2GB.")]
        = None, as_json: JsonOpt = False,
        explain: Annotated[bool, typer.Option("--explain", help="Show what would run where "
                                              "(pushed down into a warehouse, or in the "
                                              "engine) and the SQL, without running.")] = False,
        ) -> None:
    """Run a pipeline now, with a live view of every node."""
    from ecluse.engine.run import RunOptions, run_pipeline
    from ecluse.engine.state import FileStateStore
    from ecluse.sdk.connections import EnvConnections
    from ecluse.sdk.context import CancelToken

    settings = get_settings()
    plan = _compile(file, engine or None, _parse_params(param), as_json)
    if explain:
        _explain(plan, as_json)
        return
    progress = _Progress(plan)
    cancel = CancelToken()
    options = RunOptions(connections=EnvConnections(), cancel=cancel, on_event=progress,
                         memory_limit=memory_limit or settings.memory_limit,
                         threads=settings.threads, data_dir=settings.data_dir,
                         state=FileStateStore(settings.data_dir / "state"))
    result_box: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            result_box["r"] = run_pipeline(plan, options)
        except BaseException as exc:  # a panic from native code (pyo3): reported below
            result_box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, daemon=True).start()
    _wait(done, cancel, progress.render if not as_json and sys.stdout.isatty() else None)
    if "r" not in result_box:
        exc = result_box.get("error")
        _fail("the run was cancelled" if cancel.cancelled else
              f"the run stopped: {type(exc).__name__}: {exc}", 130 if cancel.cancelled else 1)
    result = result_box["r"]
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        _summary(plan, result, progress)
    if result.status != "succeeded":
        raise typer.Exit(130 if result.status == "cancelled" else 1)


def _explain(plan: Any, as_json: bool) -> None:
    from rich.syntax import Syntax

    from ecluse.engine.explain import explain

    steps = explain(plan)
    if as_json:
        print(json.dumps(steps, indent=2))
        return
    for step in steps:
        where = (f"pushed down into {step['warehouse']}" if step["mode"] == "pushdown"
                 else f"run by the {step['engine']} engine")
        console.print(f"[bold]{escape(step['loader'])}[/]: nodes "
                      f"{escape(', '.join(step['nodes']))} {escape(where)}")
        if step.get("note"):  # why the chain is not pushed down
            console.print(f"[yellow]{escape(step['note'])}[/]")
        console.print(Syntax(step["sql"], "sql", word_wrap=True))


def _wait(done: threading.Event, cancel: Any, render: Callable[[], Group] | None) -> None:
    """Until the run's thread is done. An Event, not Thread.join: a Ctrl+C that interrupts
    join() leaves Python 3.11 taking the thread for finished while DuckDB still runs in it,
    and the process then aborts on exit."""
    def until_done() -> None:
        while not done.wait(0.2):  # short waits: Ctrl+C is seen at once
            pass

    try:
        if render is None:
            until_done()
            return
        with Live(get_renderable=render, console=console, refresh_per_second=4, transient=True):
            until_done()
    except KeyboardInterrupt:
        err_console.print("[yellow]cancelling…[/] (the destinations stay as they were; "
                          "Ctrl+C again stops at once)")
        cancel.cancel()
        try:
            until_done()
        except KeyboardInterrupt:  # a query that does not answer its cancel: leave it
            err_console.print("[red]stopped[/] before the run finished cancelling")
            os._exit(130)


def _summary(plan: Any, result: Any, progress: _Progress) -> None:
    table = Table(title=f"run {result.run_id[:8]}: {result.status} in {result.duration_s:.2f}s",
                  title_justify="left")
    for col in ("node", "module", "status", "rows in", "rows out", "rejected", "written", "time"):
        table.add_column(col, justify="right" if col not in ("node", "module", "status") else "left",
                         min_width=9 if col == "status" else None)
    for pn in plan.nodes:
        m = result.nodes[pn.id]
        table.add_row(Text(pn.id), Text(pn.node.module), m.status,
                      _num(m.rows_in), _num(m.rows_out), _num(m.rows_rejected),
                      _bytes(m.bytes_written), f"{m.duration_s:.2f}s" if m.duration_s else "")
    console.print(table)
    for line in progress.logs:
        console.print(f"[yellow]{escape(line)}[/]")
    for m in result.nodes.values():
        if m.extra.get("rejected_path"):
            console.print(f"[yellow]{escape(m.node_id)}: {m.rows_rejected} rejected row(s) "
                          f"written to {escape(str(m.extra['rejected_path']))}[/]")
    if result.error is not None:
        where = f"node {result.error.node_id!r}" if result.error.node_id else "the run"
        err_console.print(f"\n[bold red]error in {escape(where)}:[/] {escape(result.error.reason)}")
        if result.error.sample_rows:
            rows = result.error.sample_rows
            err_console.print(_rows_table("rows it failed on", [escape(c) for c in rows[0]], rows))
        written = [pn.id for pn in plan.nodes
                   if pn.node.type == "loader" and result.nodes[pn.id].status == "succeeded"]
        err_console.print("[dim]Destinations were left unchanged.[/]" if not written else
                          f"[dim]Written before the failure: {escape(', '.join(written))} (a rerun "
                          "writes those rows there again: in append mode, twice); the other "
                          "destinations were left unchanged.[/]")


def _num(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _bytes(value: int | None) -> str:
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return str(value)


@app.command()
def modules(as_json: JsonOpt = False) -> None:
    """List every module in the catalog, with its configuration schema (--json)."""
    registry = _registry()
    entries = [m.describe() for m in registry.all()]
    if as_json:
        print(json.dumps(entries, indent=2))
        return
    table = Table(title=f"{len(entries)} modules", title_justify="left")
    for col in ("type", "module", "category", "description"):
        table.add_column(col)
    for e in entries:
        table.add_row(e["type"], e["module"], e["category"], e["description"])
    console.print(table)


from ecluse.cli_airflow import airflow_app, apikey_app  # noqa: E402
from ecluse.cli_connectors import connection_app, state_app  # noqa: E402
from ecluse.cli_server import serve, settings, user_app, worker  # noqa: E402  (the server's commands)

app.command()(serve)
app.command()(settings)
app.command()(worker)
app.add_typer(user_app, name="user")
app.add_typer(state_app, name="state")
app.add_typer(connection_app, name="connection")
app.add_typer(apikey_app, name="apikey")
app.add_typer(airflow_app, name="airflow")

if __name__ == "__main__":
    app()
