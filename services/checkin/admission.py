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
    NOT_ALLOWED_HERE = "not_allowed_here"
    # Not a gate's answer: the log entry that takes a wrong check-in back.
    UNDONE = "undone"

    @property
    def passes(self) -> bool:
        return self in {Result.ADMITTED, Result.EXITED}


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class Source(StrEnum):
    """Who made a movement: a gate's scan, an offline scan synced later, a supervisor by hand,
    an organiser taking a wrong check-in back, or the day's close."""

    GATE = "gate"
    OFFLINE = "offline"
    MANUAL = "manual"
    UNDO = "undo"
    DAY_CLOSE = "day_close"


@dataclass(frozen=True)
class AreaRule:
    code: str
    name: str
    everyone: bool = False


@dataclass(frozen=True)
class CategoryRule:
    code: str
    label: str
    areas: frozenset[str] = frozenset()


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


def refusal(area: AreaRule, category_code: str, category: CategoryRule | None) -> str | None:
    """Why a valid badge of this category may not enter this area, or None when it may.
    An `everyone` area (the venue) admits every valid badge."""
    if area.everyone or (category is not None and area.code in category.areas):
        return None
    if category is None:
        return f"Category {category_code!r} is not known here, so it may not enter the {area.name}."
    return f"{category.label} may not enter the {area.name}."


# The reason registration gives a badge voided by an erasure.
ERASED = "Personal data erased."


def revoked_reason(claim: BadgeClaim, badge: KnownBadge) -> str:
    if claim.version < badge.version:
        return "This badge was replaced by a reissued one."
    if badge.status == "void":
        if badge.reason == ERASED:
            return "This badge is void: its holder's personal data was erased."
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
        where = f"{gate} gate" if gate else "checked in by hand"
        return f"Already inside since {local:%H:%M}, {where}."
    return {
        Result.ADMITTED: "Welcome.",
        Result.EXITED: "Goodbye.",
        Result.ALREADY_INSIDE: "Already inside.",
        Result.NOT_INSIDE: "This badge is not inside: it cannot leave.",
        Result.INVALID: "Not a valid badge: the code is damaged or forged.",
        Result.UNKNOWN: "This badge is not known here yet.",
        Result.REVOKED: reason or "This badge is no longer valid.",
        Result.WRONG_EVENT: "This badge is for another event.",
        Result.NOT_ALLOWED_HERE: reason or "This badge may not enter here.",
        Result.UNDONE: reason or "A wrong check-in was taken back.",
    }[result]
