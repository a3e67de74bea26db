"""Data protection, part two, on SQLite and PostgreSQL: erasing a delegate on request blanks
them everywhere registration and checkin keep them (the registration, searches, the audit
trail, the outbox's earlier events, checkin's replica and what a gate shows) while anonymous
counts stay right, and nothing of the person reaches a log line."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select

from services.checkin.models import ReplicaBadge
from services.registration.models import IdempotentRequest, Registration
from services.registration.models import outbox as registration_outbox
from tests.integration.conftest import bearer
from tests.integration.test_consent_and_export import registration_url, unique_person

pytestmark = pytest.mark.integration

PERSONAL = ("given_name", "family_name", "email", "organisation", "city")


def erase(forum, registration: dict, token: str | None = None) -> dict:
    response = forum.registration.post(
        registration_url(registration, "/erase"),
        headers=bearer(token or registration["manage_token"]),
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def search(forum, **params) -> list[dict]:
    response = forum.registration.get(
        "/api/v1/events/gmf2023/registrations",
        query_string=params,
        headers=bearer(forum.organizer_token),
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def registration_db(forum):
    return forum.registration.application.extensions["registration"].db


def stored_payloads(forum) -> str:
    """Every event registration's outbox keeps, as one text."""
    table = registration_outbox.table
    with registration_db(forum).reads() as session:
        return json.dumps(list(session.scalars(select(table.c.payload))), ensure_ascii=False)


def test_erasure_blanks_the_person_in_registration_and_keeps_what_counts_need(forum):
    person = forum.register(**unique_person(category="speaker", country="CA"))
    mine = bearer(person["manage_token"])
    forum.registration.patch(
        registration_url(person), json={"dietary": "Kosher", "accessibility": "Ramp"}, headers=mine
    )

    erased = erase(forum, person)

    assert (erased["given_name"], erased["display_name"]) == ("Erased", "Erased")
    assert all(erased[f] == "" for f in ("family_name", "email", "organisation", "city"))
    assert (erased["dietary"], erased["accessibility"]) == ("", "")
    assert (erased["category"], erased["country"], erased["status"]) == (
        "speaker",
        "CA",
        "confirmed",
    )
    assert erased["badge"]["status"] == "void"
    assert erased["erased_at"]
    assert erased["consent"]["basis"] == "delegate"  # how the data was held stays on record
    again = forum.registration.get(registration_url(person), headers=mine).get_json()
    assert again == erased  # the manage token still reads what is left
    export = forum.registration.get(registration_url(person, "/data"), headers=mine)
    for field in PERSONAL:
        assert person[field] not in export.get_data(as_text=True)
    for needle in (person["family_name"], person["email"], person["city"]):
        assert search(forum, q=needle) == []
    assert [r["id"] for r in search(forum, category="speaker", country="CA")] == [person["id"]]
    with registration_db(forum).reads() as session:
        assert session.get(Registration, person["id"]).search_key == ""


def test_erasure_reaches_the_audit_trail_the_outbox_and_stored_answers(forum):
    person = forum.register(**unique_person(category="media"))
    body = {**unique_person(), "category": "mayor", "country": "CA", "consent": True}
    retried = forum.registration.post(
        "/api/v1/events/gmf2023/registrations", json=body, headers={"Idempotency-Key": "k-1"}
    ).get_json()
    organiser = forum.organizer_token
    reason = f"Accreditation of {person['family_name']} not confirmed"
    forum.registration.post(
        registration_url(person, "/reject"), json={"reason": reason}, headers=bearer(organiser)
    )
    forum.replicate()

    erase(forum, person, organiser)
    erase(forum, retried, organiser)

    trail = forum.registration.get(
        "/api/v1/events/gmf2023/audit", headers=bearer(organiser)
    ).get_json()
    ours = [e for e in trail if e["registration_id"] == person["id"]]
    assert [e["action"] for e in ours] == [
        "delegate.erased",
        "delegate.rejected",
        "delegate.registered",
    ]
    assert (ours[0]["actor"], ours[0]["detail"]) == ("organiser:owner", {"basis": "request"})
    assert ours[1]["detail"] == {"reason": "[erased]"}
    payloads = stored_payloads(forum)
    for gone in (person, retried):
        for field in PERSONAL:
            assert gone[field] not in payloads, field
        assert gone["manage_token"] not in payloads
    with registration_db(forum).reads() as session:
        assert session.scalars(select(IdempotentRequest)).all() == []


