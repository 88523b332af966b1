"""client portal: users, the portals they may see, invitations (token hashes only), and the mail outbox

Revision ID: 0003_portal
Revises: 0002
Create Date: 2026-12-06 23:55:11.383234
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import syncworker.store.types

revision = '0003_portal'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('portal_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('accepted_at', syncworker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_login_at', syncworker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', syncworker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', syncworker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(client_id IS NULL) <> (contact_id IS NULL)', name=op.f('ck_portal_users_one_person')),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_portal_users_client_id_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_portal_users_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_portal_users_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_users')),
    sa.UniqueConstraint('tenant_id', 'email', name=op.f('uq_portal_users_tenant_id'))
    )
    with op.batch_alter_table('portal_users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_users_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_portal_users_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_portal_users_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('portal_access',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('via_connection_id', sa.Integer(), nullable=True),
    sa.Column('granted_by', sa.String(length=100), nullable=False),
    sa.Column('granted_at', syncworker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', syncworker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_reason', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_portal_access_client_id_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_portal_access_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['portal_users.id'], name=op.f('fk_portal_access_user_id_portal_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['via_connection_id'], ['connections.id'], name=op.f('fk_portal_access_via_connection_id_connections'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_access'))
    )
    with op.batch_alter_table('portal_access', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_access_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_portal_access_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_portal_access_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_portal_access_via_connection_id'), ['via_connection_id'], unique=False)
        batch_op.create_index('uq_portal_access_open', ['user_id', 'client_id'], unique=True, sqlite_where=sa.text('ended_at IS NULL'), postgresql_where=sa.text('ended_at IS NULL'))

    op.create_table('portal_invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('access_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('invited_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', syncworker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', syncworker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', syncworker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reminded_at', syncworker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', syncworker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', syncworker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('replaced_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'accepted', 'revoked', 'expired', 'superseded')", name=op.f('ck_portal_invitations_status')),
    sa.ForeignKeyConstraint(['access_id'], ['portal_access.id'], name=op.f('fk_portal_invitations_access_id_portal_access'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['replaced_by_id'], ['portal_invitations.id'], name=op.f('fk_portal_invitations_replaced_by_id_portal_invitations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_portal_invitations_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_invitations')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_portal_invitations_token_hash'))
    )
    with op.batch_alter_table('portal_invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_invitations_access_id'), ['access_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_portal_invitations_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('mail_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('invitation_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.String(length=200), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('text_body', sa.Text(), nullable=True),
    sa.Column('html_body', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', syncworker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', syncworker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', syncworker.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', syncworker.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')", name=op.f('ck_mail_outbox_status')),
    sa.ForeignKeyConstraint(['invitation_id'], ['portal_invitations.id'], name=op.f('fk_mail_outbox_invitation_id_portal_invitations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_mail_outbox_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_outbox')),
    sa.UniqueConstraint('message_id', name=op.f('uq_mail_outbox_message_id'))
    )
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_mail_outbox_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_mail_outbox_invitation_id'), ['invitation_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mail_outbox_invitation_id'))
        batch_op.drop_index('ix_mail_outbox_due')

    op.drop_table('mail_outbox')
    with op.batch_alter_table('portal_invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_invitations_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_portal_invitations_access_id'))

    op.drop_table('portal_invitations')
    with op.batch_alter_table('portal_access', schema=None) as batch_op:
        batch_op.drop_index('uq_portal_access_open', sqlite_where=sa.text('ended_at IS NULL'), postgresql_where=sa.text('ended_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_portal_access_via_connection_id'))
        batch_op.drop_index(batch_op.f('ix_portal_access_user_id'))
        batch_op.drop_index(batch_op.f('ix_portal_access_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_portal_access_client_id'))

    op.drop_table('portal_access')
    with op.batch_alter_table('portal_users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_users_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_portal_users_contact_id'))
        batch_op.drop_index(batch_op.f('ix_portal_users_client_id'))

    op.drop_table('portal_users')
