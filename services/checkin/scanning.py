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

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Row, and_, bindparam, select
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


@dataclass(frozen=True, slots=True)
class Place:
    """Where a movement happens: the event (its id None until registration announced it),
    the area, and the gate (None at a desk), as plain values: a live scan reads them in one row
    with its device (access.scanning_device)."""

    event_slug: str
    event_id: int | None
    timezone: str
    area_id: int
    area: AreaRule
    gate_id: int | None = None
    gate_name: str | None = None

    @classmethod
    def of(cls, event: ReplicaEvent | None, area: Area, gate: Gate | None) -> Place:
        return cls(
            area.event_slug, event.id if event else None, event.timezone if event else "UTC",
            area.id, _area_rule(area), gate.id if gate else None, gate.name if gate else None,
        )  # fmt: skip

    def inside(self, area: Area) -> Place:
        """The same gate and event, into another of the event's areas."""
        return replace(self, area_id=area.id, area=_area_rule(area))


def _area_rule(area: Area) -> AreaRule:
    return AreaRule(area.code, area.name, area.everyone)


@dataclass(frozen=True)
class Outcome:
    result: Result
    message: str
    scanned_at: datetime
    gate: str | None
    area: str
    badge: Badge | None = None
    inside_since: datetime | None = None
    inside_gate: str | None = None
    scan_id: int | None = None
    conflict_id: int | None = None


def event_of(session: Session, slug: str) -> ReplicaEvent | None:
    return session.scalar(select(ReplicaEvent).where(ReplicaEvent.slug == slug))


def categories_of(session: Session, event: ReplicaEvent | None) -> dict[str, CategoryRule]:
    """The event's categories by code: what a batch of scans judges every badge against."""
    if event is None:
        return {}
    query = select(ReplicaCategory).where(ReplicaCategory.event_id == event.id)
    return {c.code: _rule(c) for c in session.scalars(query)}


def _rule(category: ReplicaCategory) -> CategoryRule:
    return CategoryRule(category.code, category.label, frozenset(category.areas or ()))


def verify(verifier: BadgeVerifier, token: str) -> BadgeClaim | None:
    try:
        return verifier.verify(token)
    except InvalidBadge:
        return None


def scan(
    session: Session,
    verifier: BadgeVerifier,
    place: Place,
    token: str,
    direction: Direction,
    area_code: str | None = None,
    actor: str | None = None,
) -> Outcome:
    """A live scan at a gate's place, now; `area_code` names another area of the gate's event
    (a device that moves between doors)."""
    if area_code:
        place = place.inside(area_by_code(session, place.event_slug, area_code))
    claim = verify(verifier, token)
    badge, rule = locked_badge_and_rule(session, claim)
    rules = {badge.category: rule} if badge is not None and rule else {}
    return settle_now(
        session, place, claim, badge, direction, Source.GATE, actor=actor, rules=rules
    )


Badge = ReplicaBadge | Row
"""A replica badge: an ORM instance, or a row of BADGE_COLUMNS."""

_b, _c = ReplicaBadge.__table__.c, ReplicaCategory.__table__.c
BADGE_COLUMNS = (
    _b.badge_id, _b.event_id, _b.registration_id, _b.version, _b.status, _b.status_reason,
    _b.display_name, _b.category,
)  # fmt: skip
"""What scans read of a badge: selected as plain rows, not ORM instances, which cost a live
scan four times as much to load, and an offline sync thousands of times."""

# The badge (locked: it orders live scans, syncs and undos of one badge) and its category's
# rule.
_BADGE_AND_RULE = (
    select(*BADGE_COLUMNS, _c.label.label("category_label"), _c.areas.label("category_areas"))
    .select_from(ReplicaBadge.__table__)
    .outerjoin(ReplicaCategory.__table__, and_(_c.event_id == _b.event_id, _c.code == _b.category))
    .where(_b.badge_id == bindparam("badge_id"))
    .with_for_update(of=ReplicaBadge.__table__)
)


def locked_badge_and_rule(
    session: Session, claim: BadgeClaim | None
) -> tuple[Row | None, CategoryRule | None]:
    """The replica's badge the claim names, its row locked for this transaction, and its
    category's rule (None for a category not announced), in one round-trip."""
    if claim is None:
        return None, None
    row = session.execute(_BADGE_AND_RULE, {"badge_id": claim.badge_id}).first()
    if row is None or row.event_id != claim.event_id:
        return None, None  # a claim naming a badge of another event is not that badge
    if row.category_label is None:
        return row, None
    return row, CategoryRule(row.category, row.category_label, frozenset(row.category_areas or ()))


