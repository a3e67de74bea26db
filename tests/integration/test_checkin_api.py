"""Scanning badges at the gates and reading the headcount, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from services import checkin
from services.checkin.models import ReplicaBadge, Scan
from shared.badges import BadgeClaim, BadgeSigner, generate_keypair
from tests.integration.conftest import bearer

pytestmark = pytest.mark.integration


@pytest.fixture
def badge(forum) -> str:
    """The token of a freshly registered mayor's badge, replicated to checkin."""
    registered = forum.register(given_name="小明", family_name="王", category="mayor")
    return forum.badge_token(registered["id"])


def test_first_scan_admits_and_greets_by_name_and_category(forum, badge):
    answer = forum.scan(badge, gate="North")

    assert answer["result"] == "admitted"
    assert answer["passes"] is True
    assert answer["badge"]["display_name"] == "王小明"
    assert answer["badge"]["category"] == "mayor"
    assert answer["gate"] == "North"


def test_second_scan_says_already_inside_with_gate_and_local_time(forum, badge):
    first = forum.scan(badge, gate="North")
    second = forum.scan(badge, gate="South")

    assert second["result"] == "already_inside"
    assert second["passes"] is False
    assert second["inside_gate"] == "North"
    assert second["inside_since"] == first["scanned_at"]
    local = datetime.fromisoformat(first["scanned_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    assert second["message"] == f"Already inside since {local:%H:%M}, North gate."


def test_a_token_with_one_character_changed_is_invalid(forum, badge):
    position = 40
    forged = badge[:position] + ("B" if badge[position] != "B" else "C") + badge[position + 1 :]

    answer = forum.scan(forged)

    assert answer["result"] == "invalid"
    assert answer["badge"] is None


def test_garbage_and_a_badge_signed_by_another_key_are_invalid(forum):
    stranger = BadgeSigner(generate_keypair()[0]).sign(BadgeClaim(1, 1, 1))

    assert forum.scan("https://example.org/not-a-badge")["result"] == "invalid"
    assert forum.scan(stranger)["result"] == "invalid"


def test_a_genuine_badge_not_yet_replicated_is_unknown(forum, settings):
    signer = BadgeSigner(settings.badge_signing_key)
    event_id = _event_id(forum)

    assert forum.scan(signer.sign(BadgeClaim(event_id, 987654, 1)))["result"] == "unknown"


def test_a_badge_of_another_event_is_wrong_event(forum, settings):
    signer = BadgeSigner(settings.badge_signing_key)

    assert forum.scan(signer.sign(BadgeClaim(4242, 1, 1)))["result"] == "wrong_event"


def test_a_superseded_or_revoked_badge_is_revoked_with_a_reason(forum, badge):
    sessions = forum.checkin.application.extensions["checkin"].db.sessions
    with sessions.begin() as session:
        session.execute(update(ReplicaBadge).values(version=2))
    answer = forum.scan(badge)
    assert (answer["result"], answer["message"]) == (
        "revoked",
        "This badge was replaced by a reissued one.",
    )

    with sessions.begin() as session:
        session.execute(update(ReplicaBadge).values(version=1, status="revoked"))
    assert forum.scan(badge)["result"] == "revoked"


def test_exit_then_reentry_and_exit_while_outside(forum, badge):
    assert forum.scan(badge, direction="out")["result"] == "not_inside"
    assert forum.scan(badge)["result"] == "admitted"
    assert forum.scan(badge, direction="out")["result"] == "exited"
    assert forum.scan(badge, direction="out")["result"] == "not_inside"
    assert forum.scan(badge, gate="East")["result"] == "admitted"
    assert forum.headcount()["by_gate"]["East"] == {"area": "venue", "arrived": 0, "inside": 1}


def test_every_scan_is_logged_and_admissions_are_announced(forum, badge):
    forum.scan(badge)
    forum.scan(badge)
    forum.scan("garbage")

    sessions = forum.checkin.application.extensions["checkin"].db.sessions
    with sessions() as session:
        results = session.scalars(select(Scan.result).order_by(Scan.id)).all()
        announced = session.execute(
            select(checkin.models.outbox.table.c.type, checkin.models.outbox.table.c.payload)
        ).all()
    assert results == ["admitted", "already_inside", "invalid"]
    assert [t for t, _ in announced] == ["checkin.admitted", "checkin.rejected", "checkin.rejected"]
    assert announced[0][1]["gate"] == "North"


def test_headcount_counts_registered_arrived_and_inside_by_gate_and_category(forum):
    mayors = [forum.register(category="mayor") for _ in range(2)]
    press = forum.register(category="speaker")
    tokens = {r["id"]: forum.badge_token(r["id"]) for r in [*mayors, press]}
    forum.scan(tokens[mayors[0]["id"]], gate="North")
    forum.scan(tokens[mayors[1]["id"]], gate="VIP")
    forum.scan(tokens[press["id"]], gate="North")
    forum.scan(tokens[press["id"]], gate="North", direction="out")

    count = forum.headcount()

    assert (count["registered"], count["arrived"], count["inside"]) == (3, 3, 2)
    assert count["by_gate"] == {
        "North": {"area": "venue", "arrived": 2, "inside": 1},
        "South": {"area": "venue", "arrived": 0, "inside": 0},
        "East": {"area": "venue", "arrived": 0, "inside": 0},
        "VIP": {"area": "venue", "arrived": 1, "inside": 1},
        "Plenary": {"area": "plenary", "arrived": 0, "inside": 0},
        "Ceremony": {"area": "ceremony", "arrived": 0, "inside": 0},
        "VIP Lounge": {"area": "vip-lounge", "arrived": 0, "inside": 0},
    }
    assert count["by_category"] == {
        "mayor": {"registered": 2, "arrived": 2, "inside": 2},
        "speaker": {"registered": 1, "arrived": 1, "inside": 0},
    }


def test_many_gates_scanning_one_badge_at_once_admit_it_exactly_once(forum, badge, build_app):
    # Separate apps (own connection pools) stand in for separate gunicorn workers.
    clients = [build_app(checkin, forum.settings).test_client() for _ in range(4)]
    gates = ["North", "South", "East", "VIP"] * 3
    barrier = threading.Barrier(len(gates))
    results: list[str] = []

    def scan(i: int, gate: str) -> None:
        client = clients[i % len(clients)]
        barrier.wait()
        response = client.post(
            "/api/v1/scans", json={"token": badge}, headers=bearer(forum.scanner_tokens[gate])
        )
        results.append(response.get_json()["result"])

    threads = [threading.Thread(target=scan, args=(i, g)) for i, g in enumerate(gates)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == ["admitted"] + ["already_inside"] * (len(gates) - 1)
    assert forum.headcount()["inside"] == 1


def test_scanning_needs_a_scanner_token(forum, badge):
    url, body = "/api/v1/scans", {"token": badge}

    assert forum.checkin.post(url, json=body).status_code == 401
    assert forum.checkin.post(url, json=body, headers=bearer("rc_scn_nope")).status_code == 401
    organiser = forum.checkin.post(url, json=body, headers=bearer(forum.organizer_token))
    assert organiser.status_code == 403
    assert organiser.get_json()["error"]["code"] == "forbidden"


def test_headcount_needs_this_events_organiser_token(forum):
    forum.replicate()
    url = "/api/v1/events/gmf2023/headcount"

    assert forum.checkin.get(url).status_code == 401
    assert forum.checkin.get(url, headers=bearer(forum.scanner_tokens["North"])).status_code == 403
    assert forum.checkin.get(url, headers=bearer("rc_org_nope")).status_code == 401
    missing = forum.checkin.get(
        "/api/v1/events/nope/headcount", headers=bearer(forum.organizer_token)
    )
    assert missing.status_code == 404


def test_a_scanner_learns_its_gate_and_event(forum):
    response = forum.checkin.get("/api/v1/device", headers=bearer(forum.scanner_tokens["VIP"]))

    assert response.get_json() == {
        "event": "gmf2023",
        "gate": "VIP",
        "area": "venue",
        "area_name": "Venue",
        "role": "scanner",
    }


@pytest.mark.parametrize(
    ("body", "status"),
    [({}, 422), ({"token": ""}, 422), ({"token": "x", "direction": "sideways"}, 422)],
)
def test_malformed_scans_name_the_bad_field(forum, body, status):
    response = forum.checkin.post(
        "/api/v1/scans", json=body, headers=bearer(forum.scanner_tokens["North"])
    )

    assert response.status_code == status
    assert set(response.get_json()["error"]["fields"]) <= {"token", "direction"}


def test_replaying_registration_events_changes_nothing(forum, badge):
    forum.scan(badge)
    sessions = forum.checkin.application.extensions["checkin"].db.sessions
    from services.checkin import replica
    from shared.events import parse

    for _task, envelope in forum.published:
        with sessions.begin() as session:
            assert replica.apply(session, *parse(envelope)) is False
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ReplicaBadge)) == 1
    assert forum.scan(badge)["result"] == "already_inside"


def test_openapi_documents_scans_and_headcount(forum):
    spec = forum.checkin.get("/openapi.json").get_json()

    assert spec["info"]["title"] == "Rollcall check-in"
    assert "/api/v1/scans" in spec["paths"]
    assert "/api/v1/events/{slug}/headcount" in spec["paths"]
    assert "ScanOut" in spec["components"]["schemas"]


def _event_id(forum) -> int:
    for _task, envelope in forum.published:
        if envelope["type"] == "event.created":
            return envelope["payload"]["event"]["id"]
    forum.replicate()
    return _event_id(forum)
