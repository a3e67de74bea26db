"""Notify's own small replica of registration's events and delegates, from the snapshots it
receives: what the reminders need, and what tells a late message that a newer change has
overtaken it. Newest wins (a delegate by revision, an event by the outbox sequence of its
announcements; a delegate's snapshot only introduces an event not announced yet); an erased
delegate stays erased whatever arrives after."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.notify.models import KnownDelegate, KnownEvent
from shared.db import among, utcnow

T = TypeVar("T")

EVENT_FIELDS = ("slug", "name", "venue", "timezone", "starts_on", "ends_on")


@dataclass(frozen=True)
class Standing:
    """The delegate as notify knows them after applying a snapshot."""

    revision: int
    status: str
    badge: tuple | None  # (id, version, status) of their newest badge
    erased: bool
    category: dict  # {"label": …, "colour": …} of their category, {} when not announced yet


def retrying_once(sessions: sessionmaker, work: Callable[[Session], T]) -> T:
    """Run `work` in a transaction; again if a concurrent worker inserted the same row first
    (the second run finds it and updates instead)."""
    try:
        with sessions.begin() as session:
            return work(session)
    except IntegrityError:
        with sessions.begin() as session:
            return work(session)


def apply_event(
    session: Session, info: dict, sequence: int, categories: list[dict] | None = None
) -> None:
    """Take an event's details (and, from an `event.*` announcement, its categories) unless
    a newer announcement was applied already."""
    event = session.get(KnownEvent, info["id"])
    if event is None:
        event = KnownEvent(id=info["id"], sequence=0, categories={}, categories_sequence=0)
    if event.sequence < sequence:
        for name in EVENT_FIELDS:
            setattr(event, name, info[name])
        event.sequence = sequence
    if categories is not None and event.categories_sequence < sequence:
        event.categories = {
            c["code"]: {"label": c["label"], "colour": c.get("colour")} for c in categories
        }
        event.categories_sequence = sequence
    session.add(event)
    session.flush()


def know_event(session: Session, info: dict, sequence: int) -> None:
    """Take the event's details from a delegate's snapshot if notify has none yet. Only once:
    its `event.*` announcements keep them up to date, so a delegate's change (thousands of
    them in an import) does not rewrite the event's row, which every worker would then wait
    for in turn."""
    if session.get(KnownEvent, info["id"]) is None:
        apply_event(session, info, sequence)


def apply_delegate(session: Session, payload: dict, sequence: int) -> Standing:
    """Take a `DelegateChanged` snapshot (as loaded) unless a newer one was applied already;
    returns how the delegate stands now."""
    return apply_delegates(session, [(payload, sequence)])[0]


def apply_delegates(session: Session, changes: list[tuple[dict, int]]) -> list[Standing]:
    """`apply_delegate` for a batch of (snapshot, sequence), in order: the delegates read in one
    query and written in one flush; how each delegate stands after each change."""
    ids = {payload["delegate"]["id"] for payload, _sequence in changes}
    rows = {
        row.id: row
        for row in session.scalars(
            select(KnownDelegate).where(among(session, KnownDelegate.id, ids))
        )
    }
    standings = []
    for payload, sequence in changes:
        know_event(session, payload["event"], sequence)
        info = payload["delegate"]
        row = rows.get(info["id"])
        if row is None or (row.erased_at is None and row.revision < info["revision"]):
            row = rows[info["id"]] = row or KnownDelegate(id=info["id"])
            _take_snapshot(row, payload)
            session.add(row)
        event = session.get(KnownEvent, row.event_id)
        standings.append(standing(row, (event.categories or {}).get(row.category) or {}))
    session.flush()
    return standings


def _take_snapshot(row: KnownDelegate, payload: dict) -> None:
    info, badge = payload["delegate"], payload["badge"]
    row.event_id = payload["event"]["id"]
    row.revision = info["revision"]
    row.status = info["status"]
    row.category = info["category"]
    row.language = info["language"]
    row.email = info["email"]
    row.display_name = info["display_name"]
    row.title = info.get("title") or ""
    row.delegation = info.get("delegation")
    row.organisation = info.get("organisation")
    row.manage_nonce = info.get("manage_nonce")
    row.badge_id = badge["id"] if badge else None
    row.badge_version = badge["version"] if badge else None
    row.badge_status = badge["status"] if badge else None
    row.badge_token = badge["token"] if badge else None


def forget_delegate(session: Session, payload: dict, sequence: int) -> None:
    """Apply a `delegate.erased` snapshot: blank every personal field, for good, keeping
    event, status and category for anonymous counts."""
    know_event(session, payload["event"], sequence)
    info, badge = payload["delegate"], payload["badge"]
    row = session.get(KnownDelegate, info["id"]) or KnownDelegate(
        id=info["id"], event_id=payload["event"]["id"], language=""
    )
    row.revision = max(row.revision or 0, info["revision"])
    row.status, row.category = info["status"], info["category"]
    row.email = row.display_name = row.title = row.manage_nonce = row.badge_token = None
    row.delegation = row.organisation = None
    if badge is not None:
        row.badge_id, row.badge_version, row.badge_status = badge["id"], badge["version"], "void"
    row.erased_at = row.erased_at or utcnow()
    session.add(row)
    session.flush()


def standing(row: KnownDelegate, category: dict) -> Standing:
    badge = None if row.badge_id is None else (row.badge_id, row.badge_version, row.badge_status)
    return Standing(row.revision, row.status, badge, row.erased_at is not None, category)


def overtaken(payload: dict, now: Standing, badge_matters: bool) -> bool:
    """Whether a newer change has made the message for `payload` misleading: the delegate's
    status moved on (approved after "pending", promoted after "waitlisted"), or, for a
    message carrying the badge, that badge is no longer their newest valid one."""
    info, badge = payload["delegate"], payload["badge"]
    if now.revision <= info["revision"]:
        return False
    if now.status != info["status"]:
        return True
    theirs = None if badge is None else (badge["id"], badge["version"], badge["status"])
    return badge_matters and now.badge != theirs