def refuse(
    session: Session,
    place: Place,
    claim: BadgeClaim | None,
    badge: Badge | None,
    direction: Direction,
    *,
    rules: dict[str, CategoryRule] | None = None,
) -> tuple[Result, str | None] | None:
    """Why this badge may not move here (a result and its reason), or None when presence
    alone decides. `rules` (categories_of the place's event) saves a query a scan."""
    if claim is None:
        return Result.INVALID, None
    known = KnownBadge(badge.version, badge.status, badge.status_reason) if badge else None
    rejection = judge(claim, place.event_id, known)
    if rejection is Result.REVOKED:
        return rejection, revoked_reason(claim, known)
    if rejection is not None:
        return rejection, None
    if direction is Direction.IN and badge is not None:
        if rules is not None:
            rule = rules.get(badge.category)
        else:
            category = session.get(ReplicaCategory, (badge.event_id, badge.category))
            rule = _rule(category) if category else None
        reason = refusal(place.area, badge.category, rule)
        if reason:
            return Result.NOT_ALLOWED_HERE, reason
    return None


def settle_now(
    session: Session,
    place: Place,
    claim: BadgeClaim | None,
    badge: Badge | None,
    direction: Direction,
    source: Source,
    *,
    reason: str | None = None,
    actor: str | None = None,
    rules: dict[str, CategoryRule] | None = None,
) -> Outcome:
    """Judge, move (one conditional upsert), log and announce, at this moment."""
    now = utcnow()
    refused = refuse(session, place, claim, badge, direction, rules=rules)
    since = at_gate = None
    if refused is not None:
        result, why = refused
    elif direction is Direction.OUT:
        moved = presence.leave(session, claim.badge_id, place.area_id, now)
        result, why = (Result.EXITED if moved else Result.NOT_INSIDE), None
    elif presence.enter(session, claim.badge_id, claim.event_id, place.area_id, place.gate_id, now):
        result, why = Result.ADMITTED, None
    else:
        state = presence.current(session, claim.badge_id, place.area_id)
        result, why = Result.ALREADY_INSIDE, None
        at_gate = (
            place.gate_name
            if state.last_gate_id == place.gate_id
            else gate_name(session, state.last_gate_id)
        )
        since = state.last_in_at
    text = message(result, gate=at_gate, since=since, timezone=place.timezone, reason=why)
    row = record(
        session, place, badge, claim, direction, result, text, source, now, now,
        reason=reason, actor=actor, inside=(since, at_gate),
    )  # fmt: skip
    return Outcome(
        result, text, now, place.gate_name, place.area.code, badge, since, at_gate, row.id
    )


def record(session: Session, place: Place, badge: Badge | None, *args, **kwargs) -> LogEntry:
    """Append a scan to the log, and announce it (admission, exit or rejection) in the same
    transaction (on PostgreSQL, in the same statement)."""
    row = log_row(place, *args, **kwargs)
    if Result(row.result).passes:
        kind, payload = admission_event(row, badge, place.area.code, place.gate_name)
    else:
        kind, payload = rejection_event(row, place.area.code, place.gate_name)
    row.id = events.add_naming(session, Scan.__table__, _columns(row), kind, payload, "scan_id")
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


def _columns(row: LogEntry) -> dict:
    """The row's values by column, all but its id (the database gives that)."""
    return {name: getattr(row, name) for name in _LOGGED}


def write_log(session: Session, rows: list[LogEntry]) -> None:
    """Append scan-log rows, in order, and give each its id: plain INSERTs."""
    ids = insert_returning_ids(session, Scan.__table__, [_columns(row) for row in rows])
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
        gate_id=place.gate_id,
        area_id=place.area_id,
        event_id=place.event_id,
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
    badge: Badge,
    area_code: str,
    gate: str | None,
    kind: str | None = None,
) -> None:
    """`checkin.admitted` or `checkin.exited` for a logged movement, in the caller's
    transaction."""
    events.add(session, *admission_event(row, badge, area_code, gate, kind))


def admission_event(
    row: Scan | LogEntry,
    badge: Badge,
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


def rejection_event(row: Scan | LogEntry, area_code: str, gate: str | None) -> tuple[str, dict]:
    """`checkin.rejected` for a logged scan that did not pass. Its `event_id` is the scanning
    gate's event (None until registration announced it), so only that event's organisers hear
    of it, whatever event a forged or foreign token names."""
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
