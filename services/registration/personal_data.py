"""A delegate's data on request: everything registration keeps about one person (their
registration, consent and the notice they agreed to, their badge, and every action on it), as
one JSON document they can download."""

from __future__ import annotations

from marshmallow import Schema, fields
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registration.access import Actor
from services.registration.models import AuditEntry, Registration
from services.registration.schemas import (
    AuditOut,
    BadgeOut,
    ConsentOut,
    PrivacyNoticeOut,
    RegistrationOut,
    UtcDateTime,
)
from shared.db import utcnow

EXPORTED = "delegate.data_exported"


class BadgeRecordOut(BadgeOut):
    issued_at = UtcDateTime(metadata={"description": "when this version was issued"})


class ConsentRecordOut(ConsentOut):
    notice = fields.Nested(
        PrivacyNoticeOut, allow_none=True, metadata={"description": "the text agreed to"}
    )


class EventSummaryOut(Schema):
    slug = fields.String()
    name = fields.String()
    starts_on = fields.Date()
    ends_on = fields.Date()
    personal_data_kept_until = fields.Date(
        allow_none=True, metadata={"description": "erased the day after; null: no period set"}
    )


class PersonalDataOut(Schema):
    """Everything registration keeps about one delegate."""

    exported_at = UtcDateTime()
    event = fields.Nested(EventSummaryOut)
    registration = fields.Nested(RegistrationOut)
    consent = fields.Nested(ConsentRecordOut)
    badge = fields.Nested(
        BadgeRecordOut,
        allow_none=True,
        metadata={"description": "its current version; earlier ones are in `history`"},
    )
    history = fields.List(
        fields.Nested(AuditOut),
        metadata={"description": "every action on the registration, oldest first"},
    )


def export(session: Session, registration: Registration, actor: Actor) -> dict:
    """The delegate's data, for `PersonalDataOut`; the export itself is audited."""
    history = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.registration_id == registration.id)
        .order_by(AuditEntry.id)
    ).all()
    session.add(
        AuditEntry(
            event_id=registration.event_id,
            registration_id=registration.id,
            actor=str(actor),
            action=EXPORTED,
        )
    )
    return {
        "exported_at": utcnow(),
        "event": registration.event,
        "registration": registration,
        "consent": registration.consent,
        "badge": registration.badge,
        "history": history,
    }


def filename(registration: Registration) -> str:
    return f"rollcall-{registration.event.slug}-registration-{registration.id}.json"
