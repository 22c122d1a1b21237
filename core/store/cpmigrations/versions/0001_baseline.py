"""Baseline: the control plane as the code before migrations made it (``create_all`` of the models).

Written out here rather than taken from the models, which move on while this revision stays.
``schema()`` also tells core.store.cpmigrate what a database made before migrations must have
before it is stamped with this revision.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), primary_key=True)


def _created_at() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(), nullable=False)


def _tenant_id() -> sa.Column:
    return sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False, index=True)


def _cascading(name: str, target: str, **kw) -> sa.Column:
    return sa.Column(name, sa.Integer(), sa.ForeignKey(target, ondelete="CASCADE"), nullable=False, **kw)


def schema() -> sa.MetaData:
    """Every table, column, index and constraint of the baseline."""
    m = sa.MetaData()
    sa.Table(
        "tenants", m, _id(),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        _created_at(),
        sa.Column("learning_hours", sa.Double()),
        sa.Column("learning_epoch", sa.Integer()),
        sa.Column("site_networks", sa.String(8000)),
        sa.Column("purged_at", sa.DateTime()),
        sa.Column("retention_days", sa.Integer()),
    )
    sa.Table(
        "users", m, _id(), _tenant_id(),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime()),
        sa.Column("disabled_at", sa.DateTime()),
        _created_at(),
    )
    sa.Table(
        "sessions", m, _id(),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        _cascading("user_id", "users.id", index=True),
        _created_at(),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    sa.Table(
        "sensors", m, _id(), _tenant_id(),
        sa.Column("serial", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), unique=True),
        sa.Column("status", sa.String(20), nullable=False),
        _created_at(),
        sa.Column("activated_at", sa.DateTime()),
        sa.Column("installed_at", sa.DateTime()),
        sa.Column("opening_tested_at", sa.DateTime()),
        sa.Column("last_seen", sa.DateTime()),
        sa.Column("health", sa.JSON()),
        sa.Column("health_at", sa.DateTime()),
        sa.Column("silent_minutes", sa.Integer()),
        sa.UniqueConstraint("tenant_id", "serial"),
    )
    sa.Table(
        "activation_codes", m, _id(),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        _cascading("sensor_id", "sensors.id", index=True),
        sa.Column("serial", sa.String(100), nullable=False),
        _created_at(),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime()),
    )
    sa.Table(
        "api_tokens", m, _id(),
        _cascading("user_id", "users.id", index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        _created_at(),
        sa.Column("expires_at", sa.DateTime()),
        sa.Column("revoked_at", sa.DateTime()),
    )
    sa.Table(
        "contracts", m, _id(), _tenant_id(),
        sa.Column("contract_id", sa.String(100), nullable=False, unique=True),
        sa.Column("plan", sa.String(40), nullable=False, index=True),
        sa.Column("document", sa.JSON(), nullable=False),
        _created_at(),
    )
    sa.Table(
        "contract_sensors", m,
        _cascading("sensor_id", "sensors.id", primary_key=True),
        _cascading("contract_id", "contracts.id", index=True),
    )
    sa.Table(
        "audit_log", m, _id(),
        sa.Column("ts", sa.DateTime(), nullable=False, index=True),
        sa.Column("tenant_id", sa.Integer(), index=True),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("detail", sa.String(2000), nullable=False),
    )
    sa.Table(
        "forward_destinations", m, _id(), _tenant_id(),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("min_severity", sa.String(10), nullable=False),
        sa.Column("secret", sa.String(200)),
        sa.Column("ca_file", sa.String(1000)),
        sa.Column("cert_file", sa.String(1000)),
        sa.Column("key_file", sa.String(1000)),
        sa.Column("verify", sa.Boolean(), nullable=False),
        _created_at(),
        sa.Column("last_success", sa.DateTime()),
        sa.Column("last_failure", sa.DateTime()),
        sa.Column("last_error", sa.String(500)),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt", sa.DateTime()),
        sa.Column("lease_until", sa.DateTime()),
        sa.UniqueConstraint("tenant_id", "name"),
    )
    sa.Table(
        "forward_outbox", m, _id(), _tenant_id(),
        _cascading("destination_id", "forward_destinations.id"),
        sa.Column("alert_id", sa.String(100), nullable=False),
        sa.Column("alert", sa.JSON(), nullable=False),
        _created_at(),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), index=True),
        sa.Index("ix_forward_outbox_pending", "destination_id", "delivered_at", "id"),
    )
    return m


def upgrade() -> None:
    bind = op.get_bind()
    for table in schema().sorted_tables:  # referenced tables first
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(schema().sorted_tables):
        table.drop(bind)
