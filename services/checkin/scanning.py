"""A scan, from token to answer: verify, judge, settle presence atomically, log it, announce it.

Exactly one admission: presence changes through one conditional upsert
(`INSERT … ON CONFLICT DO UPDATE … WHERE NOT inside RETURNING`), so of two gates scanning one
badge at once, the database lets exactly one flip it to inside; the other reads who did.
The scan row and the `checkin.admitted` event commit in the same transaction, before the
gate sees green.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.checkin.admission import Direction, KnownBadge, Result, judge, message, revoked_reason
from services.checkin.models import Gate, Presence, ReplicaBadge, ReplicaEvent, Scan
from services.checkin.models import outbox as events
from shared.badges import BadgeClaim, BadgeVerifier, InvalidBadge
from shared.db import as_utc, utcnow
from shared.events import CHECKIN_ADMITTED, CHECKIN_EXITED


@dataclass(frozen=True)
class Outcome:
    result: Result
    message: str
    scanned_at: datetime
    gate: str
    badge: ReplicaBadge | None = None
    inside_since: datetime | None = None
    inside_gate: str | None = None


def scan(
    session: Session, verifier: BadgeVerifier, gate: Gate, token: str, direction: Direction
) -> Outcome:
    now = utcnow()
    event = session.scalar(select(ReplicaEvent).where(ReplicaEvent.slug == gate.event_slug))
    try:
        claim = verifier.verify(token)
    except InvalidBadge:
        claim = None
    log = Scan(
        gate_id=gate.id,
        event_id=event.id if event else None,
        badge_id=claim.badge_id if claim else None,
        badge_version=claim.version if claim else None,
        direction=direction.value,
        scanned_at=now,
    )
    outcome = _settle(session, event, gate, claim, direction, now)
    log.result = outcome.result.value
    session.add(log)
    if outcome.result.passes:
        session.flush()  # the scan's id, for the event
        kind = CHECKIN_ADMITTED if outcome.result is Result.ADMITTED else CHECKIN_EXITED
        events.add(
            session,
            kind,
            {
                "event_id": claim.event_id,
                "badge_id": claim.badge_id,
                "scan_id": log.id,
                "gate": gate.name,
                "category": outcome.badge.category,
                "at": now,
            },
        )
    return outcome


def _settle(
    session: Session,
    event: ReplicaEvent | None,
    gate: Gate,
    claim: BadgeClaim | None,
    direction: Direction,
    now: datetime,
) -> Outcome:
    timezone = event.timezone if event else "UTC"

    def answer(result: Result, badge=None, reason=None, since=None, at_gate=None) -> Outcome:
        text = message(result, gate=at_gate, since=since, timezone=timezone, reason=reason)
        return Outcome(result, text, now, gate.name, badge, since, at_gate)

    if claim is None:
        return answer(Result.INVALID)
    badge = session.get(ReplicaBadge, claim.badge_id)
    if badge is not None and badge.event_id != claim.event_id:
        badge = None  # a claim naming a badge of another event is not that badge
    known = KnownBadge(badge.version, badge.status, badge.status_reason) if badge else None
    rejection = judge(claim, event.id if event else None, known)
    if rejection is Result.REVOKED:
        return answer(rejection, badge, reason=revoked_reason(claim, known))
    if rejection is not None:
        return answer(rejection, badge)

    if direction is Direction.OUT:
        return answer(Result.EXITED if _leave(session, claim, now) else Result.NOT_INSIDE, badge)
    if _enter(session, claim, gate.id, now):
        return answer(Result.ADMITTED, badge)
    presence = session.get(Presence, claim.badge_id, populate_existing=True)
    at_gate = session.get(Gate, presence.last_gate_id)
    return answer(
        Result.ALREADY_INSIDE, badge, since=as_utc(presence.last_in_at), at_gate=at_gate.name
    )


def _enter(session: Session, claim: BadgeClaim, gate_id: int, now: datetime) -> bool:
    """Flip the badge to inside unless it already is; True when this scan did it."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    p = Presence.__table__
    statement = (
        dialect.insert(p)
        .values(
            badge_id=claim.badge_id,
            event_id=claim.event_id,
            inside=True,
            first_in_at=now,
            first_gate_id=gate_id,
            last_in_at=now,
            last_gate_id=gate_id,
        )
        .on_conflict_do_update(
            index_elements=[p.c.badge_id],
            set_={"inside": True, "last_in_at": now, "last_gate_id": gate_id},
            where=p.c.inside.is_(False),
        )
        .returning(p.c.badge_id)
    )
    return session.execute(statement).first() is not None


def _leave(session: Session, claim: BadgeClaim, now: datetime) -> bool:
    statement = (
        update(Presence)
        .where(Presence.badge_id == claim.badge_id, Presence.inside.is_(True))
        .values(inside=False, last_out_at=now)
        .returning(Presence.badge_id)
    )
    return session.execute(statement).first() is not None
