"""The metadata store's migrations, on SQLite and PostgreSQL: they build what the models
describe, and 0004 (the run list's index) goes up and down."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from ecluse.store.db import Database, alembic_config, at_head, migrate
from ecluse.store.db import database_url as store_url
from ecluse.store.models import Base


def _indexes(db: Database) -> set[str]:
    return {str(i["name"]) for i in inspect(db.engine).get_indexes("runs")}


def test_migrations_match_the_models_and_0004_goes_both_ways(database_url: str | None,
                                                              tmp_path: Path) -> None:
    db = Database(store_url(database_url, tmp_path / "data"))
    try:
        migrate(db.engine)
        assert at_head(db.engine)
        assert "ix_runs_created_at" in _indexes(db)
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        cfg = alembic_config(db.engine.url.render_as_string(hide_password=False))
        command.downgrade(cfg, "0003_celery")
        assert "ix_runs_created_at" not in _indexes(db)
        assert not at_head(db.engine)
        command.upgrade(cfg, "head")
        assert "ix_runs_created_at" in _indexes(db) and at_head(db.engine)
    finally:
        db.dispose()

