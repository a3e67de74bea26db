"""Arrivals as notify counts them: every `checkin.admitted` notes its badge's arrival on that
local day of its event (`notify_arrivals`), which the organiser digest counts. The row keeps
the scan id of the day's first admission at the venue itself: the one admission that may alert
protocol for a VIP (services/notify/vip.py), whichever worker, retry or redelivery sees it.

A batch of admissions (`notify.vip_alert` takes one) is noted in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from services.notify.models import Arrival, KnownEvent
from shared.db import as_utc, refresh_statistics, upsert_insert

VENUE = "venue"  # checkin's code of the congress centre itself (services/checkin/areas.py)


def zone(name: str | None) -> ZoneInfo:
    """An event's time zone; UTC when it has none notify knows."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class Admission:
    """A loaded `checkin.admitted` event, noted: when it was at its event, and whether it was
    its badge's first admission of that local day at the venue."""

    envelope: dict
    payload: dict
    event: KnownEvent | None  # notify's copy of the congress (None: not announced to it yet)
    local: datetime
    first: bool


def note_arrivals(sessions: sessionmaker, admitted: list[tuple[dict, dict]]) -> list[Admission]:
    """Count loaded `checkin.admitted` events (envelope, payload), a batch of them in one
    transaction, each congress read once; returns them noted, in the same order."""
    if not admitted:
        return []
    congresses = {payload["event_id"] for _, payload in admitted}
    with sessions() as session:
        found = session.scalars(select(KnownEvent).where(KnownEvent.id.in_(congresses)))
        events = {event.id: event for event in found}

    def local_time(payload: dict) -> datetime:
        event = events.get(payload["event_id"])
        return payload["at"].astimezone(zone(event.timezone if event else None))

    local = [local_time(payload) for _, payload in admitted]
    keys = [(p["event_id"], p["badge_id"], local[i].date()) for i, (_, p) in enumerate(admitted)]
    # Rows written in one order (a badge's admissions keep theirs), so concurrent batches
    # cannot deadlock on them.
    order = sorted(range(len(admitted)), key=keys.__getitem__)
    with sessions.begin() as session:
        rows = _rows(session, set(keys))
        created = _insert_missing(session, [(keys[i], i, admitted[i][1]) for i in order], rows)
        first = {
            i: _at_venue(admitted[i][1])
            if i in created
            else note_arrival(session, admitted[i][1], keys[i], rows)
            for i in order
        }
        # Else the lookup above comes to read the whole day's arrivals (shared.db).
        refresh_statistics(session, Arrival.__tablename__)
    return [
        Admission(envelope, payload, events.get(payload["event_id"]), local[i], first[i])
        for i, (envelope, payload) in enumerate(admitted)
    ]


def _rows(session: Session, keys: set[tuple[int, int, date]]) -> dict[tuple, Arrival]:
    """The arrival rows there are of these (event, badge, day), read at once."""
    a = Arrival
    found = session.scalars(select(a).where(tuple_(a.event_id, a.badge_id, a.day).in_(keys)))
    return {(row.event_id, row.badge_id, row.day): row for row in found}


def _insert_missing(session: Session, noted: list[tuple[tuple, int, dict]], rows: dict) -> set:
    """Insert the rows missing from `rows` of the (key, index, payload) `noted`, in order, each
    from its key's first admission, in one statement that leaves alone a row another worker
    inserted meanwhile; add them to `rows`, and return the indices of the admissions that
    made a row (each the first of its day, at the venue if there)."""
    firsts: dict[tuple, tuple[int, dict]] = {}
    for key, index, payload in noted:
        if key not in rows:
            firsts.setdefault(key, (index, payload))
    if not firsts:
        return set()
    a = Arrival
    values = [
        {
            "event_id": payload["event_id"],
            "badge_id": payload["badge_id"],
            "registration_id": payload.get("registration_id"),
            "category": payload["category"],
            "day": key[2],
            "first_at": payload["at"],
            "venue_scan_id": payload["scan_id"] if _at_venue(payload) else None,
        }
        for key, (_index, payload) in firsts.items()
    ]
    inserted = upsert_insert(session, a.__table__).on_conflict_do_nothing(
        index_elements=[a.event_id, a.badge_id, a.day]
    )
    made = {
        (event_id, badge_id, day)
        for event_id, badge_id, day in session.execute(
            inserted.returning(a.event_id, a.badge_id, a.day), values
        )
    }
    rows.update(_rows(session, set(firsts)))  # theirs too, read now that they are there
    return {firsts[key][0] for key in made}


def _at_venue(payload: dict) -> bool:
    return (payload.get("area") or VENUE) == VENUE


def note_arrival(session: Session, payload: dict, key: tuple[int, int, date], rows: dict) -> bool:
    """Record the admission in its badge's arrival row of the day (`key`: event, badge, day;
    `rows`: the rows by key, this one among them, made by `_insert_missing` if need be); True
    when it is the day's first admission at the venue (the same scan again, on a retry, is
    still the first)."""
    a = Arrival
    at_venue = _at_venue(payload)
    row = rows[key]
    if payload["at"] < as_utc(row.first_at):  # an offline scan from earlier that day, synced late
        row.first_at = payload["at"]
    if not at_venue:
        return False
    if row.venue_scan_id is not None:  # decided (it is set once): most admissions are re-entries
        return row.venue_scan_id == payload["scan_id"]
    session.execute(
        update(a)
        .where(a.id == row.id, a.venue_scan_id.is_(None))
        .values(venue_scan_id=payload["scan_id"])
    )
    return session.scalar(select(a.venue_scan_id).where(a.id == row.id)) == payload["scan_id"]
