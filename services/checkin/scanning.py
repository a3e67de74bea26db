"""A scan, from token to answer: verify, judge at the gate's area, settle presence atomically,
log it, announce it.

Exactly one admission: presence changes through one conditional upsert per (badge, area)
(presence.enter), so of two gates scanning one badge at once, the database lets exactly one
flip it to inside; the other reads who did. Every scan of a badge also locks its replica row
(PostgreSQL), which orders live scans, offline syncs and undos of one badge. The scan row and
the `checkin.admitted` event commit in the same transaction, before the gate sees green; a scan
that does not pass commits with its `checkin.rejected` event the same way (one outbox row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from services.checkin import presence
from services.checkin.admission import (
    AreaRule,
    CategoryRule,
    Direction,
    KnownBadge,
    Result,
    Source,
    judge,
    message,
    refusal,
    revoked_reason,
)
from services.checkin.areas import area_by_code
from services.checkin.models import Area, Gate, ReplicaBadge, ReplicaCategory, ReplicaEvent, Scan
from services.checkin.models import outbox as events
from shared.badges import BadgeClaim, BadgeVerifier, InvalidBadge
from shared.db import as_utc, insert_returning_ids, utcnow
from shared.events import CHECKIN_ADMITTED, CHECKIN_EXITED, CHECKIN_REJECTED


@dataclass(frozen=True)
class Place:
    """Where a movement happens: the event, the area, and the gate (None at a desk)."""

    event: ReplicaEvent | None
    area: Area
    gate: Gate | None

    @property
    def timezone(self) -> str:
        return self.event.timezone if self.event else "UTC"

    @property
    def gate_name(self) -> str | None:
        return self.gate.name if self.gate else None


@dataclass(frozen=True)
class Outcome:
    result: Result
    message: str
    scanned_at: datetime
    gate: str | None
    area: str
    badge: ReplicaBadge | None = None
    inside_since: datetime | None = None
    inside_gate: str | None = None
    scan_id: int | None = None
    conflict_id: int | None = None


def place_of(session: Session, gate: Gate, area_code: str | None = None) -> Place:
    """The gate's place; `area_code` names another area of the same event (a device that
    moves between doors), else the gate's own."""
    area = area_by_code(session, gate.event_slug, area_code) if area_code else gate.area
    return Place(event_of(session, gate.event_slug), area, gate)


def event_of(session: Session, slug: str) -> ReplicaEvent | None:
    return session.scalar(select(ReplicaEvent).where(ReplicaEvent.slug == slug))


def categories_of(session: Session, event: ReplicaEvent | None) -> dict[str, ReplicaCategory]:
    """The event's categories by code: what a batch of scans judges every badge against."""
    if event is None:
        return {}
    query = select(ReplicaCategory).where(ReplicaCategory.event_id == event.id)
    return {c.code: c for c in session.scalars(query)}


def verify(verifier: BadgeVerifier, token: str) -> BadgeClaim | None:
    try:
        return verifier.verify(token)
    except InvalidBadge:
        return None


_UNREAD: object = object()


def scan(
    session: Session,
    verifier: BadgeVerifier,
    gate: Gate,
    token: str,
    direction: Direction,
    area_code: str | None = None,
    actor: str | None = None,
    *,
    event: ReplicaEvent | None | object = _UNREAD,
) -> Outcome:
    """A live scan at a gate, now. `event` is the gate's event when the caller read it
    already (access.device_at_event): a round-trip less on the busiest path."""
    if event is _UNREAD:
        event = event_of(session, gate.event_slug)
    area = area_by_code(session, gate.event_slug, area_code) if area_code else gate.area
    place = Place(event, area, gate)
    claim = verify(verifier, token)
    badge, category = locked_badge_and_category(session, claim)
    categories = {badge.category: category} if badge is not None and category else {}
    return settle_now(
        session, place, claim, badge, direction, Source.GATE, actor=actor, categories=categories
    )


def locked_badge(session: Session, claim: BadgeClaim | None) -> ReplicaBadge | None:
    """The replica's badge the claim names, its row locked for this transaction."""
    return locked_badge_and_category(session, claim)[0]


