"""Arrivals, as checkin reports them: the first admission of a delegate's badge, at any gate,
marks them arrived (organisers see which delegations have come)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.registration.models import Badge, Registration


def record(session: Session, badge_id: int, at: datetime) -> bool:
    """Mark the badge's delegate arrived at `at` unless they arrived earlier; True when this
    changed something. Idempotent, and order-proof: the earliest admission wins."""
    registration_id = session.scalar(select(Badge.registration_id).where(Badge.id == badge_id))
    if registration_id is None:
        return False
    changed = session.execute(
        update(Registration)
        .where(
            Registration.id == registration_id,
            (Registration.arrived_at.is_(None)) | (Registration.arrived_at > at),
        )
        .values(arrived_at=at)
    )
    return changed.rowcount == 1
