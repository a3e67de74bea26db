"""Registration rules as plain Python: how names and addresses are compared and shown, and
the lifecycle of a registration: approval, seats, waitlist. No Flask, no database."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

# Scripts whose names are written family name first, without a space: 王小明, 山田太郎.
_FAMILY_FIRST_SCRIPTS = ("CJK UNIFIED", "CJK COMPATIBILITY", "HIRAGANA", "KATAKANA")
_FAMILY_FIRST_SPACED = ("HANGUL",)  # 김 민수


def _script_of(text: str) -> tuple[str, ...]:
    return tuple(unicodedata.name(ch, "") for ch in text if ch.isalpha())


def _written_in(text: str, scripts: tuple[str, ...]) -> bool:
    return any(name.startswith(scripts) for name in _script_of(text))


def clean_text(text: str) -> str:
    """NFC-normalised, trimmed, inner white space folded to single spaces."""
    return " ".join(unicodedata.normalize("NFC", text).split())


# Zero-width (non-)joiners are spelling in Persian and Indic names, not control characters.
_JOINERS = {"\u200c", "\u200d"}


def has_control_characters(text: str) -> bool:
    """Control and format characters, and lone surrogates (JSON can spell `\\ud800`, but no
    database can store it in UTF-8)."""
    return any(unicodedata.category(ch) in {"Cc", "Cf", "Cs"} and ch not in _JOINERS for ch in text)


def email_key(email: str) -> str:
    """The form in which two addresses are compared: one registration per person per event."""
    return clean_text(email).casefold()


def search_key(*texts: str) -> str:
    """What a search matches against: case-folded, NFC, in whatever script was written."""
    return " | ".join(clean_text(t).casefold() for t in texts if t)


def duplicate_key(given_name: str, family_name: str, organisation: str, city: str) -> str:
    """Who a registration likely is, whatever the address: the name's words in any order,
    without case, accents or punctuation, with the organisation and the city. Two
    registrations that share it are probably one person (José Pérez / PEREZ Jose)."""

    def words(text: str) -> list[str]:
        plain = unicodedata.normalize("NFKD", clean_text(text).casefold())
        plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
        return re.findall(r"\w+", plain)

    name = " ".join(sorted(words(given_name) + words(family_name)))
    return f"{name}|{' '.join(words(organisation))}|{' '.join(words(city))}"


def display_name(given_name: str, family_name: str) -> str:
    """The name as the delegate's own script writes it, for badges, gates and mail."""
    given, family = clean_text(given_name), clean_text(family_name)
    if not family:
        return given
    both = given + family
    if _written_in(both, _FAMILY_FIRST_SCRIPTS) and not _written_in(both, ("LATIN",)):
        return family + given
    if _written_in(both, _FAMILY_FIRST_SPACED):
        return f"{family} {given}"
    return f"{given} {family}"


class Status(StrEnum):
    PENDING = "pending"  # awaiting an organiser's approval
    CONFIRMED = "confirmed"  # has a seat and a badge
    WAITLISTED = "waitlisted"  # the category or event is full; promoted in order
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class InvalidTransition(ValueError):
    """The registration is not in a state this action applies to."""


@dataclass(frozen=True)
class Seats:
    """Seats taken and offered: in the delegate's category and in the event as a whole."""

    category_taken: int
    category_capacity: int | None
    event_taken: int
    event_capacity: int | None

    @property
    def available(self) -> bool:
        return all(
            capacity is None or taken < capacity
            for taken, capacity in (
                (self.category_taken, self.category_capacity),
                (self.event_taken, self.event_capacity),
            )
        )


def status_on_registration(needs_approval: bool, invited: bool, seats: Seats) -> Status:
    """Approval first (an invitation code skips it), then a seat or the waitlist."""
    if needs_approval and not invited:
        return Status.PENDING
    return Status.CONFIRMED if seats.available else Status.WAITLISTED


# What each action may start from, and (for the fixed ones) where it leads.
_ACTIONS = {
    "approve": {Status.PENDING},
    "reject": {Status.PENDING, Status.WAITLISTED},
    "cancel": {Status.PENDING, Status.CONFIRMED, Status.WAITLISTED},
    "promote": {Status.WAITLISTED},
}


def check_transition(action: str, status: Status) -> None:
    if status not in _ACTIONS[action]:
        allowed = ", ".join(sorted(s.value for s in _ACTIONS[action]))
        raise InvalidTransition(
            f"Cannot {action} a registration that is {status.value} (only {allowed})."
        )


def status_on_approval(status: Status, seats: Seats) -> Status:
    check_transition("approve", status)
    return Status.CONFIRMED if seats.available else Status.WAITLISTED


def holds_seat(status: Status) -> bool:
    return status is Status.CONFIRMED


# Statuses that hold a place (in a delegation's quota; as a possible duplicate).
MEMBER_STATUSES = (Status.PENDING.value, Status.CONFIRMED.value, Status.WAITLISTED.value)


@dataclass(frozen=True)
class Arrival:
    """How much of a delegation has come: members holding a place, confirmed, arrived."""

    members: int
    confirmed: int
    arrived: int

    @property
    def state(self) -> str:
        if self.arrived == 0:
            return "expected" if self.confirmed else "no_confirmed_members"
        return "arrived" if self.arrived >= self.confirmed else "partly_arrived"
