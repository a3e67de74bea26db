"""replica revision and reason

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 05:34:32.697442
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("replica_badges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("status_reason", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("replica_badges", schema=None) as batch_op:
        batch_op.drop_column("status_reason")
        batch_op.drop_column("revision")
