"""Notify's tables: every message it owes (keyed by event and kind, so a redelivered event
finds the row it already made and never sends twice), and its own small replica of events and
delegates, built from the snapshots registration announces, for the reminders."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, MetaData, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import NAMING_CONVENTION, TYPE_ANNOTATIONS, utcnow

# States. `sending` is a lease: a row left in it by a crashed worker is taken up again by
# `notify.redrive_stalled` once the lease has run out. `rejected` is final (a 5xx answer, a
# message that cannot be built, a message overtaken by a newer change, an erased delegate):
# retrying would give the same answer.
QUEUED, SENDING, SENT, FAILED, REJECTED = "queued", "sending", "sent", "failed", "rejected"
STATES = (QUEUED, SENDING, SENT, FAILED, REJECTED)
# A webhook delivery whose every attempt failed: it waits in the dead-letter list for an
# organiser to replay it (services/notify/webhooks.py).
DEAD = "dead"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATIONS


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_state_updated_at", "state", "updated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # "<event id>/<kind>" for a message an event calls for, "reminder/<event>/<delegate>" for
    # a reminder: one message of each kind, whatever the redeliveries.
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    # Whom it is about (registration's id), so an erasure finds their rows; None for rows
    # made before notify recorded it and not found in their envelope.
    delegate_id: Mapped[int | None] = mapped_column(index=True)
    # The address; "" once the delegate's data was erased.
    recipient: Mapped[str] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16), default=QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    message_id: Mapped[str | None] = mapped_column(String(200))
    # What went wrong, for an operator: an error class and SMTP code, never secrets.
    last_error: Mapped[str | None] = mapped_column(String(500))
    # The argument of the task that makes this message (the event's envelope, or a reminder's
    # ids), so the redrive can hand a stuck message back to it; {} once erased.
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    # How it goes: "email" (the recipient is an address) or "sms" (a phone number; the
    # message_id is then the gateway's).
    channel: Mapped[str] = mapped_column(String(8), default="email", server_default="email")
    # A webhook delivery ("webhook" channel): the congress, the endpoint, the attempt series
    # (a replay starts a new one, `attempts` counting again) and when its retry is due.
    event_id: Mapped[int | None] = mapped_column(index=True)
    webhook_id: Mapped[int | None]
    series: Mapped[int] = mapped_column(default=1, server_default="1")
    next_attempt_at: Mapped[datetime | None] = mapped_column()


class KnownEvent(Base):
    """A congress as registration last announced it; `id` is registration's."""

    __tablename__ = "notify_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    venue: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    starts_on: Mapped[date] = mapped_column(index=True)
    ends_on: Mapped[date]
    # The producer's outbox sequence of the newest announcement applied: an older one that
    # arrives late (another worker, a redelivery) does not overwrite it.
    sequence: Mapped[int] = mapped_column(default=0)
    # {code: {"label": …, "colour": …}}, for the printed badge; only `event.*` announcements
    # carry them (delegate snapshots do not), hence a sequence of their own.
    categories: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    categories_sequence: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class KnownDelegate(Base):
    """What a reminder needs of a delegate, from their newest snapshot (by revision). An
    erasure blanks every personal field for good and keeps status and category for counts."""

    __tablename__ = "notify_delegates"
    __table_args__ = (Index("ix_notify_delegates_event_id_status", "event_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    event_id: Mapped[int]
    revision: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(254))
    display_name: Mapped[str | None] = mapped_column(String(300))
    title: Mapped[str | None] = mapped_column(String(200))
    # For protocol's VIP arrival alert: the delegation's name and the organisation.
    delegation: Mapped[str | None] = mapped_column(String(200))
    organisation: Mapped[str | None] = mapped_column(String(200))
    manage_nonce: Mapped[str | None] = mapped_column(String(64))
    badge_id: Mapped[int | None]
    badge_version: Mapped[int | None]
    badge_status: Mapped[str | None] = mapped_column(String(16))
    badge_token: Mapped[str | None] = mapped_column(String(200))
    erased_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Arrival(Base):
    """A badge's first admission on one local day of its event, from the `checkin.admitted`
    events notify sees: the organiser digest counts them, and `venue_scan_id` (the day's first
    admission at the venue itself) is the one admission that alerts protocol for a VIP. No
    personal data: badge, registration and category only."""

    __tablename__ = "notify_arrivals"
    __table_args__ = (
        UniqueConstraint("event_id", "badge_id", "day"),
        Index("ix_notify_arrivals_event_id_day", "event_id", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int]
    badge_id: Mapped[int]
    registration_id: Mapped[int | None]
    category: Mapped[str] = mapped_column(String(64))
    day: Mapped[date]
    first_at: Mapped[datetime]
    venue_scan_id: Mapped[int | None]


class OrganizerGrant(Base):
    """An organiser token's digest, from registration's `event.*` announcements (the tokens
    themselves never leave registration): who may use notify's API for which event."""

    __tablename__ = "notify_organizer_grants"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[int] = mapped_column(index=True)
    # The announcement it came from: an older one arriving late does not bring back a token
    # that a newer one withdrew.
    sequence: Mapped[int]


class Webhook(Base):
    """An endpoint an organiser registered for some event types of their event. Its signing
    secret is derived from `secret_nonce` under WEBHOOK_SECRET_KEY, never stored."""

    __tablename__ = "notify_webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(index=True)
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(String(200), default="")
    secret_nonce: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    """One try at delivering a webhook: when, how long, and the answer (status or error)."""

    __tablename__ = "notify_webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    series: Mapped[int]
    number: Mapped[int]
    at: Mapped[datetime]
    duration_ms: Mapped[int]
    status_code: Mapped[int | None]
    # An error class and a short reason, never the response body or the URL's secrets.
    error: Mapped[str | None] = mapped_column(String(300))