def test_checkins_replica_and_the_gate_forget_the_name_while_the_headcount_stays_right(forum):
    arrived = forum.register(**unique_person(category="mayor"))
    stayed = forum.register(category="mayor")
    forum.register(category="delegate")
    token = forum.badge_token(arrived["id"])
    assert forum.scan(token)["result"] == "admitted"

    erase(forum, arrived)
    forum.replicate()

    sessions = forum.checkin.application.extensions["checkin"].db.reads
    with sessions() as session:
        badge = session.get(ReplicaBadge, arrived["badge"]["id"])
        assert (badge.display_name, badge.status, badge.category) == ("Erased", "void", "mayor")
    answer = forum.scan(token, gate="South")
    assert (answer["passes"], answer["badge"]["display_name"]) == (False, "Erased")
    assert answer["message"] == "This badge is void: its holder's personal data was erased."
    assert arrived["given_name"] not in json.dumps(answer, ensure_ascii=False)
    count = forum.headcount()
    # Expected now: the other mayor and the delegate; the erased mayor's arrival still counts.
    assert count["by_category"]["mayor"] == {"registered": 1, "arrived": 1, "inside": 1}
    assert count["by_category"]["delegate"]["registered"] == 1
    assert count["registered"] == 2
    assert stayed["badge"]["status"] == "active"
    erased_events = [(task, e) for task, e in forum.published if e["type"] == "delegate.erased"]
    assert sorted(task for task, _e in erased_events) == [
        "checkin.apply_registration_event",
        "notify.forget_delegate",
        "notify.webhook_event",
    ]
    assert arrived["email"] not in json.dumps(erased_events, ensure_ascii=False)


def test_erasing_twice_is_harmless_and_announced_once(forum):
    person = forum.register()

    first = erase(forum, person)
    second = erase(forum, person, forum.organizer_token)

    assert first == second
    forum.replicate()
    erasures = {e["event_id"] for _task, e in forum.published if e["type"] == "delegate.erased"}
    assert len(erasures) == 1


def test_an_erased_registration_can_no_longer_change(forum):
    person = forum.register(category="media")
    erase(forum, person)
    organiser = bearer(forum.organizer_token)

    attempts = [
        forum.registration.patch(
            registration_url(person), json={"city": "X"}, headers=bearer(person["manage_token"])
        ),
        forum.registration.post(registration_url(person, "/cancel"), json={}, headers=organiser),
        forum.registration.post(registration_url(person, "/approve"), headers=organiser),
    ]

    for response in attempts:
        assert response.status_code == 409
        assert response.get_json()["error"]["code"] == "erased"


def test_an_erased_delegates_seat_goes_to_the_first_on_the_waitlist(forum):
    forum.registration.patch(
        "/api/v1/events/gmf2023",
        json={"categories": [{"code": "speaker", "capacity": 1}]},
        headers=bearer(forum.organizer_token),
    )
    seated = forum.register(category="speaker")
    waiting = forum.register(category="speaker")
    assert waiting["status"] == "waitlisted"

    erase(forum, seated)

    promoted = forum.registration.get(
        registration_url(waiting), headers=bearer(waiting["manage_token"])
    ).get_json()
    assert promoted["status"] == "confirmed"


def test_only_the_delegate_or_an_organiser_may_erase(forum):
    person, other = forum.register(), forum.register()
    url = registration_url(person, "/erase")

    assert forum.registration.post(url).status_code == 401
    assert forum.registration.post(url, headers=bearer(other["manage_token"])).status_code == 403
    assert forum.registration.get(registration_url(person), headers=bearer(person["manage_token"]))


def test_no_log_line_names_the_person_through_registration_export_and_erasure(forum, caplog):
    caplog.set_level(logging.DEBUG)
    person = unique_person()
    registered = forum.register(**person)
    mine = bearer(registered["manage_token"])
    forum.registration.patch(registration_url(registered), json={"city": "Lévis"}, headers=mine)
    forum.registration.get(registration_url(registered, "/data"), headers=mine)
    forum.replicate()
    erase(forum, registered)
    forum.replicate()

    logged = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.stack_info or ''}" for r in caplog.records
    )
    for field in PERSONAL:
        assert person[field] not in logged, field
    assert "Lévis" not in logged


def test_events_not_sent_before_the_erasure_are_withheld_and_no_badge_mail_goes_out(forum):
    person = forum.register()  # erased before the relay has sent its registration

    erase(forum, person)
    forum.replicate()

    about = [
        (task, e["type"])
        for task, e in forum.published
        if (e["payload"].get("delegate") or {}).get("id") == person["id"]
    ]
    assert sorted(about) == [
        ("checkin.apply_registration_event", "delegate.erased"),
        ("notify.forget_delegate", "delegate.erased"),
        ("notify.webhook_event", "delegate.erased"),
    ]
    sessions = forum.checkin.application.extensions["checkin"].db.reads
    with sessions() as session:
        badge = session.get(ReplicaBadge, person["badge"]["id"])
        assert (badge.display_name, badge.status) == ("Erased", "void")
