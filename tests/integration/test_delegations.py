"""Delegations, first-class: an organiser sets one up with a quota and a code; the first to
register with the code is its head; the head registers, corrects, substitutes and removes
members within the quota; organisers see the delegation with its members and its arrival."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.checkin.models import outbox as checkin_outbox
from services.registration import arrivals
from services.registration.models import Registration
from shared.db import as_utc
from shared.events import RECORD_ARRIVAL, parse_batch, queue_of
from tests.integration.conftest import bearer, delegate

pytestmark = pytest.mark.integration


def member(**overrides) -> dict:
    """A member as the head enters them (no invitation code; the head confirms consent)."""
    body = delegate(**overrides)
    body.pop("category", None)
    return body


@pytest.fixture
def guangzhou(forum):
    """A delegation of Guangzhou, quota 3, and its head registered with its code."""
    created = forum.registration.post(
        "/api/v1/events/gmf2023/delegations",
        json={
            "name": "Guangzhou",
            "kind": "city",
            "organisation": "广州市人民政府",
            "city": "广州",
            "country": "CN",
            "category": "delegate",
            "quota": 3,
            "notes": "Arrives by motorcade at the VIP gate.",
        },
        headers=bearer(forum.organizer_token),
    )
    assert created.status_code == 201, created.get_json()
    delegation = created.get_json()
    head = forum.register(
        given_name="小明",
        family_name="王",
        organisation="广州市人民政府",
        city="广州",
        country="CN",
        category="delegate",
        language="zh",
        title="副市长",
        interpreter="en",
        invitation_code=delegation["code"],
    )
    return delegation, head


def test_an_organiser_sets_up_a_delegation_and_its_code_makes_the_first_registrant_head(
    forum, guangzhou
):
    delegation, head = guangzhou

    assert delegation["code"] and delegation["quota"] == 3
    assert delegation["arrival"] == {
        "members": 0,
        "confirmed": 0,
        "arrived": 0,
        "state": "no_confirmed_members",
    }
    assert head["status"] == "confirmed"  # a delegation's member needs no approval
    assert head["delegation"] == {"id": delegation["id"], "name": "Guangzhou"}
    assert (head["title"], head["interpreter"]) == ("副市长", "en")

    seen = forum.registration.get(
        f"/api/v1/delegations/{delegation['id']}", headers=bearer(head["manage_token"])
    )
    assert seen.status_code == 200, seen.get_json()
    body = seen.get_json()
    assert body["head_id"] == head["id"]
    assert [(m["display_name"], m["is_head"]) for m in body["members"]] == [("王小明", True)]
    assert body["notes"] == "Arrives by motorcade at the VIP gate."


def test_the_head_registers_members_within_the_quota_and_no_further(forum, guangzhou):
    delegation, head = guangzhou
    url = f"/api/v1/delegations/{delegation['id']}/members"
    as_head = bearer(head["manage_token"])

    no_consent = forum.registration.post(url, json=member(consent=False), headers=as_head)
    assert no_consent.status_code == 422
    assert "consent" in no_consent.get_json()["error"]["fields"]

    added = forum.registration.post(
        url, json=member(given_name="Lina", protocol_notes="Vegetarian"), headers=as_head
    )
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["status"] == "confirmed"
    assert added.get_json()["category"] == "delegate"
    assert added.get_json()["protocol_notes"] == "Vegetarian"

    other_category = forum.registration.post(
        url, json={**member(), "category": "vip"}, headers=as_head
    )
    assert other_category.status_code == 403  # only organisers choose another category

    third = forum.registration.post(url, json=member(given_name="Third"), headers=as_head)
    assert third.status_code == 201
    over = forum.registration.post(url, json=member(given_name="Fourth"), headers=as_head)
    assert over.status_code == 409
    assert over.get_json()["error"]["code"] == "quota_full"

    # The code is bound by the same quota.
    late = forum.registration.post(
        "/api/v1/events/gmf2023/registrations",
        json=delegate(category="delegate", invitation_code=delegation["code"]),
    )
    assert late.status_code in (409, 422)

    with forum.registration.application.extensions["registration"].db.reads() as session:
        lina = session.get(Registration, added.get_json()["id"])
        assert lina.consent_basis == "delegation"
        assert lina.consent_version is not None


def test_only_the_head_and_the_events_organisers_manage_a_delegation(forum, guangzhou):
    delegation, head = guangzhou
    url = f"/api/v1/delegations/{delegation['id']}"
    someone = forum.register()

    assert forum.registration.get(url).status_code == 401
    assert forum.registration.get(url, headers=bearer("rc_mng_not-a-token")).status_code == 401
    assert forum.registration.get(url, headers=bearer(someone["manage_token"])).status_code == 403
    as_member = forum.registration.post(
        f"{url}/members", json=member(), headers=bearer(someone["manage_token"])
    )
    assert as_member.status_code == 403
    assert forum.registration.get(url, headers=bearer(forum.organizer_token)).status_code == 200
    assert forum.registration.get(
        "/api/v1/events/gmf2023/delegations", headers=bearer(head["manage_token"])
    ).status_code in (401, 403)

    quota = forum.registration.patch(url, json={"quota": 10}, headers=bearer(head["manage_token"]))
    assert quota.status_code == 403  # the head may change the notes only
    notes = forum.registration.patch(
        url, json={"notes": "Two cars."}, headers=bearer(head["manage_token"])
    )
    assert notes.status_code == 200 and notes.get_json()["notes"] == "Two cars."


def test_a_substitution_voids_the_old_badge_and_hands_the_seat_to_the_new_member(forum, guangzhou):
    delegation, head = guangzhou
    as_head = bearer(head["manage_token"])
    url = f"/api/v1/delegations/{delegation['id']}/members"
    lina = forum.registration.post(url, json=member(given_name="Lina"), headers=as_head)
    lina = lina.get_json()
    old_token = forum.badge_token(lina["id"])

    # The category is now full, with someone waiting: the substitute still gets Lina's seat.
    full = forum.registration.patch(
        "/api/v1/events/gmf2023",
        json={"categories": [{"code": "delegate", "capacity": 2}]},
        headers=bearer(forum.organizer_token),
    )
    assert full.status_code == 200, full.get_json()
    waiting = forum.register(category="delegate", given_name="Waiting")
    assert waiting["status"] == "waitlisted"

    swapped = forum.registration.post(
        f"{url}/{lina['id']}/substitute",
        json=member(given_name="Jun", family_name="Chen", title="Director"),
        headers=as_head,
    )
    assert swapped.status_code == 201, swapped.get_json()
    jun = swapped.get_json()
    assert jun["status"] == "confirmed" and jun["badge"]["status"] == "active"

    before = forum.registration.get(
        f"/api/v1/registrations/{lina['id']}", headers=bearer(forum.organizer_token)
    ).get_json()
    assert before["status"] == "cancelled"
    assert before["badge"]["status"] == "void"
    assert "Substituted by Jun Chen" in before["status_reason"]
    still_waiting = forum.registration.get(
        f"/api/v1/registrations/{waiting['id']}", headers=bearer(forum.organizer_token)
    ).get_json()
    assert still_waiting["status"] == "waitlisted"

    assert forum.scan(old_token)["result"] == "revoked"
    assert forum.scan(forum.badge_token(jun["id"]))["result"] == "admitted"

    body = forum.registration.get(
        f"/api/v1/delegations/{delegation['id']}", headers=as_head
    ).get_json()
    statuses = {m["display_name"]: m["status"] for m in body["members"]}
    assert statuses == {
        "王小明": "confirmed",
        "Lina Brugada Molina": "cancelled",
        "Jun Chen": "confirmed",
    }
    assert body["arrival"]["members"] == 2

    again = forum.registration.post(
        f"{url}/{lina['id']}/substitute", json=member(given_name="Twice"), headers=as_head
    )
    assert again.status_code == 409  # a cancelled member has no place to hand on


def test_the_head_corrects_and_removes_members_and_a_removal_frees_the_place(forum, guangzhou):
    delegation, head = guangzhou
    as_head = bearer(head["manage_token"])
    url = f"/api/v1/delegations/{delegation['id']}/members"
    ids = [
        forum.registration.post(url, json=member(given_name=name), headers=as_head).get_json()["id"]
        for name in ("Ana", "Bo")
    ]

    corrected = forum.registration.patch(
        f"{url}/{ids[0]}", json={"given_name": "Anna"}, headers=as_head
    )
    assert corrected.status_code == 200, corrected.get_json()
    assert corrected.get_json()["badge"]["version"] == 2  # a printed field: reissued

    removed = forum.registration.delete(f"{url}/{ids[1]}", headers=as_head)
    assert removed.status_code == 200 and removed.get_json()["status"] == "cancelled"
    assert (
        forum.registration.post(url, json=member(given_name="Cy"), headers=as_head).status_code
        == 201
    )

    outsider = forum.register()
    stranger = forum.registration.patch(
        f"{url}/{outsider['id']}", json={"given_name": "X"}, headers=as_head
    )
    assert stranger.status_code == 404  # not a member of this delegation


def test_organisers_see_which_delegations_have_arrived(forum, guangzhou):
    delegation, head = guangzhou
    as_head = bearer(head["manage_token"])
    forum.registration.post(
        f"/api/v1/delegations/{delegation['id']}/members",
        json=member(given_name="Lina"),
        headers=as_head,
    )

    def listed():
        answer = forum.registration.get(
            "/api/v1/events/gmf2023/delegations", headers=bearer(forum.organizer_token)
        )
        assert answer.status_code == 200, answer.get_json()
        return next(d for d in answer.get_json() if d["id"] == delegation["id"])

    assert listed()["arrival"]["state"] == "expected"

    assert forum.scan(forum.badge_token(head["id"]))["result"] == "admitted"
    delivered = _deliver_checkin_events(forum)
    assert delivered == [1]
    assert _deliver_checkin_events(forum, again=True) == [0]  # a redelivery: no change

    shown = listed()
    assert shown["arrival"] == {
        "members": 2,
        "confirmed": 2,
        "arrived": 1,
        "state": "partly_arrived",
    }
    arrived = next(m for m in shown["members"] if m["id"] == head["id"])
    assert arrived["arrived_at"] is not None

    not_yet = forum.registration.get(
        "/api/v1/events/gmf2023/registrations?arrived=false&delegation=" + str(delegation["id"]),
        headers=bearer(forum.organizer_token),
    ).get_json()
    assert [r["given_name"] for r in not_yet] == ["Lina"]


def test_a_batch_of_arrivals_is_recorded_once_past_a_malformed_envelope_earliest_first(forum):
    ana, ben = forum.register(given_name="Ana"), forum.register(given_name="Ben")
    for delegate_ in (ana, ben):
        assert forum.scan(forum.badge_token(delegate_["id"]))["result"] == "admitted"
    engine = forum.checkin.application.extensions["checkin"].db.engine
    relayed = []
    checkin_outbox.relay_once(engine, lambda task, message: relayed.append((task, message)))
    [batch] = [message for task, message in relayed if task == RECORD_ARRIVAL]
    broken = {**batch[0], "event_id": "not-a-uuid"}
    stray = {**batch[0], "payload": {"badge_id": batch[0]["payload"]["badge_id"]}}

    assert _record_arrivals(forum, [broken, batch[0], stray, batch[1]]) == 2
    first = _arrived(forum, ana, ben)
    assert None not in first
    assert _record_arrivals(forum, batch) == 0  # a redelivery: no change
    assert _arrived(forum, ana, ben) == first

    # Order-proof: a later admission changes nothing, an earlier one (synced late) wins.
    at = datetime.fromisoformat(batch[0]["payload"]["at"])
    later, earlier = (
        {**batch[0], "payload": {**batch[0]["payload"], "at": (at + shift).isoformat()}}
        for shift in (timedelta(hours=1), -timedelta(hours=1))
    )
    assert _record_arrivals(forum, [later]) == 0
    assert _record_arrivals(forum, [earlier, later]) == 1
    assert _arrived(forum, ana, ben) == [at - timedelta(hours=1), first[1]]


def _arrived(forum, *registrations: dict) -> list:
    sessions = forum.registration.application.extensions["registration"].db.sessions
    with sessions() as session:
        found = [session.get(Registration, r["id"]).arrived_at for r in registrations]
    return [as_utc(at) if at else None for at in found]


def test_a_likely_duplicate_is_registered_with_a_warning_and_organisers_can_find_both(forum):
    first = forum.register(given_name="José", family_name="Pérez", organisation="UN-Habitat")
    assert first["warnings"] == []
    second = forum.register(given_name="PEREZ", family_name="Jose", organisation="UN-Habitat")
    assert [w["code"] for w in second["warnings"]] == ["possible_duplicate"]
    forum.register(given_name="José", family_name="Pérez", organisation="UNICEF")  # not him

    found = forum.registration.get(
        "/api/v1/events/gmf2023/registrations?duplicates=true",
        headers=bearer(forum.organizer_token),
    ).get_json()
    assert sorted(r["id"] for r in found) == sorted([first["id"], second["id"]])


def test_a_delegate_writes_their_own_latin_name_and_the_badge_prints_it(forum):
    wang = forum.register(given_name="小明", family_name="王", country="CN")
    assert wang["latin_name"] is None
    assert wang["printed_latin_name"] == "Wang Xiaoming"

    changed = forum.registration.patch(
        f"/api/v1/registrations/{wang['id']}",
        json={"latin_name": "Wong Siu Ming"},
        headers=bearer(wang["manage_token"]),
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["printed_latin_name"] == "Wong Siu Ming"
    assert changed.get_json()["badge"]["version"] == 2  # printed: the badge is reissued

    back = forum.registration.patch(
        f"/api/v1/registrations/{wang['id']}",
        json={"latin_name": None},
        headers=bearer(wang["manage_token"]),
    )
    assert back.get_json()["printed_latin_name"] == "Wang Xiaoming"


_relayed: list[tuple[str, dict | list[dict]]] = []


def _deliver_checkin_events(forum, again: bool = False) -> list[int]:
    """Carry checkin's outbox to registration's `registration.*` subscribers, as the checkin
    relay and the registration worker do (a batch a message, one transaction a batch); `again`
    delivers the last round once more. Returns how many delegates each message changed."""
    if not again:
        _relayed.clear()
        engine = forum.checkin.application.extensions["checkin"].db.engine
        checkin_outbox.relay_once(engine, lambda task, message: _relayed.append((task, message)))
    return [
        _record_arrivals(forum, message)
        for task, message in _relayed
        if queue_of(task) == "registration"
    ]


def _record_arrivals(forum, envelopes: list[dict]) -> int:
    """What `registration.record_arrival` does with its batch, on the forum's database."""
    sessions = forum.registration.application.extensions["registration"].db.sessions
    admitted = parse_batch(envelopes, RECORD_ARRIVAL)
    with sessions.begin() as session:
        return arrivals.record(session, [(p["badge_id"], p["at"]) for _, p in admitted])
