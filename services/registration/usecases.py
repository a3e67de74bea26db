"""What registration does, one function per use case: load, apply the rules, write the change
and the event that announces it in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.registration import domain
from services.registration.models import Badge, Category, Event, OrganizerToken, Registration
from services.registration.models import outbox as events
from shared import access
from shared.badges import BadgeClaim, BadgeSigner
from shared.errors import Conflict, Forbidden, Invalid, NotFound
from shared.events import DELEGATE_REGISTERED, EVENT_CREATED, EVENT_UPDATED


@dataclass(frozen=True)
class EventSpec:
    slug: str
    name: str
    venue: str
    timezone: str
    starts_on: date
    ends_on: date
    categories: tuple[tuple[str, str], ...]  # (code, label)


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


def create_event(session: Session, spec: EventSpec) -> tuple[Event, str]:
    """Create an event with its categories; returns it and its first organiser token."""
    if session.scalar(select(Event.id).where(Event.slug == spec.slug)) is not None:
        raise Conflict("event_exists", f"An event with the slug {spec.slug!r} exists already.")
    event = Event(
        slug=spec.slug,
        name=spec.name,
        venue=spec.venue,
        timezone=spec.timezone,
        starts_on=spec.starts_on,
        ends_on=spec.ends_on,
        categories=[
            Category(code=code, label=label, position=i)
            for i, (code, label) in enumerate(spec.categories)
        ],
    )
    session.add(event)
    session.flush()
    token = access.new_token("organizer")
    session.add(OrganizerToken(event_id=event.id, digest=access.digest(token), label="owner"))
    session.flush()
    _announce_event(session, event, EVENT_CREATED)
    return event, token


def add_organizer_token(session: Session, event: Event, label: str) -> str:
    token = access.new_token("organizer")
    session.add(OrganizerToken(event_id=event.id, digest=access.digest(token), label=label))
    session.flush()
    _announce_event(session, event, EVENT_UPDATED)
    return token


def _announce_event(session: Session, event: Event, event_type: str) -> None:
    digests = session.scalars(
        select(OrganizerToken.digest).where(OrganizerToken.event_id == event.id)
    ).all()
    events.add(
        session, event_type, {"event": event_info(event), "organizer_token_digests": digests}
    )


def event_by_slug(session: Session, slug: str) -> Event:
    event = session.scalar(select(Event).where(Event.slug == slug))
    if event is None:
        raise NotFound("unknown_event", f"There is no event {slug!r}.")
    return event


def organizer_event(session: Session, token_digest: str, slug: str) -> Event:
    """The event an organiser token may act on; 401 for an unknown token, 403 for another event."""
    event = event_by_slug(session, slug)
    owner = session.scalar(
        select(OrganizerToken.event_id).where(OrganizerToken.digest == token_digest)
    )
    if owner is None:
        raise access.unknown_token()
    if owner != event.id:
        raise Forbidden("forbidden", "This organiser token belongs to another event.")
    return event


@dataclass(frozen=True)
class Registered:
    """A new registration with its manage token, which is shown this once."""

    registration: Registration
    manage_token: str

    def __getattr__(self, name: str):
        return getattr(self.registration, name)


def register_delegate(session: Session, signer: BadgeSigner, slug: str, data: dict) -> Registered:
    """Register a delegate and issue their badge (confirmed at once)."""
    event = event_by_slug(session, slug)
    codes = [c.code for c in event.categories]
    if data["category"] not in codes:
        raise Invalid(
            "validation_failed",
            "Some fields are not valid; see `fields`.",
            {"category": [f"Must be one of: {', '.join(codes)}."]},
        )
    key = domain.email_key(data["email"])
    if _registered(session, event.id, key):
        raise _already_registered()
    manage_token = access.new_token("manage")
    registration = Registration(
        event=event,
        email_key=key,
        status="confirmed",
        manage_digest=access.digest(manage_token),
        **data,
    )
    registration.badge = Badge(event_id=event.id, version=1, status="active")
    session.add(registration)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent registration with the same address won
        raise _already_registered() from exc
    events.add(session, DELEGATE_REGISTERED, delegate_registered(registration, signer))
    return Registered(registration, manage_token)


def delegate_registered(registration: Registration, signer: BadgeSigner) -> dict:
    badge = registration.badge
    claim = BadgeClaim(event_id=registration.event_id, badge_id=badge.id, version=badge.version)
    return {
        "event": event_info(registration.event),
        "delegate": {
            "id": registration.id,
            "given_name": registration.given_name,
            "family_name": registration.family_name,
            "display_name": registration.display_name,
            "email": registration.email,
            "organisation": registration.organisation,
            "city": registration.city,
            "country": registration.country,
            "category": registration.category,
            "language": registration.language,
            "status": registration.status,
        },
        "badge": {
            "id": badge.id,
            "version": badge.version,
            "status": badge.status,
            "token": signer.sign(claim),
        },
    }


def visible_registration(session: Session, token_digest: str, registration_id: int):
    """A registration as its delegate (manage token) or its event's organiser sees it."""
    registration = session.get(Registration, registration_id)
    if registration is not None and registration.manage_digest == token_digest:
        return registration
    organiser_of = session.scalar(
        select(OrganizerToken.event_id).where(OrganizerToken.digest == token_digest)
    )
    is_delegate = session.scalar(
        select(Registration.id).where(Registration.manage_digest == token_digest)
    )
    if organiser_of is None and is_delegate is None:
        raise access.unknown_token()
    if registration is None or organiser_of != registration.event_id:
        # The same answer whether the id exists or not: tokens learn nothing of others.
        raise Forbidden("forbidden", "This token may not see that registration.")
    return registration


def _registered(session: Session, event_id: int, key: str) -> bool:
    query = select(Registration.id).where(
        Registration.event_id == event_id, Registration.email_key == key
    )
    return session.scalar(query) is not None


def _already_registered() -> Conflict:
    return Conflict(
        "already_registered",
        "This e-mail address is already registered for this event. Use the link in your "
        "confirmation e-mail to view or change the registration.",
        {"email": ["Already registered for this event."]},
    )
