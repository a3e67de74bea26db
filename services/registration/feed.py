"""What another service needs to keep a replica of registration, read from the source: the
change feed (the outbox, in sequence order: every event, as it was published) and a snapshot
(each event's latest announcement, and every delegate as they now are, as the same payloads
the events carry). checkin rebuilds its badge replica from the snapshot and catches up with
the feed (services/checkin/catch_up.py). Plain functions over a session; no Flask."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from services.registration.changes import snapshot
from services.registration.erasure import erased_snapshot
from services.registration.models import Registration
from services.registration.models import outbox as events
from shared.badges import BadgeSigner
from shared.events import (
    DELEGATE_ERASED,
    DELEGATE_UPDATED,
    EVENT_CREATED,
    EVENT_UPDATED,
    payload_schema,
)

MAX_PAGE = 1000


def head(session: Session) -> int:
    """The newest sequence in the feed (0 when it is empty)."""
    return session.scalar(select(func.max(events.table.c.sequence))) or 0


def feed_page(session: Session, after: int, limit: int) -> dict:
    """The envelopes after sequence `after`, oldest first; `next_after` is where the next page
    starts. The payloads are as published (an erased delegate's are blanked there too)."""
    t = events.table
    newest = head(session)
    rows = session.execute(
        select(t).where(t.c.sequence > after).order_by(t.c.sequence).limit(limit)
    ).all()
    return {
        "events": [events.envelope(row) for row in rows],
        "next_after": rows[-1].sequence if rows else after,
        "head": newest,
    }


def event_announcements(session: Session, slug: str | None = None) -> dict:
    """Each event's latest `event.created`/`event.updated` announcement, with its sequence,
    and the feed's head when the snapshot began: a replica that takes this snapshot and every
    delegate's after it has seen everything up to `head`."""
    t = events.table
    newest = head(session)
    rows = session.execute(
        select(t.c.sequence, t.c.type, t.c.payload)
        .where(t.c.type.in_((EVENT_CREATED, EVENT_UPDATED)))
        .order_by(t.c.sequence)
    ).all()
    latest: dict[int, dict] = {}
    for row in rows:  # a few per event: the last one is what the event now is
        if slug is None or row.payload["event"]["slug"] == slug:
            latest[row.payload["event"]["id"]] = {
                "sequence": row.sequence,
                "type": row.type,
                "payload": row.payload,
            }
    return {"head": newest, "events": sorted(latest.values(), key=lambda a: a["sequence"])}


def delegate_snapshots(
    session: Session, signer: BadgeSigner, event_id: int, after: int, limit: int
) -> dict:
    """A page of the event's delegates (by id, after `after`) as they now are: the payload of
    `delegate.updated`, or of `delegate.erased` for an erased one. `next_after` is None on the
    last page."""
    registrations = session.scalars(
        select(Registration)
        .where(Registration.event_id == event_id, Registration.id > after)
        .order_by(Registration.id)
        .limit(limit)
        .options(
            selectinload(Registration.badge),
            selectinload(Registration.delegation),
            selectinload(Registration.event),
        )
    ).all()
    return {
        "delegates": [_snapshot(r, signer) for r in registrations],
        "next_after": registrations[-1].id if len(registrations) == limit else None,
    }


def _snapshot(registration: Registration, signer: BadgeSigner) -> dict:
    if registration.erased_at is not None:
        kind, payload = DELEGATE_ERASED, erased_snapshot(registration)
    else:
        kind, payload = DELEGATE_UPDATED, {**snapshot(registration, signer), "detail": {}}
    return {"type": kind, "payload": payload_schema(kind).dump(payload)}
