"""Who may do what at checkin.

- a `scanner` token (a device at a gate) scans there, syncs its offline queue and fetches the
  badge list it needs offline; nothing else;
- a `supervisor` token (a device at a gate, in a steward's hand) also finds delegates by name
  or badge number, checks them in by hand, and sees and resolves offline-sync conflicts;
- an organiser token (replicated from registration) does all of that for its event, sets up
  areas, gates and device tokens, reads the headcount and the audit trail, and undoes a wrong
  check-in.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from services.checkin.models import Gate, OrganizerGrant, ReplicaEvent, ScannerToken
from shared import access
from shared.errors import Forbidden, NotFound

ORGANISER, SUPERVISOR, SCANNER = "organiser", "supervisor", "scanner"


@dataclass(frozen=True)
class Actor:
    """Whoever holds the request's token: what they are, for which event, at which gate."""

    role: str
    event_slug: str
    label: str
    gate: Gate | None = None

    @property
    def name(self) -> str:
        """How the scan log and the audit trail name them (never the token)."""
        return f"{self.role}:{self.label}"[:120]


def scanner_gate(session: Session, digest: str) -> Gate:
    """The gate of a device token of either role."""
    token = session.get(ScannerToken, digest)
    if token is None:
        if session.get(OrganizerGrant, digest) is not None:
            raise access.wrong_role("a scanner")
        raise access.unknown_token()
    return session.get(Gate, token.gate_id)


def device(session: Session, digest: str) -> tuple[Gate, ScannerToken]:
    token = session.get(ScannerToken, digest)
    if token is None:
        raise _not_a_device(session, digest)
    return session.get(Gate, token.gate_id), token


# The token, its gate and the gate's area (joined by the relationship) and the event, at once.
_DEVICE_AND_EVENT = (
    select(ScannerToken, Gate, ReplicaEvent)
    .join(Gate, Gate.id == ScannerToken.gate_id)
    .outerjoin(ReplicaEvent, ReplicaEvent.slug == Gate.event_slug)
    .where(ScannerToken.digest == bindparam("digest"))
)


def device_at_event(
    session: Session, digest: str
) -> tuple[Gate, ScannerToken, ReplicaEvent | None]:
    """`device` and its event (None until registration announced it) in one round-trip: the
    first of the few a live scan makes."""
    row = session.execute(_DEVICE_AND_EVENT, {"digest": digest}).first()
    if row is None:
        raise _not_a_device(session, digest)
    return row.Gate, row.ScannerToken, row.ReplicaEvent


def _not_a_device(session: Session, digest: str) -> Exception:
    if session.get(OrganizerGrant, digest) is not None:
        return access.wrong_role("a scanner")
    return access.unknown_token()


def organizer_event(session: Session, digest: str, slug: str) -> ReplicaEvent:
    grant = session.get(OrganizerGrant, digest)
    if grant is None:
        if session.get(ScannerToken, digest) is not None:
            raise access.wrong_role("an organiser")
        raise access.unknown_token()
    event = _event(session, slug)
    if event.id != grant.event_id:
        raise Forbidden("forbidden", "This organiser token belongs to another event.")
    return event


def staff(session: Session, digest: str, slug: str, roles: tuple[str, ...]) -> Actor:
    """The organiser of this event, or a device of it in one of `roles`; 401/403 otherwise."""
    grant = session.get(OrganizerGrant, digest)
    if grant is not None:
        event = _event(session, slug)
        if event.id != grant.event_id:
            raise Forbidden("forbidden", "This organiser token belongs to another event.")
        return Actor(ORGANISER, slug, digest[:8])
    token = session.get(ScannerToken, digest)
    if token is None:
        raise access.unknown_token()
    gate = session.get(Gate, token.gate_id)
    if token.role not in roles:
        needed = " or ".join(["an organiser", *(f"a {r}" for r in roles)])
        raise Forbidden("forbidden", f"This endpoint needs {needed} token.")
    if gate.event_slug != slug:
        raise Forbidden("forbidden", "This device belongs to another event.")
    _event(session, slug)
    return Actor(token.role, slug, token.label, gate)


def _event(session: Session, slug: str) -> ReplicaEvent:
    event = session.scalar(select(ReplicaEvent).where(ReplicaEvent.slug == slug))
    if event is None:
        raise NotFound("unknown_event", f"There is no event {slug!r} here.")
    return event
