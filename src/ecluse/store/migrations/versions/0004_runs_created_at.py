"""runs: an index on created_at (the run list's default order, newest first)

Revision ID: 0004_runs_created_at
Revises: 0003_celery
Create Date: 2026-11-24 15:00:00
"""
from __future__ import annotations

from alembic import op

revision: str = '0004_runs_created_at'
down_revision: str | None = '0003_celery'
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index('ix_runs_created_at', 'runs', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_runs_created_at', table_name='runs')
