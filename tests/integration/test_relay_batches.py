"""Admissions reach their batched subscribers (shared.events.BATCHED) as one message a relay
round: checkin's real outbox, relayed as its relay process does (publish_for: the real
publisher and the webhook filter) to a real, private Redis broker, whose queues are read back."""

from __future__ import annotations

import base64
import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from services.checkin.models import outbox as checkin_outbox
from shared.events import CHECKIN_ADMITTED, NOTIFY_ARRIVAL, NOTIFY_WEBHOOKS, RECORD_ARRIVAL
from tests.conftest import make_settings
from tests.integration.test_webhook_enqueue import Relay
from tests.support.factories import checkin
from tests.support.processes import start_redis, stop_process

pytestmark = pytest.mark.integration


@pytest.fixture
def relay(tmp_path, database_url, badge_keys):
    url, process = start_redis()  # its queues hold only what this test published
    relay = Relay(make_settings(tmp_path, database_url, url, badge_keys))
    yield relay
    relay.db.engine.dispose()
    stop_process(process)


def messages(relay: Relay, queue: str) -> list[tuple[str, str, list]]:
    """(task, task id, args) of every message waiting in a queue, oldest first."""
    found = []
    for raw in reversed(relay.client.lrange(queue, 0, -1)):  # kombu pushes on the left
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        found.append((message["headers"]["task"], message["headers"]["id"], args))
    return found


def admit(relay: Relay, count: int) -> list[str]:
    """`count` admissions in checkin's outbox; returns their event ids."""
    with relay.db.sessions.begin() as session:
        payloads = [checkin(event_id=41, at=datetime.now(UTC)) for _ in range(count)]
        return checkin_outbox.add_many(session, [(CHECKIN_ADMITTED, p) for p in payloads])


def test_a_round_of_admissions_is_one_message_to_each_batched_task_with_them_in_order(relay):
    admitted = admit(relay, 5)

    assert checkin_outbox.relay_once(relay.db.engine, relay.publish) == 5

    [(task, _id, [batch])] = messages(relay, "registration")
    assert task == RECORD_ARRIVAL
    assert [envelope["event_id"] for envelope in batch] == admitted
    sequences = [envelope["sequence"] for envelope in batch]
    assert sequences == sorted(sequences)
    notify = messages(relay, "notify")
    # Webhooks still take one event a message (here every one: notify has not yet written
    # which ones endpoints want).
    assert Counter(task for task, _id, _args in notify) == {NOTIFY_ARRIVAL: 1, NOTIFY_WEBHOOKS: 5}
    [vip_batch] = [args[0] for task, _id, args in notify if task == NOTIFY_ARRIVAL]
    assert vip_batch == batch


def test_the_same_events_published_again_are_the_same_batch_task(relay):
    admit(relay, 3)
    checkin_outbox.relay_once(relay.db.engine, relay.publish)
    relay.drain()

    since = datetime(2000, 1, 1, tzinfo=UTC)
    assert checkin_outbox.republish(relay.db.engine, relay.publish, since) == 3
    [(_task, first_id, [first])] = messages(relay, "registration")
    relay.drain()
    checkin_outbox.republish(relay.db.engine, relay.publish, since)

    [(_task, again_id, [again])] = messages(relay, "registration")
    assert (again_id, again) == (first_id, first)
