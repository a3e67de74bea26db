"""VIP arrival alerts, SMS and the organiser digest: the channel of each notification, the
delegation and organisation in the replica, and the arrivals notify has seen

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(length=8), server_default="email", nullable=False)
        )
    with op.batch_alter_table("notify_delegates") as batch:
        batch.add_column(sa.Column("delegation", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("organisation", sa.String(length=200), nullable=True))
    op.create_table(
        "notify_arrivals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("badge_id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("venue_scan_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_arrivals")),
        sa.UniqueConstraint(
            "event_id", "badge_id", "day", name=op.f("uq_notify_arrivals_event_id_badge_id_day")
        ),
    )
    op.create_index("ix_notify_arrivals_event_id_day", "notify_arrivals", ["event_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_notify_arrivals_event_id_day", table_name="notify_arrivals")
    op.drop_table("notify_arrivals")
    with op.batch_alter_table("notify_delegates") as batch:
        batch.drop_column("organisation")
        batch.drop_column("delegation")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("channel")
