"""Areas and gates, presence per area, check-in by hand, undo, the audit trail, occupancy and
the day's close, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from rollcall import demo
from services.checkin import presence
from services.checkin.closing import close_day
from services.checkin.models import Presence, ReplicaBadge, ReplicaCategory, Scan
from shared.db import as_utc, utcnow
from tests.integration.conftest import bearer

pytestmark = pytest.mark.integration


@pytest.fixture
def creds(forum) -> dict:
    """Every demo credential: seeding again hands back the valid ones."""
    forum.replicate()
    return demo.seed(forum.settings)


def scan_at(forum, creds, token: str, gate: str, direction: str = "in", **extra) -> dict:
    forum.replicate()
    device = creds["area_scanner_tokens"].get(gate) or creds["scanner_tokens"][gate]
    response = forum.checkin.post(
        "/api/v1/scans",
        json={"token": token, "direction": direction, **extra},
        headers=bearer(device),
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def sessions(forum):
    return forum.checkin.application.extensions["checkin"].db.sessions


def registered(forum, category: str = "mayor", **fields) -> tuple[dict, str]:
    person = forum.register(category=category, **fields)
    return person, forum.badge_token(person["id"])


def presence_rows(forum) -> set[tuple]:
    with sessions(forum)() as session:
        return {
            (p.badge_id, p.area_id, p.inside, as_utc(p.first_in_at), p.first_gate_id,
             as_utc(p.last_in_at), p.last_gate_id, as_utc(p.last_out_at) if p.last_out_at else None)
            for p in session.scalars(select(Presence))
        }  # fmt: skip


def rebuilt_equals_live(forum) -> None:
    live = presence_rows(forum)
    with sessions(forum).begin() as session:
        event_ids = set(session.scalars(select(Presence.event_id)))
        for event_id in event_ids:
            presence.rebuild(session, event_id)
    assert presence_rows(forum) == live


# --- areas and the rule ----------------------------------------------------------------------


def test_registration_tells_checkin_which_areas_each_category_may_enter(forum):
    forum.replicate()
    with sessions(forum)() as session:
        media = session.scalar(select(ReplicaCategory).where(ReplicaCategory.code == "media"))
    assert (media.label, media.areas) == ("Media", ["venue", "plenary"])


def test_media_may_enter_the_venue_and_plenary_but_not_the_vip_lounge_with_the_reason(forum, creds):
    person = forum.register(category="media")
    approve = forum.registration.post(
        f"/api/v1/registrations/{person['id']}/approve", headers=bearer(forum.organizer_token)
    )
    assert approve.status_code == 200, approve.get_json()
    token = forum.badge_token(person["id"])

    assert scan_at(forum, creds, token, "North")["result"] == "admitted"
    assert scan_at(forum, creds, token, "Plenary")["result"] == "admitted"
    refused = scan_at(forum, creds, token, "VIP Lounge")
    assert (refused["result"], refused["passes"]) == ("not_allowed_here", False)
    assert refused["message"] == "Media may not enter the VIP lounge."
    assert refused["area"] == "vip-lounge"


def test_presence_is_per_area_entry_exit_and_reentry(forum, creds):
    _, token = registered(forum, "mayor")

    assert scan_at(forum, creds, token, "North")["result"] == "admitted"
    assert scan_at(forum, creds, token, "Plenary")["result"] == "admitted"
    second = scan_at(forum, creds, token, "Plenary")
    assert (second["result"], second["inside_gate"]) == ("already_inside", "Plenary")
    assert scan_at(forum, creds, token, "Plenary", "out")["result"] == "exited"
    assert scan_at(forum, creds, token, "Plenary", "out")["result"] == "not_inside"
    assert scan_at(forum, creds, token, "Plenary")["result"] == "admitted"
    assert scan_at(forum, creds, token, "South")["result"] == "already_inside"

    count = forum.headcount()
    assert (count["arrived"], count["inside"]) == (1, 1)
    assert count["by_area"]["plenary"]["inside"] == 1
    assert count["by_area"]["venue"]["by_category"]["mayor"] == {"arrived": 1, "inside": 1}
    rebuilt_equals_live(forum)


def test_a_device_may_scan_into_another_area_of_its_event_but_not_an_unknown_one(forum, creds):
    _, token = registered(forum, "delegate")

    moved = scan_at(forum, creds, token, "North", area="plenary")
    assert (moved["result"], moved["area"], moved["gate"]) == ("admitted", "plenary", "North")
    response = forum.checkin.post(
        "/api/v1/scans",
        json={"token": token, "area": "kitchen"},
        headers=bearer(creds["scanner_tokens"]["North"]),
    )
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "unknown_area"


def test_a_cancelled_badge_is_revoked_with_the_reason(forum, creds):
    person, token = registered(forum, "delegate")
    cancel = forum.registration.post(
        f"/api/v1/registrations/{person['id']}/cancel",
        headers=bearer(person["manage_token"]),
    )
    assert cancel.status_code == 200, cancel.get_json()

    answer = scan_at(forum, creds, token, "North")
    assert answer["result"] == "revoked"
    assert answer["message"] == "This badge is void: its registration was cancelled."


def test_admissions_are_announced_with_area_and_registration(forum, creds):
    person, token = registered(forum, "mayor")
    scan_at(forum, creds, token, "Plenary")
    scan_at(forum, creds, token, "Plenary", "out")

    outbox = forum.checkin.application.extensions["checkin"].db
    from services.checkin.models import outbox as events

    with outbox.reads() as session:
        rows = session.execute(select(events.table.c.type, events.table.c.payload)).all()
    assert [(t, p["area"], p["registration_id"], p["gate"]) for t, p in rows] == [
        ("checkin.admitted", "plenary", person["id"], "Plenary"),
        ("checkin.exited", "plenary", person["id"], "Plenary"),
    ]


# --- areas and gates set up by organisers -----------------------------------------------------


def test_organisers_set_up_areas_gates_and_device_tokens(forum, creds):
    org = bearer(forum.organizer_token)
    url = "/api/v1/events/gmf2023"

    area = forum.checkin.post(
        f"{url}/areas", json={"code": "session-a", "name": "Session room A", "capacity": 2},
        headers=org,
    )  # fmt: skip
    assert area.status_code == 201, area.get_json()
    again = forum.checkin.post(f"{url}/areas", json={"code": "session-a", "name": "A"}, headers=org)
    assert again.status_code == 409
    gate = forum.checkin.post(f"{url}/gates", json={"name": "A1", "area": "session-a"}, headers=org)
    assert gate.status_code == 201, gate.get_json()
    gate_id = gate.get_json()["id"]
    issued = forum.checkin.post(
        f"{url}/gates/{gate_id}/tokens", json={"label": "door A1"}, headers=org
    )
    assert issued.status_code == 201
    device = forum.checkin.get("/api/v1/device", headers=bearer(issued.get_json()["token"]))
    assert device.get_json()["area"] == "session-a"
    patched = forum.checkin.patch(f"{url}/areas/session-a", json={"capacity": 1}, headers=org)
    assert patched.get_json()["capacity"] == 1
    gates = forum.checkin.get(f"{url}/gates", headers=org).get_json()
    assert {"id": gate_id, "name": "A1", "area": "session-a", "tokens": {"scanner": 1}} in gates
    codes = [a["code"] for a in forum.checkin.get(f"{url}/areas", headers=org).get_json()]
    assert codes == ["venue", "plenary", "ceremony", "vip-lounge", "session-a"]

    scanner = bearer(creds["scanner_tokens"]["North"])
    assert forum.checkin.get(f"{url}/areas", headers=scanner).status_code == 403
    assert forum.checkin.post(f"{url}/areas", json={"code": "x", "name": "X"}).status_code == 401


def test_occupancy_warns_at_ninety_percent_and_alarms_at_capacity(forum, creds):
    org = bearer(forum.organizer_token)
    forum.checkin.patch(
        "/api/v1/events/gmf2023/areas/vip-lounge", json={"capacity": 2}, headers=org
    )
    mayors = [registered(forum, "mayor")[1] for _ in range(2)]

    scan_at(forum, creds, mayors[0], "VIP Lounge")
    lounge = forum.headcount()["by_area"]["vip-lounge"]
    assert (lounge["inside"], lounge["occupancy"], lounge["level"]) == (1, 0.5, "ok")
    scan_at(forum, creds, mayors[1], "VIP Lounge")
    lounge = forum.headcount()["by_area"]["vip-lounge"]
    assert (lounge["inside"], lounge["level"]) == (2, "alarm")

    from services.checkin.headcount import level

    assert [level(n, 10) for n in (8, 9, 10, 11)] == ["ok", "warning", "alarm", "alarm"]
    assert level(5, None) == "ok"


def test_headcount_by_country_counts_each_badge_once_across_areas(forum, creds):
    _, cn = registered(forum, "mayor", country="CN")
    _, mx = registered(forum, "delegate", country="MX")
    scan_at(forum, creds, cn, "North")
    scan_at(forum, creds, cn, "Plenary")
    scan_at(forum, creds, mx, "North")
    scan_at(forum, creds, mx, "North", "out")

    count = forum.headcount()
    assert count["by_country"]["CN"] == {"registered": 1, "arrived": 1, "inside": 1}
    assert count["by_country"]["MX"] == {"registered": 1, "arrived": 1, "inside": 0}
    assert count["by_area"]["venue"]["left"] == 1


# --- the desk: search, by hand, undo, audit ---------------------------------------------------


def test_supervisors_find_delegates_by_name_in_any_script_or_transliteration_or_number(
    forum, creds
):
    person, _ = registered(forum, "mayor", given_name="小明", family_name="王")
    registered(forum, "mayor", given_name="Σίμος", family_name="Ρούσσος")
    forum.replicate()
    supervisor = bearer(creds["supervisor_token"])
    url = "/api/v1/events/gmf2023/badges"

    def names(q: str) -> list[str]:
        response = forum.checkin.get(url, query_string={"q": q}, headers=supervisor)
        assert response.status_code == 200, response.get_json()
        return [hit["badge"]["display_name"] for hit in response.get_json()["results"]]

    assert names("小明") == ["王小明"]
    assert names("WANG xiao") == ["王小明"]
    assert names("ΡΟΎΣΣΟΣ") == ["Σίμος Ρούσσος"]
    assert names("roussos") == ["Σίμος Ρούσσος"]
    assert names(str(person["badge"]["id"])) == ["王小明"]
    assert names("100%_") == []

    audit = forum.checkin.get(
        "/api/v1/events/gmf2023/audit", headers=bearer(forum.organizer_token)
    ).get_json()["entries"]
    searches = [e for e in audit if e["action"] == "search"]
    assert len(searches) == 6
    # The words typed are not kept (they may be a name), only their shape and what was found.
    assert searches[-1]["detail"]["query"] == {"length": 2, "scripts": ["han"]}
    assert searches[-1]["detail"]["badges"] == [person["badge"]["id"]]
    assert all("小明" not in str(entry["detail"]) for entry in audit)
    assert searches[-1]["actor"].startswith("supervisor:")


def test_plain_scanners_cannot_search_or_check_in_by_hand(forum, creds):
    forum.replicate()
    scanner = bearer(creds["scanner_tokens"]["North"])

    found = forum.checkin.get(
        "/api/v1/events/gmf2023/badges", query_string={"q": "a"}, headers=scanner
    )
    by_hand = forum.checkin.post(
        "/api/v1/events/gmf2023/checkins", json={"badge_id": 1, "reason": "x"}, headers=scanner
    )
    assert (found.status_code, by_hand.status_code) == (403, 403)
    assert found.get_json()["error"]["code"] == "forbidden"


def test_check_in_by_hand_with_a_reason_then_an_organiser_undoes_it(forum, creds):
    person, token = registered(forum, "mayor")
    badge_id = person["badge"]["id"]
    supervisor = bearer(creds["supervisor_token"])

    manual = forum.checkin.post(
        "/api/v1/events/gmf2023/checkins",
        json={"badge_id": badge_id, "reason": "Forgot the badge at the hotel"},
        headers=supervisor,
    )
    assert manual.status_code == 200, manual.get_json()
    body = manual.get_json()
    assert (body["result"], body["gate"], body["area"]) == ("admitted", "North", "venue")
    assert scan_at(forum, creds, token, "South")["result"] == "already_inside"

    by_supervisor = forum.checkin.post(
        f"/api/v1/events/gmf2023/scans/{body['scan_id']}/undo", json={"reason": "x"},
        headers=supervisor,
    )  # fmt: skip
    assert by_supervisor.status_code == 403
    org = bearer(forum.organizer_token)
    undone = forum.checkin.post(
        f"/api/v1/events/gmf2023/scans/{body['scan_id']}/undo",
        json={"reason": "Wrong Wang"},
        headers=org,
    )
    assert undone.status_code == 201, undone.get_json()
    assert undone.get_json()["inside"] is False
    twice = forum.checkin.post(
        f"/api/v1/events/gmf2023/scans/{body['scan_id']}/undo", json={"reason": "x"}, headers=org
    )
    assert twice.status_code == 409

    count = forum.headcount()
    assert (count["arrived"], count["inside"]) == (0, 0)
    with sessions(forum)() as session:
        log = session.scalars(select(Scan.result).order_by(Scan.id)).all()
    assert log == ["admitted", "already_inside", "undone"]  # nothing deleted
    assert scan_at(forum, creds, token, "South")["result"] == "admitted"
    rebuilt_equals_live(forum)

    actions = [
        e["action"]
        for e in forum.checkin.get("/api/v1/events/gmf2023/audit", headers=org).get_json()[
            "entries"
        ]
    ]
    assert actions[:2] == ["undo", "manual_checkin"]


def test_organisers_check_in_by_hand_naming_the_area(forum):
    person, _ = registered(forum, "mayor")
    org = bearer(forum.organizer_token)
    url = "/api/v1/events/gmf2023/checkins"

    no_area = forum.checkin.post(url, json={"badge_id": person["badge"]["id"], "reason": "r"},
                                 headers=org)  # fmt: skip
    assert no_area.status_code == 422
    done = forum.checkin.post(
        url,
        json={"badge_id": person["badge"]["id"], "reason": "r", "area": "ceremony"},
        headers=org,
    )
    assert (done.get_json()["result"], done.get_json()["gate"]) == ("admitted", None)
    unknown = forum.checkin.post(url, json={"badge_id": 999999, "reason": "r", "area": "venue"},
                                 headers=org)  # fmt: skip
    assert unknown.status_code == 404


# --- the day's close --------------------------------------------------------------------------


def test_the_days_close_checks_out_everyone_from_yesterday_and_keeps_history(forum, creds):
    person, early = registered(forum, "mayor")
    _, late = registered(forum, "mayor")
    scan_at(forum, creds, early, "North")
    scan_at(forum, creds, early, "Plenary")
    scan_at(forum, creds, late, "North")
    with sessions(forum).begin() as session:  # the early one came in yesterday
        yesterday = utcnow() - timedelta(days=1)
        session.execute(
            update(Presence)
            .where(Presence.badge_id == person["badge"]["id"])
            .values(first_in_at=yesterday, last_in_at=yesterday)
        )
        session.execute(
            update(Scan).where(Scan.badge_id == person["badge"]["id"]).values(occurred_at=yesterday)
        )

    closed = close_day(sessions(forum))

    assert closed == {"gmf2023": 1}
    count = forum.headcount()
    assert (count["arrived"], count["inside"]) == (2, 1)
    with sessions(forum)() as session:
        exits = session.execute(
            select(Scan.result, Scan.source, Scan.reason).where(Scan.source == "day_close")
        ).all()
    assert exits == [("exited", "day_close", "day closed")] * 2
    assert close_day(sessions(forum)) == {"gmf2023": 0}
    rebuilt_equals_live(forum)
    assert scan_at(forum, creds, early, "North")["result"] == "admitted"


def test_organisers_close_the_day_early(forum, creds):
    _, token = registered(forum, "mayor")
    scan_at(forum, creds, token, "North")

    response = forum.checkin.post(
        "/api/v1/events/gmf2023/close-day",
        json={"before": (utcnow() + timedelta(seconds=1)).isoformat()},
        headers=bearer(forum.organizer_token),
    )

    assert response.get_json() == {"checked_out": 1}
    assert forum.headcount()["inside"] == 0


def test_rebuild_from_the_log_equals_live_presence_after_every_kind_of_movement(forum, creds):
    tokens = [registered(forum, "mayor")[1] for _ in range(3)]
    for token in tokens:
        scan_at(forum, creds, token, "North")
        scan_at(forum, creds, token, "Plenary")
    scan_at(forum, creds, tokens[0], "Plenary", "out")
    scan_at(forum, creds, tokens[0], "Plenary")
    scan_at(forum, creds, tokens[1], "North", "out")
    scan_at(forum, creds, tokens[2], "North")  # already inside: no movement

    with sessions(forum)() as session:
        assert session.scalar(select(ReplicaBadge).limit(1)) is not None
    rebuilt_equals_live(forum)
