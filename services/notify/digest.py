"""The organiser digest: once each local day of an event has ended, one e-mail to
ORGANISER_EMAIL with the day's figures per category: registered (confirmed, pending and
waitlisted), each of those, and arrived (that day, and so far).

All from notify's own tables: registrations from its replica of delegates (an erased delegate
still counts: status and category stay), arrivals from the `checkin.admitted` events it has
seen (`notify_arrivals`). Beat looks every few minutes (`notify.send_due_digests`) and enqueues
a `notify.digest` task per day that has none yet; that task sends it once (key
"digest/<event>/<day>"). A beat down for longer than CATCH_UP does not send old digests."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session, sessionmaker

from services.notify import delivery, office
from services.notify.arrivals import zone
from services.notify.dispatch import Outlet
from services.notify.models import Arrival, KnownDelegate, KnownEvent, Notification

log = logging.getLogger(__name__)

DIGEST = "digest"  # the kind, and `Notification.event_type`
CATCH_UP = timedelta(days=2)
STATUSES = ("confirmed", "pending", "waitlisted")


def digest_key(event_id: int, day: date) -> str:
    return f"digest/{event_id}/{day.isoformat()}"


def ended_days(starts_on: date, ends_on: date, timezone: str, now: datetime) -> list[date]:
    """The event's days that have ended at `now` in its time zone, within CATCH_UP."""
    days, day = [], starts_on
    while day <= ends_on:
        ends = datetime.combine(day + timedelta(days=1), time(0), zone(timezone))
        if ends <= now < ends + CATCH_UP:
            days.append(day)
        day += timedelta(days=1)
    return days


def schedule_due(sessions: sessionmaker, now: datetime, enqueue: Callable[[dict], None]) -> int:
    """Enqueue a digest for every ended event day that has none yet; returns how many."""
    near = now.date() - CATCH_UP - timedelta(days=1)
    due = []
    with sessions() as session:
        for event in session.scalars(select(KnownEvent).where(KnownEvent.ends_on >= near)):
            for day in ended_days(event.starts_on, event.ends_on, event.timezone, now):
                due.append((event.id, day))
        keys = [digest_key(event_id, day) for event_id, day in due]
        made = set(
            session.scalars(
                select(Notification.idempotency_key).where(Notification.idempotency_key.in_(keys))
            )
        )
    todo = [(event_id, day) for event_id, day in due if digest_key(event_id, day) not in made]
    for event_id, day in todo:
        enqueue({"event_id": event_id, "day": day.isoformat()})
    if todo:
        log.info("organiser digests: %d scheduled", len(todo))
    return len(todo)


@dataclass
class Line:
    """One category's figures (or the total)."""

    category: str
    label: str
    registered: int = 0
    confirmed: int = 0
    pending: int = 0
    waitlisted: int = 0
    arrived_that_day: int = 0
    arrived: int = 0  # on any day so far

    def add(self, other: Line) -> None:
        for f in fields(self)[2:]:
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def figures(session: Session, event: KnownEvent, day: date) -> tuple[list[Line], Line]:
    """Per category (in the order registration announced them, then any other), and total."""
    labels = event.categories or {}
    lines: dict[str, Line] = {}

    def line(code: str) -> Line:
        if code not in lines:
            label = (labels.get(code) or {}).get("label") or code.replace("-", " ").title()
            lines[code] = Line(code, label)
        return lines[code]

    for code in labels:
        line(code)
    d = KnownDelegate
    by_status = select(d.category, d.status, func.count()).where(
        d.event_id == event.id, d.status.in_(STATUSES)
    )
    for code, status, count in session.execute(by_status.group_by(d.category, d.status)):
        setattr(line(code), status, count)
        line(code).registered += count
    a = Arrival
    arrivals = select(a.category, func.count(distinct(a.badge_id))).where(a.event_id == event.id)
    for code, count in session.execute(arrivals.where(a.day <= day).group_by(a.category)):
        line(code).arrived = count
    for code, count in session.execute(arrivals.where(a.day == day).group_by(a.category)):
        line(code).arrived_that_day = count
    total = Line("", "Total")
    for one in lines.values():
        total.add(one)
    return list(lines.values()), total


def send(args: dict, outlet: Outlet, organiser_email: str | None) -> str:
    """Send one event day's digest to `organiser_email`, once."""
    event_id, day = int(args["event_id"]), date.fromisoformat(args["day"])
    key = digest_key(event_id, day)
    if not organiser_email:
        delivery.give_up(outlet.sessions, key, "no ORGANISER_EMAIL")
        return delivery.SKIPPED
    with outlet.sessions() as session:
        event = session.get(KnownEvent, event_id)
        if event is None:
            return delivery.SKIPPED
        lines, total = figures(session, event, day)
        name, number = event.name, (day - event.starts_on).days + 1
    owed = delivery.Owed(
        key=key,
        kind=DIGEST,
        event_type=DIGEST,
        recipient=organiser_email,
        language="en",
        delegate_id=None,
        task_args={"event_id": event_id, "day": day.isoformat()},
    )
    when = f"{day:%a} {day.day} {day:%b %Y}"
    context = {"event": name, "day": when, "number": number, "lines": lines, "total": total}

    def build():
        return office.build(
            DIGEST,
            to=organiser_email,
            subject=f"{name}, day {number} ({when}): {total.arrived_that_day} arrived, "
            f"{total.registered} registered",
            context=context,
            mail_from=outlet.mail_from,
            idempotency_key=key,
            now=outlet.now(),
        )

    return delivery.deliver(outlet.sessions, owed, build, outlet.send)
