"""The outbox relay process of a service: `python -m services.<name>.relay` calls `run`."""

from __future__ import annotations

import logging
from datetime import timedelta

from shared.celery_app import BrokerMemory, create_celery, publisher, redis_ready
from shared.config import Settings
from shared.db import make_engine
from shared.outbox import Outbox, Publish, run_relay
from shared.webhook_watch import WebhookWatch, only_watched


def run(outbox: Outbox, database_url: str, settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_celery(f"{outbox.producer}-relay", settings)
    run_relay(
        outbox,
        make_engine(database_url),
        publish_for(app, settings),
        redis_ready(settings.redis_url),
        settings.relay_interval,
        BrokerMemory(settings.redis_url, outbox.producer),
        republish_window(settings),
    )


def publish_for(app, settings: Settings) -> Publish:
    """How the relay publishes: to every subscriber, but `notify.webhook_event` only for the
    events some endpoint wants (shared/webhook_watch.py)."""
    return only_watched(publisher(app), WebhookWatch.at(settings.redis_url))


def republish_window(settings: Settings) -> timedelta:
    """How far back a relay publishes again after the broker lost its data: the visibility
    timeout (no task is meant to wait in the broker longer), and never less than an hour, so
    that consumers running behind (a backlog) lose nothing either."""
    return timedelta(seconds=max(settings.celery_visibility_timeout, 3600))
