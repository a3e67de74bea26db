"""Erasing a delegate's personal data, on request or once their event's retention period has
passed: the registration keeps only what anonymous counts need (event, category, country,
status, language, dates), its badge becomes void, the audit trail, the outbox's earlier events,
any stored answer and the reports of import jobs forget the person, and `delegate.erased`
tells subscribers to forget them too. All in the caller's transaction; erasing twice changes
nothing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from services.registration import domain, privacy
from services.registration.access import Actor
from services.registration.event_setup import event_info
from services.registration.models import (
    AuditEntry,
    Event,
    IdempotentRequest,
    ImportJob,
    ImportJobChunk,
    Registration,
)
from services.registration.models import outbox as events
from shared.db import utcnow
from shared.events import DELEGATE_ERASED

log = logging.getLogger(__name__)

ERASED_NAME = "Erased"
# What erasure blanks, and what it keeps. Every column is in one or the other (a test checks),
# so a new column cannot hold personal data unnoticed.
BLANKED = ("given_name", "family_name", "email", "email_key", "organisation", "city",
           "dietary", "accessibility", "status_reason", "search_key", "duplicate_key",
           "latin_name", "title", "interpreter", "protocol_notes", "manage_nonce")  # fmt: skip
KEPT = ("id", "event_id", "country", "category", "language", "status", "revision",
        "waitlisted_at", "manage_digest", "consent_basis", "consent_version", "consent_at",
        "erased_at", "created_at", "updated_at", "delegation_id", "arrived_at")  # fmt: skip
# Blanked to None rather than "".
_NULLABLE = {"status_reason", "latin_name", "interpreter", "manage_nonce"}
# In copies of the delegate's earlier snapshots (the outbox), the fields that named them.
SNAPSHOT_PERSONAL = ("given_name", "family_name", "email", "organisation", "city", "title")

BY_REQUEST, BY_RETENTION = "request", "retention"
WITHHELD = "withheld: the delegate's data was erased before this event was sent"
RETENTION = Actor("system", "retention")


def erase(session: Session, registration: Registration, actor: Actor, basis: str) -> bool:
    """Erase one registration's personal data; False when it was erased before."""
    return erase_all(session, [registration], actor, basis) == 1


def erase_all(
    session: Session, registrations: Sequence[Registration], actor: Actor, basis: str
) -> int:
    """Erase registrations (of one event) not erased yet; returns how many were."""
    todo = [r for r in registrations if r.erased_at is None]
    if not todo:
        return 0
    ids = [r.id for r in todo]
    _forget_history(session, ids)
    _forget_earlier_events(session, ids)
    _forget_answers(session, todo[0].event_id, ids)
    _forget_import_rows(session, todo[0].event_id, todo)
    now = utcnow()
    for registration in todo:
        _blank(registration, now)
    session.flush()
    for registration in todo:
        events.add(session, DELEGATE_ERASED, erased_snapshot(registration))
        session.add(
            AuditEntry(
                event_id=registration.event_id,
                registration_id=registration.id,
                actor=str(actor),
                action=DELEGATE_ERASED,
                detail={"basis": basis},
            )
        )
    return len(todo)


def erased_snapshot(registration: Registration) -> dict:
    """The `delegate.erased` payload: the delegate with nothing that names them."""
    badge = registration.badge
    return {
        "event": event_info(registration.event),
        "delegate": {
            "id": registration.id,
            "revision": registration.revision,
            "display_name": registration.display_name,
            "category": registration.category,
            "country": registration.country,
            "status": registration.status,
        },
        "badge": None
        if badge is None
        # The reason names nobody ("Personal data erased."): the gate says why it is void.
        else {
            "id": badge.id,
            "version": badge.version,
            "status": badge.status,
            "reason": badge.status_reason,
        },
    }


def purge_expired(sessions: sessionmaker, now: datetime | None = None, batch: int = 500) -> int:
    """Erase every registration of the events whose retention period has passed, a batch per
    transaction; returns how many were erased. Safe to run in several workers at once."""
    with sessions() as session:
        expired = [
            event.id
            for event in session.scalars(select(Event).where(Event.retention_days.is_not(None)))
            if privacy.past_retention(event.ends_on, event.retention_days, event.timezone, now)
        ]
    total = 0
    for event_id in expired:
        erased = 0
        while True:
            with sessions.begin() as session:
                rows = session.scalars(
                    select(Registration)
                    .where(Registration.event_id == event_id, Registration.erased_at.is_(None))
                    .order_by(Registration.id)
                    .limit(batch)
                    .options(selectinload(Registration.badge))
                    .with_for_update(skip_locked=True)
                ).all()
                if not rows:
                    break
                erased += erase_all(session, rows, RETENTION, BY_RETENTION)
        if erased:
            log.info("retention: erased %d registration(s) of event %s", erased, event_id)
        total += erased
    return total


