"""Checks that read the system's own records rather than trust its answers: checkin's
append-only scan log must never admit a badge into an area it is already inside (two replicas
racing on one badge included)."""

from __future__ import annotations

from sqlalchemy import select

from services.checkin.models import ReplicaEvent, Scan
from shared import db


def double_admissions(checkin_database_url: str, slug: str) -> list[str]:
    """Badges the scan log admits twice into one area without an exit between."""
    engine = db.make_engine(checkin_database_url)
    try:
        with engine.connect() as connection:
            event_id = connection.scalar(select(ReplicaEvent.id).where(ReplicaEvent.slug == slug))
            rows = connection.execute(
                select(Scan.badge_id, Scan.area_id, Scan.result, Scan.id)
                .where(Scan.event_id == event_id, Scan.result.in_(("admitted", "exited")))
                .order_by(Scan.badge_id, Scan.area_id, Scan.occurred_at, Scan.id)
            )
            problems, inside = [], set()
            for badge, area, result, scan_id in rows:
                key = (badge, area)
                if result == "admitted" and key in inside:
                    problems.append(f"badge {badge} admitted again (scan {scan_id}) while inside")
                inside.add(key) if result == "admitted" else inside.discard(key)
            return problems
    finally:
        engine.dispose()
