"""celery dispatch: runs.dispatched_at and runs.deliveries

Revision ID: 0003_celery
Revises: 0002_api_keys
Create Date: 2026-11-24 09:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ecluse.store.models


revision: str = '0003_celery'
down_revision: str | None = '0002_api_keys'
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dispatched_at', ecluse.store.models.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('deliveries', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('deliveries')
        batch_op.drop_column('dispatched_at')
