"""lifecycle, categories, search, audit

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 05:32:50.564911
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Server defaults fill the rows that exist already.
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_audit_log_event_id_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_event_id"), ["event_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_log_registration_id"), ["registration_id"], unique=False
        )

    with op.batch_alter_table("badges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_reason", sa.String(length=500), nullable=True))

    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("capacity", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("needs_approval", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("areas", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(
            sa.Column("colour", sa.String(length=7), nullable=False, server_default="#1f6feb")
        )

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("capacity", sa.Integer(), nullable=True))

    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("waitlisted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("search_key", sa.String(length=1000), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("dietary", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("accessibility", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.create_index(
            "ix_registrations_event_id_category_status",
            ["event_id", "category", "status"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_index("ix_registrations_event_id_category_status")
        batch_op.drop_column("accessibility")
        batch_op.drop_column("dietary")
        batch_op.drop_column("search_key")
        batch_op.drop_column("waitlisted_at")
        batch_op.drop_column("revision")
        batch_op.drop_column("status_reason")

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("capacity")

    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.drop_column("colour")
        batch_op.drop_column("areas")
        batch_op.drop_column("needs_approval")
        batch_op.drop_column("capacity")

    with op.batch_alter_table("badges", schema=None) as batch_op:
        batch_op.drop_column("status_reason")

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_registration_id"))
        batch_op.drop_index(batch_op.f("ix_audit_log_event_id"))

    op.drop_table("audit_log")
