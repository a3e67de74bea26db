"""The gate's rule, as plain Python: given a verified claim and what the replica knows of the
badge, may it pass? Presence (inside or not) is settled atomically by the database after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from shared.badges import BadgeClaim


class Result(StrEnum):
    ADMITTED = "admitted"
    EXITED = "exited"
    ALREADY_INSIDE = "already_inside"
    NOT_INSIDE = "not_inside"
    INVALID = "invalid"
    UNKNOWN = "unknown"
    REVOKED = "revoked"
    WRONG_EVENT = "wrong_event"

    @property
    def passes(self) -> bool:
        return self in {Result.ADMITTED, Result.EXITED}


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


@dataclass(frozen=True)
class KnownBadge:
    version: int
    status: str  # active, revoked, void
    reason: str | None = None


def judge(claim: BadgeClaim, gate_event_id: int | None, badge: KnownBadge | None) -> Result | None:
    """A rejection, or None when the badge is good and only presence remains to be settled."""
    if gate_event_id is None or claim.event_id != gate_event_id:
        return Result.WRONG_EVENT
    if badge is None:
        return Result.UNKNOWN
    if claim.version < badge.version or badge.status != "active":
        return Result.REVOKED
    # A newer version than the replica holds is a reissue not yet replicated: the signature
    # proves registration issued it, so it passes.
    return None


def revoked_reason(claim: BadgeClaim, badge: KnownBadge) -> str:
    if claim.version < badge.version:
        return "This badge was replaced by a reissued one."
    if badge.status == "void":
        return "This badge is void: its registration was cancelled."
    return f"This badge was revoked: {badge.reason}" if badge.reason else "This badge was revoked."


def message(
    result: Result,
    *,
    gate: str | None = None,
    since: datetime | None = None,
    timezone: str = "UTC",
    reason: str | None = None,
) -> str:
    """The line a gate shows under the big green or red answer."""
    if result is Result.ALREADY_INSIDE and since is not None:
        local = since.astimezone(ZoneInfo(timezone))
        return f"Already inside since {local:%H:%M}, {gate} gate."
    return {
        Result.ADMITTED: "Welcome.",
        Result.EXITED: "Goodbye.",
        Result.ALREADY_INSIDE: "Already inside.",
        Result.NOT_INSIDE: "This badge is not inside: it cannot leave.",
        Result.INVALID: "Not a valid badge: the code is damaged or forged.",
        Result.UNKNOWN: "This badge is not known here yet.",
        Result.REVOKED: reason or "This badge is no longer valid.",
        Result.WRONG_EVENT: "This badge is for another event.",
    }[result]
