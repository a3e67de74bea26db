"""checkin's replica of registration: applies registration's events, each exactly once, so
gates keep scanning while registration is down.

Every event carries a whole snapshot (a delegate with its revision, an event with its feed
position), so the same rules take a snapshot from registration's snapshot API (a rebuild,
services/checkin/catch_up.py): an older snapshot never overwrites a newer one, whatever the
order they arrive in."""

from __future__ import annotations

import logging

from sqlalchemy import delete
from sqlalchemy.orm import Session

from services.checkin.models import (
    ConsumedEvent,
    OrganizerGrant,
    ReplicaBadge,
    ReplicaCategory,
    ReplicaEvent,
)
from services.checkin.names import search_text
from shared.events import DELEGATE_EVENTS, EVENT_CREATED, EVENT_UPDATED

log = logging.getLogger(__name__)


def apply(session: Session, envelope: dict, payload: dict) -> bool:
    """Apply one event in the caller's transaction; False when it was applied before."""
    event_id = str(envelope["event_id"])
    if session.get(ConsumedEvent, event_id) is not None:
        return False
    if envelope["type"] in {EVENT_CREATED, EVENT_UPDATED}:
        apply_event(session, payload, envelope["sequence"])
    elif envelope["type"] in DELEGATE_EVENTS:
        apply_delegate(session, payload)
    session.add(
        ConsumedEvent(
            event_id=event_id,
            producer=envelope["producer"],
            sequence=envelope["sequence"],
            type=envelope["type"],
        )
    )
    return True


def apply_event(session: Session, payload: dict, sequence: int) -> bool:
    """Take an event's announcement made at feed position `sequence`; False when the replica
    holds a later one already."""
    info = payload["event"]
    event = session.get(ReplicaEvent, info["id"], with_for_update=True)  # as a badge, below
    if event is not None and (event.announced_sequence or 0) >= sequence:
        log.info("event %s: announcement %s is not newer", info["id"], sequence)
        return False
    event = event or ReplicaEvent(id=info["id"])
    for name in ("slug", "name", "venue", "timezone", "starts_on", "ends_on"):
        setattr(event, name, info[name])
    event.announced_sequence = sequence
    session.add(event)
    session.flush()
    # The payload lists every current token: replace, so a withdrawn one stops working.
    session.execute(delete(OrganizerGrant).where(OrganizerGrant.event_id == event.id))
    session.add_all(
        OrganizerGrant(digest=d, event_id=event.id) for d in payload["organizer_token_digests"]
    )
    # Categories are announced whole too (registration never removes one): take them as they are.
    session.execute(delete(ReplicaCategory).where(ReplicaCategory.event_id == event.id))
    session.add_all(
        ReplicaCategory(
            event_id=event.id,
            code=c["code"],
            label=c["label"],
            areas=list(c["areas"]),
            colour=c["colour"],
            labels=dict(c.get("labels") or {}),
        )
        for c in payload.get("categories", ())
    )
    return True


def apply_delegate(session: Session, payload: dict) -> bool:
    """Take the delegate's snapshot, unless the replica holds a newer revision: the badge a
    gate checks, and whom it greets. False when nothing changed."""
    delegate, info = payload["delegate"], payload["badge"]
    if info is None:  # pending or waitlisted: no badge to check yet
        return False
    # Locked: two workers applying two of its changes at once would otherwise both compare
    # against the same old revision, and the older change, committed last, would win.
    badge = session.get(ReplicaBadge, info["id"], with_for_update=True)
    if badge is not None and badge.revision >= delegate["revision"]:
        log.info("badge %s: revision %s is not newer", info["id"], delegate["revision"])
        return False
    badge = badge or ReplicaBadge(badge_id=info["id"])
    badge.event_id = payload["event"]["id"]
    badge.registration_id = delegate["id"]
    badge.revision = delegate["revision"]
    badge.version = info["version"]
    badge.status = info["status"]
    badge.status_reason = info["reason"]
    badge.display_name = delegate["display_name"]
    badge.search_text = search_text(delegate["display_name"])
    badge.category = delegate["category"]
    badge.country = delegate["country"]
    session.add(badge)
    return True
