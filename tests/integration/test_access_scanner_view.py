"""A scanner learns nothing beyond the badge it scanned: the scan answer names the badge's
display name and category and nothing else of the person, where an organiser reading the same
registration sees everything; a plain scanner cannot list, search or export; the offline badge
list carries only what a gate needs to judge a badge without the network:

    keys (public verify keys), areas (code, name, everyone), categories (code, labels, colour)
    and, per badge: id, version, status, reason, display name, category, areas it may enter.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import bearer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

PERSON = {
    "given_name": "Ximena",
    "family_name": "Quispe Mamani",
    "email": "ximena.quispe@lapaz.example.bo",
    "organisation": "Gobierno Autónomo Municipal de La Paz",
    "city": "Nuestra Señora de La Paz",
    "country": "BO",
    "title": "Alcaldesa",
}
PRIVATE = ("email", "organisation", "city", "title")  # what an organiser sees too
SCAN_FIELDS = {
    "result", "passes", "message", "gate", "area", "scanned_at", "badge", "inside_since",
    "inside_gate", "scan_id",
}  # fmt: skip
OFFLINE_BADGE_FIELDS = {"id", "version", "status", "reason", "display_name", "category", "areas"}


def walk(value) -> list[str]:
    """Every string inside a JSON value, keys included."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *walk(v))]
    if isinstance(value, list):
        return [s for item in value for s in walk(item)]
    return [value] if isinstance(value, str) else []


def leaked(answer_json) -> set[str]:
    """The person's private details that appear anywhere in an answer."""
    text = "\n".join(walk(answer_json))
    return {field for field in PRIVATE if PERSON[field] in text}


@pytest.fixture
def badge(forum) -> dict:
    created = forum.register(**PERSON)
    return {**created, "token": forum.badge_token(created["id"])}


def test_the_scan_answer_names_the_badge_and_nothing_else_of_the_person(forum, badge):
    answer = forum.scan(badge["token"], "North")
    again = forum.scan(badge["token"], "South")

    for seen in (answer, again):
        assert set(seen) <= SCAN_FIELDS
        assert set(seen["badge"]) == {"id", "display_name", "category"}
        assert seen["badge"]["display_name"] == "Ximena Quispe Mamani"
        assert leaked(seen) == set()
    organiser_view = forum.registration.get(
        f"/api/v1/registrations/{badge['id']}", headers=bearer(forum.organizer_token)
    ).get_json()
    assert leaked(organiser_view) == set(PRIVATE)  # the check above can see a leak


def test_a_plain_scanner_cannot_list_search_or_export(forum, badge):
    scanner = bearer(forum.scanner_tokens["North"])
    forbidden = [
        forum.registration.get("/api/v1/events/gmf2023/registrations", headers=scanner),
        forum.registration.get(f"/api/v1/registrations/{badge['id']}", headers=scanner),
        forum.registration.get("/api/v1/events/gmf2023/exports/registrations.csv", headers=scanner),
        forum.registration.get("/api/v1/events/gmf2023/exports/badges.csv", headers=scanner),
        forum.registration.get("/api/v1/events/gmf2023/badges.pdf", headers=scanner),
        forum.checkin.get(
            "/api/v1/events/gmf2023/badges", query_string={"q": "Ximena"}, headers=scanner
        ),
        forum.checkin.get("/api/v1/events/gmf2023/headcount", headers=scanner),
        forum.checkin.get("/api/v1/events/gmf2023/audit", headers=scanner),
    ]

    assert [a.status_code for a in forbidden] == [401] * 5 + [403] * 3
    assert all(leaked(a.get_json()) == set() for a in forbidden)


def test_the_offline_list_gives_a_gate_what_it_needs_and_no_personal_data(forum, badge):
    forum.replicate()
    listed = forum.checkin.get(
        "/api/v1/events/gmf2023/badges/offline", headers=bearer(forum.scanner_tokens["North"])
    ).get_json()

    assert set(listed) == {
        "event", "event_id", "timezone", "generated_at", "token_format", "keys", "areas",
        "categories", "badges",
    }  # fmt: skip
    assert all(set(k) == {"kid", "algorithm", "public_key"} for k in listed["keys"])
    [mine] = [b for b in listed["badges"] if b["display_name"] == "Ximena Quispe Mamani"]
    assert set(mine) == OFFLINE_BADGE_FIELDS
    assert (mine["status"], mine["category"]) == ("active", "mayor")
    assert "venue" in mine["areas"]
    assert leaked(listed) == set()
    assert badge["token"] not in "\n".join(walk(listed))  # no QR codes to copy off a device
