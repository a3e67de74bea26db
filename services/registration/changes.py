"""Recording a change to a registration: bump its revision, announce its whole new state
through the outbox, and write who did it to the audit log, all in the caller's transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.registration.access import Actor
from services.registration.event_setup import event_info
from services.registration.models import AuditEntry, Registration
from services.registration.models import outbox as events
from shared.badges import BadgeClaim, BadgeSigner
from shared.events import DELEGATE_REGISTERED


def record(
    session: Session,
    signer: BadgeSigner,
    registration: Registration,
    event_type: str,
    actor: Actor,
    **detail,
) -> None:
    if event_type != DELEGATE_REGISTERED:
        registration.revision += 1
    session.flush()
    events.add(session, event_type, {**snapshot(registration, signer), "detail": detail})
    session.add(
        AuditEntry(
            event_id=registration.event_id,
            registration_id=registration.id,
            actor=str(actor),
            action=event_type,
            detail=detail,
        )
    )


def snapshot(registration: Registration, signer: BadgeSigner) -> dict:
    """The `DelegateChanged` payload: the delegate and their badge as they now are."""
    badge = registration.badge
    return {
        "event": event_info(registration.event),
        "delegate": {
            "id": registration.id,
            "revision": registration.revision,
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
            "status_reason": registration.status_reason,
            "latin_name": registration.latin_name,
            "title": registration.title,
            "delegation": registration.delegation.name if registration.delegation else None,
            "manage_nonce": registration.manage_nonce,
        },
        "badge": None
        if badge is None
        else {
            "id": badge.id,
            "version": badge.version,
            "status": badge.status,
            "reason": badge.status_reason,
            "token": badge_token(registration, signer),
        },
    }


def badge_token(registration: Registration, signer: BadgeSigner) -> str:
    """The signed token of the registration's current badge (what its QR code holds)."""
    badge = registration.badge
    return signer.sign(BadgeClaim(registration.event_id, badge.id, badge.version))
