"""A registration's life as organisers and delegates drive it through the API, on SQLite and
PostgreSQL: approval, waitlist and promotion, corrections, cancellation, badge revocation and
reissue, and what the gates make of each."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select

from services import registration
from services.registration.lifecycle import LISTED_DUPLICATES
from services.registration.models import outbox as registration_outbox
from shared.events import as_batch
from tests.integration.conftest import bearer, delegate

pytestmark = pytest.mark.integration

EVENTS = "/api/v1/events"


def post(forum, url: str, token: str, body: dict | None = None):
    return forum.registration.post(url, json=body or {}, headers=bearer(token))


def act(forum, registration_id: int, action: str, body: dict | None = None) -> dict:
    response = post(
        forum, f"/api/v1/registrations/{registration_id}/{action}", forum.organizer_token, body
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def set_capacity(forum, category: str, capacity: int | None) -> None:
    response = forum.registration.patch(
        f"{EVENTS}/gmf2023",
        json={"categories": [{"code": category, "capacity": capacity}]},
        headers=bearer(forum.organizer_token),
    )
    assert response.status_code == 200, response.get_json()


def published_types(forum, registration_id: int) -> list[str]:
    forum.replicate()
    return [
        e["type"]
        for _task, e in forum.published
        if (e["payload"].get("delegate") or {}).get("id") == registration_id
    ]


def test_a_category_that_needs_approval_is_pending_without_a_badge_until_approved(forum):
    pending = forum.register(category="media")
    assert (pending["status"], pending["badge"]) == ("pending", None)

    approved = act(forum, pending["id"], "approve")

    assert approved["status"] == "confirmed"
    assert approved["badge"]["status"] == "active"
    assert forum.scan(forum.badge_token(pending["id"]))["result"] == "admitted"
    assert "delegate.confirmed" in published_types(forum, pending["id"])


def test_rejection_needs_a_reason_and_only_applies_to_pending_or_waitlisted(forum):
    pending = forum.register(category="media")
    confirmed = forum.register(category="mayor")

    no_reason = post(forum, f"/api/v1/registrations/{pending['id']}/reject", forum.organizer_token)
    assert no_reason.status_code == 422
    rejected = act(forum, pending["id"], "reject", {"reason": "Not accredited press."})
    assert (rejected["status"], rejected["status_reason"]) == ("rejected", "Not accredited press.")

    response = post(
        forum,
        f"/api/v1/registrations/{confirmed['id']}/reject",
        forum.organizer_token,
        {"reason": "x"},
    )
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "invalid_transition"


def test_a_full_category_waitlists_and_a_cancellation_promotes_the_first_in_line(forum):
    set_capacity(forum, "speaker", 1)
    seated = forum.register(category="speaker")
    first = forum.register(category="speaker")
    second = forum.register(category="speaker")
    assert [r["status"] for r in (seated, first, second)] == [
        "confirmed",
        "waitlisted",
        "waitlisted",
    ]

    cancelled = post(
        forum, f"/api/v1/registrations/{seated['id']}/cancel", seated["manage_token"], {}
    ).get_json()

    assert cancelled["status"] == "cancelled"
    assert cancelled["badge"]["status"] == "void"
    mine = bearer(first["manage_token"])
    promoted = forum.registration.get(f"/api/v1/registrations/{first['id']}", headers=mine)
    assert promoted.get_json()["status"] == "confirmed"
    still = forum.registration.get(
        f"/api/v1/registrations/{second['id']}", headers=bearer(second["manage_token"])
    )
    assert still.get_json()["status"] == "waitlisted"
    assert forum.scan(forum.badge_token(seated["id"]))["result"] == "revoked"
    assert forum.scan(forum.badge_token(first["id"]))["result"] == "admitted"


def test_raising_a_capacity_promotes_the_waitlist_at_once(forum):
    set_capacity(forum, "staff", 0)
    waiting = [forum.register(category="staff") for _ in range(3)]
    assert {r["status"] for r in waiting} == {"waitlisted"}

    set_capacity(forum, "staff", 2)

    statuses = [
        forum.registration.get(
            f"/api/v1/registrations/{r['id']}", headers=bearer(forum.organizer_token)
        ).get_json()["status"]
        for r in waiting
    ]
    assert statuses == ["confirmed", "confirmed", "waitlisted"]


def test_fifty_registrations_racing_for_the_last_ten_seats_confirm_exactly_ten(forum, build_app):
    set_capacity(forum, "delegate", 10)
    clients = [build_app(registration, forum.settings).test_client() for _ in range(5)]
    barrier = threading.Barrier(50)
    statuses: list[str] = []

    def register(i: int) -> None:
        barrier.wait()
        response = clients[i % len(clients)].post(
            f"{EVENTS}/gmf2023/registrations", json=delegate(category="delegate")
        )
        statuses.append(response.get_json().get("status") or str(response.get_json()))

    threads = [threading.Thread(target=register, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == ["confirmed"] * 10 + ["waitlisted"] * 40


def test_a_revoked_badge_is_refused_at_the_gate_with_the_reason(forum):
    mayor = forum.register()
    token = forum.badge_token(mayor["id"])

    revoked = act(forum, mayor["id"], "badge/revoke", {"reason": "Reported lost."})

    assert revoked["badge"] == {**revoked["badge"], "status": "revoked", "reason": "Reported lost."}
    forum.replicate()
    answer = forum.scan(token)
    assert (answer["result"], answer["message"]) == (
        "revoked",
        "This badge was revoked: Reported lost.",
    )
    again = post(
        forum,
        f"/api/v1/registrations/{mayor['id']}/badge/revoke",
        forum.organizer_token,
        {"reason": "x"},
    )
    assert again.status_code == 409


def test_a_reissued_badge_admits_and_the_old_one_is_replaced(forum):
    mayor = forum.register()
    old = forum.badge_token(mayor["id"])

    reissued = act(forum, mayor["id"], "badge/reissue")

    assert reissued["badge"]["version"] == 2
    new = forum.badge_token(mayor["id"])
    assert new != old
    assert forum.scan(old)["message"] == "This badge was replaced by a reissued one."
    assert forum.scan(new)["result"] == "admitted"
    assert "badge.reissued" in published_types(forum, mayor["id"])


def test_a_delegate_correcting_the_printed_name_gets_a_new_badge(forum):
    mayor = forum.register(given_name="Xiaoming", family_name="Wang")
    old = forum.badge_token(mayor["id"])
    url = f"/api/v1/registrations/{mayor['id']}"

    corrected = forum.registration.patch(
        url, json={"given_name": "小明", "family_name": "王"}, headers=bearer(mayor["manage_token"])
    ).get_json()

    assert (corrected["display_name"], corrected["badge"]["version"]) == ("王小明", 2)
    assert forum.scan(old)["result"] == "revoked"
    admitted = forum.scan(forum.badge_token(mayor["id"]))
    assert admitted["badge"]["display_name"] == "王小明"

    needs = forum.registration.patch(
        url,
        json={"dietary": "Halal", "accessibility": "Wheelchair"},
        headers=bearer(mayor["manage_token"]),
    ).get_json()
    assert (needs["dietary"], needs["badge"]["version"]) == ("Halal", 2)
    assert published_types(forum, mayor["id"])[-1] == "delegate.updated"


def test_a_correction_cannot_take_another_delegates_address_or_be_empty(forum):
    mine, theirs = forum.register(), forum.register()
    url = f"/api/v1/registrations/{mine['id']}"

    taken = forum.registration.patch(
        url, json={"email": theirs["email"].upper()}, headers=bearer(mine["manage_token"])
    )
    assert taken.status_code == 409
    empty = forum.registration.patch(url, json={}, headers=bearer(mine["manage_token"]))
    assert empty.status_code == 422


def test_delegates_cannot_act_as_organisers_nor_on_each_other(forum):
    mine, theirs = forum.register(category="media"), forum.register()

    approve_own = post(forum, f"/api/v1/registrations/{mine['id']}/approve", mine["manage_token"])
    assert approve_own.status_code == 403
    cancel_other = post(forum, f"/api/v1/registrations/{theirs['id']}/cancel", mine["manage_token"])
    assert cancel_other.status_code == 403
    listing = forum.registration.get(
        f"{EVENTS}/gmf2023/registrations", headers=bearer(mine["manage_token"])
    )
    assert listing.status_code == 403
    assert post(forum, f"/api/v1/registrations/{mine['id']}/approve", "rc_org_x").status_code == 401


def test_an_organiser_of_another_event_cannot_touch_this_one(forum):
    other = create_event(forum, slug="canton-fair")
    mayor = forum.register()

    response = post(
        forum, f"/api/v1/registrations/{mayor['id']}/badge/reissue", other["organizer_token"]
    )
    assert response.status_code == 403
    listing = forum.registration.get(
        f"{EVENTS}/gmf2023/registrations", headers=bearer(other["organizer_token"])
    )
    assert listing.status_code == 403


def test_organisers_search_names_in_any_script_and_filter(forum):
    forum.register(given_name="Γιώργος", family_name="Παπαδόπουλος", city="Χαλάνδρι")
    forum.register(given_name="小明", family_name="王", organisation="广州市人民政府")
    forum.register(given_name="Clara", family_name="Brugada", category="media")

    def search(**params) -> list[str]:
        response = forum.registration.get(
            f"{EVENTS}/gmf2023/registrations",
            query_string=params,
            headers=bearer(forum.organizer_token),
        )
        assert response.status_code == 200, response.get_json()
        return [r["display_name"] for r in response.get_json()]

    assert search(q="ΓΙΏΡΓΟΣ") == ["Γιώργος Παπαδόπουλος"]
    assert search(q="广州") == ["王小明"]
    assert search(q="brugada", status="pending") == ["Clara Brugada"]
    assert search(category="media") == ["Clara Brugada"]
    assert search(q="100%_") == []


def test_the_registration_list_is_paginated_with_totals(forum):
    for _ in range(5):
        forum.register()

    response = forum.registration.get(
        f"{EVENTS}/gmf2023/registrations",
        query_string={"page": 2, "page_size": 2},
        headers=bearer(forum.organizer_token),
    )

    assert len(response.get_json()) == 2
    pagination = json.loads(response.headers["X-Pagination"])
    assert (pagination["total"], pagination["total_pages"], pagination["page"]) == (5, 3, 2)


def test_the_audit_trail_says_who_did_what(forum):
    pending = forum.register(category="media")
    act(forum, pending["id"], "approve")
    act(forum, pending["id"], "badge/revoke", {"reason": "Lost."})

    trail = forum.registration.get(
        f"{EVENTS}/gmf2023/audit", headers=bearer(forum.organizer_token)
    ).get_json()

    ours = [(e["action"], e["actor"]) for e in trail if e["registration_id"] == pending["id"]]
    assert ours == [
        ("badge.revoked", "organiser:owner"),
        ("delegate.confirmed", "organiser:owner"),
        ("delegate.registered", "delegate"),
    ]
    assert trail[0]["detail"] == {"reason": "Lost."}


def create_event(forum, **overrides) -> dict:
    body = {
        "slug": "canton-fair",
        "name": "China Import and Export Fair",
        "venue": "Canton Fair Complex, Guangzhou",
        "timezone": "Asia/Shanghai",
        "starts_on": "2024-04-15",
        "ends_on": "2024-04-19",
        "capacity": 200000,
        "categories": [
            {"code": "buyer", "label": "Buyer", "areas": ["hall-a"]},
            {"code": "press", "label": "Press", "needs_approval": True, "colour": "#b45309"},
        ],
        **overrides,
    }
    response = post(forum, EVENTS, forum.organizer_token, body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_organisers_create_and_edit_events_with_categories(forum):
    created = create_event(forum)

    assert created["organizer_token"].startswith("rc_org_")
    assert [c["code"] for c in created["categories"]] == ["buyer", "press"]
    own = bearer(created["organizer_token"])
    patched = forum.registration.patch(
        f"{EVENTS}/canton-fair",
        json={"name": "Canton Fair", "categories": [{"code": "exhibitor", "label": "Exhibitor"}]},
        headers=own,
    ).get_json()
    assert patched["name"] == "Canton Fair"
    assert [c["code"] for c in patched["categories"]] == ["buyer", "press", "exhibitor"]
    assert post(forum, EVENTS, created["organizer_token"], {}).status_code == 422


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"timezone": "Mars/Olympus"}, 422, "timezone"),
        ({"slug": "Not A Slug"}, 422, "slug"),
        ({"ends_on": "2024-04-01"}, 422, "ends_on"),
        ({"categories": []}, 422, "categories"),
        ({"slug": "gmf2023"}, 409, None),
    ],
)
def test_an_invalid_event_is_refused_clearly(forum, change, status, field):
    body = {
        "slug": "expo",
        "name": "Expo",
        "venue": "Hall",
        "timezone": "Asia/Shanghai",
        "starts_on": "2024-04-15",
        "ends_on": "2024-04-19",
        "categories": [{"code": "visitor", "label": "Visitor"}],
        **change,
    }
    response = post(forum, EVENTS, forum.organizer_token, body)

    assert response.status_code == status
    if field:
        assert field in response.get_json()["error"]["fields"]


def test_creating_an_event_needs_an_organiser_token(forum):
    assert forum.registration.post(EVENTS, json={}).status_code == 401


def test_the_replica_keeps_the_newest_state_whatever_order_events_arrive_in(forum):
    from services.checkin import replica
    from services.checkin.models import ReplicaBadge
    from shared.events import parse

    mayor = forum.register()
    act(forum, mayor["id"], "badge/revoke", {"reason": "Lost."})
    act(forum, mayor["id"], "badge/reissue")
    batch: list[dict] = []
    engine = forum.registration.application.extensions["registration"].db.engine
    registration_outbox.relay_once(engine, lambda task, msg: batch.extend(as_batch(msg)))
    ours = [e for e in batch if (e["payload"].get("delegate") or {}).get("id") == mayor["id"]]
    sessions = forum.checkin.application.extensions["checkin"].db.sessions

    for envelope in reversed(ours):  # newest first: the older ones must change nothing
        with sessions.begin() as session:
            replica.apply(session, *parse(envelope))

    with sessions() as session:
        badge = session.get(ReplicaBadge, mayor["badge"]["id"])
        assert (badge.version, badge.status, badge.revision) == (2, "active", 3)


def test_a_registration_lists_at_most_the_ten_earliest_likely_duplicates(forum):
    same = {"given_name": "Jana", "family_name": "Novák", "organisation": "Praha"}
    earlier = [forum.register(**same)["id"] for _ in range(LISTED_DUPLICATES + 2)]
    latest = forum.register(**same)

    assert [w["code"] for w in latest["warnings"]] == ["possible_duplicate"]
    table = registration_outbox.table
    sessions = forum.registration.application.extensions["registration"].db.reads
    with sessions() as session:
        payloads = session.scalars(
            select(table.c.payload).where(table.c.type == "delegate.registered")
        ).all()
    (announced,) = [p for p in payloads if p["delegate"]["id"] == latest["id"]]
    assert announced["detail"]["possible_duplicate_of"] == earlier[:LISTED_DUPLICATES]
