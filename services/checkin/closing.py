"""The day's close: whoever is still inside an area when the event's local day has ended is
checked out automatically (logged as exits with the reason "day closed"), so the next day
starts at zero and the history stays whole."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from services.checkin import scanning
from services.checkin.admission import Direction, Result, Source
from services.checkin.models import Area, Presence, ReplicaBadge, ReplicaEvent, Scan
from shared.db import utcnow

REASON = "day closed"
ACTOR = "system:day-close"
CHUNK = 500


def day_start(now: datetime, timezone: str) -> datetime:
    """The start of the event's local day that `now` falls in."""
    local = now.astimezone(ZoneInfo(timezone))
    return datetime.combine(local.date(), time(0), tzinfo=local.tzinfo)


def close_day(sessions: sessionmaker, now: datetime | None = None) -> dict[str, int]:
    """Check out everyone who entered before today (local) and is still inside, in every
    event; returns how many were checked out per event slug."""
    now = now or utcnow()
    with sessions() as session:
        events = [(e.id, e.slug, e.timezone) for e in session.scalars(select(ReplicaEvent))]
    closed = {}
    for event_id, slug, timezone in events:
        closed[slug] = close_event_day(sessions, event_id, day_start(now, timezone), now)
    return closed


def close_event_day(
    sessions: sessionmaker, event_id: int, before: datetime, now: datetime | None = None
) -> int:
    """Check out everyone of one event inside since before `before`; one transaction per
    chunk. Pass `before=now` to close everything (an organiser ending the day early)."""
    now = now or utcnow()
    before = before.astimezone(UTC)  # SQLite compares the UTC text stored
    total = 0
    while True:
        with sessions.begin() as session:
            done = _close_chunk(session, event_id, before, now)
        total += done
        if done < CHUNK:
            return total


def _close_chunk(session: Session, event_id: int, before: datetime, now: datetime) -> int:
    stale = (
        Presence.event_id == event_id,
        Presence.inside.is_(True),
        Presence.last_in_at < before,
    )
    badge_ids = sorted(
        set(
            session.scalars(
                select(Presence.badge_id).where(*stale).order_by(Presence.badge_id).limit(CHUNK)
            )
        )
    )
    if not badge_ids:
        return 0
    # The badges' locks first, in id order, as scans and syncs take them.
    badges = {
        b.badge_id: b
        for b in session.scalars(
            select(ReplicaBadge)
            .where(ReplicaBadge.badge_id.in_(badge_ids))
            .order_by(ReplicaBadge.badge_id)
            .with_for_update()
        )
    }
    left = session.execute(
        update(Presence)
        .where(*stale, Presence.badge_id.in_(badge_ids))
        .values(inside=False, last_out_at=now)
        .returning(Presence.badge_id, Presence.area_id)
    ).all()
    areas = {
        a.id: a for a in session.scalars(select(Area).where(Area.id.in_({r[1] for r in left})))
    }
    rows = []
    for badge_id, area_id in sorted((r[0], r[1]) for r in left):
        row = Scan(
            gate_id=None,
            area_id=area_id,
            event_id=event_id,
            badge_id=badge_id,
            badge_version=badges[badge_id].version if badge_id in badges else None,
            direction=Direction.OUT.value,
            result=Result.EXITED.value,
            source=Source.DAY_CLOSE.value,
            scanned_at=now,
            occurred_at=now,
            message="Checked out at the day's close.",
            reason=REASON,
            actor=ACTOR,
        )
        rows.append(row)
    session.add_all(rows)
    session.flush()
    for row in rows:
        if row.badge_id in badges:
            scanning.announce(session, row, badges[row.badge_id], areas[row.area_id].code, None)
    return len(badge_ids)
