"""`Idempotency-Key` on registration: a client that retries after a lost answer (a phone on
congress Wi-Fi) gets the first answer again, not a second registration or a 409."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.registration.models import IdempotentRequest
from shared.db import utcnow
from shared.errors import Invalid

KEEP_FOR = timedelta(hours=24)


def fingerprint(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def replay(session: Session, event_id: int, key: str, body: dict) -> IdempotentRequest | None:
    """The stored answer for this key, if the same request was answered before; a different
    request under the same key is refused (422)."""
    seen = session.scalar(
        select(IdempotentRequest).where(
            IdempotentRequest.event_id == event_id,
            IdempotentRequest.key == key,
            IdempotentRequest.created_at > utcnow() - KEEP_FOR,
        )
    )
    if seen is not None and seen.fingerprint != fingerprint(body):
        raise Invalid(
            "idempotency_key_reused",
            "This Idempotency-Key was used for a different request; use a new key.",
        )
    return seen


def remember(session: Session, event_id: int, key: str, body: dict, status: int, answer: dict):
    """Keep the answer in the registration's own transaction; forget answers past a day."""
    session.execute(
        delete(IdempotentRequest).where(IdempotentRequest.created_at <= utcnow() - KEEP_FOR)
    )
    session.add(
        IdempotentRequest(
            event_id=event_id,
            key=key,
            fingerprint=fingerprint(body),
            status=status,
            body=answer,
        )
    )