def _blank(registration: Registration, now: datetime) -> None:
    for name in BLANKED:
        setattr(registration, name, None if name in _NULLABLE else "")
    registration.given_name = ERASED_NAME
    # Holds the one-registration-per-address constraint; no address, nobody's.
    registration.email_key = f"erased:{registration.id}"
    registration.erased_at = now
    registration.revision += 1
    badge = registration.badge
    if badge is not None:
        badge.status, badge.status_reason = "void", "Personal data erased."


def _forget_history(session: Session, ids: list[int]) -> None:
    """Audit entries keep who did what when, but no free text (a reason may name someone)."""
    for entry in session.scalars(select(AuditEntry).where(AuditEntry.registration_id.in_(ids))):
        entry.detail = anonymous(entry.detail)


def anonymous(detail: dict) -> dict:
    """An audit detail with only what cannot name anyone: flags, numbers, and the names of
    the fields that changed."""
    kept = {}
    for key, value in detail.items():
        if value is None or isinstance(value, bool | int | float) or key == "fields":
            kept[key] = value
        else:
            kept[key] = "[erased]"
    return kept


def _forget_earlier_events(session: Session, ids: list[int]) -> None:
    """The outbox keeps every event it published: blank the person in those about them. One
    not sent yet is withheld: `delegate.erased` carries all a subscriber needs (no badge mail
    goes to a person who asked to be forgotten)."""
    t = events.table
    rows = session.execute(
        select(t.c.sequence, t.c.payload, t.c.published_at).where(
            t.c.type != DELEGATE_ERASED, t.c.payload[("delegate", "id")].as_integer().in_(ids)
        )
    ).all()
    for sequence, payload, published_at in rows:
        delegate = {**payload["delegate"], **dict.fromkeys(SNAPSHOT_PERSONAL, "")}
        # Still loadable by its schema; `.invalid` is a domain that never receives mail.
        delegate.update(
            display_name=ERASED_NAME,
            email=f"erased-{delegate['id']}@erased.invalid",
            status_reason=None,
            latin_name=None,
            manage_nonce=None,
        )
        badge = payload.get("badge") and {**payload["badge"], "reason": None}
        detail = anonymous(payload.get("detail") or {})
        values = {"payload": {**payload, "delegate": delegate, "badge": badge, "detail": detail}}
        if published_at is None:
            values.update(published_at=utcnow(), last_error=WITHHELD)
        session.execute(update(t).where(t.c.sequence == sequence).values(**values))


def _forget_answers(session: Session, event_id: int, ids: list[int]) -> None:
    """Answers kept for `Idempotency-Key` retries hold the registration as it was."""
    session.execute(
        delete(IdempotentRequest).where(
            IdempotentRequest.event_id == event_id,
            IdempotentRequest.body["id"].as_integer().in_(ids),
        )
    )


def _forget_import_rows(
    session: Session, event_id: int, registrations: Sequence[Registration]
) -> None:
    """Import reports (kept for days) and the notes of a running job list each row's e-mail
    address: blank the rows that were the person's, by registration or by address (a row
    refused as a duplicate of them names no registration)."""
    ids = {r.id for r in registrations}
    keys = {r.email_key for r in registrations}

    def scrubbed(rows: list[dict]) -> list[dict] | None:
        changed = False
        for row in rows:
            mine = row.get("registration_id") in ids or (
                row.get("email") and domain.email_key(row["email"]) in keys
            )
            if mine:
                row["email"], changed = "", True
        return rows if changed else None

    jobs = session.execute(
        select(ImportJob.id, ImportJob.report).where(ImportJob.event_id == event_id)
    ).all()
    for job_id, report in jobs:
        rows = scrubbed([dict(row) for row in (report or {}).get("rows", [])])
        if rows is not None:
            session.execute(
                update(ImportJob)
                .where(ImportJob.id == job_id)
                .values(report={**report, "rows": rows})
            )
    job_ids = [job_id for job_id, _ in jobs]
    chunks = session.execute(
        select(ImportJobChunk.job_id, ImportJobChunk.number, ImportJobChunk.results).where(
            ImportJobChunk.job_id.in_(job_ids)
        )
    ).all()
    for job_id, number, results in chunks:
        rows = scrubbed([dict(row) for row in results])
        if rows is not None:
            session.execute(
                update(ImportJobChunk)
                .where(ImportJobChunk.job_id == job_id, ImportJobChunk.number == number)
                .values(results=rows)
            )
