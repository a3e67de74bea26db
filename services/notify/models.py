"""Notify's one table: every message it owes, keyed by the event and kind of message, so a
redelivered event finds the row it already made and never sends twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import NAMING_CONVENTION, TYPE_ANNOTATIONS, utcnow

# States. `sending` is a lease: a row left in it by a crashed worker is taken up again by
# `notify.redrive_stalled` once the lease has run out. `rejected` is final (a 5xx answer or a
# message that cannot be built): retrying would give the same answer.
QUEUED, SENDING, SENT, FAILED, REJECTED = "queued", "sending", "sent", "failed", "rejected"
STATES = (QUEUED, SENDING, SENT, FAILED, REJECTED)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATIONS


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_state_updated_at", "state", "updated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # "<event id>/<kind>": one message of each kind per event, whatever the redeliveries.
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16), default=QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    message_id: Mapped[str | None] = mapped_column(String(200))
    # What went wrong, for an operator: an error class and SMTP code, never secrets.
    last_error: Mapped[str | None] = mapped_column(String(500))
    # The envelope as received, so a stuck message can be re-driven through its task.
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
