"""checkin's own tables: its replica of events, categories and badges (built from registration's
events), areas, gates and their scanner tokens, the append-only scan log, presence per area,
offline-sync conflicts, its audit trail, and its outbox."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, MetaData, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import NAMING_CONVENTION, TYPE_ANNOTATIONS
from shared.db import utcnow as _now
from shared.outbox import Outbox, outbox_table


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATIONS


class ReplicaEvent(Base):
    """An event as registration announced it; `id` is registration's id, as in badge tokens."""

    __tablename__ = "replica_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    venue: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    # The position in registration's change feed this announcement (or snapshot) reflects: an
    # older one never overwrites it. None: not known (applied before positions were kept).
    announced_sequence: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)


class OrganizerGrant(Base):
    """An organiser token's digest, replicated so organisers are authorised here too."""

    __tablename__ = "organizer_grants"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("replica_events.id"), index=True)


class ReplicaBadge(Base):
    """What a gate needs to know of a badge: its version and status, and whom to greet."""

    __tablename__ = "replica_badges"

    badge_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column(index=True)
    registration_id: Mapped[int]
    # The registration's revision this row reflects: an older snapshot never overwrites it.
    revision: Mapped[int] = mapped_column(default=1)
    version: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))  # active, revoked, void
    status_reason: Mapped[str | None] = mapped_column(String(500))
    display_name: Mapped[str] = mapped_column(String(210))
    category: Mapped[str] = mapped_column(String(40))
    country: Mapped[str] = mapped_column(String(2))
    # The name case-folded, without accents, and in Latin letters too: what search matches.
    search_text: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)


class ReplicaCategory(Base):
    """A category as registration announced it: the areas (by code) its badges may enter."""

    __tablename__ = "replica_categories"

    event_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    label: Mapped[str] = mapped_column(String(100))
    areas: Mapped[list[str]] = mapped_column(JSON, default=list)
    colour: Mapped[str] = mapped_column(String(7), default="#1f6feb")
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # {"zh": "市长"}


class Area(Base):
    """A part of the event's venue with its own doors: the congress centre itself, a hall, a
    session room, a lounge. An `everyone` area admits every valid badge (the venue); any other
    admits the categories that list its code."""

    __tablename__ = "areas"
    __table_args__ = (UniqueConstraint("event_slug", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_slug: Mapped[str] = mapped_column(String(64), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    capacity: Mapped[int | None]
    everyone: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Gate(Base):
    """A door, or a device at one: it admits to and lets out of one area."""

    __tablename__ = "gates"
    __table_args__ = (UniqueConstraint("event_slug", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # By slug, not id: gates may be set up before registration's events have arrived.
    event_slug: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(64))
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=_now)

    area: Mapped[Area] = relationship(lazy="joined")


class ScannerToken(Base):
    """A device's token, bound to a gate. A `scanner` only scans; a `supervisor` also finds
    delegates by name and checks them in by hand."""

    __tablename__ = "scanner_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    gate_id: Mapped[int] = mapped_column(ForeignKey("gates.id"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16), default="scanner")
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Scan(Base):
    """One row per scan, whatever its result; never updated, never deleted. Presence is the
    replay of these rows in `occurred_at` order (see presence.rebuild)."""

    __tablename__ = "scans"
    __table_args__ = (Index("ix_scans_badge_area_occurred", "badge_id", "area_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gate_id: Mapped[int | None] = mapped_column(ForeignKey("gates.id"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    event_id: Mapped[int | None] = mapped_column(index=True)
    badge_id: Mapped[int | None] = mapped_column(index=True)
    badge_version: Mapped[int | None]
    direction: Mapped[str] = mapped_column(String(3))
    result: Mapped[str] = mapped_column(String(20))
    # gate, offline, manual, undo, day_close
    source: Mapped[str] = mapped_column(String(16), default="gate")
    # When it was recorded here, and when it happened (a device's clock for an offline scan).
    scanned_at: Mapped[datetime] = mapped_column(default=_now)
    occurred_at: Mapped[datetime] = mapped_column(default=_now)
    # The scanner's own id for an offline scan: sending it again is answered, not applied.
    client_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    message: Mapped[str | None] = mapped_column(String(500))
    # For `already_inside`: since when, and through which gate, the badge was inside.
    inside_since: Mapped[datetime | None]
    inside_gate: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(500))
    actor: Mapped[str | None] = mapped_column(String(120))
    # An undo names the admission it takes back; each can be taken back once.
    undoes_scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id"), unique=True)


class Presence(Base):
    """Who has arrived in which area and who is inside it now: one row per badge and area,
    derived from the scan log."""

    __tablename__ = "presence"

    badge_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), primary_key=True)
    event_id: Mapped[int] = mapped_column(index=True)
    inside: Mapped[bool]
    first_in_at: Mapped[datetime]
    first_gate_id: Mapped[int | None] = mapped_column(ForeignKey("gates.id"))
    last_in_at: Mapped[datetime]
    last_gate_id: Mapped[int | None] = mapped_column(ForeignKey("gates.id"))
    last_out_at: Mapped[datetime | None]


class Conflict(Base):
    """Two admissions of one badge to one area without an exit between them, found when an
    offline scanner synced: the earlier stands, the later is counted as already inside.
    Kept for a supervisor to look at and resolve, never hidden."""

    __tablename__ = "conflicts"
    __table_args__ = (UniqueConstraint("winner_scan_id", "loser_scan_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(index=True)
    badge_id: Mapped[int]
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"))
    kind: Mapped[str] = mapped_column(String(32), default="double_admission")
    winner_scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"))
    loser_scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"), index=True)
    detected_at: Mapped[datetime] = mapped_column(default=_now)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(120))
    resolution_note: Mapped[str | None] = mapped_column(String(1000))


class AuditEntry(Base):
    """Who did what at checkin: every look-up of personal data, every check-in by hand, every
    undo and resolution. Append-only."""

    __tablename__ = "checkin_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_slug: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(default=_now)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class ConsumedEvent(Base):
    """Events already applied to the replica: a redelivered event is a no-op."""

    __tablename__ = "consumed_events"
    # The gap detector asks whether the sequence before a new event was applied.
    __table_args__ = (Index("ix_consumed_events_producer_sequence", "producer", "sequence"),)

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    producer: Mapped[str] = mapped_column(String(32))
    sequence: Mapped[int]
    type: Mapped[str] = mapped_column(String(64))
    consumed_at: Mapped[datetime] = mapped_column(default=_now)


class FeedPosition(Base):
    """How far the replica has caught up with a producer's change feed: every event up to
    `through` is applied, or superseded by a snapshot taken after it (services/checkin/
    catch_up.py)."""

    __tablename__ = "feed_positions"

    producer: Mapped[str] = mapped_column(String(32), primary_key=True)
    through: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)


outbox = Outbox(outbox_table(Base.metadata, "checkin_outbox"), producer="checkin")
