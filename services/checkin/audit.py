"""checkin's audit trail: every look-up of personal data, every check-in by hand, every undo
and every resolved conflict, with who did it. Append-only; organisers read it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.checkin.access import Actor
from services.checkin.models import AuditEntry


def record(session: Session, actor: Actor, action: str, **detail) -> None:
    session.add(
        AuditEntry(event_slug=actor.event_slug, actor=actor.name, action=action, detail=detail)
    )


def entries(session: Session, event_slug: str, limit: int, before: int | None = None) -> list:
    """The newest first; `before` pages on from an entry id."""
    query = select(AuditEntry).where(AuditEntry.event_slug == event_slug)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    return list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))
