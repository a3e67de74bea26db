"""Outgoing webhooks for real: notify's API (in-process) registers endpoints, a real Celery
worker on a real Redis sends each delivery over real HTTP to a small threaded receiver, signed
as the README says; failures retry with backoff (short here, by settings) and end in the
dead-letter list, which a replay empties once the receiver is back."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from services import notify
from services.notify.models import OrganizerGrant
from shared import access
from shared.events import CHECKIN_ADMITTED, EVENT_CREATED, NOTIFY_WEBHOOKS
from tests.conftest import fresh_database
from tests.support.factories import checkin, envelope, event_announced, event_info
from tests.support.factories import registered_envelope as registered
from tests.support.notify_stack import notify_stack
from tests.support.processes import free_port, wait_until
from tests.unit.test_webhook_signing import readme_verify

pytestmark = pytest.mark.integration

# Five attempts, 50 ms growing to 200 ms apart: the whole schedule in about half a second.
WEBHOOK_ENV = {
    "WEBHOOK_MAX_ATTEMPTS": "5",
    "WEBHOOK_RETRY_DELAY": "0.05",
    "WEBHOOK_RETRY_MAX_DELAY": "0.2",
    "WEBHOOK_TIMEOUT": "5",
    "WEBHOOK_SECRET_KEY": "3c" * 32,
}


class Receiver:
    """A webhook endpoint on 127.0.0.1: answers 500 to the first `failures` requests (all of
    them while `down`), then 204; keeps every request it saw."""

    def __init__(self):
        self.requests: list[SimpleNamespace] = []
        self.failures, self.down = 0, False
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    failing = receiver.down or receiver.failures > 0
                    receiver.failures -= 0 if receiver.down else 1
                    status = 500 if failing else 204
                    receiver.requests.append(
                        SimpleNamespace(headers=dict(self.headers), body=body, status=status)
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/rollcall"

    @contextmanager
    def running(self) -> Iterator[Receiver]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()

    def delivered(self, event_id: str | None = None) -> list[SimpleNamespace]:
        """The requests answered 2xx (for one event id)."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.status < 300 and event_id in (None, r.headers["Rollcall-Event-Id"])
            ]

    def seen(self, event_id: str) -> list[SimpleNamespace]:
        with self._lock:
            return [r for r in self.requests if r.headers["Rollcall-Event-Id"] == event_id]


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


class Organiser:
    """A congress announced to notify (through its worker, as registration's relay does), and
    its organiser's token."""

    def __init__(self, stack):
        self.stack = stack
        self.token = f"rc_org_{uuid.uuid4().hex}"
        self.info = event_info()
        self.slug = self.info["slug"]
        digest = access.digest(self.token)
        announced = event_announced(event=self.info, organizer_token_digests=[digest])
        stack.publish("notify.apply_event", envelope(EVENT_CREATED, announced))
        wait_until(lambda: self._granted(digest), 20, f"grant for {self.slug}")

    def _granted(self, digest: str) -> bool:
        with self.stack.sessions() as session:
            return session.get(OrganizerGrant, digest) is not None

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kw):
        return self.stack.api.get(f"/api/v1/events/{self.slug}{path}", headers=self.headers, **kw)

    def post(self, path: str, body: dict | None = None):
        url = f"/api/v1/events/{self.slug}{path}"
        return self.stack.api.post(url, json=body or {}, headers=self.headers)

    def hook(self, url: str, *event_types: str) -> dict:
        answer = self.post("/webhooks", {"url": url, "event_types": list(event_types)})
        assert answer.status_code == 201, answer.get_json()
        return answer.get_json()

    def deliveries(self) -> list[dict]:
        answer = self.get("/notifications", query_string={"channel": "webhook"})
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()

    def delivery(self, delivery_id: int) -> dict:
        return self.get(f"/notifications/{delivery_id}").get_json()

    def admitted(self) -> dict:
        """A `checkin.admitted` of this congress, sent to notify's webhook task."""
        event = envelope(CHECKIN_ADMITTED, checkin(event_id=self.info["id"]), producer="checkin")
        self.stack.publish(NOTIFY_WEBHOOKS, event)
        return event


@pytest.fixture
def organiser(stack) -> Organiser:
    return Organiser(stack)


def finished(organiser: Organiser, event_id: str, state: str) -> dict | None:
    """The delivery of `event_id` once it reached `state`."""
    for row in organiser.deliveries():
        if row["state"] == state:
            found = organiser.delivery(row["id"])
            if found["event_id"] == event_id:
                return found
    return None