# The badge (locked: it orders live scans, syncs and undos of one badge) and its category.
_BADGE_AND_CATEGORY = (
    select(ReplicaBadge, ReplicaCategory)
    .outerjoin(
        ReplicaCategory,
        and_(
            ReplicaCategory.event_id == ReplicaBadge.event_id,
            ReplicaCategory.code == ReplicaBadge.category,
        ),
    )
    .where(ReplicaBadge.badge_id == bindparam("badge_id"))
    .with_for_update(of=ReplicaBadge)
    .execution_options(populate_existing=True)
)


def locked_badge_and_category(
    session: Session, claim: BadgeClaim | None
) -> tuple[ReplicaBadge | None, ReplicaCategory | None]:
    """`locked_badge` and the badge's category, in one round-trip."""
    if claim is None:
        return None, None
    row = session.execute(_BADGE_AND_CATEGORY, {"badge_id": claim.badge_id}).first()
    if row is None or row.ReplicaBadge.event_id != claim.event_id:
        return None, None  # a claim naming a badge of another event is not that badge
    return row.ReplicaBadge, row.ReplicaCategory


def refuse(
    session: Session,
    place: Place,
    claim: BadgeClaim | None,
    badge: ReplicaBadge | None,
    direction: Direction,
    *,
    categories: dict[str, ReplicaCategory] | None = None,
) -> tuple[Result, str | None] | None:
    """Why this badge may not move here (a result and its reason), or None when presence
    alone decides. `categories` (categories_of the place's event) saves a query a scan."""
    if claim is None:
        return Result.INVALID, None
    known = KnownBadge(badge.version, badge.status, badge.status_reason) if badge else None
    rejection = judge(claim, place.event.id if place.event else None, known)
    if rejection is Result.REVOKED:
        return rejection, revoked_reason(claim, known)
    if rejection is not None:
        return rejection, None
    if direction is Direction.IN and badge is not None:
        category = (
            categories.get(badge.category)
            if categories is not None
            else session.get(ReplicaCategory, (badge.event_id, badge.category))
        )
        rule = (
            CategoryRule(category.code, category.label, frozenset(category.areas or ()))
            if category
            else None
        )
        area = AreaRule(place.area.code, place.area.name, place.area.everyone)
        reason = refusal(area, badge.category, rule)
        if reason:
            return Result.NOT_ALLOWED_HERE, reason
    return None


def settle_now(
    session: Session,
    place: Place,
    claim: BadgeClaim | None,
    badge: ReplicaBadge | None,
    direction: Direction,
    source: Source,
    *,
    reason: str | None = None,
    actor: str | None = None,
    categories: dict[str, ReplicaCategory] | None = None,
) -> Outcome:
    """Judge, move (one conditional upsert), log and announce, at this moment."""
    now = utcnow()
    refused = refuse(session, place, claim, badge, direction, categories=categories)
    since = at_gate = None
    if refused is not None:
        result, why = refused
    elif direction is Direction.OUT:
        moved = presence.leave(session, claim.badge_id, place.area.id, now)
        result, why = (Result.EXITED if moved else Result.NOT_INSIDE), None
    elif presence.enter(
        session, claim.badge_id, claim.event_id, place.area.id, _gate_id(place), now
    ):
        result, why = Result.ADMITTED, None
    else:
        state = presence.current(session, claim.badge_id, place.area.id)
        result, why = Result.ALREADY_INSIDE, None
        since, at_gate = state.last_in_at, gate_name(session, state.last_gate_id)
    text = message(result, gate=at_gate, since=since, timezone=place.timezone, reason=why)
    row = record(
        session, place, badge, claim, direction, result, text, source, now, now,
        reason=reason, actor=actor, inside=(since, at_gate),
    )  # fmt: skip
    return Outcome(
        result, text, now, place.gate_name, place.area.code, badge, since, at_gate, row.id
    )


def record(session: Session, place: Place, badge: ReplicaBadge | None, *args, **kwargs) -> LogEntry:
    """Append a scan to the log, and announce it (admission, exit or rejection) in the same
    transaction."""
    row = log_row(place, *args, **kwargs)
    write_log(session, [row])  # the scan's id, for the event
    if Result(row.result).passes:
        announce(session, row, badge, place.area.code, place.gate_name)
    else:
        announce_rejection(session, row, place.area.code, place.gate_name)
    return row


