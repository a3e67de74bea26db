"""Arrivals, as checkin reports them: the first admission of a delegate's badge, at any gate,
marks them arrived (organisers see which delegations have come)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from services.registration.models import Badge, Registration
from shared.db import as_utc


def record(session: Session, admissions: Iterable[tuple[int, datetime]]) -> int:
    """Mark each admitted badge's delegate arrived at its earliest admission (badge id, at),
    unless they arrived earlier; returns how many delegates this changed. Idempotent, and
    order-proof: the earliest admission wins.

    One query reads the badges' delegates, one statement (executed for many) moves the ones
    that change: most admissions are re-entries of delegates long arrived, and write nothing."""
    earliest: dict[int, datetime] = {}
    for badge_id, at in admissions:
        earliest[badge_id] = min(at, earliest.get(badge_id, at))
    if not earliest:
        return 0
    known = session.execute(
        select(Badge.id, Badge.registration_id, Registration.arrived_at)
        .join(Registration, Registration.id == Badge.registration_id)
        .where(Badge.id.in_(earliest))
        .order_by(Badge.registration_id)  # rows in one order: concurrent batches cannot deadlock
    ).all()
    changes = [
        {"registration": registration_id, "at": earliest[badge_id]}
        for badge_id, registration_id, arrived_at in known
        if arrived_at is None or as_utc(arrived_at) > earliest[badge_id]
    ]
    if changes:
        r = Registration.__table__.c
        # Guarded again: a concurrent worker may have recorded an earlier admission meanwhile.
        session.execute(
            update(Registration.__table__)
            .where(
                r.id == bindparam("registration"),
                or_(r.arrived_at.is_(None), r.arrived_at > bindparam("at")),
            )
            .values(arrived_at=bindparam("at")),
            changes,
        )
    return len(changes)
