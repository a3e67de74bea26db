"""Setting up an event: its details, categories (capacity, approval, areas), how long it keeps
personal data, and organiser tokens. Every change is announced (`event.created`,
`event.updated`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registration.models import Category, Event, OrganizerToken
from services.registration.models import outbox as events
from shared import access
from shared.errors import Conflict, Invalid, NotFound
from shared.events import EVENT_CREATED, EVENT_UPDATED


@dataclass(frozen=True)
class CategorySpec:
    code: str
    label: str
    capacity: int | None = None
    needs_approval: bool = False
    areas: tuple[str, ...] = ()
    colour: str = "#1f6feb"
    labels: dict[str, str] = field(default_factory=dict)  # {"zh": "市长"}


@dataclass(frozen=True)
class EventSpec:
    slug: str
    name: str
    venue: str
    timezone: str
    starts_on: date
    ends_on: date
    capacity: int | None = None
    categories: tuple[CategorySpec, ...] = field(default_factory=tuple)
    retention_days: int | None = None  # then personal data is erased; None: kept until set
    # Name and venue in other languages: {"zh": {"name": …, "venue": …}}.
    translations: dict[str, dict[str, str]] = field(default_factory=dict)


def event_info(event: Event) -> dict:
    return {
        "id": event.id,
        "slug": event.slug,
        "name": event.name,
        "venue": event.venue,
        "timezone": event.timezone,
        "starts_on": event.starts_on,
        "ends_on": event.ends_on,
    }


def event_by_slug(session: Session, slug: str, *, lock: bool = False) -> Event:
    """The event; with `lock`, its row is locked for the transaction, which serialises every
    decision about its seats (on SQLite the write transaction does that already)."""
    query = select(Event).where(Event.slug == slug)
    event = session.scalar(query.with_for_update() if lock else query)
    if event is None:
        raise NotFound("unknown_event", f"There is no event {slug!r}.")
    return event


def create_event(session: Session, spec: EventSpec, label: str = "owner") -> access.ShownOnce:
    """Create an event with its categories and its first organiser token."""
    if session.scalar(select(Event.id).where(Event.slug == spec.slug)) is not None:
        raise Conflict("event_exists", f"An event with the slug {spec.slug!r} exists already.")
    event = Event(
        slug=spec.slug,
        name=spec.name,
        venue=spec.venue,
        timezone=spec.timezone,
        starts_on=spec.starts_on,
        ends_on=spec.ends_on,
        capacity=spec.capacity,
        retention_days=spec.retention_days,
        translations=spec.translations,
        categories=[_category(c, position) for position, c in enumerate(spec.categories)],
    )
    session.add(event)
    session.flush()
    token = _new_organizer_token(session, event, label)
    announce_event(session, event, EVENT_CREATED)
    return access.ShownOnce(event, organizer_token=token)


def update_event(session: Session, event: Event, changes: dict) -> Event:
    """Change an event's details and capacity, and add or change categories (by code);
    categories are never removed, as registrations refer to them."""
    categories = changes.pop("categories", None)
    for name, value in changes.items():
        setattr(event, name, value)
    if categories is not None:
        existing = {c.code: c for c in event.categories}
        for spec in categories:
            if spec["code"] in existing:
                for name, value in spec.items():
                    setattr(existing[spec["code"]], name, value)
            elif "label" not in spec:
                raise Invalid(
                    "validation_failed",
                    "A new category needs a label.",
                    {"categories": [f"{spec['code']}: a new category needs a label."]},
                )
            else:
                position = len(event.categories)
                event.categories.append(_category(CategorySpec(**spec), position))
    if event.ends_on < event.starts_on:
        raise Conflict("invalid_dates", "The event cannot end before it starts.")
    session.flush()
    announce_event(session, event, EVENT_UPDATED)
    return event


def add_organizer_token(session: Session, event: Event, label: str) -> str:
    token = _new_organizer_token(session, event, label)
    announce_event(session, event, EVENT_UPDATED)
    return token


def announce_event(session: Session, event: Event, event_type: str) -> None:
    digests = session.scalars(
        select(OrganizerToken.digest).where(OrganizerToken.event_id == event.id)
    ).all()
    categories = [
        {
            "code": c.code,
            "label": c.label,
            "labels": dict(c.labels or {}),
            "areas": list(c.areas or ()),
            "colour": c.colour,
        }
        for c in event.categories
    ]
    payload = {
        "event": event_info(event),
        "organizer_token_digests": digests,
        "categories": categories,
    }
    events.add(session, event_type, payload)


def _new_organizer_token(session: Session, event: Event, label: str) -> str:
    token = access.new_token("organizer")
    session.add(OrganizerToken(event_id=event.id, digest=access.digest(token), label=label))
    session.flush()
    return token


def _category(spec: CategorySpec, position: int) -> Category:
    return Category(
        code=spec.code,
        label=spec.label,
        position=position,
        capacity=spec.capacity,
        needs_approval=spec.needs_approval,
        areas=list(spec.areas),
        colour=spec.colour,
        labels=dict(spec.labels),
    )
