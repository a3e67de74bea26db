"""`notify.webhook_event` is enqueued by the outbox relay only for events some endpoint wants
(shared/webhook_watch.py): checkin's real outbox, relayed with the real publisher to a real,
private Redis broker, whose queues are read back; endpoints registered through notify's API."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
import redis

from services import notify
from services.checkin.models import outbox as checkin_outbox
from services.notify import access as notify_access
from services.notify import replica as notify_replica
from services.notify import webhooks
from shared import access
from shared.celery_app import create_celery
from shared.db import Database
from shared.events import (
    CHECKIN_ADMITTED,
    CHECKIN_EXITED,
    NOTIFY_WEBHOOKS,
    RECORD_ARRIVAL,
    EventInfo,
)
from shared.relay import publish_for
from shared.webhook_watch import WebhookWatch
from tests.conftest import make_settings
from tests.support.factories import checkin, event_info
from tests.support.processes import start_redis, stop_process

pytestmark = pytest.mark.integration


@pytest.fixture
def broker():
    """A Redis of this test's own: its queues hold only what this test published."""
    url, process = start_redis()
    yield url
    stop_process(process)


class Relay:
    """checkin's outbox, relayed as `python -m services.checkin.relay` does (its publisher)."""

    def __init__(self, settings):
        self.db = Database.at(settings.checkin_database_url)
        self.client = redis.Redis.from_url(settings.redis_url)
        self.watch = WebhookWatch(self.client)
        celery = create_celery("test-relay", settings)
        self.publish = publish_for(celery, settings)

    def relay(self, event_type: str, congress_id: int) -> None:
        with self.db.sessions.begin() as session:
            payload = checkin(event_id=congress_id, at=datetime.now(UTC))
            checkin_outbox.add(session, event_type, payload)
        assert checkin_outbox.relay_once(self.db.engine, self.publish) == 1

    def queued(self, queue: str) -> list[str]:
        """The task names waiting in a queue of the broker (kombu keeps one list a queue)."""
        messages = self.client.lrange(queue, 0, -1)
        return [json.loads(m)["headers"]["task"] for m in messages]

    def drain(self) -> None:
        self.client.delete("notify", "registration")


@pytest.fixture
def relay(tmp_path, database_url, broker, badge_keys):
    settings = make_settings(tmp_path, database_url, broker, badge_keys)
    relay = Relay(settings)
    relay.settings = settings
    yield relay
    relay.db.engine.dispose()


def restored_by_notify(relay: Relay) -> None:
    """What notify's webhook task does first when Redis does not know the subscriptions."""
    database = Database.at(relay.settings.notify_database_url)
    with database.sessions() as session:
        assert relay.watch.restore(lambda: webhooks.subscriptions(session))
    database.engine.dispose()


def test_no_webhook_task_is_enqueued_for_an_event_without_endpoints(relay):
    restored_by_notify(relay)  # notify's database has no endpoint

    relay.relay(CHECKIN_ADMITTED, congress_id=41)
    relay.relay(CHECKIN_EXITED, congress_id=41)

    assert relay.queued("registration") == [RECORD_ARRIVAL]  # the relay did publish
    assert NOTIFY_WEBHOOKS not in relay.queued("notify")
    assert relay.queued("notify") == ["notify.vip_alert"]


def test_until_notify_has_written_the_subscriptions_every_event_is_enqueued(relay):
    relay.relay(CHECKIN_EXITED, congress_id=41)  # a Redis that restarted empty, say

    assert relay.queued("notify") == [NOTIFY_WEBHOOKS]


def test_an_endpoint_registered_later_gets_the_events_after_it_of_its_types(relay):
    restored_by_notify(relay)
    congress, token = event_info(), f"rc_org_{uuid.uuid4().hex}"
    app = notify.create_app(relay.settings)
    with app.extensions["notify"].db.sessions.begin() as session:
        notify_replica.apply_event(session, EventInfo().load(congress), 1, [])
        notify_access.apply_grants(session, congress["id"], 1, [access.digest(token)])
    relay.relay(CHECKIN_ADMITTED, congress_id=congress["id"])
    assert NOTIFY_WEBHOOKS not in relay.queued("notify")
    relay.drain()

    answer = app.test_client().post(
        f"/api/v1/events/{congress['slug']}/webhooks",
        json={"url": "http://127.0.0.1:9/hooks", "event_types": [CHECKIN_ADMITTED]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 201, answer.get_json()
    relay.relay(CHECKIN_ADMITTED, congress_id=congress["id"])
    relay.relay(CHECKIN_EXITED, congress_id=congress["id"])  # a type it did not ask for
    relay.relay(CHECKIN_ADMITTED, congress_id=congress["id"] + 1)  # another congress

    assert relay.queued("notify").count(NOTIFY_WEBHOOKS) == 1
    app.extensions["notify"].db.engine.dispose()
