"""Tokens are stored hashed and compared in constant time. After every kind of secret has been
made (organiser tokens, scanner and supervisor tokens, manage tokens, invitation and delegation
codes, a webhook secret, a live-stream ticket, the feed token), no table of the three services
holds any of them in plain text; the digests that are stored do not work as tokens; and the
comparisons that are not database lookups go through `hmac.compare_digest`.

Badge QR tokens are not in this list on purpose: they are signed claims (badge id, version)
that registration's events carry so that notify can mail the QR; see SECURITY.md."""

from __future__ import annotations

import hmac
import json

import pytest
from sqlalchemy import inspect, text

from shared import access
from tests.integration.conftest import bearer
from tests.support.access import ORGANISER, SLUG, World, notify_app_for

pytestmark = pytest.mark.integration
ONE_KIND = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def world(forum, build_app) -> World:
    return World(forum, notify_app_for(forum, build_app))


def every_secret(world: World) -> dict[str, str]:
    """Make one of each kind of secret the system hands out, through the API."""
    org = world.tokens[ORGANISER]
    gate = world.gate_id()
    made = {f"token:{name}": token for name, token in world.tokens.items()}
    created = world.registration()
    made["manage token"] = created["manage_token"]
    made["device token"] = world._as_organiser(
        "checkin", f"/api/v1/events/{SLUG}/gates/{gate}/tokens", {"label": "Phone 9"}
    )["token"]
    made["invitation code"] = world._as_organiser(
        "registration",
        f"/api/v1/events/{SLUG}/invitations",
        {"category": "mayor", "uses": 1, "label": "x"},
    )["code"]
    made["delegation code"] = world._as_organiser(
        "registration",
        f"/api/v1/events/{SLUG}/delegations",
        {"name": "Quito", "kind": "city", "organisation": "Municipio", "city": "Quito",
         "country": "EC", "category": "delegate", "quota": 2},
    )["code"]  # fmt: skip
    made["webhook secret"] = world._created(
        "notify",
        f"/api/v1/events/{SLUG}/webhooks",
        {"url": "http://127.0.0.1:9/h", "event_types": ["delegate.confirmed"]},
        org,
    )["secret"]
    made["live ticket"] = world.ticket()
    world.replicate()
    return made


def every_text_value(engine) -> list[tuple[str, str]]:
    """(table.column, value) for every non-null value of every column of every table, as text
    (JSON columns and bytes included)."""
    found = []
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            rows = connection.execute(text(f'SELECT * FROM "{table}"')).mappings()
            for row in rows:
                for column, value in row.items():
                    if value is None or isinstance(value, int | float):
                        continue
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("utf-8", "replace")
                    elif not isinstance(value, str):
                        value = json.dumps(value, default=str, ensure_ascii=False)
                    found.append((f"{table}.{column}", value))
    return found


def test_no_table_holds_a_secret_in_plain_text(world):
    secrets = every_secret(world)
    engine = world.forum.registration.application.extensions["registration"].db.engine

    values = every_text_value(engine)
    leaks = [
        f"{kind} in {column}"
        for kind, secret in secrets.items()
        for column, value in values
        if secret in value
    ]

    assert len(values) > 100  # the walk read the tables
    assert any(access.digest(secrets["manage token"]) in v for _c, v in values)  # digests are
    assert leaks == []


@ONE_KIND
def test_a_stolen_digest_does_not_work_as_a_token(world):
    engine = world.forum.registration.application.extensions["registration"].db.engine
    with engine.connect() as connection:

        def first(query: str) -> str:
            return connection.execute(text(query)).scalars().first()

        organiser = first("SELECT digest FROM organizer_tokens")
        manage = first("SELECT manage_digest FROM registrations")
        scanner = first("SELECT digest FROM scanner_tokens")
    registration, gates = world.clients["registration"], world.clients["checkin"]
    audit = f"/api/v1/events/{SLUG}/audit"
    someone = f"/api/v1/registrations/{world.bystander['id']}"

    assert registration.get(audit, headers=bearer(organiser)).status_code == 401
    assert registration.get(someone, headers=bearer(manage)).status_code == 401
    assert gates.get("/api/v1/device", headers=bearer(scanner)).status_code == 401


@ONE_KIND
def test_feed_and_manage_tokens_are_compared_in_constant_time(world, monkeypatch):
    compared = []
    original = hmac.compare_digest

    def recording(a, b):
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    feed, registration = world.tokens["feed"], world.clients["registration"]

    assert registration.get("/api/v1/feed", headers=bearer(feed)).status_code == 200
    assert registration.get("/api/v1/feed", headers=bearer("rc_feed_guess")).status_code == 401
    mine = world.registration()
    url = f"/api/v1/registrations/{mine['id']}"
    assert registration.get(url, headers=bearer(mine["manage_token"])).status_code == 200

    assert (access.digest(feed), access.digest(feed)) in compared
    assert (access.digest("rc_feed_guess"), access.digest(feed)) in compared
    assert any(access.digest(mine["manage_token"]) in pair for pair in compared)
