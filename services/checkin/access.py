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

from services.checkin.admission import AreaRule
from services.checkin.models import Area, Gate, OrganizerGrant, ReplicaEvent, ScannerToken
from services.checkin.scanning import Place
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


@dataclass(frozen=True, slots=True)
class ScanningDevice:
    """A device token as a live scan needs it: whose it is, and its gate's place."""

    role: str
    label: str
    place: Place

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.label}"


_t, _g, _a, _e = (m.__table__.c for m in (ScannerToken, Gate, Area, ReplicaEvent))
# The token, its gate, the gate's area and the event, as plain columns in one round-trip: the
# first of the few a live scan makes (ORM instances of the four cost it four times as much).
_DEVICE = (
    select(
        _t.role,
        _t.label,
        _g.event_slug,
        _e.id.label("event_id"),
        _e.timezone,
        _a.id.label("area_id"),
        _a.code,
        _a.name.label("area_name"),
        _a.everyone,
        _g.id.label("gate_id"),
        _g.name.label("gate_name"),
    )  # fmt: skip
    .select_from(ScannerToken.__table__)
    .join(Gate.__table__, _g.id == _t.gate_id)
    .join(Area.__table__, _a.id == _g.area_id)
    .outerjoin(ReplicaEvent.__table__, _e.slug == _g.event_slug)
    .where(_t.digest == bindparam("digest"))
)


def scanning_device(session: Session, digest: str) -> ScanningDevice:
    """The device of a token of either role, at its gate's place (the event's id None until
    registration announced it)."""
    row = session.execute(_DEVICE, {"digest": digest}).first()
    if row is None:
        raise _not_a_device(session, digest)
    area = AreaRule(row.code, row.area_name, row.everyone)
    place = Place(
        row.event_slug, row.event_id, row.timezone or "UTC", row.area_id, area,
        row.gate_id, row.gate_name,
    )  # fmt: skip
    return ScanningDevice(row.role, row.label, place)


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
