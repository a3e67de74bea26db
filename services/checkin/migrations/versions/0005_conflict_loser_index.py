"""an index on conflicts.loser_scan_id

An offline sync answers each scan with the conflict it is part of, as winner or loser: the
loser side read the whole conflicts table (the unique constraint's index starts with the
winner), and so did SQLite's foreign-key check on every scan logged.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 11:40:00
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_conflicts_loser_scan_id", "conflicts", ["loser_scan_id"])


def downgrade() -> None:
    op.drop_index("ix_conflicts_loser_scan_id", table_name="conflicts")