@dataclass(slots=True)
class LogEntry:
    """A scan-log row on its way in: a `Scan`'s columns as a plain object (an offline sync
    makes thousands, and an ORM instance costs several times more to make and to read), given
    its id by `write_log`. Read back from the log, a row is a `Scan`; both read alike."""

    gate_id: int | None
    area_id: int | None
    event_id: int | None
    badge_id: int | None
    badge_version: int | None
    direction: str
    result: str
    source: str
    scanned_at: datetime
    occurred_at: datetime
    client_id: str | None
    message: str | None
    inside_since: datetime | None
    inside_gate: str | None
    reason: str | None
    actor: str | None
    undoes_scan_id: int | None = None
    id: int | None = None


_LOGGED = [name for name in LogEntry.__slots__ if name != "id"]


def write_log(session: Session, rows: list[LogEntry]) -> None:
    """Append scan-log rows, in order, and give each its id: plain INSERTs."""
    logged = [{name: getattr(row, name) for name in _LOGGED} for row in rows]
    ids = insert_returning_ids(session, Scan.__table__, logged)
    for row, scan_id in zip(rows, ids, strict=True):
        row.id = scan_id


def log_row(
    place: Place,
    claim: BadgeClaim | None,
    direction: Direction,
    result: Result,
    text: str,
    source: Source,
    scanned_at: datetime,
    occurred_at: datetime,
    *,
    client_id: str | None = None,
    reason: str | None = None,
    actor: str | None = None,
    inside: tuple[datetime | None, str | None] = (None, None),
) -> LogEntry:
    """A scan-log row, not yet written."""
    return LogEntry(
        gate_id=_gate_id(place),
        area_id=place.area.id,
        event_id=place.event.id if place.event else None,
        badge_id=claim.badge_id if claim else None,
        badge_version=claim.version if claim else None,
        direction=direction.value,
        result=result.value,
        source=source.value,
        scanned_at=scanned_at,
        occurred_at=occurred_at,
        client_id=client_id,
        message=text[:500],
        inside_since=inside[0],
        inside_gate=inside[1],
        reason=reason,
        actor=actor,
    )


def announce(
    session: Session,
    row: Scan | LogEntry,
    badge: ReplicaBadge,
    area_code: str,
    gate: str | None,
    kind: str | None = None,
) -> None:
    """`checkin.admitted` or `checkin.exited` for a logged movement, in the caller's
    transaction."""
    events.add(session, *admission_event(row, badge, area_code, gate, kind))


def admission_event(
    row: Scan | LogEntry,
    badge: ReplicaBadge,
    area_code: str,
    gate: str | None,
    kind: str | None = None,
) -> tuple[str, dict]:
    """The type and payload `announce` writes (offline sync writes a batch of them at once)."""
    kind = kind or (CHECKIN_EXITED if row.direction == Direction.OUT.value else CHECKIN_ADMITTED)
    return (
        kind,
        {
            "event_id": badge.event_id,
            "badge_id": badge.badge_id,
            "registration_id": badge.registration_id,
            "scan_id": row.id,
            "gate": gate,
            "area": area_code,
            "category": badge.category,
            "source": row.source,
            "at": as_utc(row.occurred_at),
        },
    )


def announce_rejection(
    session: Session, row: Scan | LogEntry, area_code: str, gate: str | None
) -> None:
    """`checkin.rejected` for a logged scan that did not pass, in the caller's transaction.
    Its `event_id` is the scanning gate's event (None until registration announced it), so
    only that event's organisers hear of it, whatever event a forged or foreign token names."""
    events.add(session, *rejection_event(row, area_code, gate))


def rejection_event(row: Scan | LogEntry, area_code: str, gate: str | None) -> tuple[str, dict]:
    """The type and payload `announce_rejection` writes."""
    return (
        CHECKIN_REJECTED,
        {
            "event_id": row.event_id,
            "badge_id": row.badge_id,
            "scan_id": row.id,
            "gate": gate,
            "area": area_code,
            "result": row.result,
            "source": row.source,
            "at": as_utc(row.occurred_at),
        },
    )


def gate_name(session: Session, gate_id: int | None) -> str | None:
    gate = session.get(Gate, gate_id) if gate_id else None
    return gate.name if gate else None


def _gate_id(place: Place) -> int | None:
    return place.gate.id if place.gate else None
