"""SMS through a pluggable gateway, sent once like mail: a `notifications` row (channel "sms")
per message, keyed by its idempotency key, claimed before sending and marked sent (with the
gateway's message id) after, so a retried task or a redelivered event never sends twice.

A gateway is anything with `send(to, text, reference) -> message id` that raises
`SmsDeferred` (worth another try) or `SmsRejected` (final). `HttpSmsGateway` POSTs JSON to
SMS_GATEWAY_URL with the bearer SMS_GATEWAY_TOKEN:

    POST <SMS_GATEWAY_URL>   {"to": "+8613800000000", "text": "…", "reference": "<32 hex>"}
    2xx: accepted; the body's "id" (or "message_id") is the gateway's id, else the reference
    429, 5xx, no answer: deferred (the task retries with backoff and jitter)
    any other 4xx: rejected for good

`reference` is derived from the idempotency key, like a mail's Message-ID: in the window no
sender can close (the gateway accepted, the worker died before recording it) the repeat
carries the same reference, and a gateway that deduplicates on it drops the repeat.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import update
from sqlalchemy.orm import sessionmaker

from services.notify import delivery
from services.notify.delivery import _finish, claim  # the one claim/finish that mail uses
from services.notify.models import FAILED, QUEUED, REJECTED, SENT, Notification
from shared.config import Settings

log = logging.getLogger(__name__)

SMS = "sms"  # `Notification.channel`
TIMEOUT = 10.0  # seconds for the gateway's answer


class SmsDeferred(Exception):
    """The gateway could not take the message now (429, 5xx, no connection): try later."""


class SmsRejected(Exception):
    """The gateway refused the message for good (a 4xx: a bad number, a bad request)."""


class SmsGateway(Protocol):
    def send(self, to: str, text: str, reference: str) -> str:
        """Hand one SMS to the gateway; returns its message id."""


def reference(idempotency_key: str) -> str:
    """The same every time for one message, like a mail's Message-ID."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


class HttpSmsGateway:
    """An SMS gateway reached by a JSON POST with a bearer token."""

    def __init__(self, url: str, token: str | None, timeout: float = TIMEOUT):
        self._url = url
        self._token = token
        self._timeout = timeout

    def __repr__(self) -> str:  # never the token
        return "HttpSmsGateway(SMS_GATEWAY_URL)"

    def send(self, to: str, text: str, reference: str) -> str:
        body = json.dumps({"to": to, "text": text, "reference": reference}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(self._url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                answer = response.read(65536)
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
            if status == 429 or status >= 500:
                raise SmsDeferred(f"SMS gateway: HTTP {status}") from None
            raise SmsRejected(f"SMS gateway: HTTP {status}") from None
        except (OSError, ValueError) as exc:  # refused, timed out, TLS, a malformed URL
            raise SmsDeferred(f"SMS gateway: {type(exc).__name__}") from None
        try:
            found = json.loads(answer or b"{}")
        except ValueError:
            found = {}
        if not isinstance(found, dict):
            found = {}
        return str(found.get("id") or found.get("message_id") or reference)[:200]


def gateway_from(settings: Settings) -> SmsGateway | None:
    """The configured gateway, or None when SMS_GATEWAY_URL is not set."""
    if not settings.sms_gateway_url:
        return None
    return HttpSmsGateway(settings.sms_gateway_url, settings.sms_gateway_token)


@dataclass(frozen=True)
class Sms:
    """One SMS owed; the task's argument as it is, so the redrive can hand it back."""

    key: str
    kind: str
    event_type: str
    to: str
    text: str
    delegate_id: int | None = None

    @classmethod
    def from_args(cls, args: dict) -> Sms:
        return cls(**{name: args.get(name) for name in cls.__dataclass_fields__})

    def args(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def row(self) -> Notification:
        return Notification(
            idempotency_key=self.key,
            event_type=self.event_type,
            kind=self.kind,
            delegate_id=self.delegate_id,
            recipient=self.to,
            language="en",
            envelope=self.args(),
            channel=SMS,
        )


def deliver(sessions: sessionmaker, sms: Sms, gateway: SmsGateway | None) -> str:
    """Send `sms` once; returns what happened, as mail delivery does. Raises SmsDeferred for
    the task to retry, SmsRejected when the gateway refused it for good."""
    note_id, _new = delivery.record(sessions, sms.row())
    if gateway is None:
        _reject(sessions, note_id, "no SMS gateway configured (SMS_GATEWAY_URL)")
        log.warning("sms %s not sent: no SMS gateway configured", sms.key)
        return delivery.SKIPPED
    state = claim(sessions, note_id)
    if state is not None:
        return delivery.stopped(state, f"sms {sms.key}")
    try:
        gateway_id = gateway.send(sms.to, sms.text, reference(sms.key))
    except SmsRejected as exc:
        _finish(sessions, note_id, REJECTED, error=str(exc))
        raise
    except Exception as exc:
        _finish(sessions, note_id, FAILED, error=_describe(exc))
        raise
    _finish(sessions, note_id, SENT, message_id=gateway_id)
    log.info("sms %s sent", sms.key)
    return SENT


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, SmsDeferred) else type(exc).__name__


def _reject(sessions: sessionmaker, note_id: int, why: str) -> None:
    n = Notification
    with sessions.begin() as session:
        session.execute(
            update(n)
            .where(n.id == note_id, n.state.in_((QUEUED, FAILED)))
            .values(state=REJECTED, last_error=why)
        )
