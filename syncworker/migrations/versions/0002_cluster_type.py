"""duplicate clusters say whether they are duplicates to merge or the same person to tie together

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 05:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("duplicate_clusters") as batch_op:
        # duplicate: records to merge; same_person: a contact who is also an individual client, to tie together.
        batch_op.add_column(sa.Column("cluster_type", sa.String(20), nullable=False, server_default="duplicate"))
        batch_op.add_column(sa.Column("record_type", sa.String(20), nullable=False, server_default="client"))


def downgrade() -> None:
    with op.batch_alter_table("duplicate_clusters") as batch_op:
        batch_op.drop_column("record_type")
        batch_op.drop_column("cluster_type")
