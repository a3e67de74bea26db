"""The live headcount, derived from presence and the replica: registered, arrived, inside now,
in total (distinct badges, in any area), by area (with its capacity and alarm level), by gate,
by category and by country."""

from __future__ import annotations

from sqlalchemy import case, distinct, func, select
from sqlalchemy.orm import Session

from services.checkin.areas import areas_of
from services.checkin.models import Gate, Presence, ReplicaBadge, ReplicaEvent
from shared.db import utcnow

WARNING, ALARM = 0.9, 1.0


def level(inside: int, capacity: int | None) -> str:
    """ok, warning (at 90 % of the capacity) or alarm (at 100 %); ok without a capacity."""
    if not capacity:
        return "ok"
    share = inside / capacity
    return "alarm" if share >= ALARM else "warning" if share >= WARNING else "ok"


def headcount(session: Session, event: ReplicaEvent) -> dict:
    by_category = _distinct_counts(session, event, ReplicaBadge.category)
    by_country = _distinct_counts(session, event, ReplicaBadge.country)
    total = _distinct_counts(session, event, None)[None]
    return {
        "event": event.slug,
        "as_of": utcnow(),
        **total,
        "by_area": _by_area(session, event),
        "by_gate": _by_gate(session, event),
        "by_category": by_category,
        "by_country": by_country,
    }


def _distinct_counts(session: Session, event: ReplicaEvent, column) -> dict:
    """key → registered (active badges), arrived (in any area, ever), inside (any area, now);
    the key is None when `column` is."""
    keys = [column] if column is not None else []
    counts: dict = {}
    for *key, registered in session.execute(
        select(*keys, func.count())
        .where(ReplicaBadge.event_id == event.id, ReplicaBadge.status == "active")
        .group_by(*keys)
    ):
        counts[key[0] if key else None] = {"registered": registered, "arrived": 0, "inside": 0}
    inside = case((Presence.inside.is_(True), Presence.badge_id), else_=None)
    for *key, arrived, now_inside in session.execute(
        select(*keys, func.count(distinct(Presence.badge_id)), func.count(distinct(inside)))
        .join(ReplicaBadge, ReplicaBadge.badge_id == Presence.badge_id)
        .where(Presence.event_id == event.id)
        .group_by(*keys)
    ):
        row = counts.setdefault(
            key[0] if key else None, {"registered": 0, "arrived": 0, "inside": 0}
        )
        row.update(arrived=arrived, inside=now_inside)
    if column is None:
        counts.setdefault(None, {"registered": 0, "arrived": 0, "inside": 0})
    return counts


def _by_area(session: Session, event: ReplicaEvent) -> dict:
    areas = areas_of(session, event.slug)
    result = {
        a.code: {
            "name": a.name,
            "everyone": a.everyone,
            "capacity": a.capacity,
            "arrived": 0,
            "inside": 0,
            "left": 0,
            "occupancy": None,
            "level": "ok",
            "by_category": {},
        }
        for a in areas
    }
    codes = {a.id: a.code for a in areas}
    inside = func.sum(case((Presence.inside.is_(True), 1), else_=0))
    for area_id, category, arrived, now_inside in session.execute(
        select(Presence.area_id, ReplicaBadge.category, func.count(), inside)
        .join(ReplicaBadge, ReplicaBadge.badge_id == Presence.badge_id)
        .where(Presence.event_id == event.id)
        .group_by(Presence.area_id, ReplicaBadge.category)
    ):
        if area_id not in codes:
            continue
        row = result[codes[area_id]]
        now_inside = int(now_inside or 0)
        row["by_category"][category] = {"arrived": arrived, "inside": now_inside}
        row["arrived"] += arrived
        row["inside"] += now_inside
    for area in areas:
        row = result[area.code]
        row["left"] = row["arrived"] - row["inside"]
        if area.capacity:
            row["occupancy"] = round(row["inside"] / area.capacity, 3)
        row["level"] = level(row["inside"], area.capacity)
    return result


def _by_gate(session: Session, event: ReplicaEvent) -> dict:
    gates = session.scalars(select(Gate).where(Gate.event_slug == event.slug).order_by(Gate.id))
    by_gate = {g.name: {"area": g.area.code, "arrived": 0, "inside": 0} for g in gates}
    for name, arrived in session.execute(
        select(Gate.name, func.count())
        .join(Presence, Presence.first_gate_id == Gate.id)
        .where(Presence.event_id == event.id)
        .group_by(Gate.name)
    ):
        by_gate[name]["arrived"] = arrived
    for name, now_inside in session.execute(
        select(Gate.name, func.count())
        .join(Presence, Presence.last_gate_id == Gate.id)
        .where(Presence.event_id == event.id, Presence.inside.is_(True))
        .group_by(Gate.name)
    ):
        by_gate[name]["inside"] = now_inside
    return by_gate
