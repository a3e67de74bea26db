"""Rate limits hold where a caller hands in a secret or floods: the scan endpoint (per scanner
token and per address, generous for a busy gate), the endpoints that take a delegate's manage
token, invitation and delegation codes (they ride on registration, REGISTRATION_RATE_LIMIT),
and failed credentials on every service. Each refusal is 429 with `Retry-After`, in the JSON
error shape. Counted in a Redis database of this file's own."""

from __future__ import annotations

import time

import pytest
import redis

from services import checkin, notify, registration
from tests.integration.conftest import bearer, delegate
from tests.support.processes import free_port, wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

REDIS_DB = 8
NOBODY = "203.0.113.77"  # another client address


@pytest.fixture
def limited(forum, build_app):
    """`limited(service, **limits)`: a test client of a service whose limits are `limits`,
    counting in a Redis database emptied for the test."""
    url = forum.settings.redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(url).flushdb()
    # The counts are per minute: start where no minute turns over during a test's few calls.
    wait_until(lambda: time.time() % 60 < 55, 6, "a fresh minute for the counters")

    def build(service, **limits):
        return build_app(service, forum.settings.but(redis_url=url, **limits)).test_client()

    yield build
    redis.Redis.from_url(url).flushdb()


def refused(answer) -> bool:
    """429, with a Retry-After within the minute, in the one JSON error shape."""
    error = (answer.get_json(silent=True) or {}).get("error", {})
    return (
        answer.status_code == 429
        and 1 <= int(answer.headers.get("Retry-After", "0")) <= 60
        and error.get("code") == "too_many_requests"
        and bool(error.get("message"))
    )


def scan(client, token: str, badge: str = "not-a-badge", address: str = "127.0.0.1"):
    return client.post(
        "/api/v1/scans",
        json={"token": badge, "direction": "in"},
        headers=bearer(token),
        environ_base={"REMOTE_ADDR": address},
    )


def test_a_busy_gate_scanning_once_a_second_for_a_minute_is_never_held_back(forum, limited):
    defaults = type(forum.settings).from_env({}).scan_rate_limit  # what production runs with
    gates = limited(checkin, scan_rate_limit=defaults)
    token = forum.scanner_tokens["North"]

    answers = [scan(gates, token).status_code for _ in range(60)]

    assert defaults >= 120  # twice a gate's pace at least
    assert answers == [200] * 60


def test_one_scanner_token_is_held_back_beyond_its_limit_and_the_next_gate_is_not(forum, limited):
    gates = limited(checkin, scan_rate_limit=3)
    north, south = forum.scanner_tokens["North"], forum.scanner_tokens["South"]

    answers = [scan(gates, north) for _ in range(5)]

    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert refused(answers[3]) and refused(answers[4])
    assert scan(gates, south).status_code == 200
    batch = gates.post("/api/v1/scans/batch", json={"scans": []}, headers=bearer(north))
    assert refused(batch)  # an offline sync counts against the device too


def test_one_address_is_held_back_whichever_tokens_it_scans_with(forum, limited):
    gates = limited(checkin, scan_address_rate_limit=4)
    tokens = list(forum.scanner_tokens.values())

    answers = [scan(gates, tokens[i % len(tokens)]) for i in range(6)]

    assert [a.status_code for a in answers[:4]] == [200] * 4
    assert refused(answers[4]) and refused(answers[5])
    assert scan(gates, tokens[0], address=NOBODY).status_code == 200


