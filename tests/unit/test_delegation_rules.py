"""Who is likely the same person, and how much of a delegation has arrived: plain rules."""

from __future__ import annotations

import pytest

from services.registration.domain import Arrival, duplicate_key

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("José", "Pérez", "UN-Habitat", "Nairobi"), ("Jose", "PEREZ", "un habitat", "NAIROBI")),
        (("José", "Pérez", "UN-Habitat", "Nairobi"), ("Pérez", "José", "UN-Habitat", "Nairobi")),
        (("小明", "王", "广州市人民政府", "广州"), ("小明", "王", "广州市人民政府", " 广州 ")),
        (
            ("Ἀλέξης", "Ρούσσος", "Δήμος Χαλανδρίου", "Χαλάνδρι"),
            ("Αλεξης", "ΡΟΥΣΣΟΣ", "Δήμος Χαλανδρίου", "Χαλάνδρι"),
        ),
    ],
)
def test_the_same_person_written_differently_has_one_key(one, other):
    assert duplicate_key(*one) == duplicate_key(*other)


@pytest.mark.parametrize(
    "other",
    [
        ("José", "Pérez", "UNICEF", "Nairobi"),  # another organisation
        ("José", "Pérez", "UN-Habitat", "Mexico City"),  # another city
        ("José Luis", "Pérez", "UN-Habitat", "Nairobi"),  # another name
    ],
)
def test_someone_else_has_another_key(other):
    assert duplicate_key("José", "Pérez", "UN-Habitat", "Nairobi") != duplicate_key(*other)


@pytest.mark.parametrize(
    ("arrival", "state"),
    [
        (Arrival(members=0, confirmed=0, arrived=0), "no_confirmed_members"),
        (Arrival(members=3, confirmed=0, arrived=0), "no_confirmed_members"),  # all waiting
        (Arrival(members=3, confirmed=3, arrived=0), "expected"),
        (Arrival(members=3, confirmed=3, arrived=1), "partly_arrived"),
        (Arrival(members=3, confirmed=2, arrived=2), "arrived"),
    ],
)
def test_a_delegation_has_arrived_when_every_confirmed_member_has(arrival, state):
    assert arrival.state == state


@pytest.mark.parametrize(
    ("code", "en", "zh"),
    [("CN", "China", "中国"), ("RU", "Russia", "俄罗斯"), ("MX", "Mexico", "墨西哥")],
)
def test_a_country_has_one_name_per_language_everywhere(code, en, zh):
    from services.registration.exports import country_name
    from shared import countries

    assert countries.name(code) == country_name(code) == en
    assert countries.name(code, "zh") == zh
    assert countries.name("??") == "??"  # no country: the code as given
