"""Arrivals over time, for the dashboard's chart: how many badges first entered the event in
each of the last few ten-minute intervals. Anonymous counts only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from services.checkin.areas import areas_of
from services.checkin.models import Presence, ReplicaEvent

INTERVAL = timedelta(minutes=10)
INTERVALS = 18  # three hours


def interval_starts(now: datetime, interval: timedelta = INTERVAL, count: int = INTERVALS):
    """The starts of the last `count` intervals, oldest first; the last one holds `now`."""
    now = now.astimezone(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    current = midnight + interval * ((now - midnight) // interval)
    return [current - interval * i for i in range(count - 1, -1, -1)]


def arrivals(session: Session, event: ReplicaEvent, now: datetime) -> dict:
    """First entries into the event's `everyone` areas (the venue), or into any area when it has
    none, per interval: one query, however many badges."""
    starts = interval_starts(now)
    areas = areas_of(session, event.slug)
    doors = [a.id for a in areas if a.everyone] or [a.id for a in areas]
    bounds = list(zip(starts, [*starts[1:], starts[-1] + INTERVAL], strict=True))
    counts = [0] * len(starts)
    if doors:
        at = Presence.first_in_at
        row = session.execute(
            select(
                *(func.sum(case((and_(at >= lo, at < hi), 1), else_=0)) for lo, hi in bounds)
            ).where(Presence.event_id == event.id, Presence.area_id.in_(doors), at >= starts[0])
        ).one()
        counts = [int(n or 0) for n in row]
    return {
        "interval_minutes": int(INTERVAL.total_seconds() // 60),
        "buckets": [
            {"start": start.isoformat(), "count": n}
            for start, n in zip(starts, counts, strict=True)
        ],
    }
