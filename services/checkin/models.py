"""checkin's own tables: its replica of events and badges (built from registration's events),
gates and their scanner tokens, the append-only scan log, presence, and its outbox."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, MetaData, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

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
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)


class Gate(Base):
    __tablename__ = "gates"
    __table_args__ = (UniqueConstraint("event_slug", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # By slug, not id: gates may be set up before registration's events have arrived.
    event_slug: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=_now)


class ScannerToken(Base):
    __tablename__ = "scanner_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    gate_id: Mapped[int] = mapped_column(ForeignKey("gates.id"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Scan(Base):
    """One row per scan, whatever its result; never updated, never deleted."""

    __tablename__ = "scans"

    id: Mapped[int] = mapped_column(primary_key=True)
    gate_id: Mapped[int] = mapped_column(ForeignKey("gates.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(index=True)
    badge_id: Mapped[int | None] = mapped_column(index=True)
    badge_version: Mapped[int | None]
    direction: Mapped[str] = mapped_column(String(3))
    result: Mapped[str] = mapped_column(String(20))
    scanned_at: Mapped[datetime] = mapped_column(default=_now)


class Presence(Base):
    """Who has arrived and who is inside now, one row per badge, derived from the scan log."""

    __tablename__ = "presence"

    badge_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column(index=True)
    inside: Mapped[bool]
    first_in_at: Mapped[datetime]
    first_gate_id: Mapped[int] = mapped_column(ForeignKey("gates.id"))
    last_in_at: Mapped[datetime]
    last_gate_id: Mapped[int] = mapped_column(ForeignKey("gates.id"))
    last_out_at: Mapped[datetime | None]


class ConsumedEvent(Base):
    """Events already applied to the replica: a redelivered event is a no-op."""

    __tablename__ = "consumed_events"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    producer: Mapped[str] = mapped_column(String(32))
    sequence: Mapped[int]
    type: Mapped[str] = mapped_column(String(64))
    consumed_at: Mapped[datetime] = mapped_column(default=_now)


outbox = Outbox(outbox_table(Base.metadata, "checkin_outbox"), producer="checkin")
