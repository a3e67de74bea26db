"""Invitation codes: an organiser issues a code for a category and a number of uses; a delegate
who registers with it skips approval. Codes are shown once and stored as digests."""

from __future__ import annotations

import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.registration.access import Actor
from services.registration.models import AuditEntry, Event, InvitationCode
from shared import access
from shared.db import utcnow
from shared.errors import Invalid, NotFound

# No 0/O or 1/I/L: codes are read out over the phone and typed from letters.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    return "-".join(raw[i : i + 4] for i in range(0, 12, 4))


def normalise(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def issue(
    session: Session, event: Event, actor: Actor, category: str, uses: int, label: str
) -> tuple[InvitationCode, str]:
    if category not in {c.code for c in event.categories}:
        raise Invalid("validation_failed", "Unknown category.", {"category": ["Unknown."]})
    code = new_code()
    invitation = InvitationCode(
        event_id=event.id,
        digest=access.digest(normalise(code)),
        hint=code[-4:],
        category=category,
        label=label,
        uses_allowed=uses,
        uses=0,
    )
    session.add(invitation)
    session.flush()
    _audit(session, invitation, actor, "invitation.issued", uses=uses, category=category)
    return invitation, code


def revoke(session: Session, event: Event, actor: Actor, invitation_id: int) -> InvitationCode:
    invitation = session.get(InvitationCode, invitation_id)
    if invitation is None or invitation.event_id != event.id:
        raise NotFound("unknown_invitation", "There is no such invitation code for this event.")
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        _audit(session, invitation, actor, "invitation.revoked")
    return invitation


def redeem(session: Session, event_id: int, code: str, category: str) -> InvitationCode:
    """Use one of a code's uses for a registration in `category`, atomically: two delegates
    racing for a code's last use cannot both have it."""
    invitation = session.scalar(
        select(InvitationCode).where(
            InvitationCode.event_id == event_id,
            InvitationCode.digest == access.digest(normalise(code)),
        )
    )
    if invitation is None or invitation.revoked_at is not None:
        raise _refused("This invitation code is not valid for this event.")
    if invitation.category != category:
        raise _refused(f"This invitation code is for the category {invitation.category!r}.")
    used = session.execute(
        update(InvitationCode)
        .where(
            InvitationCode.id == invitation.id,
            InvitationCode.uses < InvitationCode.uses_allowed,
        )
        .values(uses=InvitationCode.uses + 1)
        .returning(InvitationCode.id)
    ).first()
    if used is None:
        raise _refused("This invitation code has been used as often as it allows.")
    return invitation


def listed(session: Session, event: Event) -> list[InvitationCode]:
    query = select(InvitationCode).where(InvitationCode.event_id == event.id)
    return list(session.scalars(query.order_by(InvitationCode.id)))


def _refused(message: str) -> Invalid:
    return Invalid("invalid_invitation", message, {"invitation_code": [message]})


def _audit(session: Session, invitation: InvitationCode, actor: Actor, action: str, **detail):
    detail = {"invitation_id": invitation.id, "label": invitation.label, **detail}
    session.add(
        AuditEntry(event_id=invitation.event_id, actor=str(actor), action=action, detail=detail)
    )
