"""Which congresses have webhooks for which event types, kept in Redis for the outbox relays:
`notify.webhook_event` is enqueued only for an event some endpoint may want, not for every
event (at 200,000 badges that doubled notify's queue traffic).

Correct when an endpoint is added later: notify writes an endpoint's types here before the
transaction that registers it commits, so every event after the registration finds them (a
registration that then fails leaves a type too many: a task that finds no endpoint, as
before). Nothing is taken out while notify runs, for the same reason: one too many costs a
task, one too few would lose a delivery. Everything sits in one hash with a `ready` field, so
a Redis that restarted empty (or evicted it) loses all or nothing: without `ready`, relays
enqueue every event as before, until notify's next webhook task writes the hash again from
its database (`restore`). Without Redis, relays enqueue everything too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import redis

from shared.events import NOTIFY_WEBHOOKS
from shared.outbox import Publish

log = logging.getLogger(__name__)

KEY = "rollcall:webhook-subscriptions"
READY = "ready"


class WebhookWatch:
    def __init__(self, client: redis.Redis):
        self.client = client

    @classmethod
    def at(cls, url: str) -> WebhookWatch:
        return cls(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1))

    def wanted(self, envelope: dict) -> bool:
        """Whether an endpoint may want this outbox event (True when unsure)."""
        try:
            congress = congress_of(envelope)
        except (KeyError, TypeError):
            return True
        if congress is None:  # a token no event vouches for: no organiser hears of it
            return False
        try:
            ready, subscribed = self.client.hmget(KEY, [READY, _field(congress, envelope["type"])])
        except redis.RedisError as exc:
            log.warning("webhook subscriptions unknown (%s): enqueued", type(exc).__name__)
            return True
        return ready is None or subscribed is not None

    def add(self, congress_id: int, event_types: Iterable[str]) -> None:
        """Before the endpoint's transaction commits (raises if Redis is unreachable: an
        endpoint registered without its types here would miss events)."""
        fields = {_field(congress_id, t): 1 for t in event_types}
        if fields:
            self.client.hset(KEY, mapping=fields)

    def restore(self, subscriptions: Callable[[], Iterable[tuple[int, str]]]) -> bool:
        """Write every active (congress, type) if Redis lost them; True when it did."""
        if self.client.hexists(KEY, READY):
            return False
        fields = {_field(c, t): 1 for c, t in subscriptions()}
        self.client.hset(KEY, mapping={**fields, READY: 1})
        log.info("webhook subscriptions written again: %d", len(fields))
        return True


def only_watched(publish: Publish, watch: WebhookWatch) -> Publish:
    """`publish`, leaving out webhook tasks for events no endpoint wants."""

    def publish_watched(task_name: str, message: dict | list[dict]) -> None:
        # A webhook task takes one envelope (it is not batched: shared.events.BATCHED).
        if task_name == NOTIFY_WEBHOOKS and not watch.wanted(message):
            return
        publish(task_name, message)

    return publish_watched


def congress_of(envelope: dict) -> int | None:
    """registration's event id an outbox event belongs to (checkin's events name it
    `event_id`, registration's carry the event)."""
    payload = envelope["payload"]
    if "event" in payload:
        return payload["event"]["id"]
    return payload["event_id"]


def _field(congress_id: int, event_type: str) -> str:
    return f"{congress_id}:{event_type}"
