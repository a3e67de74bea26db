"""SMS for real: the HTTP gateway client against a local fake gateway (a threaded http.server:
a real HTTP call is made), and the send-once/retry rules through a real Celery worker: a
gateway that answers 503 twice and then accepts gets the SMS once; a 400 is final; a repeated
task sends nothing new."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from services.notify.models import REJECTED, SENT, Notification
from services.notify.sms import HttpSmsGateway, SmsDeferred, SmsRejected, reference
from tests.conftest import fresh_database
from tests.support.notify_stack import notify_stack
from tests.support.processes import free_port, wait_until

pytestmark = pytest.mark.integration

TOKEN = "sms-test-token-5f2c"


class FakeSmsGateway:
    """An SMS gateway on 127.0.0.1: it keeps every request it accepts, and answers the next
    statuses queued with `answer(...)` before accepting (200 with a message id)."""

    def __init__(self, token: str = TOKEN):
        self.token = token
        self.accepted: list[dict] = []  # {"body": …, "authorization": …, "id": …}
        self.requests = 0
        self._answers: list[int] = []
        self._lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                status, answer = gateway._handle(body, self.headers.get("Authorization"))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args):  # quiet: the bodies hold phone numbers
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1/messages"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handle(self, body: dict, authorization: str | None) -> tuple[int, dict]:
        with self._lock:
            self.requests += 1
            if authorization != f"Bearer {self.token}":
                return 401, {"error": "unauthorised"}
            if self._answers:
                return self._answers.pop(0), {"error": "scripted"}
            message_id = f"gw-{uuid.uuid4().hex[:12]}"
            self.accepted.append({"body": body, "authorization": authorization, "id": message_id})
            return 200, {"id": message_id, "status": "queued"}

    def answer(self, *statuses: int) -> None:
        with self._lock:
            self._answers.extend(statuses)

    def to(self, number: str) -> list[dict]:
        with self._lock:
            return [a for a in self.accepted if a["body"]["to"] == number]

    def start(self) -> FakeSmsGateway:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def gateway() -> Iterator[FakeSmsGateway]:
    fake = FakeSmsGateway().start()
    yield fake
    fake.stop()


# --- the HTTP client ------------------------------------------------------------------------


def test_an_accepted_sms_returns_the_gateways_id_and_carries_the_bearer_token(gateway):
    client = HttpSmsGateway(gateway.url, TOKEN)

    message_id = client.send("+8613800000001", "VIP arrival: 王小明市长", "ref-1")

    (accepted,) = gateway.to("+8613800000001")
    assert message_id == accepted["id"]
    assert accepted["body"] == {"to": "+8613800000001", "text": "VIP arrival: 王小明市长",
                                "reference": "ref-1"}  # fmt: skip
    assert accepted["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_busy_or_failing_gateway_defers_the_sms(gateway, status):
    gateway.answer(status)

    with pytest.raises(SmsDeferred, match=str(status)):
        HttpSmsGateway(gateway.url, TOKEN).send("+8613800000002", "text", "ref-2")


@pytest.mark.parametrize("status", [400, 422])
def test_a_refused_sms_is_rejected_for_good(gateway, status):
    gateway.answer(status)

    with pytest.raises(SmsRejected, match=str(status)):
        HttpSmsGateway(gateway.url, TOKEN).send("+8613800000003", "text", "ref-3")


def test_a_wrong_token_is_rejected_and_no_gateway_at_all_is_deferred(gateway):
    with pytest.raises(SmsRejected, match="401"):
        HttpSmsGateway(gateway.url, "wrong").send("+8613800000004", "text", "ref-4")
    with pytest.raises(SmsDeferred, match="ConnectionRefusedError|URLError"):
        HttpSmsGateway(f"http://127.0.0.1:{free_port()}/", TOKEN).send("+86", "t", "r")


# --- send once, through a real worker -------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def notify_database(request, tmp_path_factory):
    with fresh_database(request.param, tmp_path_factory.mktemp("notify-db"), request) as url:
        yield url


@pytest.fixture(scope="module")
def stack(tmp_path_factory, notify_database, gateway):
    home = tmp_path_factory.mktemp("notify-sms")
    env = {"SMS_GATEWAY_URL": gateway.url, "SMS_GATEWAY_TOKEN": TOKEN}
    with notify_stack(home, notify_database, **env) as running:
        yield running


def sms_args(number: str, text: str = "VIP arrival: test") -> dict:
    return {
        "key": f"test-sms/{uuid.uuid4()}",
        "kind": "vip-arrival-sms",
        "event_type": "checkin.admitted",
        "to": number,
        "text": text,
        "delegate_id": None,
    }


def row(stack, key: str) -> Notification | None:
    with stack.sessions() as session:
        return session.scalar(select(Notification).where(Notification.idempotency_key == key))


def settled(stack, key: str, state: str) -> Notification:
    return wait_until(
        lambda: (n := row(stack, key)) and n.state == state and n,
        30,
        f"sms {key} {state} (see {stack.worker_log})",
    )


def send(stack, args: dict) -> None:
    stack.app.send_task("notify.send_sms", args=(args,), queue="notify")


def test_an_sms_the_gateway_defers_twice_is_sent_once_when_it_accepts(stack, gateway):
    number = f"+86138{uuid.uuid4().int % 10**8:08d}"
    args = sms_args(number)
    gateway.answer(503, 429)

    send(stack, args)
    note = settled(stack, args["key"], SENT)

    (accepted,) = gateway.to(number)
    assert (note.channel, note.recipient, note.attempts) == ("sms", number, 3)
    assert note.message_id == accepted["id"] and note.last_error is None
    assert accepted["body"]["reference"] == reference(args["key"])

    # The same task again (a redelivery, the redrive): nothing new reaches the gateway.
    send(stack, args)
    barrier = sms_args(f"+86139{uuid.uuid4().int % 10**8:08d}")
    send(stack, barrier)
    settled(stack, barrier["key"], SENT)
    assert len(gateway.to(number)) == 1


def test_an_sms_the_gateway_refuses_is_recorded_rejected_and_not_retried(stack, gateway):
    number = f"+86137{uuid.uuid4().int % 10**8:08d}"
    args = sms_args(number)
    before = gateway.requests
    gateway.answer(400)

    send(stack, args)
    note = settled(stack, args["key"], REJECTED)

    assert note.last_error == "SMS gateway: HTTP 400" and note.attempts == 1
    assert number not in (note.last_error or "")
    assert gateway.requests == before + 1 and gateway.to(number) == []
