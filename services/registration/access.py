"""Who may act on what in registration: organisers on their own event, a delegate (manage
token) on their own registration. Each action is recorded with its actor."""

from __future__ import annotations

import functools
import hmac
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registration.event_setup import event_by_slug
from services.registration.models import Event, OrganizerToken, Registration
from shared import access
from shared.errors import Forbidden


@dataclass(frozen=True)
class Actor:
    kind: str  # "organiser", "delegate", "head" (of a delegation) or "system"
    label: str = ""

    @property
    def is_organiser(self) -> bool:
        return self.kind == "organiser"

    def __str__(self) -> str:
        return f"{self.kind}:{self.label}" if self.label else self.kind


SYSTEM = Actor("system")
DELEGATE = Actor("delegate")
HEAD = "head"  # the kind of Actor of a delegation's head, labelled with their registration id


def organiser(session: Session, token_digest: str, slug: str, *, lock: bool = False):
    """The event an organiser token may act on and who holds it; 401 for an unknown token,
    403 for a token of another event or of a delegate."""
    event = event_by_slug(session, slug, lock=lock)
    token = session.scalar(select(OrganizerToken).where(OrganizerToken.digest == token_digest))
    if token is None:
        if _is_delegate(session, token_digest):
            raise access.wrong_role("an organiser")
        raise access.unknown_token()
    if token.event_id != event.id:
        raise Forbidden("forbidden", "This organiser token belongs to another event.")
    return event, Actor("organiser", token.label)


def organiser_required(view):
    """Refuse anything but an organiser token (401 or 403) before the body is read, so no
    one else learns the schema's rules; the view then checks which event the token is for."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        from services.registration import resources  # the app's database, at request time

        with resources().db.reads() as session:
            any_organiser(session, access.bearer_digest())
        return view(*args, **kwargs)

    return checked


def any_organiser(session: Session, token_digest: str) -> Actor:
    """An organiser of any event (who may create another); 401 otherwise."""
    token = session.scalar(select(OrganizerToken).where(OrganizerToken.digest == token_digest))
    if token is None:
        if _is_delegate(session, token_digest):
            raise access.wrong_role("an organiser")
        raise access.unknown_token()
    return Actor("organiser", token.label)


def registration_actor(
    session: Session, token_digest: str, registration_id: int
) -> tuple[Registration, Actor]:
    """A registration and who acts on it: its own delegate, or an organiser of its event.
    Anyone else learns nothing, not even whether the id exists."""
    registration = session.get(Registration, registration_id)
    if registration is not None and hmac.compare_digest(registration.manage_digest, token_digest):
        return registration, DELEGATE
    token = session.scalar(select(OrganizerToken).where(OrganizerToken.digest == token_digest))
    if token is None and not _is_delegate(session, token_digest):
        raise access.unknown_token()
    if registration is None or token is None or token.event_id != registration.event_id:
        raise Forbidden("forbidden", "This token may not see that registration.")
    return registration, Actor("organiser", token.label)


def require_organiser(actor: Actor) -> None:
    if not actor.is_organiser:
        raise access.wrong_role("an organiser")


def locked_event(session: Session, registration: Registration) -> Event:
    """Lock the registration's event row: seat decisions are made one at a time."""
    return event_by_slug(session, registration.event.slug, lock=True)


def _is_delegate(session: Session, token_digest: str) -> bool:
    query = select(Registration.id).where(Registration.manage_digest == token_digest)
    return session.scalar(query) is not None
