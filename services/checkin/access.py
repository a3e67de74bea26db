"""Who may do what at checkin: scanner tokens scan at their gate; organiser tokens (replicated
from registration) read their own event's figures."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.checkin.models import Gate, OrganizerGrant, ReplicaEvent, ScannerToken
from shared import access
from shared.errors import Forbidden, NotFound


def _is_scanner(session: Session, digest: str) -> bool:
    return session.get(ScannerToken, digest) is not None


def scanner_gate(session: Session, digest: str) -> Gate:
    token = session.get(ScannerToken, digest)
    if token is None:
        if session.get(OrganizerGrant, digest) is not None:
            raise access.wrong_role("a scanner")
        raise access.unknown_token()
    return session.get(Gate, token.gate_id)


def organizer_event(session: Session, digest: str, slug: str) -> ReplicaEvent:
    grant = session.get(OrganizerGrant, digest)
    if grant is None:
        if _is_scanner(session, digest):
            raise access.wrong_role("an organiser")
        raise access.unknown_token()
    event = session.scalar(select(ReplicaEvent).where(ReplicaEvent.slug == slug))
    if event is None:
        raise NotFound("unknown_event", f"There is no event {slug!r} here.")
    if event.id != grant.event_id:
        raise Forbidden("forbidden", "This organiser token belongs to another event.")
    return event


def create_gate(session: Session, event_slug: str, name: str) -> Gate:
    gate = session.scalar(select(Gate).where(Gate.event_slug == event_slug, Gate.name == name))
    if gate is None:
        gate = Gate(event_slug=event_slug, name=name)
        session.add(gate)
        session.flush()
    return gate


def issue_scanner_token(session: Session, gate: Gate, label: str) -> str:
    token = access.new_token("scanner")
    session.add(ScannerToken(digest=access.digest(token), gate_id=gate.id, label=label))
    return token
