"""Outgoing webhooks forget an erased delegate: deliveries about them keep no body (the event
named them), a dead one cannot be replayed, and an event about them that reaches notify after
the erasure sends nothing; a real notify worker on SQLite and PostgreSQL, a real receiver."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from services import notify
from services.notify.models import Notification
from shared.events import DELEGATE_ERASED, DELEGATE_UPDATED, NOTIFY_ERASURE, NOTIFY_WEBHOOKS
from tests.conftest import fresh_database
from tests.integration.test_notify_webhooks import WEBHOOK_ENV, Organiser, Receiver, finished
from tests.support.factories import envelope
from tests.support.factories import registered_envelope as registered
from tests.support.notify_stack import notify_stack
from tests.support.processes import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def notify_database(request, tmp_path_factory):
    with fresh_database(request.param, tmp_path_factory.mktemp("notify-db"), request) as url:
        yield url


@pytest.fixture(scope="module")
def stack(tmp_path_factory, notify_database):
    with notify_stack(tmp_path_factory.mktemp("hooks"), notify_database, **WEBHOOK_ENV) as s:
        app = notify.create_app(s.settings)
        s.api = app.test_client()
        yield s
        app.extensions["notify"].db.engine.dispose()


@pytest.fixture
def receiver():
    with Receiver().running() as running:
        yield running


def erased(event: dict) -> dict:
    """The `delegate.erased` envelope for the delegate of `event`, as registration sends it."""
    delegate = event["payload"]["delegate"]
    return envelope(
        DELEGATE_ERASED,
        {
            "event": event["payload"]["event"],
            "delegate": {
                "id": delegate["id"],
                "revision": delegate["revision"] + 5,
                "display_name": "Erased",
                "category": delegate["category"],
                "country": delegate["country"],
                "status": delegate["status"],
            },
            "badge": None,
        },
    )


def stored_rows(stack, delegate_id: int) -> list[Notification]:
    with stack.sessions() as session:
        query = select(Notification).where(Notification.delegate_id == delegate_id)
        return list(session.scalars(query))


def test_an_erased_delegates_webhook_deliveries_keep_no_body_and_are_not_replayed(stack, receiver):
    organiser = Organiser(stack)
    organiser.hook(receiver.url, "delegate.registered", DELEGATE_UPDATED)
    receiver.down = True
    event = registered(event=organiser.info, display_name="Zoë Ångström-Lévis")
    delegate = event["payload"]["delegate"]
    stack.publish(NOTIFY_WEBHOOKS, event)
    dead = wait_until(lambda: finished(organiser, event["event_id"], "dead"), 20, "dead letter")

    stack.publish(NOTIFY_ERASURE, erased(event))
    wait_until(
        lambda: all(r.envelope == {} for r in stored_rows(stack, delegate["id"])),
        20,
        "notify to blank the deliveries about the delegate",
    )

    (row,) = stored_rows(stack, delegate["id"])
    assert (row.state, row.recipient, row.envelope) == ("dead", "", {})
    answer = organiser.post(f"/webhooks/dead-letters/{dead['id']}/replay")
    assert answer.status_code == 409 and answer.get_json()["error"]["code"] == "erased"
    shown = json.dumps(organiser.delivery(dead["id"]), ensure_ascii=False)
    for personal in ("Ångström", delegate["email"], delegate["organisation"]):
        assert personal not in shown

    # A change announced before the erasure but handled after it: nothing goes out about them.
    receiver.down = False
    late = envelope(DELEGATE_UPDATED, {**event["payload"], "detail": {}})
    stack.publish(NOTIFY_WEBHOOKS, late)
    barrier = registered(event=organiser.info)
    stack.publish(NOTIFY_WEBHOOKS, barrier)  # the solo worker takes tasks in order
    wait_until(lambda: receiver.delivered(barrier["event_id"]), 20, "the barrier")
    assert receiver.seen(late["event_id"]) == []
    with stack.engine.connect() as connection:
        everything = repr(connection.execute(select(Notification.__table__)).all())
    assert "Ångström" not in everything and delegate["email"] not in everything
