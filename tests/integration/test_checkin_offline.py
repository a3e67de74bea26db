"""Offline scanning: the badge list a scanner caches, syncing queued scans (idempotent, in
device-time order, conflicts recorded), and races with live scans, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from rollcall import demo
from services import checkin
from services.checkin.models import Scan
from shared.badges import BadgeClaim, BadgeSigner, BadgeVerifier
from tests.integration.conftest import bearer
from tests.integration.test_checkin_areas import rebuilt_equals_live, registered, sessions

pytestmark = pytest.mark.integration


@pytest.fixture
def creds(forum) -> dict:
    forum.replicate()
    return demo.seed(forum.settings)


def queued(token: str, at: datetime, direction: str = "in", **extra) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "token": token,
        "direction": direction,
        "scanned_at": at.isoformat(),
        **extra,
    }


def sync(forum, device: str, scans: list[dict], client=None) -> dict:
    forum.replicate()
    response = (client or forum.checkin).post(
        "/api/v1/scans/batch", json={"scans": scans}, headers=bearer(device)
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_synced_queue_is_applied_once_and_answered_the_same_when_sent_again(forum, creds):
    _, token = registered(forum, "mayor")
    start = datetime.now(UTC) - timedelta(minutes=30)
    scans = [
        queued(token, start),
        queued(token, start + timedelta(minutes=1)),
        queued(token, start + timedelta(minutes=5), "out"),
        queued("garbage", start + timedelta(minutes=6)),
    ]

    first = sync(forum, creds["scanner_tokens"]["North"], scans)
    again = sync(forum, creds["scanner_tokens"]["North"], scans)

    assert [r["result"] for r in first["results"]] == [
        "admitted", "already_inside", "exited", "invalid",
    ]  # fmt: skip
    assert [r["id"] for r in first["results"]] == [s["id"] for s in scans]
    assert again["results"] == first["results"]
    assert (first["applied"], again["applied"], again["replayed"]) == (4, 0, 4)
    assert datetime.fromisoformat(first["results"][0]["occurred_at"]) == start
    with sessions(forum)() as session:
        assert len(session.scalars(select(Scan)).all()) == 4
    count = forum.headcount()
    assert (count["arrived"], count["inside"]) == (1, 0)
    rebuilt_equals_live(forum)


def test_two_offline_gates_admitting_one_badge_make_one_conflict_whoever_syncs_first(forum, creds):
    _, token = registered(forum, "mayor")
    at = datetime.now(UTC) - timedelta(minutes=10)
    north = [queued(token, at)]
    south = [queued(token, at + timedelta(minutes=2))]

    later_first = sync(forum, creds["scanner_tokens"]["South"], south)
    earlier_second = sync(forum, creds["scanner_tokens"]["North"], north)

    assert later_first["results"][0]["result"] == "admitted"  # it could not know yet
    assert earlier_second["results"][0]["result"] == "admitted"
    org = bearer(forum.organizer_token)
    conflicts = forum.checkin.get("/api/v1/events/gmf2023/conflicts", headers=org).get_json()
    [conflict] = conflicts["conflicts"]
    assert (conflict["winner"]["gate"], conflict["loser"]["gate"]) == ("North", "South")
    assert conflict["area"] == "venue" and conflict["resolved_at"] is None
    count = forum.headcount()
    assert (count["arrived"], count["inside"]) == (1, 1)
    assert count["by_gate"]["North"]["inside"] == 1
    rebuilt_equals_live(forum)

    resolved = forum.checkin.post(
        f"/api/v1/events/gmf2023/conflicts/{conflict['id']}/resolve",
        json={"note": "Badge handed back through the fence; spoke to the guest."},
        headers=bearer(creds["supervisor_token"]),
    )
    assert resolved.status_code == 200, resolved.get_json()
    assert resolved.get_json()["resolved_by"].startswith("supervisor:")
    open_ones = forum.checkin.get(
        "/api/v1/events/gmf2023/conflicts", query_string={"resolved": "false"}, headers=org
    )
    assert open_ones.get_json()["conflicts"] == []
    plain = forum.checkin.get(
        "/api/v1/events/gmf2023/conflicts", headers=bearer(creds["scanner_tokens"]["North"])
    )
    assert plain.status_code == 403


def test_the_earlier_gate_syncing_first_turns_the_later_into_already_inside(forum, creds):
    _, token = registered(forum, "mayor")
    at = datetime.now(UTC) - timedelta(minutes=10)

    sync(forum, creds["scanner_tokens"]["North"], [queued(token, at)])
    later = sync(
        forum, creds["scanner_tokens"]["South"], [queued(token, at + timedelta(minutes=2))]
    )

    answer = later["results"][0]
    assert (answer["result"], answer["inside_gate"]) == ("already_inside", "North")
    assert answer["conflict"] is not None


def test_the_offline_list_has_keys_areas_and_each_badge_with_its_allowed_areas(forum, creds):
    person, _ = registered(forum, "delegate", given_name="小明", family_name="王")
    url = "/api/v1/events/gmf2023/badges/offline"

    listed = forum.checkin.get(url, headers=bearer(creds["scanner_tokens"]["North"]))

    assert listed.status_code == 200, listed.get_json()
    body = listed.get_json()
    [badge] = body["badges"]
    assert badge == {
        "id": person["badge"]["id"], "version": 1, "status": "active", "reason": None,
        "display_name": "王小明", "category": "delegate",
        "areas": ["ceremony", "plenary", "venue"],
    }  # fmt: skip
    public = forum.settings.badge_verify_keys
    assert [k["public_key"] for k in body["keys"]] == [public]
    token = forum.badge_token(person["id"])
    assert BadgeVerifier([body["keys"][0]["public_key"]]).verify(token).badge_id == badge["id"]
    assert forum.checkin.get(url, headers=bearer(forum.organizer_token)).status_code == 403
    since = forum.checkin.get(
        url, query_string={"since": body["generated_at"]},
        headers=bearer(creds["scanner_tokens"]["North"]),
    )  # fmt: skip
    assert since.get_json()["badges"] == []


def test_batch_validation_names_the_bad_fields(forum, creds):
    device = bearer(creds["scanner_tokens"]["North"])
    bad = {"scans": [{"id": "nope", "token": "", "scanned_at": "2023-12-07T09:02:00"}]}

    response = forum.checkin.post("/api/v1/scans/batch", json=bad, headers=device)

    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]["scans"]["0"]) == {
        "id", "token", "scanned_at",
    }  # fmt: skip
    empty = forum.checkin.post("/api/v1/scans/batch", json={"scans": []}, headers=device)
    assert empty.status_code == 422


def test_an_offline_batch_racing_live_scans_admits_the_badge_once(forum, creds, build_app):
    _, token = registered(forum, "mayor")
    forum.replicate()
    clients = [build_app(checkin, forum.settings).test_client() for _ in range(4)]
    barrier = threading.Barrier(7)
    results: list[str] = []
    batch_answers: list[dict] = []
    gates = ["North", "South", "East", "VIP", "North", "South"]

    def live(i: int, gate: str) -> None:
        client = clients[i % len(clients)]
        barrier.wait()
        response = client.post(
            "/api/v1/scans", json={"token": token}, headers=bearer(creds["scanner_tokens"][gate])
        )
        results.append(response.get_json()["result"])

    def offline() -> None:
        scans = [queued(token, datetime.now(UTC) - timedelta(seconds=1))]
        barrier.wait()
        response = clients[3].post(
            "/api/v1/scans/batch", json={"scans": scans},
            headers=bearer(creds["scanner_tokens"]["East"]),
        )  # fmt: skip
        batch_answers.extend(response.get_json()["results"])

    threads = [threading.Thread(target=live, args=(i, g)) for i, g in enumerate(gates)]
    threads.append(threading.Thread(target=offline))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everything = results + [a["result"] for a in batch_answers]
    conflicts = forum.checkin.get(
        "/api/v1/events/gmf2023/conflicts", headers=bearer(forum.organizer_token)
    ).get_json()["conflicts"]
    # One visit: every admission beyond the first is on record as a conflict.
    assert everything.count("admitted") == 1 + sum(
        1 for c in conflicts if c["loser"]["result"] == "admitted"
    )
    assert set(everything) <= {"admitted", "already_inside"}
    count = forum.headcount()
    assert (count["arrived"], count["inside"]) == (1, 1)
    rebuilt_equals_live(forum)


def test_many_gates_and_workers_scanning_one_badge_into_one_area_admit_it_once(
    forum, creds, build_app
):
    _, token = registered(forum, "mayor")
    forum.replicate()
    clients = [build_app(checkin, forum.settings).test_client() for _ in range(4)]
    devices = [creds["area_scanner_tokens"]["Plenary"], creds["scanner_tokens"]["North"]] * 5
    barrier = threading.Barrier(len(devices))
    results: list[str] = []

    def scan(i: int, device: str) -> None:
        barrier.wait()
        response = clients[i % len(clients)].post(
            "/api/v1/scans", json={"token": token, "area": "plenary"}, headers=bearer(device)
        )
        results.append(response.get_json()["result"])

    threads = [threading.Thread(target=scan, args=(i, d)) for i, d in enumerate(devices)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == ["admitted"] + ["already_inside"] * (len(devices) - 1)


def test_a_batch_of_five_thousand_scans_is_synced_in_chunks_quickly(forum, creds, settings):
    forum.replicate()
    signer = BadgeSigner(settings.badge_signing_key)
    event_id = next(
        e["payload"]["event"]["id"] for _t, e in forum.published if e["type"] == "event.created"
    )
    # 2,500 badges the replica does not know (answered `unknown`) and 2,500 scans of real
    # ones: in and out, twice each.
    people = [registered(forum, "delegate")[1] for _ in range(5)]
    at = datetime.now(UTC) - timedelta(hours=2)
    scans = [
        queued(signer.sign(BadgeClaim(event_id, 500000 + i, 1)), at + timedelta(seconds=i))
        for i in range(2500)
    ]
    for i in range(2500):
        token = people[i % len(people)]
        direction = "in" if (i // len(people)) % 2 == 0 else "out"
        scans.append(queued(token, at + timedelta(seconds=i), direction))

    started = time.perf_counter()
    answer = sync(forum, creds["scanner_tokens"]["North"], scans)
    took = time.perf_counter() - started
    print(
        f"\n5,000 queued scans synced in {took:.2f} s ({forum.settings.checkin_database_url[:10]})"
    )

    results = [r["result"] for r in answer["results"]]
    assert results.count("unknown") == 2500
    assert results.count("admitted") == 1250 and results.count("exited") == 1250
    assert took < 60
    again_started = time.perf_counter()
    assert sync(forum, creds["scanner_tokens"]["North"], scans)["replayed"] == 5000
    print(f"sent again in {time.perf_counter() - again_started:.2f} s")
    rebuilt_equals_live(forum)