def test_a_delivery_is_signed_so_the_documented_recipe_verifies_it(stack, organiser, receiver):
    created = organiser.hook(receiver.url, "delegate.registered")
    event = registered(event=organiser.info, display_name="王小明")
    event["payload"]["delegate"]["manage_nonce"] = "9" * 32

    stack.publish(NOTIFY_WEBHOOKS, event)
    (request,) = wait_until(lambda: receiver.delivered(event["event_id"]), 20, "the delivery")

    verify = readme_verify()
    assert verify(created["secret"], request.headers["Rollcall-Signature"], request.body)
    tampered = request.body.replace("王小明".encode(), "王大明".encode())
    assert tampered != request.body
    assert not verify(created["secret"], request.headers["Rollcall-Signature"], tampered)
    assert request.headers["Rollcall-Event-Id"] == event["event_id"]
    assert request.headers["Rollcall-Event-Type"] == "delegate.registered"
    body = json.loads(request.body)
    assert body["event_id"] == event["event_id"]
    assert body["payload"]["delegate"]["display_name"] == "王小明"
    assert "manage_nonce" not in body["payload"]["delegate"]
    assert "token" not in body["payload"]["badge"]
    assert event["payload"]["badge"]["token"] not in request.body.decode()
    assert "secret" not in organiser.get("/webhooks").get_json()[0]


def test_a_receiver_failing_four_times_then_answering_gets_the_delivery_once(
    stack, organiser, receiver
):
    organiser.hook(receiver.url, CHECKIN_ADMITTED)
    receiver.failures = 4

    event = organiser.admitted()
    wait_until(lambda: receiver.delivered(event["event_id"]), 20, "the fifth attempt")
    stack.publish(NOTIFY_WEBHOOKS, event)  # the same event again: a redelivery
    barrier = organiser.admitted()  # the solo worker takes tasks in order
    wait_until(lambda: receiver.delivered(barrier["event_id"]), 20, "the barrier")

    assert len(receiver.delivered(event["event_id"])) == 1
    assert len(receiver.seen(event["event_id"])) == 5
    row = wait_until(lambda: finished(organiser, event["event_id"], "sent"), 10, "sent")
    assert row["attempts"] == 5 and row["last_error"] is None
    assert [a["status_code"] for a in row["history"]] == [500, 500, 500, 500, 204]
    assert [a["number"] for a in row["history"]] == [1, 2, 3, 4, 5]
    assert all(a["duration_ms"] >= 0 and a["at"] for a in row["history"])
    assert row["history"][0]["error"] == "HTTP 500"


def test_a_delivery_that_always_fails_is_dead_and_a_replay_sends_it_once_back(
    stack, organiser, receiver
):
    organiser.hook(receiver.url, CHECKIN_ADMITTED)
    receiver.down = True

    event = organiser.admitted()
    dead = wait_until(lambda: finished(organiser, event["event_id"], "dead"), 20, "dead letter")

    assert dead["attempts"] == 5 and dead["last_error"] == "HTTP 500"
    assert len(dead["history"]) == 5
    (listed,) = organiser.get("/webhooks/dead-letters").get_json()
    assert (listed["id"], listed["event_id"]) == (dead["id"], event["event_id"])
    assert not receiver.delivered()

    receiver.down = False
    answer = organiser.post(f"/webhooks/dead-letters/{dead['id']}/replay")
    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json()["state"] == "queued" and answer.get_json()["series"] == 2

    (request,) = wait_until(lambda: receiver.delivered(event["event_id"]), 20, "the replay")
    assert json.loads(request.body)["event_id"] == event["event_id"]
    sent = wait_until(lambda: finished(organiser, event["event_id"], "sent"), 10, "sent")
    assert [(a["series"], a["number"]) for a in sent["history"]][-1] == (2, 1)
    assert len(sent["history"]) == 6
    assert organiser.get("/webhooks/dead-letters").get_json() == []
    again = organiser.post(f"/webhooks/dead-letters/{dead['id']}/replay")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "not_dead"


def test_a_deleted_webhook_gets_nothing_more(stack, organiser, receiver):
    created = organiser.hook(receiver.url, CHECKIN_ADMITTED)
    gone = stack.api.delete(
        f"/api/v1/events/{organiser.slug}/webhooks/{created['id']}", headers=organiser.headers
    )
    assert gone.status_code == 204
    other = Receiver()
    with other.running():
        organiser.hook(other.url, CHECKIN_ADMITTED)
        event = organiser.admitted()
        wait_until(lambda: other.delivered(event["event_id"]), 20, "the other endpoint")
    assert receiver.requests == []
    assert [h["url"] for h in organiser.get("/webhooks").get_json()] == [other.url]
