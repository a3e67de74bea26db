"""Notify's API for an event's organisers: webhooks (register, list, delete), their dead
letters (list, replay), and the log of every notification. Thin views: the rules live in
`webhooks`, `webhook_delivery` and `access`."""

from __future__ import annotations

import functools
import logging
import unicodedata
from datetime import UTC

import redis
from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import func, or_, select

from services.notify import access, resources, webhook_delivery, webhooks
from services.notify.models import (
    DEAD,
    STATES,
    KnownDelegate,
    Notification,
    WebhookAttempt,
)
from shared.access import ShownOnce, bearer_digest
from shared.db import as_utc
from shared.errors import ErrorBody, NotFound, Problem

log = logging.getLogger(__name__)

blp = Blueprint(
    "notify", __name__, url_prefix="/api/v1/events", description="Webhooks, notification log"
)
BEARER = [{"bearer": []}]
CHANNELS = ("email", "webhook", "sms")


class _Unavailable(Problem):
    status = 503


class UtcDateTime(fields.AwareDateTime):
    """A moment stored in UTC, always shown with its offset (SQLite hands it back naive)."""

    def __init__(self, **kwargs):
        super().__init__(default_timezone=UTC, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return super()._serialize(value and as_utc(value), attr, obj, **kwargs)


def _no_control_characters(text: str) -> None:
    """Stored as written: no NUL (PostgreSQL refuses it), no other control character, no lone
    surrogate (JSON can spell `\\ud800`; UTF-8 cannot)."""
    if any(unicodedata.category(c) in {"Cc", "Cs"} for c in text):
        raise ValidationError("Must not contain control characters.")


class WebhookIn(Schema):
    url = fields.String(
        required=True,
        validate=[validate.Length(max=2000), _no_control_characters],
        metadata={"description": "https://…; http:// only for localhost"},
    )
    event_types = fields.List(
        fields.String(validate=validate.OneOf(webhooks.HOOKABLE)),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": f"any of {', '.join(webhooks.HOOKABLE)}"},
    )
    description = fields.String(
        load_default="", validate=[validate.Length(max=200), _no_control_characters]
    )


class WebhookOut(Schema):
    id = fields.Integer()
    url = fields.String()
    event_types = fields.List(fields.String())
    description = fields.String()
    created_at = UtcDateTime()


class WebhookCreated(WebhookOut):
    secret = fields.String(
        metadata={"description": "signs every delivery (Rollcall-Signature); shown this once"}
    )


class NotificationQuery(Schema):
    state = fields.String(validate=validate.OneOf((*STATES, DEAD)))
    kind = fields.String(validate=[validate.Length(max=32), _no_control_characters])
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    delegate = fields.Integer(
        validate=validate.Range(min=1, max=2**31 - 1),  # an integer column's range
        metadata={"description": "a registration's id"},
    )


class NotificationOut(Schema):
    id = fields.Integer()
    channel = fields.String()
    kind = fields.String(metadata={"description": "what message it is; `webhook` for a delivery"})
    event_type = fields.String()
    state = fields.String(metadata={"description": ", ".join((*STATES, DEAD))})
    attempts = fields.Integer(metadata={"description": "in the current series (webhooks)"})
    delegate = fields.Integer(attribute="delegate_id", allow_none=True)
    recipient = fields.String(metadata={"description": "an address, a number, or a host"})
    webhook_id = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    sent_at = UtcDateTime(allow_none=True)
    next_attempt_at = UtcDateTime(allow_none=True)


class AttemptOut(Schema):
    series = fields.Integer(metadata={"description": "1, and one more for each replay"})
    number = fields.Integer()
    at = UtcDateTime()
    duration_ms = fields.Integer()
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)


class DeliveryOut(NotificationOut):
    event_id = fields.String(
        allow_none=True, metadata={"description": "the Rollcall-Event-Id receivers dedupe on"}
    )
    series = fields.Integer()
    history = fields.List(fields.Nested(AttemptOut), metadata={"description": "every attempt"})


