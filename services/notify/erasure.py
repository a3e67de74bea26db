"""Forgetting an erased delegate: notify's replica row loses every personal field, and the
messages about them lose the address and the stored event (which named them); what is left
(kind, language, state, times) is anonymous and still counts. A message not sent yet never
will be."""

from __future__ import annotations

import logging

from sqlalchemy import update
from sqlalchemy.orm import Session

from services.notify import replica
from services.notify.models import FAILED, QUEUED, REJECTED, Notification
from shared.db import utcnow

log = logging.getLogger(__name__)

ERASED = "the delegate's personal data was erased"


def forget(session: Session, envelope: dict, payload: dict) -> int:
    """Apply a loaded `delegate.erased` event in the caller's transaction; returns how many
    message rows were blanked."""
    delegate_id = payload["delegate"]["id"]
    replica.forget_delegate(session, payload, envelope["sequence"])
    n, now = Notification, utcnow()
    session.execute(
        update(n)
        .where(n.delegate_id == delegate_id, n.state.in_((QUEUED, FAILED)))
        .values(state=REJECTED, last_error=ERASED, updated_at=now)
    )
    blanked = session.execute(
        update(n).where(n.delegate_id == delegate_id).values(recipient="", envelope={})
    ).rowcount
    log.info("delegate %s erased: %d notification row(s) blanked", delegate_id, blanked)
    return blanked
