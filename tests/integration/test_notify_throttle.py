"""The SMTP throttle: one token bucket in a real Redis, shared by every worker process."""

from __future__ import annotations

import time

import pytest
import redis

from services.notify.mailer import MailDeferred
from services.notify.throttle import Throttle

pytestmark = pytest.mark.integration


@pytest.fixture
def client(redis_url):
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def channel() -> str:
    return f"test-{time.monotonic_ns()}"


def test_a_second_of_mail_goes_at_once_and_the_next_waits_its_turn(client):
    bucket = Throttle(client, rate=4, channel=channel())

    assert [bucket.try_take() for _ in range(4)] == [0.0] * 4
    wait = bucket.try_take()
    assert 0.0 < wait <= 0.25


def test_workers_share_one_bucket(client):
    name = channel()
    one, other = Throttle(client, 2, name), Throttle(client, 2, name)

    assert (one.try_take(), other.try_take()) == (0.0, 0.0)
    assert one.try_take() > 0 and other.try_take() > 0


def test_sending_through_the_throttle_keeps_to_the_rate(client):
    sent: list[float] = []
    send = Throttle(client, rate=10, channel=channel()).wrap(
        lambda _m: sent.append(time.monotonic())
    )

    started = time.monotonic()
    for _ in range(15):
        send(None)

    # Ten go at once (a second's worth), the other five at 10 a second: at least 0.4 s.
    assert time.monotonic() - started >= 0.4
    assert len(sent) == 15


def test_a_token_too_far_off_defers_the_mail_to_a_retry(client):
    bucket = Throttle(client, rate=0.5, channel=channel(), max_wait=0.1)
    bucket.take()

    with pytest.raises(MailDeferred, match="throttled"):
        bucket.take()


def test_without_redis_mail_goes_out_unthrottled():
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    bucket = Throttle(unreachable, rate=1, channel=channel())

    for _ in range(3):
        bucket.take()  # neither blocks nor raises
