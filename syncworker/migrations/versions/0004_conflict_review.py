"""sync conflicts remember the run that opened them and why, for review per client and bulk resolution

Revision ID: 0004_conflict_review
Revises: 0003_portal
Create Date: 2026-12-07 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_conflict_review"
down_revision = "0003_portal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_conflicts") as batch_op:
        batch_op.add_column(sa.Column("run_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.String(200), nullable=True))
        batch_op.create_foreign_key("fk_sync_conflicts_run_id_job_runs", "job_runs", ["run_id"], ["id"],
                                    ondelete="SET NULL")
        batch_op.create_index("ix_sync_conflicts_run_id", ["run_id"])


def downgrade() -> None:
    with op.batch_alter_table("sync_conflicts") as batch_op:
        batch_op.drop_index("ix_sync_conflicts_run_id")
        batch_op.drop_constraint("fk_sync_conflicts_run_id_job_runs", type_="foreignkey")
        batch_op.drop_column("reason")
        batch_op.drop_column("run_id")
