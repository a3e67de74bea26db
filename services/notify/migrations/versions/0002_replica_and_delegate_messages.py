"""notify's replica of events and delegates; whom each notification is about

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notify_events",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("venue", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("categories_sequence", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_events")),
    )
    op.create_index(op.f("ix_notify_events_starts_on"), "notify_events", ["starts_on"])
    op.create_table(
        "notify_delegates",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("display_name", sa.String(length=300), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("manage_nonce", sa.String(length=64), nullable=True),
        sa.Column("badge_id", sa.Integer(), nullable=True),
        sa.Column("badge_version", sa.Integer(), nullable=True),
        sa.Column("badge_status", sa.String(length=16), nullable=True),
        sa.Column("badge_token", sa.String(length=200), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_delegates")),
    )
    op.create_index(
        "ix_notify_delegates_event_id_status", "notify_delegates", ["event_id", "status"]
    )
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("delegate_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_notifications_delegate_id"), ["delegate_id"])
    _backfill_delegate_ids()


def _backfill_delegate_ids() -> None:
    """Every row so far is a badge mail whose envelope names the delegate: an erasure must
    find it."""
    notifications = sa.table(
        "notifications",
        sa.column("id", sa.Integer()),
        sa.column("delegate_id", sa.Integer()),
        sa.column("envelope", sa.JSON()),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(notifications.c.id, notifications.c.envelope)).all()
    for row_id, envelope in rows:
        delegate = ((envelope or {}).get("payload") or {}).get("delegate") or {}
        if isinstance(delegate.get("id"), int):
            connection.execute(
                notifications.update()
                .where(notifications.c.id == row_id)
                .values(delegate_id=delegate["id"])
            )


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_index(batch.f("ix_notifications_delegate_id"))
        batch.drop_column("delegate_id")
    op.drop_index("ix_notify_delegates_event_id_status", table_name="notify_delegates")
    op.drop_table("notify_delegates")
    op.drop_index(op.f("ix_notify_events_starts_on"), table_name="notify_events")
    op.drop_table("notify_events")
