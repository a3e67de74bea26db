"""areas, presence per area, manual check-in, offline sync, audit

Every event that has gates gets a `venue` area (everyone may enter) and its gates are bound to
it; presence becomes one row per badge and area; the scan log learns when a scan happened
(a device's clock, for an offline scan), its client id, source, reason and who made it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 08:00:00
"""

import unicodedata
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _folded(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def upgrade() -> None:
    connection = op.get_bind()
    areas = op.create_table(
        "areas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_slug", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("everyone", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_areas")),
        sa.UniqueConstraint("event_slug", "code", name=op.f("uq_areas_event_slug_code")),
    )
    with op.batch_alter_table("areas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_areas_event_slug"), ["event_slug"], unique=False)

    slugs = connection.execute(sa.text("SELECT DISTINCT event_slug FROM gates")).scalars().all()
    if slugs:
        now = datetime.now(UTC)
        op.bulk_insert(
            areas,
            [
                {
                    "event_slug": slug,
                    "code": "venue",
                    "name": "Venue",
                    "capacity": None,
                    "everyone": True,
                    "created_at": now,
                }
                for slug in slugs
            ],
        )

    with op.batch_alter_table("gates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("area_id", sa.Integer(), nullable=True))
    connection.execute(
        sa.text(
            "UPDATE gates SET area_id = (SELECT areas.id FROM areas WHERE areas.event_slug = "
            "gates.event_slug AND areas.code = 'venue')"
        )
    )
    with op.batch_alter_table("gates", schema=None) as batch_op:
        batch_op.alter_column("area_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f("ix_gates_area_id"), ["area_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_gates_area_id_areas"), "areas", ["area_id"], ["id"]
        )

    with op.batch_alter_table("scanner_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("role", sa.String(length=16), nullable=False, server_default="scanner")
        )

    op.create_table(
        "replica_categories",
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("areas", sa.JSON(), nullable=False),
        sa.Column("colour", sa.String(length=7), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "code", name=op.f("pk_replica_categories")),
    )

    with op.batch_alter_table("replica_badges", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("search_text", sa.String(length=500), nullable=False, server_default="")
        )
    # The next event about each delegate adds the Latin transliteration; names fold now.
    for badge_id, name in connection.execute(
        sa.text("SELECT badge_id, display_name FROM replica_badges")
    ).all():
        connection.execute(
            sa.text("UPDATE replica_badges SET search_text = :text WHERE badge_id = :id"),
            {"text": _folded(name)[:500], "id": badge_id},
        )

    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("area_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), nullable=False, server_default="gate")
        )
        batch_op.add_column(sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("client_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("message", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("inside_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("inside_gate", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("actor", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("undoes_scan_id", sa.Integer(), nullable=True))
    connection.execute(
        sa.text(
            "UPDATE scans SET occurred_at = scanned_at, "
            "area_id = (SELECT gates.area_id FROM gates WHERE gates.id = scans.gate_id)"
        )
    )
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.alter_column(
            "occurred_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.alter_column("gate_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_unique_constraint(batch_op.f("uq_scans_client_id"), ["client_id"])
        batch_op.create_unique_constraint(batch_op.f("uq_scans_undoes_scan_id"), ["undoes_scan_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_scans_area_id_areas"), "areas", ["area_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_scans_undoes_scan_id_scans"), "scans", ["undoes_scan_id"], ["id"]
        )
        batch_op.create_index(
            "ix_scans_badge_area_occurred", ["badge_id", "area_id", "occurred_at"], unique=False
        )

    # Presence becomes one row per badge and area: the old rows move to their gate's area.
    old = (
        connection.execute(
            sa.text(
                "SELECT p.badge_id, g.area_id, p.event_id, p.inside, p.first_in_at, "
                "p.first_gate_id, p.last_in_at, p.last_gate_id, p.last_out_at "
                "FROM presence p JOIN gates g ON g.id = p.first_gate_id"
            )
        )
        .mappings()
        .all()
    )
    with op.batch_alter_table("presence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_presence_event_id"))
    op.drop_table("presence")
    presence = op.create_table(
        "presence",
        sa.Column("badge_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("inside", sa.Boolean(), nullable=False),
        sa.Column("first_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_gate_id", sa.Integer(), nullable=True),
        sa.Column("last_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_gate_id", sa.Integer(), nullable=True),
        sa.Column("last_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], name=op.f("fk_presence_area_id_areas")),
        sa.ForeignKeyConstraint(
            ["first_gate_id"], ["gates.id"], name=op.f("fk_presence_first_gate_id_gates")
        ),
        sa.ForeignKeyConstraint(
            ["last_gate_id"], ["gates.id"], name=op.f("fk_presence_last_gate_id_gates")
        ),
        sa.PrimaryKeyConstraint("badge_id", "area_id", name=op.f("pk_presence")),
    )
    with op.batch_alter_table("presence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_presence_event_id"), ["event_id"], unique=False)
    if old:
        op.bulk_insert(presence, [dict(row) for row in old])

    op.create_table(
        "conflicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("badge_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("winner_scan_id", sa.Integer(), nullable=False),
        sa.Column("loser_scan_id", sa.Integer(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=120), nullable=True),
        sa.Column("resolution_note", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], name=op.f("fk_conflicts_area_id_areas")),
        sa.ForeignKeyConstraint(
            ["loser_scan_id"], ["scans.id"], name=op.f("fk_conflicts_loser_scan_id_scans")
        ),
        sa.ForeignKeyConstraint(
            ["winner_scan_id"], ["scans.id"], name=op.f("fk_conflicts_winner_scan_id_scans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conflicts")),
        sa.UniqueConstraint(
            "winner_scan_id",
            "loser_scan_id",
            name=op.f("uq_conflicts_winner_scan_id_loser_scan_id"),
        ),
    )
    with op.batch_alter_table("conflicts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conflicts_event_id"), ["event_id"], unique=False)

    op.create_table(
        "checkin_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_slug", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_audit")),
    )
    with op.batch_alter_table("checkin_audit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_checkin_audit_event_slug"), ["event_slug"], unique=False
        )


def downgrade() -> None:
    raise NotImplementedError("0003 is not reversible: presence per area has no single-row form")
