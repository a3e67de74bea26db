"""Outgoing webhooks: the endpoints organisers register, their signing secrets, what a
delivery's body holds, and one delivery row per endpoint and event (fan-out). Sending, retries
and the dead-letter list are in `webhook_delivery`.

Secrets: HMAC needs the secret itself on our side, so it cannot be stored as a digest. It is
not stored at all: each endpoint keeps a random nonce, and its secret is HMAC-SHA256 of that
nonce under WEBHOOK_SECRET_KEY (as delegates' manage links are derived), so the database alone
(a dump, a backup, a replica) gives no secret away, and the answer to the registration shows
the secret once. A new key changes every endpoint's secret; a leaked one is replaced by
registering the endpoint again and deleting the old one.

Bodies: the event's envelope (`event_id`, `type`, `occurred_at`, `version`, `payload`) with
the payload dumped through allow-list schemas: never the manage nonce (half of a delegate's
manage token) nor a badge token (the QR itself: whoever holds it walks in). The producer's
outbox sequence stays inside too."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from marshmallow import Schema, fields
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.notify.models import QUEUED, KnownDelegate, Notification, Webhook
from shared import events as ev
from shared.db import utcnow
from shared.errors import Conflict, Invalid, NotFound
from shared.secret_files import secret_file

CHANNEL = KIND = "webhook"
DELIVERY_TASK = "notify.webhook_delivery"
VIP_ARRIVED = "vip.arrived"  # made by notify itself (services/notify/vip.py), not an outbox event
HOOKABLE = (
    *ev.DELEGATE_EVENTS,
    ev.CHECKIN_ADMITTED,
    ev.CHECKIN_EXITED,
    ev.CHECKIN_REJECTED,
    VIP_ARRIVED,
)
MAX_WEBHOOKS = 20  # per event
KEY_FILE = "webhook-secret.key"
SIGNATURE_HEADER = "Rollcall-Signature"


class Secrets:
    """Derives each endpoint's signing secret from its nonce."""

    def __init__(self, key: bytes):
        if len(key) < 32:
            raise ValueError("WEBHOOK_SECRET_KEY must hold at least 32 bytes (64 hex digits).")
        self._key = key

    def __repr__(self) -> str:
        return "Secrets(<key hidden>)"

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_hex(16)

    def secret(self, nonce: str) -> str:
        mac = hmac.new(self._key, b"webhook:" + nonce.encode(), hashlib.sha256).digest()
        return "whsec_" + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def secrets_from(settings) -> Secrets:
    """The key from WEBHOOK_SECRET_KEY (hex), else from `var/keys/webhook-secret.key`, made
    there on first use (a laptop; in production set the variable for notify's API and workers)."""
    if settings.webhook_secret_key:
        return Secrets(bytes.fromhex(settings.webhook_secret_key))
    key = secret_file(settings.keys_dir / KEY_FILE, lambda: secrets.token_hex(32))
    return Secrets(bytes.fromhex(key))


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The `Rollcall-Signature` header: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def check_url(url: str) -> str:
    """An endpoint must be HTTPS; plain HTTP only to this machine (tests, local tools)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    problem = None
    if parts.scheme not in {"https", "http"} or not host:
        problem = "Give an absolute https:// URL."
    elif parts.username or parts.password:
        problem = "Leave credentials out of the URL; verify the signature instead."
    elif parts.scheme == "http" and not _loopback(host):
        problem = "Use https://; plain http:// is allowed for localhost only."
    elif _link_local(host):
        problem = "Link-local addresses (cloud metadata services) cannot receive webhooks."
    if problem:
        raise Invalid("validation_failed", "The webhook URL is not accepted.", {"url": [problem]})
    return url


def _ip(host: str):
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _loopback(host: str) -> bool:
    ip = _ip(host)
    return host == "localhost" or (ip is not None and ip.is_loopback)


def _link_local(host: str) -> bool:
    ip = _ip(host)
    return ip is not None and ip.is_link_local


def register(
    session: Session, event_id: int, keys: Secrets, url: str, event_types: list[str], description=""
) -> tuple[Webhook, str]:
    """Add an endpoint for `event_types` of the event; returns it and its secret (shown once)."""
    if len(active(session, event_id)) >= MAX_WEBHOOKS:
        raise Conflict("too_many_webhooks", f"An event may have {MAX_WEBHOOKS} webhooks.")
    hook = Webhook(
        event_id=event_id,
        url=check_url(url),
        event_types=sorted(set(event_types)),
        description=description,
        secret_nonce=keys.new_nonce(),
    )
    session.add(hook)
    session.flush()
    return hook, keys.secret(hook.secret_nonce)


def active(session: Session, event_id: int) -> list[Webhook]:
    statement = select(Webhook).where(Webhook.event_id == event_id, Webhook.deleted_at.is_(None))
    return list(session.scalars(statement.order_by(Webhook.id)))


def subscriptions(session: Session) -> set[tuple[int, str]]:
    """Every (congress, event type) some active endpoint is subscribed to."""
    rows = session.execute(
        select(Webhook.event_id, Webhook.event_types).where(Webhook.deleted_at.is_(None))
    )
    return {(congress, kind) for congress, kinds in rows for kind in kinds}


def delete(session: Session, event_id: int, webhook_id: int) -> None:
    """Stop sending to an endpoint; its deliveries stay in the log, pending ones are dropped."""
    hook = session.get(Webhook, webhook_id)
    if hook is None or hook.event_id != event_id or hook.deleted_at is not None:
        raise NotFound("not_found", "This event has no such webhook.")
    hook.deleted_at = utcnow()


class _Delegate(Schema):
    id = fields.Integer()
    revision = fields.Integer()
    given_name = fields.String()
    family_name = fields.String()
    display_name = fields.String()
    latin_name = fields.String(allow_none=True)
    email = fields.String()
    organisation = fields.String()
    city = fields.String()
    country = fields.String()
    category = fields.String()
    language = fields.String()
    status = fields.String()
    status_reason = fields.String(allow_none=True)
    title = fields.String()
    delegation = fields.String(allow_none=True)


class _Badge(Schema):
    id = fields.Integer()
    version = fields.Integer()
    status = fields.String()
    reason = fields.String(allow_none=True)


class _DelegateChanged(Schema):
    event = fields.Nested(ev.EventInfo)
    delegate = fields.Nested(_Delegate)
    badge = fields.Nested(_Badge, allow_none=True)
    detail = fields.Dict()


class _DelegateErased(Schema):
    event = fields.Nested(ev.EventInfo)
    delegate = fields.Nested(ev.ErasedDelegateInfo)
    badge = fields.Nested(_Badge, allow_none=True)


BODIES = {
    **dict.fromkeys(ev.DELEGATE_EVENTS, _DelegateChanged),
    ev.DELEGATE_ERASED: _DelegateErased,
    ev.CHECKIN_ADMITTED: ev.Checkin,
    ev.CHECKIN_EXITED: ev.Checkin,
    ev.CHECKIN_REJECTED: ev.CheckinRejected,
}


@dataclass(frozen=True)
class HookEvent:
    """Something endpoints may subscribe to, its body ready to send."""

    congress_id: int  # registration's event id
    type: str
    event_id: str  # the uuid receivers dedupe on
    body: dict
    delegate_id: int | None = None


def hook_event(envelope: dict, payload: dict) -> HookEvent:
    """The webhook form of a loaded outbox event (see the module's docstring)."""
    kind = envelope["type"]
    if kind in (ev.CHECKIN_ADMITTED, ev.CHECKIN_EXITED, ev.CHECKIN_REJECTED):
        congress, delegate_id = payload["event_id"], payload.get("registration_id")
    else:
        congress, delegate_id = payload["event"]["id"], payload["delegate"]["id"]
    body = BODIES[kind]().dump(payload)
    return announce(
        congress, kind, str(envelope["event_id"]), envelope["occurred_at"], body, delegate_id
    )


def announce(
    congress_id: int, kind: str, event_id: str, occurred_at, payload: dict, delegate_id=None
) -> HookEvent:
    """A `HookEvent` from parts: how notify's own events (`vip.arrived`) are sent. `payload`
    is sent as given: it must hold nothing secret."""
    at = occurred_at.isoformat() if hasattr(occurred_at, "isoformat") else str(occurred_at)
    body = {"event_id": event_id, "type": kind, "occurred_at": at, "version": 1}
    return HookEvent(congress_id, kind, event_id, {**body, "payload": payload}, delegate_id)


def record_deliveries(session: Session, hook: HookEvent) -> list[int]:
    """A delivery row for each endpoint of the event subscribed to this type; returns the ids
    still to be sent (new, or recorded by an earlier run that stopped before sending)."""
    if _about_erased(session, hook):
        return []  # on its way when the delegate was erased: it names them, it goes nowhere
    due = []
    for endpoint in active(session, hook.congress_id):
        if hook.type not in endpoint.event_types:
            continue
        key = f"webhook/{endpoint.id}/{hook.event_id}"
        row = session.scalar(select(Notification).where(Notification.idempotency_key == key))
        if row is None:
            row = _new_row(session, endpoint, hook, key)
        if row is not None and row.state == QUEUED and row.attempts == 0:
            due.append(row.id)
    return due


def _about_erased(session: Session, hook: HookEvent) -> bool:
    if hook.delegate_id is None or hook.type == ev.DELEGATE_ERASED:
        return False
    known = session.get(KnownDelegate, hook.delegate_id)
    return known is not None and known.erased_at is not None


def _new_row(session: Session, endpoint: Webhook, hook: HookEvent, key: str):
    # An erasure blanks a delegate's rows; the erasure's own announcement names nobody.
    about = None if hook.type == ev.DELEGATE_ERASED else hook.delegate_id
    row = Notification(
        idempotency_key=key,
        event_type=hook.type,
        kind=KIND,
        channel=CHANNEL,
        event_id=hook.congress_id,
        webhook_id=endpoint.id,
        delegate_id=about,
        recipient=urlsplit(endpoint.url).hostname or "",
        language="",
        envelope={},
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # another worker recorded it first; it sends it
        return None
    # What the redrive hands back to the delivery task, and what it sends.
    row.envelope = {"delivery": row.id, "body": hook.body}
    session.flush()
    return row


def send_off(celery_app, delivery_id: int) -> None:
    """Hand delivery `delivery_id` to the delivery task (from a worker, or the API's replay)."""
    celery_app.send_task(
        DELIVERY_TASK,
        args=({"delivery": delivery_id},),
        queue=ev.queue_of(DELIVERY_TASK),
        argsrepr=f"<webhook delivery {delivery_id}>",
    )
