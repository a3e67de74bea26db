"""delegations, protocol fields, duplicate key, Latin name, manage nonce, arrival, labels

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delegations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=False),
        sa.Column("notes", sa.String(length=1000), nullable=False),
        sa.Column("head_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_delegations_event_id_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delegations")),
        sa.UniqueConstraint("event_id", "name", name=op.f("uq_delegations_event_id_name")),
    )
    with op.batch_alter_table("delegations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delegations_event_id"), ["event_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_delegations_head_id"), ["head_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_delegations_head_id_registrations"), "registrations", ["head_id"], ["id"]
        )

    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("duplicate_key", sa.String(length=500), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("latin_name", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("title", sa.String(length=200), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("interpreter", sa.String(length=8), nullable=True))
        batch_op.add_column(
            sa.Column("protocol_notes", sa.String(length=1000), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("delegation_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("manage_nonce", sa.String(length=32), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_registrations_delegation_id"), ["delegation_id"], unique=False
        )
        batch_op.create_index(
            "ix_registrations_event_id_duplicate_key", ["event_id", "duplicate_key"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_registrations_delegation_id_delegations"),
            "delegations",
            ["delegation_id"],
            ["id"],
        )

    with op.batch_alter_table("invitation_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delegation_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_invitation_codes_delegation_id_delegations"),
            "delegations",
            ["delegation_id"],
            ["id"],
        )

    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("labels", sa.JSON(), nullable=True))
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("translations", sa.JSON(), nullable=True))
    op.execute("UPDATE categories SET labels = '{}'")
    op.execute("UPDATE events SET translations = '{}'")
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.alter_column("labels", existing_type=sa.JSON(), nullable=False)
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.alter_column("translations", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("translations")
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.drop_column("labels")
    with op.batch_alter_table("invitation_codes", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_invitation_codes_delegation_id_delegations"), type_="foreignkey"
        )
        batch_op.drop_column("delegation_id")
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_registrations_delegation_id_delegations"), type_="foreignkey"
        )
        batch_op.drop_index("ix_registrations_event_id_duplicate_key")
        batch_op.drop_index(batch_op.f("ix_registrations_delegation_id"))
        for column in (
            "manage_nonce",
            "arrived_at",
            "delegation_id",
            "protocol_notes",
            "interpreter",
            "title",
            "latin_name",
            "duplicate_key",
        ):
            batch_op.drop_column(column)
    op.drop_table("delegations")
