"""Registration rules as plain Python: how names and addresses are compared and shown, and
what status a new registration gets. No Flask, no database."""

from __future__ import annotations

import unicodedata

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
    return any(unicodedata.category(ch) in {"Cc", "Cf"} and ch not in _JOINERS for ch in text)


def email_key(email: str) -> str:
    """The form in which two addresses are compared: one registration per person per event."""
    return clean_text(email).casefold()


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
