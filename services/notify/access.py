"""Who may use notify's API: an event's organisers, by the digests of their tokens that
registration announces in `event.created`/`event.updated` (as checkin does). The tokens never
reach notify. Scanner and manage tokens are told they need an organiser token: notify knows
them by their prefix only."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.notify.models import KnownEvent, OrganizerGrant
from shared import access
from shared.errors import Forbidden, NotFound

OTHER_ROLES = tuple(f"rc_{access.PREFIXES[kind]}_" for kind in ("scanner", "manage"))


def apply_grants(session: Session, event_id: int, sequence: int, digests: list[str]) -> bool:
    """Take the event's current organiser digests from the announcement `sequence`, unless a
    newer announcement was applied already; False then."""
    newest = session.scalar(
        select(OrganizerGrant.sequence).where(OrganizerGrant.event_id == event_id).limit(1)
    )
    if newest is not None and newest > sequence:
        return False
    # The announcement lists every current token: replace, so a withdrawn one stops working.
    session.execute(delete(OrganizerGrant).where(OrganizerGrant.event_id == event_id))
    session.flush()
    session.add_all(
        OrganizerGrant(digest=d, event_id=event_id, sequence=sequence) for d in set(digests)
    )
    session.flush()
    return True


def any_organiser(session: Session, token: str) -> OrganizerGrant:
    """The grant of the organiser token `token`; 403 for another kind of token, else 401."""
    grant = session.get(OrganizerGrant, access.digest(token))
    if grant is None:
        if token.startswith(OTHER_ROLES):
            raise access.wrong_role("an organiser")
        raise access.unknown_token()
    return grant


def organiser_event(session: Session, token: str, slug: str) -> KnownEvent:
    """The event `slug`, if `token` is one of its organisers' tokens (401/403/404 if not)."""
    grant = any_organiser(session, token)
    event = session.scalar(select(KnownEvent).where(KnownEvent.slug == slug).limit(1))
    if event is None:
        raise NotFound("unknown_event", f"There is no event {slug!r} here.")
    if event.id != grant.event_id:
        raise Forbidden("forbidden", "This organiser token belongs to another event.")
    return event
