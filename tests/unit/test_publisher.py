"""How the relay hands messages to Celery (shared.celery_app.publisher): a batched task gets
its list of envelopes as one message, under an id derived from the task and the events, so a
batch of the same events published again is the same task."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest

from shared.celery_app import publisher
from shared.events import CHECKIN_ADMITTED, NOTIFY_ARRIVAL, NOTIFY_WEBHOOKS, RECORD_ARRIVAL
from tests.support.factories import checkin, envelope

pytestmark = pytest.mark.unit


@dataclass
class FakeCelery:
    """Keeps what `send_task` was given."""

    sent: list[dict] = field(default_factory=list)

    def send_task(self, name: str, **options) -> None:
        self.sent.append({"name": name, **options})


def admitted() -> dict:
    return envelope(CHECKIN_ADMITTED, checkin(), producer="checkin")


def test_a_batch_is_one_message_holding_its_envelopes_on_the_tasks_queue():
    app = FakeCelery()
    batch = [admitted() for _ in range(3)]

    publisher(app)(RECORD_ARRIVAL, batch)

    (sent,) = app.sent
    assert (sent["name"], sent["queue"], sent["args"]) == (RECORD_ARRIVAL, "registration", (batch,))
    # No names or addresses in task events and logs: the first event's type and id, and a count.
    assert sent["argsrepr"] == f"<{CHECKIN_ADMITTED} {batch[0]['event_id']} +2>"


def test_a_batch_of_the_same_events_again_is_the_same_task_and_another_is_not():
    app = FakeCelery()
    batch = [admitted() for _ in range(3)]
    publish = publisher(app)

    publish(NOTIFY_ARRIVAL, batch)
    publish(NOTIFY_ARRIVAL, [dict(e) for e in batch])
    publish(NOTIFY_ARRIVAL, batch[:2])
    publish(RECORD_ARRIVAL, batch)

    first, again, fewer, other_task = (sent["task_id"] for sent in app.sent)
    assert first == again
    assert len({first, fewer, other_task}) == 3


def test_an_envelope_alone_keeps_the_id_derived_from_its_event_and_task():
    app = FakeCelery()
    one = admitted()

    publisher(app)(NOTIFY_WEBHOOKS, one)

    (sent,) = app.sent
    assert sent["args"] == (one,)
    assert sent["task_id"] == str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"{one['event_id']}/{NOTIFY_WEBHOOKS}")
    )
    assert sent["argsrepr"] == f"<{CHECKIN_ADMITTED} {one['event_id']}>"