def test_a_scans_limits_are_checked_in_one_round_trip_and_each_holds(forum, limited, monkeypatch):
    gates = limited(checkin, scan_rate_limit=3, scan_address_rate_limit=5, auth_failure_limit=9)
    north, south = forum.scanner_tokens["North"], forum.scanner_tokens["South"]
    trips = []
    command, pipeline = redis.Redis.execute_command, redis.client.Pipeline.execute

    def one_command(client, *args, **kwargs):
        if not isinstance(client, redis.client.Pipeline):  # a pipeline's commands are queued
            trips.append(args[0])
        return command(client, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", one_command)
    monkeypatch.setattr(
        redis.client.Pipeline, "execute", lambda p, *a, **k: trips.append(1) or pipeline(p, *a, **k)
    )

    answers = [scan(gates, north) for _ in range(4)] + [scan(gates, south) for _ in range(3)]

    # the address's failed credentials, the device's limit and the address's: one trip a scan
    assert len(trips) == len(answers), trips
    assert [a.status_code for a in answers[:3]] == [200] * 3
    assert refused(answers[3])  # north's own limit
    assert answers[4].status_code == 200  # south is its own device, the address has room
    assert refused(answers[5]) and refused(answers[6])  # the address is spent (5 counted)


def test_a_request_refused_for_failed_credentials_spends_none_of_the_addresss_scans(forum, limited):
    gates = limited(checkin, auth_failure_limit=2, scan_address_rate_limit=4)
    north, stale = forum.scanner_tokens["North"], "rc_scn_revoked-device-token"

    counted = [scan(gates, stale), scan(gates, north), scan(gates, stale)]  # 3 of the 4
    held_back = [scan(gates, stale) for _ in range(5)]
    last, over = scan(gates, north), scan(gates, north)

    assert [a.status_code for a in counted] == [401, 200, 401]
    assert all(refused(a) for a in held_back)
    assert last.status_code == 200  # the fourth: the five held back were not counted
    assert refused(over)


def test_manage_token_endpoints_are_limited_per_address(forum, limited):
    desk = limited(registration, manage_rate_limit=3)
    mine = forum.register()
    url, token = f"/api/v1/registrations/{mine['id']}", mine["manage_token"]

    answers = [
        desk.get(url, headers=bearer(token)),
        desk.patch(url, json={"city": "Iztapalapa"}, headers=bearer(token)),
        desk.get(f"{url}/badge.png", headers=bearer(token)),
        desk.get(f"{url}/data", headers=bearer(token)),
    ]

    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert refused(answers[3])
    elsewhere = desk.get(url, headers=bearer(token), environ_base={"REMOTE_ADDR": NOBODY})
    assert elsewhere.status_code == 200
    assert desk.get("/api/v1/events/gmf2023").status_code == 200  # public: not counted


def test_guessing_invitation_codes_is_held_back_by_the_registration_limit(forum, limited):
    desk = limited(registration, registration_rate_limit=3)
    path = "/api/v1/events/gmf2023/registrations"

    guesses = [desk.post(path, json=delegate(invitation_code=f"GUESS{i:04d}")) for i in range(5)]

    assert all(g.status_code in (404, 409, 422) for g in guesses[:3]), guesses[0].get_json()
    assert refused(guesses[3]) and refused(guesses[4])


@pytest.mark.parametrize("service", [registration, checkin, notify], ids=lambda s: s.__name__)
def test_after_a_few_unknown_tokens_an_address_may_present_none_for_the_minute(
    forum, limited, service
):
    client = limited(service, auth_failure_limit=3)
    probe = {
        registration: "/api/v1/events/gmf2023/audit",
        checkin: "/api/v1/device",
        notify: "/api/v1/events/gmf2023/webhooks",
    }[service]
    real = forum.scanner_tokens["North"] if service is checkin else forum.organizer_token

    guesses = [client.get(probe, headers=bearer(f"rc_org_guess{i}")) for i in range(3)]
    after = client.get(probe, headers=bearer(real))

    assert [g.status_code for g in guesses] == [401, 401, 401]
    assert refused(after)  # even a real token: the address is held back, not the token
    assert client.get("/healthz").status_code in (200, 503)  # pages and probes stay open
    elsewhere = client.get(probe, headers=bearer(real), environ_base={"REMOTE_ADDR": NOBODY})
    assert elsewhere.status_code != 429


def test_gates_sharing_an_address_go_on_scanning_while_a_stale_token_is_held_back(forum, limited):
    gates = limited(checkin, auth_failure_limit=3)
    north, stale = forum.scanner_tokens["North"], "rc_scn_revoked-device-token"

    first_failure = scan(gates, stale)
    worked = scan(gates, north)  # accepted while the address is failing: stays welcome
    more_failures = [scan(gates, stale) for _ in range(3)]

    assert (first_failure.status_code, worked.status_code) == (401, 200)
    assert [a.status_code for a in more_failures[:2]] == [401, 401]
    assert refused(more_failures[2])
    assert scan(gates, north).status_code == 200
    assert refused(scan(gates, forum.scanner_tokens["South"]))  # not seen working: held back


def test_bad_stream_tickets_count_as_failed_credentials(forum, limited):
    gates = limited(checkin, auth_failure_limit=2)
    stream = "/api/v1/events/gmf2023/live"

    answers = [gates.get(stream, query_string={"ticket": f"guess-{i}"}) for i in range(3)]

    assert [a.status_code for a in answers[:2]] == [401, 401]
    assert refused(answers[2])


def test_scanning_goes_on_when_redis_is_away(forum, build_app):
    away = f"redis://127.0.0.1:{free_port()}/0"
    settings = forum.settings.but(redis_url=away, scan_rate_limit=1, auth_failure_limit=1)
    gates = build_app(checkin, settings).test_client()

    answers = [scan(gates, forum.scanner_tokens["North"]).status_code for _ in range(3)]

    assert answers == [200, 200, 200]
