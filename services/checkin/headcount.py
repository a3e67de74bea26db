"""The live headcount, derived from presence and the replica: registered, arrived, inside now,
in total, by gate and by category."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from services.checkin.models import Gate, Presence, ReplicaBadge, ReplicaEvent


def headcount(session: Session, event: ReplicaEvent) -> dict:
    inside = func.sum(case((Presence.inside.is_(True), 1), else_=0))
    registered = dict(
        session.execute(
            select(ReplicaBadge.category, func.count())
            .where(ReplicaBadge.event_id == event.id, ReplicaBadge.status == "active")
            .group_by(ReplicaBadge.category)
        ).all()
    )
    by_category = {
        category: {"registered": count, "arrived": 0, "inside": 0}
        for category, count in registered.items()
    }
    for category, arrived, now_inside in session.execute(
        select(ReplicaBadge.category, func.count(), inside)
        .join(ReplicaBadge, ReplicaBadge.badge_id == Presence.badge_id)
        .where(Presence.event_id == event.id)
        .group_by(ReplicaBadge.category)
    ):
        row = by_category.setdefault(category, {"registered": 0, "arrived": 0, "inside": 0})
        row.update(arrived=arrived, inside=int(now_inside or 0))

    gates = session.execute(select(Gate.id, Gate.name).where(Gate.event_slug == event.slug))
    by_gate = {name: {"arrived": 0, "inside": 0} for _, name in gates}
    for name, arrived in session.execute(
        select(Gate.name, func.count())
        .join(Presence, Presence.first_gate_id == Gate.id)
        .where(Presence.event_id == event.id)
        .group_by(Gate.name)
    ):
        by_gate.setdefault(name, {"arrived": 0, "inside": 0})["arrived"] = arrived
    for name, now_inside in session.execute(
        select(Gate.name, func.count())
        .join(Presence, Presence.last_gate_id == Gate.id)
        .where(Presence.event_id == event.id, Presence.inside.is_(True))
        .group_by(Gate.name)
    ):
        by_gate.setdefault(name, {"arrived": 0, "inside": 0})["inside"] = now_inside

    return {
        "event": event.slug,
        "registered": sum(r["registered"] for r in by_category.values()),
        "arrived": sum(r["arrived"] for r in by_category.values()),
        "inside": sum(r["inside"] for r in by_category.values()),
        "by_gate": by_gate,
        "by_category": by_category,
    }
