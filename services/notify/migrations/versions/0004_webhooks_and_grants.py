"""Outgoing webhooks: endpoints, their deliveries (as notifications on the "webhook" channel)
and every attempt; the organiser grants that authorise notify's API

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notify_organizer_grants",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_notify_organizer_grants")),
    )
    op.create_index(
        op.f("ix_notify_organizer_grants_event_id"), "notify_organizer_grants", ["event_id"]
    )
    op.create_table(
        "notify_webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("secret_nonce", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_webhooks")),
    )
    op.create_index(op.f("ix_notify_webhooks_event_id"), "notify_webhooks", ["event_id"])
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("event_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("webhook_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("series", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(batch.f("ix_notifications_event_id"), ["event_id"])
    op.create_table(
        "notify_webhook_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("series", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_notify_webhook_attempts_notification_id_notifications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_webhook_attempts")),
    )
    op.create_index(
        op.f("ix_notify_webhook_attempts_notification_id"),
        "notify_webhook_attempts",
        ["notification_id"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_notify_webhook_attempts_notification_id"), table_name="notify_webhook_attempts"
    )
    op.drop_table("notify_webhook_attempts")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_index(batch.f("ix_notifications_event_id"))
        batch.drop_column("next_attempt_at")
        batch.drop_column("series")
        batch.drop_column("webhook_id")
        batch.drop_column("event_id")
    op.drop_index(op.f("ix_notify_webhooks_event_id"), table_name="notify_webhooks")
    op.drop_table("notify_webhooks")
    op.drop_index(op.f("ix_notify_organizer_grants_event_id"), table_name="notify_organizer_grants")
    op.drop_table("notify_organizer_grants")
