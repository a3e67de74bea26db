"""The public registration endpoint is rate-limited per client address, in Redis, so every
worker and replica shares one count."""

from __future__ import annotations

import pytest
import redis

from services import registration
from tests.integration.conftest import delegate
from tests.support.processes import free_port

pytestmark = pytest.mark.integration

REGISTER = "/api/v1/events/gmf2023/registrations"


@pytest.fixture
def limited(forum, build_app):
    """Two apps (two workers) sharing a limit of 3 a minute, on a Redis database of their own."""
    url = forum.settings.redis_url.rsplit("/", 1)[0] + "/7"
    redis.Redis.from_url(url).flushdb()
    settings = forum.settings.but(redis_url=url, registration_rate_limit=3)
    return [build_app(registration, settings).test_client() for _ in range(2)]


def test_a_flood_from_one_address_is_refused_with_retry_after(forum, limited):
    answers = [limited[i % 2].post(REGISTER, json=delegate()) for i in range(5)]

    assert [a.status_code for a in answers] == [201, 201, 201, 429, 429]
    refused = answers[3]
    assert refused.get_json()["error"]["code"] == "too_many_requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_another_address_has_its_own_allowance(forum, limited):
    for _ in range(3):
        limited[0].post(REGISTER, json=delegate())

    other = limited[1].post(REGISTER, json=delegate(), environ_base={"REMOTE_ADDR": "203.0.113.9"})

    assert other.status_code == 201


def test_other_endpoints_are_not_counted(forum, limited):
    for _ in range(5):
        assert limited[0].get("/api/v1/events/gmf2023").status_code == 200
    assert limited[0].post(REGISTER, json=delegate()).status_code == 201


def test_registration_goes_on_when_redis_is_away(forum, build_app):
    settings = forum.settings.but(
        redis_url=f"redis://127.0.0.1:{free_port()}/0", registration_rate_limit=3
    )
    client = build_app(registration, settings).test_client()

    assert [client.post(REGISTER, json=delegate()).status_code for _ in range(5)] == [201] * 5


def test_behind_a_proxy_each_forwarded_client_has_its_own_allowance(forum, build_app):
    url = forum.settings.redis_url.rsplit("/", 1)[0] + "/7"
    redis.Redis.from_url(url).flushdb()
    settings = forum.settings.but(redis_url=url, registration_rate_limit=1, proxy_hops=1)
    client = build_app(registration, settings).test_client()

    def from_(address: str) -> int:
        headers = {"X-Forwarded-For": address}
        return client.post(REGISTER, json=delegate(), headers=headers).status_code

    assert [from_("198.51.100.1"), from_("198.51.100.2"), from_("198.51.100.1")] == [201, 201, 429]
