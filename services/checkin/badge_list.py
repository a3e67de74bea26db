"""What a scanner needs to go on working offline: the event's badge verification keys, its
areas, and every badge with its status, whom to greet and the areas it may enter."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.checkin.areas import areas_of
from services.checkin.models import ReplicaBadge, ReplicaCategory, ReplicaEvent
from shared.badges import VERIFY_KEY_FILE, key_id
from shared.config import Settings
from shared.db import utcnow

TOKEN_FORMAT = "rollcall-badge-1"


def public_keys(settings: Settings) -> list[dict]:
    """The badge verification keys checkin itself trusts (BADGE_VERIFY_KEYS, or the key file),
    with the key id a token names them by."""
    text = settings.badge_verify_keys
    if not text:
        path = settings.keys_dir / VERIFY_KEY_FILE
        text = path.read_text() if path.exists() else ""
    keys = []
    for encoded in (k for k in text.replace(",", "\n").split() if k):
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        keys.append({"kid": key_id(Ed25519PublicKey.from_public_bytes(raw)), "public_key": encoded})
    return keys


def offline_list(
    session: Session, event: ReplicaEvent, keys: list[dict], since: datetime | None
) -> dict:
    areas = areas_of(session, event.slug)
    everyone = [a.code for a in areas if a.everyone]
    categories = list(
        session.scalars(
            select(ReplicaCategory)
            .where(ReplicaCategory.event_id == event.id)
            .order_by(ReplicaCategory.code)
        )
    )
    allowed = {
        c.code: sorted({*everyone, *(c.areas or ())} & {a.code for a in areas}) for c in categories
    }
    query = select(ReplicaBadge).where(ReplicaBadge.event_id == event.id)
    if since is not None:
        query = query.where(ReplicaBadge.updated_at >= since.astimezone(UTC))
    badges = [
        {
            "badge_id": b.badge_id,
            "version": b.version,
            "status": b.status,
            "status_reason": b.status_reason,
            "display_name": b.display_name,
            "category": b.category,
            "areas": allowed.get(b.category, everyone),
        }
        for b in session.scalars(query.order_by(ReplicaBadge.badge_id))
    ]
    return {
        "event": event.slug,
        "event_id": event.id,
        "timezone": event.timezone,
        "generated_at": utcnow(),
        "token_format": TOKEN_FORMAT,
        "keys": keys,
        "areas": areas,
        "categories": categories,
        "badges": badges,
    }
