"""An event's areas and gates, and the tokens of the devices at them.

The congress centre itself is an area like any other, flagged `everyone`: every valid badge
may enter it, whatever its category lists. Every other area admits the categories that name
its code (registration's `Category.areas`). A gate belongs to one area.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.checkin.models import Area, Gate, ScannerToken
from shared import access
from shared.errors import Conflict, NotFound

VENUE = "venue"
ROLES = ("scanner", "supervisor")


def areas_of(session: Session, event_slug: str) -> list[Area]:
    return list(
        session.scalars(select(Area).where(Area.event_slug == event_slug).order_by(Area.id))
    )


def area_by_code(session: Session, event_slug: str, code: str) -> Area:
    area = session.scalar(select(Area).where(Area.event_slug == event_slug, Area.code == code))
    if area is None:
        raise NotFound("unknown_area", f"This event has no area {code!r}.")
    return area


def create_area(
    session: Session,
    event_slug: str,
    code: str,
    name: str,
    capacity: int | None = None,
    everyone: bool = False,
) -> Area:
    if session.scalar(select(Area.id).where(Area.event_slug == event_slug, Area.code == code)):
        raise Conflict("area_exists", f"This event has an area {code!r} already.")
    area = Area(event_slug=event_slug, code=code, name=name, capacity=capacity, everyone=everyone)
    session.add(area)
    session.flush()
    return area


def ensure_area(session: Session, event_slug: str, code: str, name: str, **details) -> Area:
    """The area with this code, made if missing (seeding); an existing one is left as it is."""
    area = session.scalar(select(Area).where(Area.event_slug == event_slug, Area.code == code))
    return area or create_area(session, event_slug, code, name, **details)


def update_area(session: Session, area: Area, changes: dict) -> Area:
    for name, value in changes.items():
        setattr(area, name, value)
    session.flush()
    return area


def gates_of(session: Session, event_slug: str) -> list[Gate]:
    return list(
        session.scalars(select(Gate).where(Gate.event_slug == event_slug).order_by(Gate.id))
    )


def gate_of(session: Session, event_slug: str, gate_id: int) -> Gate:
    gate = session.get(Gate, gate_id)
    if gate is None or gate.event_slug != event_slug:
        raise NotFound("unknown_gate", "This event has no such gate.")
    return gate


def create_gate(session: Session, event_slug: str, name: str, area: Area | None = None) -> Gate:
    """The gate with this name, made if missing; a new one belongs to `area`, else to the
    event's venue (made, flagged `everyone`, if the event has none yet)."""
    gate = session.scalar(select(Gate).where(Gate.event_slug == event_slug, Gate.name == name))
    if gate is None:
        area = area or ensure_area(session, event_slug, VENUE, "Venue", everyone=True)
        gate = Gate(event_slug=event_slug, name=name, area_id=area.id)
        session.add(gate)
        session.flush()
    return gate


def add_gate(session: Session, event_slug: str, name: str, area: Area) -> Gate:
    if session.scalar(select(Gate.id).where(Gate.event_slug == event_slug, Gate.name == name)):
        raise Conflict("gate_exists", f"This event has a gate {name!r} already.")
    return create_gate(session, event_slug, name, area)


def update_gate(session: Session, gate: Gate, name: str | None, area: Area | None) -> Gate:
    if name is not None and name != gate.name:
        taken = select(Gate.id).where(Gate.event_slug == gate.event_slug, Gate.name == name)
        if session.scalar(taken):
            raise Conflict("gate_exists", f"This event has a gate {name!r} already.")
        gate.name = name
    if area is not None:
        gate.area_id = area.id
    session.flush()
    session.refresh(gate)
    return gate


def token_counts(session: Session, event_slug: str) -> dict[int, dict[str, int]]:
    """gate id → role → how many device tokens it has."""
    counts: dict[int, dict[str, int]] = {}
    for gate_id, role, n in session.execute(
        select(ScannerToken.gate_id, ScannerToken.role, func.count())
        .join(Gate, Gate.id == ScannerToken.gate_id)
        .where(Gate.event_slug == event_slug)
        .group_by(ScannerToken.gate_id, ScannerToken.role)
    ):
        counts.setdefault(gate_id, {})[role] = n
    return counts


def issue_scanner_token(session: Session, gate: Gate, label: str, role: str = "scanner") -> str:
    """A new device token for the gate, shown once; only its digest is kept."""
    token = access.new_token("scanner")
    session.add(ScannerToken(digest=access.digest(token), gate_id=gate.id, label=label, role=role))
    session.flush()
    return token


TOKEN_ID_LENGTH = 16
"""A device token's public id: the start of its digest (the digest does not work as a token,
and its start alone does not find it: only a revocation by an organiser of the event does)."""


def token_id(token: ScannerToken) -> str:
    return token.digest[:TOKEN_ID_LENGTH]


def device_tokens(session: Session, gate: Gate) -> list[ScannerToken]:
    """The gate's device tokens, oldest first."""
    query = select(ScannerToken).where(ScannerToken.gate_id == gate.id)
    return list(session.scalars(query.order_by(ScannerToken.created_at, ScannerToken.digest)))


def revoke_scanner_token(session: Session, gate: Gate, public_id: str) -> ScannerToken:
    """Delete a device token of the gate (a lost or stolen phone): its next request is refused.
    Its scans stay in the log under its gate."""
    found = [t for t in device_tokens(session, gate) if token_id(t) == public_id]
    if len(public_id) != TOKEN_ID_LENGTH or not found:
        raise NotFound("unknown_token", "This gate has no device token with this id.")
    session.delete(found[0])
    session.flush()
    return found[0]
