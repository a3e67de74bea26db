"""The Celery app factory every service uses: one broker (Redis), queues named after services,
late acknowledgement so a crashed worker's task is delivered again."""

from __future__ import annotations

import uuid

import redis
from celery import Celery

from shared.config import Settings
from shared.events import queue_of
from shared.outbox import Publish


def create_celery(name: str, settings: Settings, include: tuple[str, ...] = ()) -> Celery:
    app = Celery(name, broker=settings.redis_url, include=list(include))
    app.conf.update(
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


def _transport_options(visibility_timeout: int) -> dict:
    """A task still unacknowledged after CELERY_VISIBILITY_TIMEOUT seconds (an hour) is handed
    to another worker: every task here finishes, or retries with a shorter countdown, well
    within it. Workers look for such tasks about twenty times a timeout (every 100 s for an
    hour, kombu's own default; every second when a fault test shortens it to 20 s)."""
    return {
        "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": max(1, min(100, visibility_timeout // 20)),
    }


def publisher(app: Celery) -> Publish:
    """Publish an event envelope to a subscriber task by name, on the task's own queue.

    The task id is derived from event and task, so a republished event carries the same id."""

    def publish(task_name: str, envelope: dict) -> None:
        task_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{envelope['event_id']}/{task_name}"))
        app.send_task(
            task_name,
            args=(envelope,),
            queue=queue_of(task_name),
            task_id=task_id,
            # Envelopes carry names and addresses: keep them out of task events and logs.
            argsrepr=f"<{envelope['type']} {envelope['event_id']}>",
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
