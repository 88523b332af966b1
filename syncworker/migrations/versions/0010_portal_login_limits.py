"""client portal login limits: an email is locked per client address, across addresses only for addresses it
has not logged in from (`email_lock`, `known`); emails are keyed hashes, addresses networks

The rows of 0008 hold unkeyed SHA-256 hashes of the emails typed and whole client addresses: they can be
neither converted (the email is not known) nor kept (an unkeyed hash of a guessable email is the email), so
they are deleted, ending lockouts that are at most `lockout_minutes` old. The downgrade deletes the rows too.

Revision ID: 0010_portal_login_limits
Revises: 0009_keyed_record_hashes
Create Date: 2026-12-07 11:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0010_portal_login_limits"
down_revision = "0009_keyed_record_hashes"
branch_labels = None
depends_on = None

OLD = "kind IN ('failure', 'account_lock', 'address_lock')"
NEW = "kind IN ('failure', 'account_lock', 'email_lock', 'address_lock', 'known')"


def _check(condition: str) -> None:
    op.execute("DELETE FROM portal_login_attempts")
    with op.batch_alter_table("portal_login_attempts") as batch_op:
        batch_op.drop_constraint(op.f("ck_portal_login_attempts_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_portal_login_attempts_kind"), condition)


def upgrade() -> None:
    _check(NEW)


def downgrade() -> None:
    _check(OLD)
