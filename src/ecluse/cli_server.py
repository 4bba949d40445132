"""``ecluse serve``, ``ecluse settings`` and ``ecluse user …``: the platform server's commands."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

serve_app = typer.Typer(help="Run the platform server.")
user_app = typer.Typer(help="Manage platform users.", no_args_is_help=True)

ADMIN_FILE = "admin-password"


def _bootstrap_admin(data_dir: Path) -> tuple[str, str | None]:
    """The first admin: from ECLUSE_ADMIN_USERNAME/PASSWORD, else generated once and kept in a
    0600 file in the data directory so it can be printed again."""
    from ecluse.api.app import start_platform
    from ecluse.services.auth import ensure_admin
    from ecluse.services.config import platform_settings

    settings = platform_settings()
    platform = start_platform(settings)
    try:
        if settings.admin_username and settings.admin_password:
            return settings.admin_username, settings.admin_password
        path = data_dir / ADMIN_FILE
        password = secrets.token_urlsafe(12)
        if ensure_admin(platform, "admin", password):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(password)
            return "admin", password
        if path.exists():
            return "admin", path.read_text(encoding="utf-8").strip()
        return "admin", None
    finally:
        platform.db.dispose()


def serve(host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
          port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
          demo: Annotated[bool, typer.Option("--demo", help="Load the demo pipelines and print "
                                             "the admin login.")] = False) -> None:
    """Run the platform: API, workers and scheduler (settings from ECLUSE_* variables)."""
    import uvicorn

    from ecluse.api import create_app
    from ecluse.services.config import platform_settings

    settings = platform_settings()
    host = host or settings.host
    port = port or settings.port
    if demo:
        username, password = _bootstrap_admin(settings.data_dir)
        typer.echo(f"\n  Ecluse is starting on http://{host}:{port}")
        typer.echo(f"  API docs: http://{host}:{port}/docs")
        if password:
            typer.echo(f"  Log in as {username!r} with password {password!r}\n")
        else:
            typer.echo(f"  Log in as {username!r} (password set earlier)\n")
    app = create_app(settings, load_demo=demo or settings.load_demo)
    uvicorn.run(app, host=host, port=port, log_level="warning", ws="websockets-sansio")


@user_app.command("create")
def user_create(name: Annotated[str, typer.Argument(help="User name.")],
                password: Annotated[str, typer.Option("--password", help="At least 8 characters.",
                                                      prompt=True, hide_input=True)],
                role: Annotated[str, typer.Option("--role", help="admin, developer or viewer.")]
                = "viewer") -> None:
    """Create a user."""
    from ecluse.api.app import start_platform
    from ecluse.services.auth import create_user
    from ecluse.services.config import platform_settings
    from ecluse.services.errors import ServiceError
    from ecluse.services.platform import Actor

    platform = start_platform(platform_settings())
    try:
        user = create_user(platform, Actor(None, "cli", "admin"), name, password, role.lower())
    except ServiceError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    finally:
        platform.db.dispose()
    typer.echo(f"created {user.role} {user.username!r} ({user.id})")


@user_app.command("list")
def user_list() -> None:
    """List users."""
    from ecluse.api.app import start_platform
    from ecluse.services.auth import list_users
    from ecluse.services.config import platform_settings

    platform = start_platform(platform_settings())
    try:
        for u in list_users(platform):
            typer.echo(f"{u.username}\t{u.role}\t{'disabled' if u.disabled else 'active'}")
    finally:
        platform.db.dispose()


SECRET_SETTINGS = {"secret_key", "admin_password", "database_url", "redis_url"}
"""Shown masked by ``ecluse settings``: keys, passwords, and URLs that may carry one."""


def settings(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
             ) -> None:
    """Every ECLUSE_* setting: its value here (secrets masked), default and meaning."""
    from rich.console import Console
    from rich.table import Table

    from ecluse.services.config import PlatformSettings, platform_settings

    current = platform_settings().model_dump(mode="json")
    rows = []
    for name, field in PlatformSettings.model_fields.items():
        value = current[name]
        if name in SECRET_SETTINGS and value:
            value = "********"
        default = None if field.default_factory is not None else field.default
        rows.append({"variable": f"ECLUSE_{name.upper()}", "value": value,
                     "default": default if not isinstance(default, Path) else str(default),
                     "description": field.description or ""})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table()
    table.add_column("variable", no_wrap=True)
    for column in ("value", "default", "meaning"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["variable"], _show(row["value"]), _show(row["default"]),
                      row["description"])
    Console().print(table)


def _show(value: object) -> str:
    return "" if value is None else json.dumps(value) if isinstance(value, list) else str(value)


def worker(concurrency: Annotated[int | None, typer.Option(
               "--concurrency", "-c", help="Runs executed at once (one process each); default: the "
               "number of CPUs. Mind ECLUSE_THREADS: engine threads per run.")] = None,
           queues: Annotated[str | None, typer.Option(
               "--queues", "-Q", help="Comma-separated queues to consume; default "
               "ECLUSE_CELERY_QUEUE ('ecluse').")] = None,
           hostname: Annotated[str | None, typer.Option(
               "--hostname", "-n", help="Node name, e.g. 'w1@%h' (unique per worker).")] = None,
           max_tasks_per_child: Annotated[int | None, typer.Option(
               help="Replace a worker process after this many runs (memory hygiene).")] = None,
           loglevel: Annotated[str, typer.Option(help="Celery's log level.")] = "info") -> None:
    """Execute runs queued by the API (ECLUSE_EXECUTOR=celery) as a Celery worker. Needs the
    API's ECLUSE_DATABASE_URL (PostgreSQL), ECLUSE_REDIS_URL and ECLUSE_SECRET_KEY."""
    from ecluse.orchestration.celery_app import make_celery
    from ecluse.orchestration.run_lock import require_postgresql
    from ecluse.services.config import platform_settings
    from ecluse.store.db import Database, database_url, migrate

    settings = platform_settings()
    db = Database(database_url(settings.database_url, settings.data_dir))
    try:
        require_postgresql(db.engine)
        app = make_celery(settings)
        migrate(db.engine)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        db.dispose()  # nothing of the parent's pool may cross the fork into a worker process
    import ecluse.orchestration.preload  # noqa: F401  (worker processes fork warm)
    from ecluse.observability.logging import configure_logging

    configure_logging()

    argv = ["worker", "--pool", "prefork", "--loglevel", loglevel, "--without-gossip",
            "--without-mingle", "--queues", queues or settings.celery_queue]
    if concurrency is not None:
        argv += ["--concurrency", str(concurrency)]
    if hostname:
        argv += ["--hostname", hostname]
    if max_tasks_per_child is not None:
        argv += ["--max-tasks-per-child", str(max_tasks_per_child)]
    app.worker_main(argv)
