"""What a supervisor's search matches a name against: the name case-folded and without
accents, in any script, and its Latin transliteration (王小明 is found as "wang xiaoming")."""

from __future__ import annotations

import unicodedata

from shared.printing.transliteration import transliterate


def fold(text: str) -> str:
    """Case-folded, compatibility-normalised, without combining accents: "Ñúñez" → "nunez"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def search_text(display_name: str) -> str:
    folded = fold(display_name)
    latin = transliterate(display_name)
    if latin and fold(latin) != folded:
        folded = f"{folded} | {fold(latin)}"
    return folded[:500]
