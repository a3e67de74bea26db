"""The latest VIP arrivals of the day, for the dashboard: who of a flagged category
(VIP_CATEGORIES, as notify's alerts use) entered the venue, where and when, newest first.

Read from checkin's own scan log and replica, with no call to another service. As notify's
alert does, only the day's first admission at the venue counts (a re-entry after lunch or a hall
door is not an arrival), the day being the event's local day; an admission taken back at the
desk (undo) does not count. One line per registration, so a badge reissued during the day does
not show its holder twice.

Names go to the organiser's dashboard on purpose: the protocol office watching the projector
wants to see which mayor has arrived. The page can hide them (a "hide names" switch kept for the
browser tab), for a projector in a room where names should not be shown."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, aliased

from services.checkin.areas import VENUE, areas_of
from services.checkin.models import Gate, ReplicaBadge, ReplicaCategory, ReplicaEvent, Scan
from shared.db import as_utc

LATEST = 6  # two rows of three on a laptop, three of two on a projector
LANGUAGES = ("en", "zh")


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def category_labels(category: ReplicaCategory | None, code: str) -> dict[str, str]:
    """The category's label in each page language: its `labels` translation when the replica
    carries one, else its (English) label, else the code made readable."""
    fallback = category.label if category is not None else code.replace("-", " ").title()
    translated = (getattr(category, "labels", None) or {}) if category is not None else {}
    return {lang: translated.get(lang) or fallback for lang in LANGUAGES}


def latest_vips(
    session: Session,
    event: ReplicaEvent,
    categories: Iterable[str],
    now: datetime,
    limit: int = LATEST,
) -> dict:
    """The `limit` latest first admissions today at the venue of badges in `categories`."""
    categories = list(categories)
    local = zone(event.timezone)
    midnight = datetime.combine(now.astimezone(local).date(), time(), local).astimezone(UTC)
    doors = [a.id for a in areas_of(session, event.slug) if a.everyone or a.code == VENUE]
    arrivals: list[dict] = []
    if categories and doors:
        undo = aliased(Scan)
        admitted = (
            Scan.event_id == event.id,
            Scan.result == "admitted",
            Scan.direction == "in",
            Scan.area_id.in_(doors),
            Scan.occurred_at >= midnight,
            ReplicaBadge.category.in_(categories),
            ~exists().where(undo.undoes_scan_id == Scan.id),
        )
        first = (
            select(ReplicaBadge.registration_id, func.min(Scan.occurred_at).label("at"))
            .join(ReplicaBadge, ReplicaBadge.badge_id == Scan.badge_id)
            .where(*admitted)
            .group_by(ReplicaBadge.registration_id)
            .order_by(func.min(Scan.occurred_at).desc())
            .limit(limit)
            .subquery()
        )
        rows = session.execute(
            select(Scan, ReplicaBadge, Gate.name)
            .join(ReplicaBadge, ReplicaBadge.badge_id == Scan.badge_id)
            .join(
                first,
                (first.c.registration_id == ReplicaBadge.registration_id)
                & (first.c.at == Scan.occurred_at),
            )
            .outerjoin(Gate, Gate.id == Scan.gate_id)
            .where(*admitted)
            .order_by(Scan.occurred_at.desc(), Scan.id)
        ).all()
        labels = {
            c.code: c
            for c in session.scalars(
                select(ReplicaCategory).where(ReplicaCategory.event_id == event.id)
            )
        }
        names = {a.id: a.name for a in areas_of(session, event.slug)}
        seen: set[int] = set()
        for scan, badge, gate in rows:
            if badge.registration_id in seen:  # two admissions in the same instant
                continue
            seen.add(badge.registration_id)
            at = as_utc(scan.occurred_at)
            arrivals.append(
                {
                    "badge_id": badge.badge_id,
                    "name": badge.display_name,
                    "category": badge.category,
                    "category_label": category_labels(labels.get(badge.category), badge.category),
                    "gate": gate,
                    "area": names.get(scan.area_id, ""),
                    "source": scan.source,
                    "at": at.isoformat(),
                    "local_time": at.astimezone(local).strftime("%H:%M"),
                }
            )
    return {"day": midnight.astimezone(local).date().isoformat(), "vips": arrivals}
