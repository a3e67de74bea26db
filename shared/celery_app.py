"""The Celery app factory every service uses: one broker (Redis), queues named after services,
late acknowledgement so a crashed worker's task is delivered again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import redis
from celery import Celery
from kombu.transport import redis as kombu_redis

from shared.config import Settings
from shared.events import queue_of
from shared.outbox import Publish


def create_celery(name: str, settings: Settings, include: tuple[str, ...] = ()) -> Celery:
    app = Celery(name, broker=settings.redis_url, include=list(include))
    app.conf.update(
        broker_transport=f"{__name__}:RedisTransport",
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_routes=(lambda task_name, *_args, **_kw: {"queue": queue_of(task_name)},),
        broker_transport_options=_transport_options(settings.celery_visibility_timeout),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        enable_utc=True,
        timezone="UTC",
    )
    return app


class _RedisChannel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict:
        # Celery 5.7, on losing the broker, collects the connection (its transport forgets
        # the broker's address) and reconnects with a new one; the old channel, used once more
        # (closing it gives unacknowledged messages back, a task finishing late acknowledges),
        # then failed with AttributeError, which nothing expects, and the worker exited
        # ("Unrecoverable error") instead of carrying on. As a connection error it is handled
        # as one: logged, and the message comes back after the visibility timeout.
        if self.connection.client is None:
            raise redis.exceptions.ConnectionError("this broker connection was closed")
        return super()._connparams(asynchronous=asynchronous)


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport, whose channels fail as a lost connection does once their
    connection was closed (so a worker reconnects when Redis comes back)."""

    Channel = _RedisChannel


def _transport_options(visibility_timeout: int) -> dict:
    """A task still unacknowledged after CELERY_VISIBILITY_TIMEOUT seconds (an hour) is handed
    to another worker: every task here finishes, or retries with a shorter countdown, well
    within it. Workers look for such tasks about twenty times a timeout (every 100 s for an
    hour, kombu's own default; every second when a fault test shortens it to 20 s)."""
    return {
        "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": max(1, min(100, visibility_timeout // 20)),
        # The lock a worker takes to give such tasks back outlives a worker killed holding it
        # by this much (kombu's 5 min by default): never longer than half the timeout, or a
        # test's short timeout would wait minutes for it after a SIGKILL.
        "unacked_mutex_expire": max(1, min(300, visibility_timeout // 2)),
    }


def publisher(app: Celery) -> Publish:
    """Publish a message (an envelope, or a batched task's list of them) to a subscriber task
    by name, on the task's own queue.

    The task id is derived from the task and the envelopes' event ids, so a republished event,
    or batch of the same events, carries the same id."""

    def publish(task_name: str, message: dict | list[dict]) -> None:
        envelopes = message if isinstance(message, list) else [message]
        events = ",".join(envelope["event_id"] for envelope in envelopes)
        first, more = envelopes[0], len(envelopes) - 1
        app.send_task(
            task_name,
            args=(message,),
            queue=queue_of(task_name),
            task_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{events}/{task_name}")),
            # Envelopes carry names and addresses: keep them out of task events and logs.
            argsrepr=f"<{first['type']} {first['event_id']}{f' +{more}' if more else ''}>",
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.5},
        )

    return publish


def redis_ready(url: str):
    """A cheap check the relay makes before it locks rows for publishing."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)

    def ready() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    return ready


class BrokerMemory:
    """Whether the broker still holds what a relay published to it: a key the relay sets,
    which a Redis restarted without persistence (or a new one) does not have."""

    def __init__(self, url: str, producer: str):
        self.client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        self.key = f"rollcall:relay:{producer}:broker-since"

    def forgot(self) -> bool:
        return not self.client.exists(self.key)

    def remember(self) -> None:
        self.client.set(self.key, datetime.now(UTC).isoformat())
