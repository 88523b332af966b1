"""client portal: failed logins and the lockouts they start, in the database (a restart forgets none)

Revision ID: 0008_portal_login_attempts
Revises: 0007_sealed_sync_values
Create Date: 2026-12-07 10:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import syncworker.store.types

revision = "0008_portal_login_attempts"
down_revision = "0007_sealed_sync_values"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("at", syncworker.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("until", syncworker.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('failure', 'account_lock', 'address_lock')",
                           name=op.f("ck_portal_login_attempts_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_login_attempts")),
    )
    with op.batch_alter_table("portal_login_attempts") as batch_op:
        batch_op.create_index("ix_portal_login_attempts_account_at", ["account", "at"], unique=False)
        batch_op.create_index("ix_portal_login_attempts_address_at", ["address", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("portal_login_attempts") as batch_op:
        batch_op.drop_index("ix_portal_login_attempts_address_at")
        batch_op.drop_index("ix_portal_login_attempts_account_at")
    op.drop_table("portal_login_attempts")