def organiser_required(view):
    """Refuse anything but the event's own organiser token (401, 403, or 404 for an unknown
    event) before the body is read, so no one else learns the schema's rules."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        with resources().db.reads() as session:
            access.organiser_event(session, _token(), kwargs["slug"])
        return view(*args, **kwargs)

    return checked


def documented(*statuses):
    def decorate(view):
        for status in (401, 403, 404, *statuses):
            view = blp.alt_response(status, schema=ErrorBody)(view)
        return blp.doc(security=BEARER)(view)

    return decorate


@blp.post("/<slug>/webhooks")
@organiser_required
@blp.arguments(WebhookIn)
@blp.response(201, WebhookCreated)
@documented(409, 422)
def register_webhook(data: dict, slug: str):
    """Register an endpoint for some event types of the event. Every delivery is signed with
    the secret in this answer, shown this once (see the README's Webhooks section)."""
    r = resources()
    with r.db.sessions.begin() as session:
        event = access.organiser_event(session, _token(), slug)
        hook, secret = webhooks.register(session, event.id, r.secrets, **data)
        # Before the commit: the relays enqueue this congress's events for it from now on.
        try:
            r.watch.add(event.id, hook.event_types)
        except redis.RedisError as exc:
            raise _Unavailable("webhooks_unavailable", "Try again in a moment.") from exc
        return ShownOnce(hook, secret=secret)


@blp.get("/<slug>/webhooks")
@organiser_required
@blp.response(200, WebhookOut(many=True))
@documented()
def list_webhooks(slug: str):
    """The event's webhooks (never their secrets)."""
    with resources().db.reads() as session:
        event = access.organiser_event(session, _token(), slug)
        return webhooks.active(session, event.id)


@blp.delete("/<slug>/webhooks/<id:webhook_id>")
@organiser_required
@blp.response(204)
@documented()
def delete_webhook(slug: str, webhook_id: int):
    """Stop sending to an endpoint; deliveries still waiting for a retry are dropped."""
    with resources().db.sessions.begin() as session:
        event = access.organiser_event(session, _token(), slug)
        webhooks.delete(session, event.id, webhook_id)


@blp.get("/<slug>/webhooks/dead-letters")
@organiser_required
@blp.response(200, DeliveryOut(many=True))
@blp.paginate()
@documented()
def dead_letters(slug: str, pagination_parameters):
    """Deliveries whose every attempt failed, newest first, with each attempt's answer.
    Paginated (`page`, `page_size`; the `X-Pagination` header has the totals)."""
    n = Notification
    with resources().db.reads() as session:
        event = access.organiser_event(session, _token(), slug)
        statement = select(n).where(
            n.channel == webhooks.CHANNEL, n.event_id == event.id, n.state == DEAD
        )
        rows = _page(session, statement.order_by(n.id.desc()), pagination_parameters)
        return _deliveries(session, rows)


@blp.post("/<slug>/webhooks/dead-letters/<id:delivery_id>/replay")
@organiser_required
@blp.response(202, DeliveryOut)
@documented(409)
def replay_dead_letter(slug: str, delivery_id: int):
    """Send a dead delivery again: a new series of attempts with the same body and event id
    (so a receiver that got it after all drops the repeat)."""
    r = resources()
    with r.db.sessions.begin() as session:
        event = access.organiser_event(session, _token(), slug)
        row = webhook_delivery.replay(session, event.id, delivery_id)
        answer = _deliveries(session, [row])[0]
    try:
        webhooks.send_off(r.celery, row.id)
    except Exception as exc:  # queued in the database: the redrive sends it within minutes
        log.warning("replay of delivery %s not enqueued now: %s", row.id, type(exc).__name__)
    return answer


@blp.get("/<slug>/notifications")
@organiser_required
@blp.arguments(NotificationQuery, location="query")
@blp.response(200, NotificationOut(many=True))
@blp.paginate()
@documented(422)
def notifications(query: dict, slug: str, pagination_parameters):
    """Every notification about the event, newest first: mails, SMS and webhook deliveries,
    with state, attempts and times; filter by `state`, `kind`, `channel` and `delegate`.
    Paginated (`page`, `page_size`; the `X-Pagination` header has the totals)."""
    n = Notification
    with resources().db.reads() as session:
        event = access.organiser_event(session, _token(), slug)
        delegates = select(KnownDelegate.id).where(KnownDelegate.event_id == event.id)
        statement = select(n).where(or_(n.event_id == event.id, n.delegate_id.in_(delegates)))
        for name in ("state", "kind", "channel"):
            if query.get(name):
                statement = statement.where(getattr(n, name) == query[name])
        if "delegate" in query:
            statement = statement.where(n.delegate_id == query["delegate"])
        return _page(session, statement.order_by(n.id.desc()), pagination_parameters)


@blp.get("/<slug>/notifications/<id:notification_id>")
@organiser_required
@blp.response(200, DeliveryOut)
@documented()
def notification(slug: str, notification_id: int):
    """One notification; for a webhook delivery, every attempt with its answer."""
    n = Notification
    with resources().db.reads() as session:
        event = access.organiser_event(session, _token(), slug)
        delegates = select(KnownDelegate.id).where(KnownDelegate.event_id == event.id)
        row = session.scalar(
            select(n).where(
                n.id == notification_id, or_(n.event_id == event.id, n.delegate_id.in_(delegates))
            )
        )
        if row is None:
            raise NotFound("not_found", "This event has no such notification.")
        return _deliveries(session, [row])[0]


def _token() -> str:
    bearer_digest()  # 401 without a bearer token
    return request.headers["Authorization"].partition(" ")[2].strip()


def _page(session, statement, pagination_parameters) -> list:
    """One page of a query's rows; the total goes to flask-smorest's X-Pagination header."""
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    pagination_parameters.item_count = total
    first, size = pagination_parameters.first_item, pagination_parameters.page_size
    if first >= total:
        return []
    return session.scalars(statement.offset(first).limit(size)).all()


def _deliveries(session, rows: list[Notification]) -> list[dict]:
    """Rows with their attempts, as DeliveryOut dumps them."""
    ids = [row.id for row in rows]
    history: dict[int, list] = {i: [] for i in ids}
    if ids:
        attempts = select(WebhookAttempt).where(WebhookAttempt.notification_id.in_(ids))
        for attempt in session.scalars(attempts.order_by(WebhookAttempt.id)):
            history[attempt.notification_id].append(attempt)
    out = []
    for row in rows:
        body = (row.envelope or {}).get("body") or {}
        item = {column.key: getattr(row, column.key) for column in Notification.__table__.columns}
        out.append({**item, "event_id": body.get("event_id"), "history": history[row.id]})
    return out
