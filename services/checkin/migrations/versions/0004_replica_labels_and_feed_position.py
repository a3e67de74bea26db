"""category labels in other languages, feed positions

Categories keep their labels in other languages ({"zh": "市长"}) for the scanner page; each
replicated event remembers the feed position of the announcement it reflects; the replica
keeps how far it has caught up with registration's change feed, and finds an applied event by
its sequence quickly (the gap detector).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("replica_categories", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("labels", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
    with op.batch_alter_table("replica_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("announced_sequence", sa.Integer(), nullable=True))
    op.create_index(
        "ix_consumed_events_producer_sequence", "consumed_events", ["producer", "sequence"]
    )
    op.create_table(
        "feed_positions",
        sa.Column("producer", sa.String(length=32), nullable=False),
        sa.Column("through", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("producer", name=op.f("pk_feed_positions")),
    )


def downgrade() -> None:
    op.drop_table("feed_positions")
    op.drop_index("ix_consumed_events_producer_sequence", table_name="consumed_events")
    with op.batch_alter_table("replica_events", schema=None) as batch_op:
        batch_op.drop_column("announced_sequence")
    with op.batch_alter_table("replica_categories", schema=None) as batch_op:
        batch_op.drop_column("labels")
