"""Retention, on SQLite and PostgreSQL: an event keeps personal data for `retention_days` after
its last day (organisers set it when creating or editing the event), then the daily purge
erases every registration of that event, and only of that event, keeping the counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from services.registration import erasure
from services.registration.models import Registration
from tests.integration.conftest import bearer, delegate
from tests.integration.test_consent_and_export import unique_person

pytestmark = pytest.mark.integration

EVENTS = "/api/v1/events"
# gmf2023 ends on 9 December 2023, in Asia/Shanghai (UTC+8).
LAST_KEPT_MOMENT = datetime(2024, 1, 8, 15, 59, tzinfo=UTC)  # 23:59 on 8 January in Guangzhou
FIRST_PURGE_MOMENT = datetime(2024, 1, 8, 16, 0, tzinfo=UTC)  # midnight: 9 January begins


def set_retention(forum, slug: str, days: int | None, token: str | None = None) -> dict:
    response = forum.registration.patch(
        f"{EVENTS}/{slug}",
        json={"retention_days": days},
        headers=bearer(token or forum.organizer_token),
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def create_event(forum, slug: str, ends_on: str, **fields) -> dict:
    body = {
        "slug": slug,
        "name": f"Forum {slug}",
        "venue": "Hall",
        "timezone": "Asia/Shanghai",
        "starts_on": ends_on,
        "ends_on": ends_on,
        "categories": [{"code": "guest", "label": "Guest"}],
        **fields,
    }
    response = forum.registration.post(EVENTS, json=body, headers=bearer(forum.organizer_token))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def register_at(forum, slug: str) -> dict:
    response = forum.registration.post(
        f"{EVENTS}/{slug}/registrations", json=delegate(**unique_person(category="guest"))
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def purge(forum, now: datetime) -> int:
    return erasure.purge_expired(
        forum.registration.application.extensions["registration"].db.sessions, now=now
    )


def rows(forum, ids) -> dict[int, Registration]:
    with forum.registration.application.extensions["registration"].db.reads() as session:
        found = session.scalars(select(Registration).where(Registration.id.in_(ids)))
        return {r.id: r for r in found}


def test_organisers_set_a_retention_period_when_creating_or_editing_an_event(forum):
    created = create_event(forum, "expo-2030", "2030-05-01", retention_days=90)
    assert (created["retention_days"], created["personal_data_kept_until"]) == (90, "2030-07-30")

    own = created["organizer_token"]
    assert set_retention(forum, "expo-2030", 0, own)["personal_data_kept_until"] == "2030-05-01"
    cleared = set_retention(forum, "expo-2030", None, own)
    assert (cleared["retention_days"], cleared["personal_data_kept_until"]) == (None, None)
    for wrong in (-1, 3651, "soon"):
        refused = forum.registration.patch(
            f"{EVENTS}/expo-2030", json={"retention_days": wrong}, headers=bearer(own)
        )
        assert refused.status_code == 422
        assert "retention_days" in refused.get_json()["error"]["fields"]


def test_the_purge_erases_exactly_the_registrations_of_events_past_their_retention(forum):
    set_retention(forum, "gmf2023", 30)
    create_event(forum, "future-forum", "2099-01-01", retention_days=0)
    create_event(forum, "kept-forum", "2020-01-01")  # no period set: kept
    expired = [forum.register(**unique_person()) for _ in range(3)]
    kept = [register_at(forum, "future-forum"), register_at(forum, "kept-forum")]

    assert purge(forum, LAST_KEPT_MOMENT) == 0
    assert purge(forum, FIRST_PURGE_MOMENT) == 3
    assert purge(forum, FIRST_PURGE_MOMENT) == 0  # nothing is erased twice

    stored = rows(forum, [r["id"] for r in expired + kept])
    for registration in expired:
        row = stored[registration["id"]]
        assert row.erased_at is not None
        assert (row.given_name, row.email, row.city) == ("Erased", "", "")
        assert (row.category, row.country, row.status) == ("mayor", "MX", "confirmed")
    for registration in kept:
        row = stored[registration["id"]]
        assert row.erased_at is None
        assert row.given_name == registration["given_name"]
    trail = forum.registration.get(
        f"{EVENTS}/gmf2023/audit", headers=bearer(forum.organizer_token)
    ).get_json()
    purged = [e for e in trail if e["action"] == "delegate.erased"]
    assert {(e["actor"], e["detail"]["basis"]) for e in purged} == {
        ("system:retention", "retention")
    }
    assert len(purged) == 3


def test_after_the_purge_the_counts_by_category_and_country_stay(forum):
    set_retention(forum, "gmf2023", 0)
    for category, country in [("mayor", "CN"), ("mayor", "GR"), ("delegate", "CN")]:
        forum.register(category=category, country=country)
    before = {
        (r["category"], r["country"], r["status"])
        for r in forum.registration.get(
            f"{EVENTS}/gmf2023/registrations", headers=bearer(forum.organizer_token)
        ).get_json()
    }

    assert purge(forum, datetime.now(UTC)) == 3

    after = forum.registration.get(
        f"{EVENTS}/gmf2023/registrations", headers=bearer(forum.organizer_token)
    ).get_json()
    assert {(r["category"], r["country"], r["status"]) for r in after} == before
    assert {r["display_name"] for r in after} == {"Erased"}
    assert len(after) == 3
