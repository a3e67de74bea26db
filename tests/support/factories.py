"""Domain-event test data: fresh dicts, valid per the schemas in `shared.events`, in the
serialised form envelopes travel in (ISO date strings, aware ISO datetimes).

Identifiers, slugs and e-mail addresses are unique on every call, so tests never collide on
them; the descriptive defaults are those of the Global Mayors' Forum 2023. A test that asserts
on a value passes it explicitly rather than relying on a default. Where a test needs loaded
values (Python `date`s), load the dict with the schema: `DelegateChanged().load(...)`.
"""

from __future__ import annotations

import itertools
import random
import secrets
import uuid
from datetime import UTC, datetime

from shared.badges import BadgeClaim, BadgeSigner, generate_keypair
from shared.events import DELEGATE_REGISTERED, ENVELOPE_VERSION

SIGNER = BadgeSigner(generate_keypair()[0])
"""Signs the badge tokens the factories make; its public key is `SIGNER.public_key`."""

# Unique within the process and random across runs; small enough for a badge token's 32 bits.
_ids = itertools.count(random.randrange(1, 2**30))


def unique_id() -> int:
    return next(_ids)


def _suffix() -> str:
    return secrets.token_hex(4)


def envelope(event_type: str, payload: dict, **fields) -> dict:
    """An envelope of `event_type` around `payload`; `fields` replace or add envelope keys."""
    return {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "producer": "registration",
        "sequence": unique_id(),
        "occurred_at": datetime.now(UTC).isoformat(),
        "version": ENVELOPE_VERSION,
        "payload": payload,
        **fields,
    }


def event_info(**overrides) -> dict:
    """An `EventInfo`: the congress as subscribers know it."""
    return {
        "id": unique_id(),
        "slug": f"gmf-2023-{_suffix()}",
        "name": "Global Mayors' Forum 2023",
        "venue": "Yuexiu International Congress Center",
        "timezone": "Asia/Shanghai",
        "starts_on": "2023-12-07",
        "ends_on": "2023-12-09",
        **overrides,
    }


def event_announced(**overrides) -> dict:
    """An `EventAnnounced` payload (`event.created`, `event.updated`)."""
    return {"event": event_info(), "organizer_token_digests": [secrets.token_hex(32)], **overrides}


def delegate_info(**overrides) -> dict:
    """A `DelegateInfo`, with a unique id and e-mail address."""
    family_name = f"Brugada-{_suffix()}"
    return {
        "id": unique_id(),
        "revision": 1,
        "given_name": "Clara",
        "family_name": family_name,
        "display_name": f"Clara {family_name}",
        "email": f"delegate-{_suffix()}@example.org",
        "organisation": "Iztapalapa",
        "city": "Iztapalapa",
        "country": "MX",
        "category": "mayor",
        "language": "en",
        "status": "confirmed",
        **overrides,
    }


def badge_info(*, event_id: int, **overrides) -> dict:
    """A `BadgeInfo` whose token, unless given, is really signed (by `SIGNER`) for its
    event, id and version."""
    badge = {"id": unique_id(), "version": 1, "status": "active", **overrides}
    if "token" not in badge:
        claim = BadgeClaim(event_id=event_id, badge_id=badge["id"], version=badge["version"])
        badge["token"] = SIGNER.sign(claim)
    return badge


def registered_envelope(
    *,
    token: str | None = None,
    language: str = "en",
    display_name: str | None = None,
    email: str | None = None,
    badge_id: int | None = None,
    **payload_overrides,
) -> dict:
    """A whole `delegate.registered` envelope, as registration's relay sends it, with a really
    signed badge token unless one is given. `payload_overrides` replace whole payload sections
    (`event=`, `delegate=`, `badge=`); the other arguments shape the default delegate and badge.
    """
    event = payload_overrides.pop("event", None) or event_info()
    delegate = {"language": language}
    if display_name is not None:
        delegate["display_name"] = display_name
    if email is not None:
        delegate["email"] = email
    badge = {}
    if badge_id is not None:
        badge["id"] = badge_id
    if token is not None:
        badge["token"] = token
    payload = {
        "event": event,
        "delegate": delegate_info(**delegate),
        "badge": badge_info(event_id=event["id"], **badge),
        **payload_overrides,
    }
    return envelope(DELEGATE_REGISTERED, payload)


def checkin(**overrides) -> dict:
    """A `Checkin` payload (`checkin.admitted`, `checkin.exited`)."""
    return {
        "event_id": unique_id(),
        "badge_id": unique_id(),
        "scan_id": unique_id(),
        "gate": "North",
        "category": "mayor",
        "at": datetime.now(UTC).isoformat(),
        **overrides,
    }
