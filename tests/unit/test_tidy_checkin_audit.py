"""checkin's audit trail keeps the shape of a search, never its words (they may be a name)."""

from __future__ import annotations

import pytest

from services.checkin.audit import redacted


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("小明", {"length": 2, "scripts": ["han"]}),
        ("WANG xiao", {"length": 9, "scripts": ["latin"]}),
        ("ΡΟΎΣΣΟΣ", {"length": 7, "scripts": ["greek"]}),
        ("Иван Petrov", {"length": 11, "scripts": ["cyrillic", "latin"]}),
        ("김민준", {"length": 3, "scripts": ["hangul"]}),
        ("100%_", {"length": 5, "scripts": ["digits"]}),
    ],
)
def test_a_search_is_kept_as_its_length_and_scripts(query, kept):
    assert redacted(query) == kept
    assert query not in str(redacted(query))


def test_a_badge_number_names_nobody_and_is_kept_as_typed():
    assert redacted(" 4711 ") == {"length": 4, "scripts": ["digits"], "number": "4711"}
