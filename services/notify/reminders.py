"""The reminder the day before an event, at REMINDER_AT in the event's own time zone, to every
confirmed delegate, once: a beat task records one row per delegate (key
"reminder/<event>/<delegate>") and enqueues a task per row, which sends it like any message.

Due from REMINDER_AT the day before until the event's first day begins, so a beat that was
down catches up, and nobody is reminded of an event already under way."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.notify import delivery, messages
from services.notify.dispatch import Outlet
from services.notify.messages import REMINDER, Letter
from services.notify.models import KnownDelegate, KnownEvent, Notification

log = logging.getLogger(__name__)

REMINDER_AT = time(10, 0)  # local time, the day before the event: a working morning
EVENT_TYPE = "reminder"  # what `Notification.event_type` says for a reminder
BATCH = 500


def reminder_key(event_id: int, delegate_id: int) -> str:
    return f"reminder/{event_id}/{delegate_id}"


def window(starts_on: date, timezone: str) -> tuple[datetime, datetime]:
    """When an event's reminders are due: [the day before at REMINDER_AT, the first day's
    midnight), in the event's time zone (UTC if the zone is unknown here)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r: reminders follow UTC", timezone)
        zone = ZoneInfo("UTC")
    opens = datetime.combine(starts_on - timedelta(days=1), REMINDER_AT, zone)
    return opens, datetime.combine(starts_on, time(0), zone)


def is_due(event: KnownEvent, now: datetime) -> bool:
    opens, closes = window(event.starts_on, event.timezone)
    return opens <= now < closes


def due_events(session: Session, now: datetime) -> list[KnownEvent]:
    """Events whose reminders are due at `now` (any zone is within a day of UTC)."""
    near = KnownEvent.starts_on.between(now.date() - timedelta(days=1), now.date() + timedelta(2))
    return [e for e in session.scalars(select(KnownEvent).where(near)) if is_due(e, now)]


def _unreminded(event_id: int):
    d, n = KnownDelegate, Notification
    reminded = exists().where(and_(n.delegate_id == d.id, n.kind == REMINDER))
    return (
        select(d)
        .where(
            d.event_id == event_id,
            d.status == "confirmed",
            d.erased_at.is_(None),
            d.email.is_not(None),
            ~reminded,
        )
        .order_by(d.id)
        .limit(BATCH)
    )


def schedule_due(sessions: sessionmaker, now: datetime, enqueue: Callable[[dict], None]) -> int:
    """Record a reminder for every confirmed delegate of every event due at `now` who has none
    yet, and enqueue a task for each (after the rows commit); returns how many."""
    with sessions() as session:
        events = [(e.id, e.slug) for e in due_events(session, now)]
    total = 0
    for event_id, slug in events:
        scheduled, clashes = 0, 0
        while clashes < 3:
            try:
                with sessions.begin() as session:
                    due = session.scalars(_unreminded(event_id)).all()
                    for d in due:
                        session.add(_owed(event_id, d).row())
            except IntegrityError:  # a concurrent run took some of them: look again
                clashes += 1
                continue
            for d in due:
                enqueue({"event_id": event_id, "delegate_id": d.id})
            scheduled += len(due)
            if len(due) < BATCH:
                break
        if scheduled:
            log.info("reminders for event %s: %d scheduled", slug, scheduled)
        total += scheduled
    return total


def _owed(event_id: int, delegate: KnownDelegate) -> delivery.Owed:
    return delivery.Owed(
        key=reminder_key(event_id, delegate.id),
        kind=REMINDER,
        event_type=EVENT_TYPE,
        recipient=delegate.email or "",
        language=messages.language_of(delegate.language),
        delegate_id=delegate.id,
        task_args={"event_id": event_id, "delegate_id": delegate.id},
    )


def send(args: dict, outlet: Outlet) -> str:
    """Send one scheduled reminder unless it was sent already or is no longer due (the
    delegate cancelled or was erased, or the event has begun)."""
    event_id, delegate_id = args["event_id"], args["delegate_id"]
    key = reminder_key(event_id, delegate_id)
    with outlet.sessions() as session:
        event = session.get(KnownEvent, event_id)
        delegate = session.get(KnownDelegate, delegate_id)
    still_due = (
        event is not None
        and delegate is not None
        and delegate.status == "confirmed"
        and delegate.erased_at is None
        and delegate.email
        and outlet.now() < window(event.starts_on, event.timezone)[1]
    )
    if not still_due:
        delivery.give_up(outlet.sessions, key, "no longer due")
        return delivery.SKIPPED
    note_id, _new = delivery.record(outlet.sessions, _owed(event_id, delegate).row())
    active = delegate.badge_status == "active" and delegate.badge_token
    letter = Letter(
        kind=REMINDER,
        event={name: getattr(event, name) for name in ("name", "venue", "starts_on", "ends_on")},
        delegate={
            "display_name": delegate.display_name,
            "email": delegate.email,
            "language": delegate.language,
            "title": delegate.title,
        },
        badge={"id": delegate.badge_id, "status": "active", "token": delegate.badge_token}
        if active
        else None,
        manage_url=outlet.link_for(delegate.id, delegate.manage_nonce),
    )

    def build():
        return messages.build(
            letter, mail_from=outlet.mail_from, idempotency_key=key, now=outlet.now()
        )

    return delivery.send_recorded(outlet.sessions, note_id, build, outlet.send, what=key)
