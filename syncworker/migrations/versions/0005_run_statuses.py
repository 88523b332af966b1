"""runs waiting in the scale-out queue are `queued`; a fire dropped because the same job already waits is
`skipped` (it was recorded as failed)

Revision ID: 0005_run_statuses
Revises: 0004_conflict_review
Create Date: 2026-12-07 03:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0005_run_statuses"
down_revision = "0004_conflict_review"
branch_labels = None
depends_on = None

OLD = "status IN ('running', 'succeeded', 'partial', 'failed')"
NEW = "status IN ('queued', 'running', 'succeeded', 'partial', 'failed', 'skipped')"


def _check(condition: str) -> None:
    with op.batch_alter_table("job_runs") as batch_op:
        batch_op.drop_constraint(op.f("ck_job_runs_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_job_runs_status"), condition)


def upgrade() -> None:
    _check(NEW)


def downgrade() -> None:
    # Older code knows neither status: a queued run was "running", a skipped fire "failed".
    op.execute("UPDATE job_runs SET status = 'running' WHERE status = 'queued'")
    op.execute("UPDATE job_runs SET status = 'failed' WHERE status = 'skipped'")
    _check(OLD)
